package crm

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"hbgo/conf"
)

// The fixture: directors A and B, witness W, group g0 at home on A and g1
// on B. Keepalive 200ms and deadtime 2s give a lease of 1s, a margin of
// 100ms, SafeWait 2.1s and NewLeaderWait 1.1s.
var (
	qpHA = &conf.HAConfig{Keepalive: 200 * time.Millisecond, Deadtime: 2 * time.Second,
		Nodes: []string{"A", "B"}, Witnesses: []string{"W"}, AutoFailback: "on"}
	qpTiming = DeriveTiming(qpHA)
	qpLayout = LayoutOf([]string{"g0", "g1", "\x01", "A", "B", "W"})
	qpT0     = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
)

// qpView is a settled cluster seen by me: everyone heard, leased, caught
// up, each node's generation recorded, nothing assigned; W has led for an
// hour.
func qpView(me string) *QuorumView {
	v := &QuorumView{
		Me: me, Voters: []string{"A", "B", "W"}, Directors: []string{"A", "B"},
		Groups: []string{"g0", "g1"}, Homes: []string{"A", "B"}, Layout: qpLayout,
		State: newState(), CaughtUp: true, Nodes: map[string]QuorumNode{},
		Now: qpT0, IsLeader: me == "W", LeaderSince: qpT0.Add(-time.Hour), RevokedAt: map[string]time.Time{},
		LeaseValid: true, AutoFailback: "on", Timing: qpTiming,
	}
	for i, name := range v.Voters {
		c := &Claims{Layout: qpLayout, Flags: FlagRaftState | FlagLease, Ping: 1}
		if name != "W" {
			c.Groups = make([]Claim, 2)
		}
		gen := uint64(10 + i)
		v.Nodes[name] = QuorumNode{Alive: true, Claims: c, LastHeard: qpT0, UpAt: qpT0.Add(-time.Hour), Generation: gen}
		v.State.Nodes[name] = NodeRecord{Generation: gen}
	}
	return v
}

// Setters for the tables.

func qpClaims(v *QuorumView, node string) *Claims { return v.Nodes[node].Claims }

func qpNode(v *QuorumView, node string, f func(*QuorumNode)) {
	n := v.Nodes[node]
	f(&n)
	v.Nodes[node] = n
}

// qpSilentAbout: node's newest claims, made after this node's heartbeat
// of acked (and an hour into its run), vouch for nobody.
func qpSilentAbout(v *QuorumView, node string, acked time.Time) {
	qpNode(v, node, func(n *QuorumNode) {
		c := *n.Claims
		c.Vouch, c.Uptime = 0, uint32(time.Hour.Milliseconds())
		n.Claims, n.AckedMine = &c, acked
	})
}

// qpDead: node has not been heard for d (its last claims stay known).
func qpDead(v *QuorumView, node string, d time.Duration) {
	qpNode(v, node, func(n *QuorumNode) { n.Alive, n.LastHeard = false, v.Now.Add(-d) })
}

func qpAssign(v *QuorumView, group, owner string, epoch uint64) {
	a := v.State.Groups[group]
	if a.Owner != "" {
		a.LastOwner = a.Owner
	}
	a.Owner, a.Epoch = owner, epoch
	v.State.Groups[group] = a
}

// qpRuns says what node does with group i, at which epoch.
func qpRuns(v *QuorumView, node string, i int, s ClaimState, epoch uint64) {
	qpClaims(v, node).Groups[i] = Claim{State: s, Epoch: epoch}
}

// qpSettled: each group assigned to and running at its home, epoch 1.
func qpSettled(v *QuorumView) {
	qpAssign(v, "g0", "A", 1)
	qpAssign(v, "g1", "B", 1)
	qpRuns(v, "A", 0, ClaimRunning, 1)
	qpRuns(v, "B", 1, ClaimRunning, 1)
}

func qpRequest(v *QuorumView, node string, kind RequestKind, scope Scope) {
	c := qpClaims(v, node)
	c.Request, c.Scope = kind, scope
}

// The plan, as text a table can name.

func qpProposals(p QuorumPlan) []string {
	var out []string
	for _, pr := range p.Proposals {
		c := pr.Command
		switch {
		case c.Op == "nodeup":
			out = append(out, fmt.Sprintf("nodeup %s gen %d", c.Node, c.Gen))
		case c.Owner == "":
			out = append(out, fmt.Sprintf("revoke %s from %s e%d: %s", c.Group, pr.From, c.Epoch, pr.Reason))
		default:
			fb := ""
			if c.Failback {
				fb = " failback"
			}
			out = append(out, fmt.Sprintf("assign %s %s e%d%s (%s)", c.Group, c.Owner, c.Epoch, fb, pr.Reason))
		}
	}
	return out
}

func qpUnplaced(p QuorumPlan) []string {
	var out []string
	for _, u := range p.Unplaced {
		out = append(out, u.Group+": "+u.What)
	}
	return out
}

func qpGroups(p QuorumPlan) []string {
	var out []string
	for i, g := range p.Groups {
		s := fmt.Sprintf("g%d stop e%d", i, g.Epoch)
		if g.Want {
			s = fmt.Sprintf("g%d run e%d", i, g.Epoch)
		}
		if g.ClearFailed {
			s += " clear"
		}
		out = append(out, s)
	}
	return out
}

func qpOutcome(p QuorumPlan) string {
	switch {
	case p.Request.Done && p.Request.Impossible:
		return "done and impossible"
	case p.Request.Done:
		return "done"
	case p.Request.Impossible:
		return "impossible"
	}
	return "pending"
}

// qpCase is one pass. Proposals and Unplaced are always compared (nil:
// none); Groups and Request only when set.
type qpCase struct {
	name      string
	me        string // W when empty
	setup     func(v *QuorumView)
	proposals []string
	unplaced  []string
	groups    []string
	request   string
}

func (c qpCase) run(t *testing.T) {
	t.Helper()
	me := c.me
	if me == "" {
		me = "W"
	}
	v := qpView(me)
	if c.setup != nil {
		c.setup(v)
	}
	p := PlanQuorum(v)
	eq := func(what string, got, want []string) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %q\n want %q", what, got, want)
		}
	}
	eq("proposals", qpProposals(p), c.proposals)
	eq("unplaced", qpUnplaced(p), c.unplaced)
	if c.groups != nil {
		eq("groups", qpGroups(p), c.groups)
	}
	if c.request != "" {
		if got := qpOutcome(p); got != c.request {
			t.Errorf("request: got %s, want %s", got, c.request)
		}
	}
}

func runQP(t *testing.T, cases []qpCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestPlanQuorumInitialPlacement(t *testing.T) {
	runQP(t, []qpCase{{
		name:      "each group goes home",
		proposals: []string{"assign g0 A e1 (its home)", "assign g1 B e1 (its home)"},
	}, {
		name:  "a home not heard: the next director, marked to fail back",
		setup: func(v *QuorumView) { qpDead(v, "B", time.Minute) },
		proposals: []string{"assign g0 A e1 (its home)",
			"assign g1 A e1 failback (its home B cannot run it)"},
	}, {
		name: "a home heard without its lease yet is waited for",
		setup: func(v *QuorumView) {
			qpClaims(v, "B").Flags &^= FlagLease
			qpNode(v, "B", func(n *QuorumNode) { n.UpAt = v.Now.Add(-time.Second) })
		},
		proposals: []string{"assign g0 A e1 (its home)"},
	}, {
		name: "a home still without a lease a deadtime and a lease after it came up is passed over",
		setup: func(v *QuorumView) {
			qpClaims(v, "B").Flags &^= FlagLease
			qpNode(v, "B", func(n *QuorumNode) { n.UpAt = v.Now.Add(-qpTiming.Deadtime - qpTiming.Lease) })
		},
		proposals: []string{"assign g0 A e1 (its home)",
			"assign g1 A e1 failback (its home B cannot run it)"},
	}, {
		name: "a new leader gives a home without a lease a deadtime and a lease too",
		setup: func(v *QuorumView) {
			qpClaims(v, "B").Flags &^= FlagLease
			v.LeaderSince = v.Now.Add(-time.Second)
		},
		proposals: []string{"assign g0 A e1 (its home)"},
	}, {
		name:      "a director asking to take over gets every group, not marked to fail back",
		setup:     func(v *QuorumView) { qpRequest(v, "A", RequestTakeover, ScopeAll) },
		proposals: []string{"assign g0 A e1 (it asked to take the group over)", "assign g1 A e1 (it asked to take the group over)"},
	}, {
		name: "no director can run it",
		setup: func(v *QuorumView) {
			qpDead(v, "B", time.Minute)
			qpRuns(v, "A", 1, ClaimFailed, 0)
		},
		proposals: []string{"assign g0 A e1 (its home)"},
		unplaced:  []string{"g1: no director can run it"},
	}, {
		name: "nodes that came up are recorded",
		setup: func(v *QuorumView) {
			qpNode(v, "B", func(n *QuorumNode) { n.Generation = 99 })
			qpNode(v, "A", func(n *QuorumNode) { n.UpQueued = true })
			qpNode(v, "W", func(n *QuorumNode) { n.Generation = 0 }) // not known: nothing to record
			qpAssign(v, "g0", "A", 1)
			qpAssign(v, "g1", "B", 1)
		},
		proposals: []string{"nodeup A gen 10", "nodeup B gen 99"},
	}, {
		name: "a dead node is not recorded",
		setup: func(v *QuorumView) {
			qpNode(v, "B", func(n *QuorumNode) { n.Generation, n.UpQueued = 99, true })
			qpDead(v, "B", time.Minute)
			qpSettled(v)
		},
		proposals: []string{"revoke g1 from B e2: not heard"},
	}})
}

func TestPlanQuorumOnlyAReadyLeaderPlaces(t *testing.T) {
	runQP(t, []qpCase{{
		name:  "a follower proposes nothing",
		setup: func(v *QuorumView) { v.IsLeader = false },
	}, {
		name:  "a leader without a lease proposes nothing",
		setup: func(v *QuorumView) { v.LeaseValid = false },
	}, {
		name:  "a leader behind its log proposes nothing",
		setup: func(v *QuorumView) { v.CaughtUp = false },
	}})
	v := qpView("W")
	v.CaughtUp = false
	if p := PlanQuorum(v); p.Led || p.Groups != nil {
		t.Errorf("a witness behind its log: led %v, groups %v", p.Led, p.Groups)
	}
}

func TestPlanQuorumOwnerLost(t *testing.T) {
	revoked := func(v *QuorumView) {
		qpSettled(v)
		qpAssign(v, "g1", "", 2)
		qpRuns(v, "A", 1, ClaimStopped, 2)
	}
	runQP(t, []qpCase{{
		name:      "an owner not heard is revoked",
		setup:     func(v *QuorumView) { qpSettled(v); qpDead(v, "B", qpTiming.Deadtime) },
		proposals: []string{"revoke g1 from B e2: not heard"},
	}, {
		name: "then the group waits for SafeWait from the revocation",
		setup: func(v *QuorumView) {
			revoked(v)
			qpDead(v, "B", qpTiming.Lease)
			v.RevokedAt["g1"] = v.Now.Add(-qpTiming.SafeWait + time.Millisecond)
		},
		unplaced: []string{"g1: waiting until it is safe to give it to A"},
	}, {
		name: "and goes once SafeWait passed",
		setup: func(v *QuorumView) {
			revoked(v)
			qpDead(v, "B", qpTiming.Lease)
			v.RevokedAt["g1"] = v.Now.Add(-qpTiming.SafeWait)
		},
		proposals: []string{"assign g1 A e3 failback (its home B cannot run it)"},
	}, {
		name: "or once the owner's lease has surely lapsed since it was last heard, and A's claims show it does not vouch for B",
		setup: func(v *QuorumView) {
			revoked(v)
			qpDead(v, "B", qpTiming.Lease+qpTiming.Margin)
			v.RevokedAt["g1"] = v.Now
			qpSilentAbout(v, "A", v.Now.Add(-100*time.Millisecond))
		},
		proposals: []string{"assign g1 A e3 failback (its home B cannot run it)"},
	}, {
		name: "not while A vouches for B (A hears it: B may renew its lease from A)",
		setup: func(v *QuorumView) {
			revoked(v)
			qpDead(v, "B", qpTiming.Lease+qpTiming.Margin)
			v.RevokedAt["g1"] = v.Now
			qpSilentAbout(v, "A", v.Now.Add(-100*time.Millisecond))
			qpClaims(v, "A").Vouch = 1 << 1
		},
		unplaced: []string{"g1: waiting until it is safe to give it to A"},
	}, {
		name: "not on a claim of A made before the probation could have ended",
		setup: func(v *QuorumView) {
			revoked(v)
			qpDead(v, "B", qpTiming.Lease+qpTiming.Margin)
			v.RevokedAt["g1"] = v.Now
			qpSilentAbout(v, "A", v.Now.Add(-qpTiming.VouchProbation()))
		},
		unplaced: []string{"g1: waiting until it is safe to give it to A"},
	}, {
		name: "not on a claim of A's first deadtime (its former run may have vouched)",
		setup: func(v *QuorumView) {
			revoked(v)
			qpDead(v, "B", qpTiming.Lease+qpTiming.Margin)
			v.RevokedAt["g1"] = v.Now
			qpSilentAbout(v, "A", v.Now.Add(-100*time.Millisecond))
			qpClaims(v, "A").Uptime = uint32(qpTiming.Deadtime.Milliseconds())
		},
		unplaced: []string{"g1: waiting until it is safe to give it to A"},
	}, {
		name: "a lapse counts only after NewLeaderWait of this leadership",
		setup: func(v *QuorumView) {
			revoked(v)
			qpDead(v, "B", time.Minute)
			v.LeaderSince = v.Now.Add(-qpTiming.NewLeaderWait + time.Millisecond)
		},
		unplaced: []string{"g1: waiting until it is safe to give it to A"},
	}, {
		name: "a revocation by an earlier leader counts from this leadership",
		setup: func(v *QuorumView) {
			revoked(v)
			qpDead(v, "B", qpTiming.Lease) // heard recently: no lapse
			v.LeaderSince = v.Now.Add(-qpTiming.SafeWait + time.Millisecond)
			v.RevokedAt["g1"] = v.Now.Add(-time.Hour)
		},
		unplaced: []string{"g1: waiting until it is safe to give it to A"},
	}, {
		name: "never while a heard node still holds it, however long ago the revocation",
		setup: func(v *QuorumView) {
			revoked(v)
			qpClaims(v, "B").Flags &^= FlagLease // heard, but cannot run it
			v.RevokedAt["g1"] = v.Now.Add(-time.Hour)
		},
		unplaced: []string{"g1: waiting until it is safe to give it to A"},
	}, {
		name: "nor while it is still stopping there",
		setup: func(v *QuorumView) {
			revoked(v)
			qpClaims(v, "B").Flags &^= FlagLease
			qpRuns(v, "B", 1, ClaimStopping, 2)
			v.RevokedAt["g1"] = v.Now.Add(-time.Hour)
		},
		unplaced: []string{"g1: waiting until it is safe to give it to A"},
	}, {
		name: "a heard node that stopped at the new epoch frees it at once",
		setup: func(v *QuorumView) {
			revoked(v)
			qpClaims(v, "B").Flags &^= FlagLease
			qpRuns(v, "B", 1, ClaimStopped, 2)
			v.RevokedAt["g1"] = v.Now
		},
		proposals: []string{"assign g1 A e3 failback (its home B cannot run it)"},
	}, {
		name: "a heard node stopped at an older epoch has not seen the revocation",
		setup: func(v *QuorumView) {
			revoked(v)
			qpClaims(v, "B").Flags &^= FlagLease
			qpRuns(v, "B", 1, ClaimStopped, 1)
			v.RevokedAt["g1"] = v.Now
		},
		unplaced: []string{"g1: waiting until it is safe to give it to A"},
	}, {
		name: "an owner whose lease lapsed is revoked though heard",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpClaims(v, "B").Flags &^= FlagLease
		},
		proposals: []string{"revoke g1 from B e2: it has no lease (it cannot hear a quorum)"},
	}})
}

func TestPlanQuorumFailback(t *testing.T) {
	away := func(v *QuorumView) {
		qpSettled(v)
		qpAssign(v, "g1", "A", 3)
		g := v.State.Groups["g1"]
		g.Failback = true
		v.State.Groups["g1"] = g
		qpRuns(v, "A", 1, ClaimRunning, 3)
		qpRuns(v, "B", 1, ClaimStopped, 3)
	}
	runQP(t, []qpCase{{
		name:      "on: home again, the group goes back",
		setup:     away,
		proposals: []string{"revoke g1 from A e4: its home B can run it again"},
	}, {
		name:      "legacy behaves as on",
		setup:     func(v *QuorumView) { away(v); v.AutoFailback = "legacy" },
		proposals: []string{"revoke g1 from A e4: its home B can run it again"},
	}, {
		name:  "off: it stays",
		setup: func(v *QuorumView) { away(v); v.AutoFailback = "off" },
	}, {
		name: "a group moved on request does not go back",
		setup: func(v *QuorumView) {
			away(v)
			g := v.State.Groups["g1"]
			g.Failback = false
			v.State.Groups["g1"] = g
		},
	}, {
		name:  "an owner that asked for it keeps it",
		setup: func(v *QuorumView) { away(v); qpRequest(v, "A", RequestTakeover, ScopeForeign) },
	}, {
		name:     "a home that cannot run it yet does not get it, and the leader says why",
		setup:    func(v *QuorumView) { away(v); qpClaims(v, "B").Flags &^= FlagLease },
		unplaced: []string{"g1: auto_failback waits for its home B"},
	}})
}

func TestPlanQuorumRequestsAtTheLeader(t *testing.T) {
	runQP(t, []qpCase{{
		name:      "standby: the owner's groups are revoked",
		setup:     func(v *QuorumView) { qpSettled(v); qpRequest(v, "A", RequestStandby, ScopeAll) },
		proposals: []string{"revoke g0 from A e2: it asked to give the group away"},
	}, {
		name: "and go to the other director, not marked to fail back",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "A", RequestStandby, ScopeAll)
			qpAssign(v, "g0", "", 2)
			qpRuns(v, "A", 0, ClaimStopped, 2)
		},
		proposals: []string{"assign g0 B e3 (its home A cannot run it)"},
	}, {
		name: "standby with nowhere to go: nothing is revoked",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpDead(v, "B", time.Minute)
			qpAssign(v, "g1", "A", 3)
			qpRuns(v, "A", 1, ClaimRunning, 3)
			qpRequest(v, "A", RequestStandby, ScopeAll)
		},
	}, {
		name: "shutting down with nowhere to go: revoked all the same",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpDead(v, "B", time.Minute)
			qpAssign(v, "g1", "A", 3)
			qpRuns(v, "A", 1, ClaimRunning, 3)
			qpRequest(v, "A", RequestStandby, ScopeAll)
			qpClaims(v, "A").Flags |= FlagLeaving
		},
		proposals: []string{"revoke g0 from A e2: it is shutting down", "revoke g1 from A e4: it is shutting down"},
	}, {
		name:      "standby local covers only the node's own groups",
		setup:     func(v *QuorumView) { qpSettled(v); qpRequest(v, "B", RequestStandby, ScopeLocal) },
		proposals: []string{"revoke g1 from B e2: it asked to give the group away"},
	}, {
		name:      "takeover: revoked from the owner",
		setup:     func(v *QuorumView) { qpSettled(v); qpRequest(v, "B", RequestTakeover, ScopeAll) },
		proposals: []string{"revoke g0 from A e2: B takes it over"},
	}, {
		name: "takeover by a node that cannot run it changes nothing",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "B", RequestTakeover, ScopeAll)
			qpRuns(v, "B", 0, ClaimFailed, 1)
		},
	}, {
		name: "shutting down: revoked, and sent home again later",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "B", RequestStandby, ScopeAll)
			qpClaims(v, "B").Flags |= FlagLeaving
		},
		proposals: []string{"revoke g1 from B e2: it is shutting down"},
	}, {
		name: "shutting down: the group goes away marked to fail back",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "B", RequestStandby, ScopeAll)
			qpClaims(v, "B").Flags |= FlagLeaving
			qpAssign(v, "g1", "", 2)
			qpRuns(v, "B", 1, ClaimStopped, 2)
		},
		proposals: []string{"assign g1 A e3 failback (its home B cannot run it)"},
	}, {
		name: "an operator's standby: not marked to fail back",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "B", RequestStandby, ScopeAll)
			qpAssign(v, "g1", "", 2)
			qpRuns(v, "B", 1, ClaimStopped, 2)
		},
		proposals: []string{"assign g1 A e3 (its home B cannot run it)"},
	}})
}

func TestPlanQuorumRequestOutcome(t *testing.T) {
	runQP(t, []qpCase{{
		name: "standby: pending while the group is still here and another can take it",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "A", RequestStandby, ScopeAll)
		},
		request: "pending",
	}, {
		name: "standby: impossible when nobody else can take it",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "A", RequestStandby, ScopeAll)
			qpDead(v, "B", time.Minute)
		},
		request: "impossible",
	}, {
		name: "standby: still assigned here counts as here",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "A", RequestStandby, ScopeAll)
			qpRuns(v, "A", 0, ClaimStopped, 1)
		},
		request: "pending",
	}, {
		name: "standby: pending until the other runs it",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "A", RequestStandby, ScopeAll)
			qpAssign(v, "g0", "B", 3)
			qpRuns(v, "A", 0, ClaimStopped, 3)
			qpRuns(v, "B", 0, ClaimStarting, 3)
		},
		request: "pending",
	}, {
		name: "standby: done when it runs there",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "A", RequestStandby, ScopeAll)
			qpAssign(v, "g0", "B", 3)
			qpRuns(v, "A", 0, ClaimStopped, 3)
			qpRuns(v, "B", 0, ClaimRunning, 3)
		},
		request: "done",
		groups:  []string{"g0 stop e3", "g1 stop e1"},
	}, {
		name: "standby: done when it stopped here and nobody else could run it",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "A", RequestStandby, ScopeLocal)
			qpAssign(v, "g0", "", 2)
			qpRuns(v, "A", 0, ClaimStopped, 2)
			qpDead(v, "B", time.Minute)
		},
		request: "done",
	}, {
		name: "takeover: done when every covered group runs here, assigned here",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "A", RequestTakeover, ScopeLocal)
		},
		request: "done",
	}, {
		name: "takeover: pending while one is not assigned here",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "A", RequestTakeover, ScopeForeign)
		},
		request: "pending",
	}, {
		// The failure is cleared in the same pass, so the request sees
		// the group stopped here, not failed: a takeover is never judged
		// impossible (see the report on this branch).
		name: "takeover of a group that failed here: the failure is cleared, still pending",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpRequest(v, "A", RequestTakeover, ScopeForeign)
			qpRuns(v, "A", 1, ClaimFailed, 1)
		},
		request: "pending",
		groups:  []string{"g0 run e1", "g1 stop e1 clear"},
	}, {
		name:    "no request: nothing to finish",
		me:      "A",
		setup:   qpSettled,
		request: "pending",
	}})
}

func TestPlanQuorumPing(t *testing.T) {
	runQP(t, []qpCase{{
		name: "a lower score gives the group away",
		setup: func(v *QuorumView) {
			qpSettled(v)
			v.PingConfigured = true
			qpClaims(v, "B").Ping = 2
		},
		proposals: []string{"revoke g0 from A e2: its ping score 1 is below the best 2"},
	}, {
		name: "scores count only when ping nodes are configured",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpClaims(v, "B").Ping = 2
		},
	}, {
		name: "a dead node's score does not count",
		setup: func(v *QuorumView) {
			qpSettled(v)
			v.PingConfigured = true
			qpClaims(v, "B").Ping = 2
			qpDead(v, "B", time.Minute)
		},
		proposals: []string{"revoke g1 from B e2: not heard"},
	}, {
		name: "an unassigned group goes to the best score, away from its home",
		setup: func(v *QuorumView) {
			v.PingConfigured = true
			qpClaims(v, "B").Ping = 2
		},
		proposals: []string{"assign g0 B e1 failback (its home A cannot run it)", "assign g1 B e1 (its home)"},
	}})
}

func TestPlanQuorumIneligible(t *testing.T) {
	runQP(t, []qpCase{{
		name:      "claims of another layout: the node cannot run groups",
		setup:     func(v *QuorumView) { qpSettled(v); qpClaims(v, "B").Layout++ },
		proposals: []string{"revoke g1 from B e2: its haresources or voters differ"},
	}, {
		name: "and does not count as heard when the group is to move",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpClaims(v, "B").Layout++
			qpAssign(v, "g1", "", 2)
			v.RevokedAt["g1"] = v.Now.Add(-time.Second)
		},
		unplaced: []string{"g1: waiting until it is safe to give it to A"},
	}, {
		name:      "unknown claims",
		setup:     func(v *QuorumView) { qpSettled(v); qpNode(v, "B", func(n *QuorumNode) { n.Claims = nil }) },
		proposals: []string{"revoke g1 from B e2: its state is unknown"},
	}, {
		name:      "a short group list",
		setup:     func(v *QuorumView) { qpSettled(v); qpClaims(v, "B").Groups = qpClaims(v, "B").Groups[:1] },
		proposals: []string{"revoke g1 from B e2: its group list is short"},
	}, {
		name:      "a failed start",
		setup:     func(v *QuorumView) { qpSettled(v); qpRuns(v, "B", 1, ClaimFailed, 1) },
		proposals: []string{"revoke g1 from B e2: the group failed to start there"},
	}, {
		name: "then the group goes elsewhere once the failed node saw the new epoch",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpAssign(v, "g1", "", 2)
			qpRuns(v, "B", 1, ClaimFailed, 2)
			v.RevokedAt["g1"] = v.Now
		},
		proposals: []string{"assign g1 A e3 failback (its home B cannot run it)"},
	}, {
		name: "the leader's own claims need no lease flag",
		me:   "A",
		setup: func(v *QuorumView) {
			v.IsLeader = true
			qpClaims(v, "A").Flags = 0
			qpClaims(v, "B").Flags = 0
		},
		proposals: []string{"assign g0 A e1 (its home)", "assign g1 A e1 failback (its home B cannot run it)"},
	}})
	// Each director's reason, for the log.
	v := qpView("W")
	qpClaims(v, "B").Layout++
	qpRuns(v, "A", 1, ClaimFailed, 0)
	qpAssign(v, "g0", "A", 1)
	p := PlanQuorum(v)
	if len(p.Unplaced) != 1 || !reflect.DeepEqual(p.Unplaced[0].Why,
		[]string{"A: the group failed to start there", "B: its haresources or voters differ"}) {
		t.Errorf("unplaced: %+v", p.Unplaced)
	}
}

func TestPlanQuorumRunners(t *testing.T) {
	runQP(t, []qpCase{{
		name:   "what is assigned here runs, at the assignment's epoch",
		me:     "A",
		setup:  qpSettled,
		groups: []string{"g0 run e1", "g1 stop e1"},
	}, {
		name: "behind the log: keeps what it holds, starts nothing",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpAssign(v, "g1", "A", 2)
			v.CaughtUp = false
		},
		groups: []string{"g0 run e1", "g1 stop e2"},
	}, {
		name:   "without a lease nothing runs",
		me:     "A",
		setup:  func(v *QuorumView) { qpSettled(v); v.LeaseValid = false },
		groups: []string{"g0 stop e1", "g1 stop e1"},
	}, {
		name:   "stopping: nothing runs",
		me:     "A",
		setup:  func(v *QuorumView) { qpSettled(v); v.Stopping = true },
		groups: []string{"g0 stop e1", "g1 stop e1"},
	}, {
		// The runner does not retry a failed start: wanting it changes
		// nothing until the failure is cleared.
		name:   "a failed start is kept while the group runs nowhere",
		me:     "A",
		setup:  func(v *QuorumView) { qpSettled(v); qpRuns(v, "A", 0, ClaimFailed, 1) },
		groups: []string{"g0 run e1", "g1 stop e1"},
	}, {
		name: "a failed start is forgotten once another node runs the group",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpAssign(v, "g0", "B", 3)
			qpRuns(v, "A", 0, ClaimFailed, 1)
			qpRuns(v, "B", 0, ClaimRunning, 3)
		},
		groups: []string{"g0 stop e3 clear", "g1 stop e1"},
	}, {
		name: "but not when that node is not heard",
		me:   "A",
		setup: func(v *QuorumView) {
			qpSettled(v)
			qpAssign(v, "g0", "B", 3)
			qpRuns(v, "A", 0, ClaimFailed, 1)
			qpRuns(v, "B", 0, ClaimRunning, 3)
			qpDead(v, "B", time.Second)
		},
		groups: []string{"g0 stop e3", "g1 stop e1"},
	}, {
		name:   "a witness runs nothing",
		setup:  qpSettled,
		groups: nil,
	}})
}

// A leader that is also a director judges its own claims as its runners
// will have them after this pass.
func TestPlanQuorumLeaderSeesItsOwnRunnerStep(t *testing.T) {
	runQP(t, []qpCase{{
		name: "a failure cleared for a takeover makes the leader eligible at once",
		me:   "A",
		setup: func(v *QuorumView) {
			v.IsLeader = true
			qpSettled(v)
			qpAssign(v, "g0", "B", 3)
			qpRuns(v, "A", 0, ClaimFailed, 1)
			qpRuns(v, "B", 0, ClaimRunning, 3)
			qpRequest(v, "A", RequestTakeover, ScopeLocal)
		},
		proposals: []string{"revoke g0 from B e4: A takes it over"},
		groups:    []string{"g0 stop e3 clear", "g1 stop e1"},
	}, {
		name: "the newest epoch handed to its runner counts as seen",
		me:   "A",
		setup: func(v *QuorumView) {
			v.IsLeader = true
			qpSettled(v)
			qpAssign(v, "g0", "", 2)
			qpRuns(v, "A", 0, ClaimStopped, 1)
			qpRequest(v, "A", RequestStandby, ScopeLocal)
			v.RevokedAt["g0"] = v.Now
		},
		proposals: []string{"assign g0 B e3 (its home A cannot run it)"},
	}})
}

// PlanQuorum must not change its view: the adapter and the simulation
// reuse it.
func TestPlanQuorumLeavesTheViewAlone(t *testing.T) {
	v := qpView("A")
	v.IsLeader = true
	qpSettled(v)
	qpRuns(v, "A", 0, ClaimFailed, 0)
	qpRequest(v, "A", RequestTakeover, ScopeAll)
	before := fmt.Sprintf("%+v %+v", *qpClaims(v, "A"), v.State)
	PlanQuorum(v)
	if after := fmt.Sprintf("%+v %+v", *qpClaims(v, "A"), v.State); after != before {
		t.Errorf("view changed:\n%s\n%s", before, after)
	}
	if s := (Proposal{Command: Command{Op: "assign", Group: "g0", Epoch: 2}, From: "A", Reason: "x"}).String(); !strings.HasPrefix(s, "Revoking group g0 from A (epoch 2)") {
		t.Errorf("revoke line: %s", s)
	}
}
