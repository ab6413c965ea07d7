// Package controltest owns the test doubles of the control socket: an
// in-memory Controller with canned answers and scripted errors, served over
// a real unix socket in a test's temporary directory.
package controltest

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"hbgo/crm"
	"hbgo/crm/control"
)

// Fake is a crm.Controller that answers from its fields. Set them before
// serving; the calls it received are in Calls.
type Fake struct {
	// StatusValue answers Status unless StatusErr is set.
	StatusValue *crm.Status
	StatusErr   error
	// Moves answers Standby and Takeover unless MoveErr is set; Took is
	// the duration they report.
	Moves   []crm.GroupMove
	Took    time.Duration
	MoveErr error
	// Block makes Standby and Takeover wait until their context ends, as
	// a move that never completes, and fail with the context's error.
	// A blocked move, or one without MoveErr, is taken on first
	// (crm.Accepted); MoveErr without Block is a refusal.
	Block bool
	// Ended, when set, hears the error a blocked move ended with.
	Ended     chan error
	ReloadErr error

	mu    sync.Mutex
	calls []string
}

var _ crm.Controller = (*Fake)(nil)

func (f *Fake) record(call string) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
}

// Calls lists the calls received, as "standby all", "status", ...
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *Fake) move(ctx context.Context) (*crm.MoveResult, error) {
	if f.Block {
		crm.Accepted(ctx)
		<-ctx.Done()
		if f.Ended != nil {
			f.Ended <- ctx.Err()
		}
		return nil, ctx.Err()
	}
	if f.MoveErr != nil {
		return nil, f.MoveErr
	}
	crm.Accepted(ctx)
	return &crm.MoveResult{Moved: f.Moves, Took: crm.Duration(f.Took)}, nil
}

func (f *Fake) Standby(ctx context.Context, scope crm.Scope) (*crm.MoveResult, error) {
	f.record("standby " + string(scope))
	return f.move(ctx)
}

func (f *Fake) Takeover(ctx context.Context, scope crm.Scope) (*crm.MoveResult, error) {
	f.record("takeover " + string(scope))
	return f.move(ctx)
}

func (f *Fake) Status(ctx context.Context) (*crm.Status, error) {
	f.record("status")
	if f.StatusErr != nil {
		return nil, f.StatusErr
	}
	return f.StatusValue, nil
}

func (f *Fake) Reload(ctx context.Context) error {
	f.record("reload")
	return f.ReloadErr
}

// Log collects a server's log lines for a test to read.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Serve serves c on control.SocketPath(runDir), logging into the returned
// Log, until the test ends.
func Serve(t testing.TB, runDir string, c crm.Controller) (*control.Server, *Log) {
	t.Helper()
	log := &Log{}
	s, err := control.Serve(context.Background(), control.SocketPath(runDir), c, control.ServerOptions{
		Node:   "alice",
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, log
}

var since = time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)

// QuorumStatus is alice's view of a cluster of two directors, alice and
// bob, a witness and two ping nodes, one of them dead. alice leads raft
// and runs both groups, one of them away from its home bob; bob's
// haresources differs from alice's and a start failed on bob.
func QuorumStatus() *crm.Status {
	return &crm.Status{
		Node:    "alice",
		Version: "1.0.0",
		Role:    "director",
		Mode:    "quorum",
		Since:   since,
		Raft: crm.RaftStatus{
			State:       "Leader",
			Term:        7,
			Leader:      "alice",
			CommitIndex: 1042,
			Voters:      []string{"alice", "bob", "quorum1"},
			LeaseValid:  true,
			LeaseLeft:   crm.Duration(1500 * time.Millisecond),
		},
		Nodes: []crm.NodeStatus{
			{Name: "alice", Type: "normal", Status: "active", Ping: 1, Version: "1.0.0",
				Links:   map[string]string{"eth0": "up", "eth1": "up", "/dev/ttyS0": "up"},
				Digests: map[string]string{"ha.cf": "5be1c0de5be1c0de", "haresources": "3f2a9c1e00000000", "ldirectord.cf": "0a0b0c0d0e0f1011"}},
			{Name: "bob", Type: "normal", Status: "up", Ping: 1, Version: "1.0.0",
				Links:   map[string]string{"eth0": "up", "eth1": "dead", "/dev/ttyS0": "up"},
				Digests: map[string]string{"ha.cf": "5be1c0de5be1c0de", "haresources": "77aa001100000000", "ldirectord.cf": "0a0b0c0d0e0f1011"}},
			{Name: "quorum1", Type: "witness", Status: "up", Version: "1.0.0",
				Links: map[string]string{"eth0": "up"}},
			{Name: "10.0.0.254", Type: "ping", Status: "up"},
			{Name: "10.0.0.253", Type: "ping", Status: "dead"},
		},
		Groups: []crm.GroupStatus{
			{Name: "web", Home: "alice", Owner: "alice", Holders: []string{"alice"}, Epoch: 12, State: "running",
				Resources: []string{"IPaddr::10.0.0.100/24/eth0/10.0.0.255", "ldirectord::ldirectord.cf"}},
			{Name: "mail", Home: "bob", Owner: "alice", Holders: []string{"alice"}, Epoch: 9, State: "running",
				Resources: []string{"IPaddr::10.0.0.101/24/eth0", "MailTo::root"},
				Failed:    map[string]string{"bob": "IPaddr::10.0.0.101/24/eth0 start: exit 1"}},
		},
		Resources: "all",
		Params: map[string]string{
			"keepalive": "500ms", "deadtime": "3s", "warntime": "1s", "initdead": "30s",
			"udpport": "694", "auto_failback": "on", "node": "alice bob", "logfacility": "daemon",
		},
		Warnings: []string{"ping node 10.0.0.253 is dead"},
	}
}

// TwoNodeStatus is alice's view of a two-node cluster without witness
// whose peer bob is dead on every link; alice runs everything.
func TwoNodeStatus() *crm.Status {
	return &crm.Status{
		Node:    "alice",
		Version: "1.0.0",
		Role:    "director",
		Mode:    "two-node",
		Since:   since,
		Raft:    crm.RaftStatus{State: "off"},
		Nodes: []crm.NodeStatus{
			{Name: "alice", Type: "normal", Status: "active", Ping: 1, Version: "1.0.0",
				Links: map[string]string{"eth0": "up", "/dev/ttyS0": "up"}},
			{Name: "bob", Type: "normal", Status: "dead",
				Links: map[string]string{"eth0": "dead", "/dev/ttyS0": "dead"}},
			{Name: "10.0.0.254", Type: "ping", Status: "up"},
		},
		Groups: []crm.GroupStatus{
			{Name: "web", Home: "alice", Owner: "alice", Holders: []string{"alice"}, Epoch: 3, State: "running",
				Resources: []string{"IPaddr::10.0.0.100/24/eth0"}},
			{Name: "mail", Home: "bob", Owner: "alice", Holders: []string{"alice"}, Epoch: 4, State: "running",
				Resources: []string{"IPaddr::10.0.0.101/24/eth0"}},
		},
		Resources: "all",
		Params:    map[string]string{"keepalive": "1s", "deadtime": "10s", "auto_failback": "off"},
	}
}

// SplitStatus is alice's view of a two-node cluster whose links to bob
// have just come back after every one of them was cut: both run web, and
// bob runs mail while alice is still stopping it.
func SplitStatus() *crm.Status {
	return &crm.Status{
		Node:    "alice",
		Version: "1.0.0",
		Role:    "director",
		Mode:    "two-node",
		Since:   since,
		Raft:    crm.RaftStatus{State: "off"},
		Nodes: []crm.NodeStatus{
			{Name: "alice", Type: "normal", Status: "active", Ping: 1, Version: "1.0.0",
				Links: map[string]string{"eth0": "up", "/dev/ttyS0": "up"}},
			{Name: "bob", Type: "normal", Status: "active", Ping: 1, Version: "1.0.0",
				Links: map[string]string{"eth0": "up", "/dev/ttyS0": "up"}},
			{Name: "10.0.0.254", Type: "ping", Status: "up"},
		},
		Groups: []crm.GroupStatus{
			{Name: "web", Home: "alice", Owner: "alice", Holders: []string{"alice", "bob"}, Epoch: 3, State: "running",
				Resources: []string{"IPaddr::10.0.0.100/24/eth0"}},
			{Name: "mail", Home: "bob", Owner: "bob", Holders: []string{"alice", "bob"}, Epoch: 4, State: "running",
				Resources: []string{"IPaddr::10.0.0.101/24/eth0"}},
		},
		Resources: "local",
		Params:    map[string]string{"keepalive": "1s", "deadtime": "10s", "auto_failback": "off"},
		Warnings: []string{
			"group web is held by alice and bob at once",
			"group mail is held by alice and bob at once",
		},
	}
}
