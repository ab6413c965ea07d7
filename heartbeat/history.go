package heartbeat

import (
	"encoding/json"
	"fmt"
	"os"
)

// maxSenderLinks bounds the per-peer sequence table, so that even an
// authenticated peer cannot grow it without limit.
const maxSenderLinks = 32

// history remembers, per peer, its generation and the last sequence seen
// on each of its links. A packet is fresh only if it comes from the current
// generation with a higher sequence than any seen on its sender link, or
// from a newer generation (the peer restarted).
type history struct {
	peers map[string]*peerHistory
}

type peerHistory struct {
	gen uint64
	seq map[string]uint64
}

func newHistory() *history { return &history{peers: map[string]*peerHistory{}} }

// accept checks p against the history and records it. restarted is true
// when p opens a new generation of a peer already known.
func (h *history) accept(p *Packet) (restarted bool, err error) {
	ph := h.peers[p.Node]
	switch {
	case ph == nil:
		ph = &peerHistory{gen: p.Generation, seq: map[string]uint64{}}
		h.peers[p.Node] = ph
	case p.Generation < ph.gen:
		return false, drop(DropGeneration, "generation %d, current is %d", p.Generation, ph.gen)
	case p.Generation > ph.gen:
		ph.gen = p.Generation
		ph.seq = map[string]uint64{}
		restarted = true
	}
	last, ok := ph.seq[p.Link]
	if ok && p.Seq <= last {
		return false, drop(DropReplay, "sequence %d on %s:%s, last was %d", p.Seq, p.Node, p.Link, last)
	}
	if !ok && len(ph.seq) >= maxSenderLinks {
		return false, drop(DropMalformed, "more than %d links from %s", maxSenderLinks, p.Node)
	}
	ph.seq[p.Link] = p.Seq
	return restarted, nil
}

// savedPeer is one peer's history as the history file keeps it.
type savedPeer struct {
	Gen uint64            `json:"gen"`
	Seq map[string]uint64 `json:"seq"`
}

// save writes the history to path (replaced atomically): after a restart
// of this node, a recording of a peer's packets from before it is stale,
// not news. It is kept in the state directory.
func (h *history) save(path string) error {
	out := map[string]savedPeer{}
	for name, ph := range h.peers {
		out[name] = savedPeer{Gen: ph.gen, Seq: ph.seq}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// load reads what save wrote; a missing file is an empty history.
func (h *history) load(path string) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var in map[string]savedPeer
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for name, sp := range in {
		if len(sp.Seq) > maxSenderLinks {
			continue
		}
		seq := map[string]uint64{}
		for l, n := range sp.Seq {
			seq[l] = n
		}
		h.peers[name] = &peerHistory{gen: sp.Gen, seq: seq}
	}
	return nil
}
