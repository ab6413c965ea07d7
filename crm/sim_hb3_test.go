package crm

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The migration from Linux-HA Heartbeat in the simulation: director A
// runs a model of Heartbeat 3 in haresources mode, B runs hbgo's real
// two-node code (planner, peer book with offerHeartbeat3, lease), and the
// schedules migrate A to hbgo and back while the faults of
// TestSimTwoNodeRandom hit both. The invariant is the same: no group on
// two nodes, except the cases two-node mode cannot help, which with a
// Heartbeat peer are: B hears nothing of A for deadtime (Heartbeat hears
// nothing of hbgo in any case, so a cut of A's heartbeats alone is
// already the split brain), and B hears a starting Heartbeat too late to
// finish its stops before Heartbeat's initdead ends.

// bootHB3 starts Heartbeat on n: statuses every keepalive; after initdead,
// having heard no Heartbeat peer (it cannot read hbgo), it takes every
// group.
func (n *simNode) bootHB3() {
	w := n.w
	n.up = true
	n.run++
	n.gen++ // Heartbeat's hg: one more at every start
	n.start = n.local()
	n.hbSeq = 0
	n.hbBootAt = w.now
	n.hbLeaving = false
	n.leaving = false
	n.mayRun = make([]bool, len(w.homes))
	n.lastHeard = make([]time.Time, len(w.dirs))
	n.lastSent = time.Time{}
	for i, r := range n.runners {
		r.state, r.want, r.busy, r.hung, r.swept, r.sweeping, r.leftover = ClaimStopped, false, false, false, true, false, false
		r.failNext = false
		r.blind = true // Heartbeat hears nothing of hbgo: every start is blind
		n.ghost[i] = 0
	}
	w.logf("%s boots Heartbeat (hg %d)", n.name, n.gen)
	run := n.run
	var tick func()
	tick = func() {
		if n.run != run {
			return
		}
		n.sendHB3("status")
		w.at(w.ha.Keepalive, tick)
	}
	w.at(time.Duration(w.rng.IntN(5))*time.Millisecond, tick)
	w.at(w.ha.EffectiveInitdead(), func() {
		if n.run != run || n.hbLeaving {
			return
		}
		w.logf("%s (Heartbeat) takes every group", n.name)
		for i, r := range n.runners {
			r.want = true
			n.kick(i)
		}
	})
}

// sendHB3 sends one Heartbeat message on every link (one sequence per
// message, as Heartbeat's counter).
func (n *simNode) sendHB3(kind string) {
	n.hbSeq++
	for l := range n.w.dirs {
		n.transmit(simPacket{from: n.idx, gen: n.gen, link: l, seq: n.hbSeq, hb3: true, kind: kind})
	}
}

// hbStop is Heartbeat's graceful stop: the resource message that it
// releases, the stops (Heartbeat waits for each, a hanging one too), then
// shutdone, and statuses of the same run for a while before it exits.
func (n *simNode) hbStop() {
	if !n.up || !n.hb3 || n.hbLeaving {
		return
	}
	w := n.w
	n.hbLeaving = true
	w.logf("%s (Heartbeat) shuts down", n.name)
	n.sendHB3("resource")
	for i, r := range n.runners {
		r.want = false
		n.kick(i)
	}
	run := n.run
	var wait func()
	wait = func() {
		if n.run != run {
			return
		}
		for _, r := range n.runners {
			if r.state.Holds() || r.busy {
				w.at(5*time.Millisecond, wait)
				return
			}
		}
		n.sendHB3("shutdone")
		w.logf("%s (Heartbeat) says shutdone", n.name)
		w.at(time.Duration(1000+w.rng.IntN(1000))*time.Millisecond, func() {
			if n.run == run {
				w.logf("%s (Heartbeat) exits", n.name)
				n.up = false
				n.run++
			}
		})
	}
	w.at(0, wait)
}

// receiveHB3 is hbgo's heartbeat layer taking a Heartbeat message
// (Heartbeat.receiveHeartbeat3), then the node's onHeartbeat3.
func (n *simNode) receiveHB3(p simPacket) {
	w := n.w
	now := n.local()
	if !n.hbgoAt.IsZero() && now.Sub(n.hbgoAt) < n.w.ha.Deadtime {
		return // the node speaks hbgo
	}
	lp := n.hbPeer
	switch {
	case lp != nil && p.gen < lp.hg:
		return
	case lp == nil || p.gen > lp.hg:
		lp = &simHB3Peer{hg: p.gen, gen: uint64(now.UnixNano()), seq: map[int]uint64{}}
		n.hbPeer = lp
		n.w.hbHeardAt = n.w.now
	}
	if last, ok := lp.seq[p.link]; ok && p.seq <= last {
		return
	}
	lp.seq[p.link] = p.seq
	if p.kind == "status" && !lp.left {
		n.delivered = now
	}
	switch p.kind {
	case "shutdone":
		if !lp.left {
			lp.left = true
			n.leftAt = now
			n.w.logf("%s hears Heartbeat on %s leave", n.name, n.peer().name)
			n.pass()
		}
	case "status":
		if lp.left || w.deafHB3 {
			return
		}
		wasAlive := n.alive()
		n.lastHeard[p.link] = now
		n.heardPeer = true
		n.watchDeadtime()
		if n.book.offerHeartbeat3(n.peer().name, lp.gen, now) || !wasAlive {
			n.pass()
		}
	}
}

// hb3Cut: the network delivered nothing of A's to B for deadtime (or B
// went down so), the one split brain of a pair whose one side hears
// nothing of the other in any case. It is judged by what the network
// delivered, not by what B made of it, so that a B deaf to Heartbeat is
// no excuse.
func (w *simWorld) hb3Cut() bool {
	b := w.nodes[1]
	if !b.up {
		return b.ghostSplit
	}
	// By B's clock, as B judges its peer dead.
	return b.delivered.IsZero() || b.local().Sub(b.delivered) >= w.ha.Deadtime
}

// hb3BlindStopping: B began to hold group g blind (it had heard nothing
// of A for deadtime, a cut) and no longer wants it: it is stopping what
// the cut made it start, and Heartbeat, which never hears B, started the
// group meanwhile. A B that went on wanting it is no excuse.
func (w *simWorld) hb3BlindStopping(g int) bool {
	b := w.nodes[1]
	return b.up && b.runners[g].blind && !b.mayRun[g]
}

// hb3Unheard: A runs Heartbeat and B did not hear its current run in time
// to be dark before Heartbeat's initdead ended (its first messages lost
// for most of initdead): Heartbeat takes the groups, and nothing here can
// stop it.
func (w *simWorld) hb3Unheard() bool {
	a := w.nodes[0]
	if !a.hb3 {
		return false
	}
	if w.deafHB3 {
		return false
	}
	// Once B hears the run, its VIPs are dark within a lease (the gate
	// is renewed no further), even when a stop hangs.
	return w.hbHeardAt < a.hbBootAt || w.hbHeardAt > a.hbBootAt+w.ha.EffectiveInitdead()-max(w.maxStop, w.timing.AckLease)
}

// hb3Schedule: A starts on Heartbeat holding nothing yet, B on hbgo at
// once or later; faults, migrations of A (Heartbeat stops and hbgo starts,
// or back) and restarts; then everything heals and each group must run on
// exactly one node.
func (w *simWorld) hb3Schedule(seed uint64) {
	a, b := w.nodes[0], w.nodes[1]
	a.hb3 = true
	a.boot()
	w.at(time.Duration(w.rng.IntN(3000))*time.Millisecond, b.boot)
	span := time.Duration(4+w.rng.IntN(8)) * time.Second
	// The migration step itself, once in every schedule.
	w.at(time.Duration(w.rng.Int64N(int64(span))), func() { w.migrate(a) })
	for f, nf := 0, 2+w.rng.IntN(8); f < nf; f++ {
		when := time.Duration(w.rng.Int64N(int64(span)))
		kind := w.rng.IntN(18)
		w.at(when, func() {
			if kind >= 15 {
				w.migrate(a)
			} else {
				w.fault(kind)
			}
		})
	}
	w.runUntil(span)
	w.at(0, func() {
		w.logf("healing")
		w.heal()
		for _, n := range w.nodes {
			if !n.up {
				n.boot()
			}
		}
	})
	bound := w.ha.EffectiveInitdead() + 4*w.ha.Deadtime + 6*time.Second
	w.runUntil(span + bound)
	if w.failure != "" {
		w.fail(seed, w.failure)
	}
	if s := w.settled(); s != "" {
		w.fail(seed, "no progress after healing: "+s)
	}
}

// migrate switches A's software: a Heartbeat A shuts down gracefully and
// boots hbgo a moment after it exits (the documented migration step), an
// hbgo A stops gracefully and boots Heartbeat (a rollback).
func (w *simWorld) migrate(a *simNode) {
	if !a.up {
		a.switchNext = !a.switchNext
		return
	}
	a.switchNext = true
	run := a.run
	if a.hb3 {
		a.hbStop()
	} else {
		a.gracefulStop()
	}
	var again func()
	again = func() {
		if a.up && a.run == run {
			w.at(50*time.Millisecond, again)
			return
		}
		if !a.up && a.switchNext {
			w.at(time.Duration(w.rng.IntN(1500))*time.Millisecond, func() {
				if !a.up {
					a.boot()
				}
			})
		}
	}
	w.at(50*time.Millisecond, again)
}

// TestSimHeartbeat3Random runs random migration schedules (HBGO_SIM_SEED
// replays one with its trace).
func TestSimHeartbeat3Random(t *testing.T) {
	configs := []simConfig{
		{groups: []string{"A", "B"}},
		{groups: []string{"A", "A"}, serial: true},
		{groups: []string{"A", "B"}, ping: true, failback: "off"},
	}
	one := func(seed uint64, tracing bool) string {
		rt := &recordingTB{}
		w := newSimWorld(rt, seed, configs[seed%uint64(len(configs))])
		w.tracing = tracing
		func() {
			defer func() {
				if r := recover(); r != nil && r != errSimFailed {
					panic(r)
				}
			}()
			w.hb3Schedule(seed)
		}()
		return rt.msg
	}
	if s := os.Getenv("HBGO_SIM_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if msg := one(seed, true); msg != "" {
			t.Fatal(msg)
		}
		if os.Getenv("HBGO_SIM_TRACE") != "" {
			rt := &recordingTB{}
			w := newSimWorld(rt, seed, configs[seed%uint64(len(configs))])
			w.tracing = true
			w.hb3Schedule(seed)
			for _, l := range w.trace {
				t.Log(l)
			}
		}
		return
	}
	n := simSchedules(t) / 4
	base := uint64(time.Now().UnixNano())
	if s := os.Getenv("HBGO_SIM_BASE"); s != "" {
		base, _ = strconv.ParseUint(s, 10, 64)
	}
	for k := 0; k < n; k++ {
		if msg := one(base+uint64(k), false); msg != "" {
			t.Fatal(one(base+uint64(k), true))
		}
	}
	t.Logf("%d migration schedules from seed %d, no double holder, every group placed after healing", n, base)
}

// TestSimHeartbeat3FindsDoubleWhenDeaf shows that the migration
// simulation can fail: with hbgo deaf to Heartbeat's statuses (as it was,
// dropping them as malformed), B takes the groups Heartbeat holds.
func TestSimHeartbeat3FindsDoubleWhenDeaf(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rt := &recordingTB{}
		w := newSimWorld(rt, seed, simConfig{groups: []string{"A", "B"}})
		w.deafHB3 = true
		func() {
			defer func() {
				if r := recover(); r != nil && r != errSimFailed {
					panic(r)
				}
			}()
			w.hb3Schedule(seed)
		}()
		if rt.msg != "" {
			t.Logf("seed %d, hbgo deaf to Heartbeat: %s", seed, strings.SplitN(rt.msg, "\n", 2)[0])
			return
		}
	}
	t.Fatal("200 migration schedules with hbgo deaf to Heartbeat and no double holder: the simulation cannot see it")
}
