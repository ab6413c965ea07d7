package crm

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Assignment is who owns a group in the replicated state. Owner "" means
// unassigned: revoked from LastOwner, whose stop is not yet known.
type Assignment struct {
	Owner     string `json:"owner"`
	Epoch     uint64 `json:"epoch"`
	Index     uint64 `json:"index"` // raft index of the assignment
	LastOwner string `json:"last_owner,omitempty"`
	// Failback is set when the group went away from its home only because
	// the home could not run it: auto_failback sends it home again.
	Failback bool `json:"failback,omitempty"`
}

// NodeRecord is what the log remembers of a node: the generation last
// seen and the raft index at which it was last seen coming up (the trigger
// of auto_failback).
type NodeRecord struct {
	Generation uint64 `json:"gen"`
	UpIndex    uint64 `json:"up_index"`
}

// State is the replicated cluster state: a plain value, changed only by
// Apply, so that every node computes the same one from the same log.
type State struct {
	Groups map[string]Assignment `json:"groups"`
	Nodes  map[string]NodeRecord `json:"nodes"`
}

func newState() *State {
	return &State{Groups: map[string]Assignment{}, Nodes: map[string]NodeRecord{}}
}

func (s *State) clone() *State {
	c := newState()
	for k, v := range s.Groups {
		c.Groups[k] = v
	}
	for k, v := range s.Nodes {
		c.Nodes[k] = v
	}
	return c
}

// Command is one entry of the placement log.
type Command struct {
	Op    string `json:"op"` // "assign" or "nodeup"
	Group string `json:"group,omitempty"`
	Owner string `json:"owner,omitempty"`
	// Epoch must be the group's current epoch plus one: a proposal made
	// on a stale view is refused, so a deposed leader cannot undo newer
	// decisions.
	Epoch    uint64 `json:"epoch,omitempty"`
	Node     string `json:"node,omitempty"`
	Gen      uint64 `json:"gen,omitempty"`
	Failback bool   `json:"failback,omitempty"`
}

// applyResult is what Apply returns for a command.
type applyResult struct{ err error }

// fsm is the raft state machine over State.
type fsm struct {
	mu      sync.Mutex
	state   *State
	applied uint64
	notify  func()
	// revokedAt is when this node applied each group's latest
	// revocation (local time, not replicated): on the leader, the moment
	// the revocation committed, from which the old owner's lease is
	// counted out (a follower may renew from claims sent before it).
	revokedAt map[string]time.Time
}

func newFSM(notify func()) *fsm {
	return &fsm{state: newState(), notify: notify, revokedAt: map[string]time.Time{}}
}

// revocations returns when this node applied each group's latest
// revocation.
func (f *fsm) revocations() map[string]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]time.Time, len(f.revokedAt))
	for k, t := range f.revokedAt {
		out[k] = t
	}
	return out
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	var c Command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return applyResult{fmt.Errorf("bad command at index %d: %w", l.Index, err)}
	}
	f.mu.Lock()
	err := f.state.apply(c, l.Index)
	f.applied = l.Index
	if err == nil && c.Op == "assign" && c.Owner == "" {
		f.revokedAt[c.Group] = time.Now()
	}
	f.mu.Unlock()
	if f.notify != nil {
		f.notify()
	}
	return applyResult{err}
}

// apply changes the state by one command; it is deterministic.
func (s *State) apply(c Command, index uint64) error {
	switch c.Op {
	case "assign":
		cur := s.Groups[c.Group]
		if c.Epoch != cur.Epoch+1 {
			return fmt.Errorf("assign %s epoch %d: current epoch is %d", c.Group, c.Epoch, cur.Epoch)
		}
		next := Assignment{Owner: c.Owner, Epoch: c.Epoch, Index: index, LastOwner: cur.LastOwner, Failback: c.Failback}
		if cur.Owner != "" {
			next.LastOwner = cur.Owner
		}
		s.Groups[c.Group] = next
	case "nodeup":
		s.Nodes[c.Node] = NodeRecord{Generation: c.Gen, UpIndex: index}
	default:
		return fmt.Errorf("unknown command %q", c.Op)
	}
	return nil
}

// view returns a copy of the state and the last applied index.
func (f *fsm) view() (*State, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state.clone(), f.applied
}

// Snapshot implements raft.FSM.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(f.state)
	return snapshot(b), err
}

// Restore implements raft.FSM.
func (f *fsm) Restore(r io.ReadCloser) error {
	defer r.Close()
	s := newState()
	if err := json.NewDecoder(r).Decode(s); err != nil {
		return err
	}
	if s.Groups == nil {
		s.Groups = map[string]Assignment{}
	}
	if s.Nodes == nil {
		s.Nodes = map[string]NodeRecord{}
	}
	f.mu.Lock()
	f.state = s
	f.mu.Unlock()
	if f.notify != nil {
		f.notify()
	}
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}

// groupNames lists the state's groups, sorted.
func (s *State) groupNames() []string {
	var out []string
	for g := range s.Groups {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}
