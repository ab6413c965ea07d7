package crm

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Scripted two-node scenarios on the simulation (sim_test.go): each
// boots both directors, applies faults and requests at chosen moments,
// lets the cluster settle, and compares every group's state; the
// invariant (never two holders) is checked after every event throughout.

func scenario(t *testing.T, sc simConfig) *simWorld {
	t.Helper()
	if sc.groups == nil {
		sc.groups = []string{"A", "B"}
	}
	w := newSimWorld(t, 1, sc)
	w.tracing = true
	w.nodes[0].boot()
	w.nodes[1].boot()
	return w
}

// expect lets the cluster run three seconds, then compares its state.
func (w *simWorld) expect(want string) {
	w.t.Helper()
	w.runUntil(w.now + 3*time.Second)
	if w.failure != "" {
		w.t.Fatalf("%s\n%s", w.failure, strings.Join(w.trace, "\n"))
	}
	if got := w.state(); got != want {
		w.t.Fatalf("got %s, want %s\n%s", got, want, strings.Join(w.trace, "\n"))
	}
}

// do runs fn as an event of the simulation, so the invariant is checked
// right after it.
func (w *simWorld) do(fn func()) {
	w.at(0, fn)
	w.runUntil(w.now)
}

func (n *simNode) ask(kind RequestKind, scope Scope) {
	n.w.do(func() {
		n.request, n.scope = kind, scope
		n.changed()
	})
}

func TestTwoNodeStartAtHomes(t *testing.T) {
	scenario(t, simConfig{}).expect("A[running,stopped] B[stopped,running]")
}

func TestTwoNodeFailoverAndFailback(t *testing.T) {
	for _, fb := range []string{"on", "legacy", "off"} {
		t.Run(fb, func(t *testing.T) {
			w := scenario(t, simConfig{failback: fb})
			w.expect("A[running,stopped] B[stopped,running]")
			a := w.nodes[0]
			w.do(func() { a.down(true) })
			w.expect("A[down,down] B[running,running]")
			w.do(a.boot)
			if fb == "off" {
				w.expect("A[stopped,stopped] B[running,running]")
			} else {
				w.expect("A[running,stopped] B[stopped,running]")
			}
		})
	}
}

func TestTwoNodeStandbyAndTakeover(t *testing.T) {
	w := scenario(t, simConfig{})
	w.expect("A[running,stopped] B[stopped,running]")
	a, b := w.nodes[0], w.nodes[1]
	a.ask(RequestStandby, ScopeAll)
	w.expect("A[stopped,stopped] B[running,running]")
	if a.request != RequestNone {
		t.Fatal("standby request not cleared when done")
	}
	// No failback: A did not come back, it asked.
	w.expect("A[stopped,stopped] B[running,running]")
	a.ask(RequestTakeover, ScopeLocal)
	w.expect("A[running,stopped] B[stopped,running]")
	a.ask(RequestTakeover, ScopeForeign)
	w.expect("A[running,running] B[stopped,stopped]")
	b.ask(RequestTakeover, ScopeAll)
	w.expect("A[stopped,stopped] B[running,running]")
}

func TestTwoNodeStandbyWithoutPeerIsImpossible(t *testing.T) {
	w := scenario(t, simConfig{})
	w.expect("A[running,stopped] B[stopped,running]")
	a, b := w.nodes[0], w.nodes[1]
	w.do(func() { b.down(true) })
	w.expect("A[running,running] B[down,down]")
	a.ask(RequestStandby, ScopeAll)
	w.expect("A[running,running] B[down,down]")
	if a.request != RequestNone {
		t.Fatal("an impossible standby stays pending")
	}
}

func TestTwoNodePingScores(t *testing.T) {
	w := scenario(t, simConfig{ping: true})
	w.expect("A[running,stopped] B[stopped,running]")
	a, b := w.nodes[0], w.nodes[1]
	setPing := func(n *simNode, p int) { w.do(func() { n.ping = p; n.changed() }) }
	setPing(a, 0) // A lost its uplink
	w.expect("A[stopped,stopped] B[running,running]")
	setPing(a, 1)
	w.expect("A[running,stopped] B[stopped,running]")
	// Equal scores never move groups; a lower score does.
	setPing(b, 2)
	w.expect("A[stopped,stopped] B[running,running]")
}

// TestTwoNodeFailedStart: A's start of g0 fails once.
func TestTwoNodeFailedStart(t *testing.T) {
	w := newSimWorld(t, 1, simConfig{groups: []string{"A", "B"}})
	w.tracing = true
	w.nodes[0].runners[0].failNext = true
	w.nodes[0].boot()
	w.nodes[1].boot()
	// B runs g0 at once; A forgets its failure when it sees that, and
	// auto_failback brings g0 home (the failure was a one-off).
	w.expect("A[running,stopped] B[stopped,running]")
	tr := strings.Join(w.trace, "\n")
	if i, j := strings.Index(tr, "A failed to start g0"), strings.Index(tr, "B starts g0"); i < 0 || j < i {
		t.Fatalf("B did not take g0 after A's failed start:\n%s", tr)
	}
}

func TestTwoNodeSplitBrainHeals(t *testing.T) {
	w := scenario(t, simConfig{})
	w.expect("A[running,stopped] B[stopped,running]")
	cut := func(on bool) {
		w.do(func() {
			for _, d := range w.dirs {
				d[0].cut, d[1].cut = on, on
			}
		})
	}
	cut(true)
	w.expect("A[running,running] B[running,running]") // the documented risk
	cut(false)
	w.expect("A[running,stopped] B[stopped,running]")
}

// TestTwoNodeOneWayLoss: A's heartbeats stop reaching B. B declares A
// dead after deadtime and takes over; A, which still hears B but sees its
// own heartbeats unacknowledged, has stopped before that.
func TestTwoNodeOneWayLoss(t *testing.T) {
	w := scenario(t, simConfig{})
	w.expect("A[running,stopped] B[stopped,running]")
	w.do(func() {
		for _, d := range w.dirs {
			d[0].cut = true
		}
	})
	w.expect("A[stopped,stopped] B[running,running]")
	w.do(w.heal)
	w.expect("A[running,stopped] B[stopped,running]")
}

// TestTwoNodeDifferingHaresources: a peer whose claims cannot be compared
// blocks every group: nothing starts while it lives.
func TestTwoNodeDifferingHaresources(t *testing.T) {
	w := newSimWorld(t, 1, simConfig{groups: []string{"A", "B"}})
	w.tracing = true
	w.nodes[1].layout++
	w.nodes[0].boot()
	w.nodes[1].boot()
	w.expect("A[stopped,stopped] B[stopped,stopped]")
	// The first to stop hands over nothing; the survivor then runs all.
	w.do(func() { w.nodes[1].gracefulStop() })
	w.expect("A[running,running] B[down,down]")
}

// TestTwoNodeSlowStopOnGracefulStop: A's stop of g0 hangs while it shuts
// down; B must not start g0 until A's stop returned.
func TestTwoNodeSlowStopOnGracefulStop(t *testing.T) {
	w := scenario(t, simConfig{})
	w.expect("A[running,stopped] B[stopped,running]")
	a := w.nodes[0]
	a.runners[0].hangNext = true
	w.do(a.gracefulStop)
	w.expect("A[down,down] B[running,running]")
}

// TestTwoNodeKill9Restart: A's daemon is killed with its resources left
// running; B takes over after deadtime; A, started again, sweeps what it
// left, and gets its group back by failback.
func TestTwoNodeKill9Restart(t *testing.T) {
	w := scenario(t, simConfig{})
	w.expect("A[running,stopped] B[stopped,running]")
	a := w.nodes[0]
	w.do(func() { a.down(false) })
	w.expect("A[down,down] B[running,running]")
	w.do(a.boot)
	w.expect("A[running,stopped] B[stopped,running]")
}

// TestTwoNodeSerialQueue: the serial cable queues a second; hb_standby and
// hb_takeover still land where asked, never doubling.
func TestTwoNodeSerialQueue(t *testing.T) {
	w := scenario(t, simConfig{serial: true})
	w.expect("A[running,stopped] B[stopped,running]")
	w.dirs[w.links][0].extraDelay = time.Second
	w.dirs[w.links][1].extraDelay = time.Second
	a := w.nodes[0]
	a.ask(RequestStandby, ScopeAll)
	w.expect("A[stopped,stopped] B[running,running]")
	a.ask(RequestTakeover, ScopeAll)
	w.expect("A[running,running] B[stopped,stopped]")
}

func TestClaimsRoundTrip(t *testing.T) {
	c := &Claims{Layout: 0xdeadbeef, Flags: FlagRaftState, Ping: 3, Request: RequestStandby, Scope: ScopeForeign, ReqID: 77, Commit: 12345, Nonce: 9, Uptime: 1234, Acks: []uint32{0, 7, 1 << 31},
		Groups: []Claim{{ClaimRunning, 5}, {ClaimFailed, 1 << 40}, {ClaimIntent, 0}}}
	b := c.Encode(nil)
	d, err := DecodeClaims(b)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*d) != fmt.Sprint(*c) {
		t.Fatalf("round trip: %+v != %+v", d, c)
	}
	for i := 0; i < len(b); i++ {
		DecodeClaims(b[:i]) // must not panic
	}
}

func FuzzDecodeClaims(f *testing.F) {
	f.Add((&Claims{Groups: []Claim{{ClaimRunning, 1}}}).Encode(nil))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeClaims(b)
		if err != nil {
			return
		}
		if string(c.Encode(nil)) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
