package heartbeat

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Hearing Linux-HA Heartbeat 3 peers during a migration. A node that runs
// hbgo beside one that still runs Heartbeat (the same ha.cf, authkeys and
// udpport) must never run a group the Heartbeat node may hold. hbgo reads
// three of Heartbeat's messages and nothing else:
//
//   - t=status: the node is alive (Heartbeat's own liveness counts only
//     these); st=dead says it has gone.
//   - t=resource with info=shutdown: it begins to release its resources
//     (logged only: it may still hold them).
//   - t=shutdone: its resources are released and it leaves; the node is
//     dead at once, as an hbgo peer that leaves. The status messages it
//     goes on sending for a moment in the same run are ignored.
//
// Every message must verify with an authkeys key (Heartbeat signs with
// the key of "auth N"; every key of the file is accepted, as Heartbeat
// does). A run is Heartbeat's generation (hg, one more at every start);
// within a run each local link takes only a rising sequence (seq), so a
// retransmission or a replay of an older message proves nothing.

// IsHeartbeat3 reports whether b has the form of a Heartbeat message.
func IsHeartbeat3(b []byte) bool {
	return bytes.HasPrefix(b, []byte("###\n")) || bytes.HasPrefix(b, []byte(">>>\n"))
}

// legacyPeer is one Heartbeat 3 peer's current run as heard here.
type legacyPeer struct {
	hg  uint64            // Heartbeat's generation of the run
	gen uint64            // this node's number for the run (see Config.OnHeartbeat3)
	seq map[string]uint64 // per local link, the newest sequence taken
	// left: it sent shutdone in this run.
	left bool
	// newest: its newest accepted message was Heartbeat's (an hbgo
	// heartbeat of the node clears it).
	newest bool
	key    int
	warned bool // its deadtime differs from ours, logged
}

// legacyKeys are the keys Heartbeat messages are checked with: the
// signer's and those it accepts.
func (h *Heartbeat) legacyKeys() map[int]LegacyKey {
	s := h.signer.Load()
	keys := map[int]LegacyKey{int(s.KeyNum): {Method: s.Method, Secret: s.Secret}}
	for _, a := range s.Accept {
		keys[int(a.KeyNum)] = LegacyKey{Method: a.Method, Secret: a.Secret}
	}
	return keys
}

// receiveHeartbeat3 handles one Heartbeat message that arrived on link at
// now.
func (h *Heartbeat) receiveHeartbeat3(link string, b []byte, from string, now time.Time) {
	var m *LegacyMsg
	var err error
	if h.cfg.HearHeartbeat {
		m, err = ParseLegacy(b, h.legacyKeys())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.countRecv(link, len(b))
	if !h.cfg.HearHeartbeat {
		h.dropped(link, from, drop(DropHeartbeat3, "a Linux-HA Heartbeat message: Heartbeat peers are heard only in two-node mode"), now)
		return
	}
	if err != nil {
		h.dropped(link, from, err, now)
		return
	}
	src := strings.ToLower(m.Get("src"))
	t := m.Get("t")
	switch {
	case src == "":
		err = drop(DropMalformed, "Heartbeat message without src")
	case src == h.cfg.Node:
		err = drop(DropDuplicateName, "a Heartbeat node sends as %s", src)
	case !h.peerSet[src]:
		err = drop(DropUnknownNode, "Heartbeat node %s is not in ha.cf", src)
	}
	if err != nil {
		h.dropped(link, from, err, now)
		return
	}
	if t != "status" && t != "shutdone" && t != "resource" {
		return // the rest of Heartbeat's protocol is not needed here
	}
	if at, ok := h.hbgoAt[src]; ok && now.Sub(at) < h.cfg.Timing.Deadtime {
		h.dropped(link, from, drop(DropHeartbeat3, "%s speaks hbgo: its Heartbeat messages are not taken", src), now)
		return
	}
	hg, okG := m.Hex("hg")
	seq, okS := m.Hex("seq")
	if !okG || !okS {
		h.dropped(link, from, drop(DropMalformed, "Heartbeat %s message of %s without hg or seq", t, src), now)
		return
	}
	lp := h.legacy[src]
	restarted := false
	switch {
	case lp != nil && hg < lp.hg:
		h.dropped(link, from, drop(DropGeneration, "Heartbeat generation %d of %s, %d known", hg, src, lp.hg), now)
		return
	case lp == nil || hg > lp.hg:
		restarted = lp != nil
		lp = &legacyPeer{hg: hg, gen: uint64(now.UnixNano()), seq: map[string]uint64{}}
		h.legacy[src] = lp
	}
	if last, ok := lp.seq[link]; ok && seq <= last {
		h.dropped(link, from, drop(DropReplay, "Heartbeat sequence %d of %s, %d taken", seq, src, last), now)
		return
	}
	lp.seq[link] = seq
	lp.newest, lp.key = true, m.KeyNum
	switch t {
	case "resource":
		if m.Get("info") == "shutdown" && !lp.left {
			h.log.Info(fmt.Sprintf("Heartbeat on %s is shutting down: it releases its resources", src), "node", h.cfg.Node)
		}
	case "shutdone":
		if !lp.left {
			lp.left = true
			h.log.Info(fmt.Sprintf("Heartbeat on %s has released its resources and left", src), "node", h.cfg.Node)
			h.heard(src, link, StatusLeaving, false, now)
		}
	case "status":
		if lp.left {
			return // the statuses a leaving Heartbeat still sends
		}
		if m.Get("st") == "dead" {
			lp.left = true
			h.heard(src, link, StatusLeaving, false, now)
			return
		}
		if dt, ok := m.Hex("dt"); ok && !lp.warned && time.Duration(dt)*time.Millisecond != h.cfg.Timing.Deadtime {
			lp.warned = true
			h.log.Warn(fmt.Sprintf("Heartbeat on %s runs with deadtime %v, this node with %v: give both the same ha.cf", src, time.Duration(dt)*time.Millisecond, h.cfg.Timing.Deadtime), "node", h.cfg.Node)
		}
		if h.cfg.OnHeartbeat3 != nil {
			h.cfg.OnHeartbeat3(src, lp.gen, now)
		}
		h.heard(src, link, StatusUp, restarted, now)
	}
}
