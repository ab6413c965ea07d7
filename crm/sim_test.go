package crm

// A deterministic simulation of a two-node cluster: two directors run the
// real two-node planner (twonode.go), the real snapshot, intent and lease
// code (twonode_core.go), the real claims codec and the real peer book and
// nonce book (peers.go), over a simulated network (several links, delay,
// loss, duplication, reordering, one-way cuts, a slow serial cable) with
// simulated clocks that drift, and simulated resource runners that follow
// runner.go's state machine (start and stop take time, a stop may hang, a
// start may fail, a killed daemon leaves its resources running). Everything
// happens in one goroutine from a seeded random source, so a seed replays
// a schedule exactly: HBGO_SIM_SEED=N go test -run TestSimTwoNodeRandom ./crm
//
// After every event the invariant is checked: no group is held by two
// nodes. A node holds a group while its runner is starting, running or
// stopping it, except a stop that hangs once the node's lease has lapsed
// (its VIP is dark then: the kernel gate); a node that crashed or was
// killed holds what it held until its lease lapses. The one excused case
// is the documented one: while each side hears nothing of the other (a
// symmetric cut of every link), both serve, until the cut heals and one
// of them has stopped. At the end of a schedule the faults heal and every
// group must run on exactly one node within a bound.

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hbgo/conf"
)

var simEpoch = time.Unix(1_800_000_000, 0)

type simEvent struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type simQueue []*simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// simDir is one direction of one link.
type simDir struct {
	cut        bool
	loss, dup  float64
	extraDelay time.Duration // added to every packet (a serial queue)
	lastDue    time.Duration // serial links deliver in order
}

type simPacket struct {
	from    int
	gen     uint64
	link    int
	seq     uint64
	app     []byte
	leaving bool
	// hb3: a Linux-HA Heartbeat 3 message (gen is its hg) of kind
	// "status", "resource" (its shutdown begins) or "shutdone".
	hb3  bool
	kind string
}

type simRunner struct {
	state    ClaimState
	want     bool
	busy     bool
	hung     bool // the stop in progress hangs
	hangNext bool // the next stop hangs
	failNext bool // the next start fails
	swept    bool
	leftover bool // resources left running by a killed daemon
	sweeping bool // stopping what a former run left (its VIP is dark: no lease yet)
	// blind: the pass that last let the group run here had not heard the
	// peer for deadtime, or kept it while the peer was silent since its
	// last acknowledgement (TwoNodeView.PeerSilent). Two blind holders are two-node mode's known
	// limit (each side heard nothing of the other for deadtime), even if
	// a heartbeat got through between their two passes.
	blind bool
	// gateUntil: the latest the VIP gate may have been renewed to while
	// the group might run here (the lease, after every event, while
	// mayRun): a stop that hangs keeps the VIP lit until then.
	gateUntil time.Duration
}

type simNode struct {
	w      *simWorld
	killed bool // down by kill -9 (resources stay), not power-off
	// ghostSplit: when it went down it heard nothing of its peer (a split
	// brain), so its ghosts are the documented risk.
	ghostSplit bool
	idx        int
	name       string
	up         bool
	run        uint64 // rises at every start and crash: events of an old run are void
	gen        uint64
	drift      float64
	start      time.Time // local

	book      *peerBook
	nonces    *nonceBook
	intents   intents
	away      []bool
	mayRun    []bool
	heardPeer bool
	lastHeard []time.Time // per link, local
	leftAt    time.Time   // the peer said it leaves (local); zero otherwise
	linkSeq   []uint64
	peerSeq   map[[2]uint64]uint64 // (gen, link) -> last seq accepted
	peerGen   uint64
	lastSent  time.Time // local: the lease counts from the last heartbeat sent
	restless  bool      // the last pass waits on acknowledgements: every heartbeat wakes the loop
	deadCheck bool      // a wake-up is pending for the peer's deadtime

	ping    int
	request RequestKind
	scope   Scope
	leaving bool // graceful stop in progress
	layout  uint32
	runners []*simRunner
	ghost   []time.Duration // per group: held (as the invariant counts) until, after a crash
	wakeAt  time.Duration

	// hb3: this node runs Linux-HA Heartbeat 3 in haresources mode (a
	// migration): it hears nothing of hbgo, takes every group after its
	// initdead, and on a graceful stop releases them, says shutdone and
	// goes on sending statuses for a moment. switchNext: the next boot
	// runs the other software.
	hb3, switchNext bool
	hbSeq           uint64
	hbBootAt        time.Duration // world time of the Heartbeat run's start
	hbLeaving       bool
	// What the hbgo side's heartbeat layer keeps of a Heartbeat peer
	// (heartbeat3.go): its run, per link the sequence, shutdone seen,
	// and when hbgo was last heard from the node.
	hbPeer *simHB3Peer
	hbgoAt time.Time
	// delivered: the last new status of a Heartbeat peer's run the
	// network delivered here, taken or not (local time; a late
	// duplicate is not new).
	delivered time.Time
}

type simHB3Peer struct {
	hg, gen uint64
	seq     map[int]uint64
	left    bool
}

type simWorld struct {
	t      testing.TB
	rng    *rand.Rand
	now    time.Duration
	seq    uint64
	q      simQueue
	ha     *conf.HAConfig
	timing Timing
	homes  []string
	ping   bool // ping configured
	links  int  // UDP links; a serial cable is link `links` when serial
	serial bool
	dirs   [][2]*simDir // per link, per sender
	nodes  []*simNode
	trace  []string
	// excused[g] is set while a double holding of g is the documented
	// split brain (each side heard nothing of the other).
	excused []bool
	failure string
	maxStop time.Duration
	tracing bool // keep a trace (a failed seed is run again with it)
	// legacy runs the rules as they were before the handshake: a ping
	// score of 0 until the first round, no intent, no acknowledgement.
	legacy bool
	// hbHeardAt: when the hbgo side first heard the current Heartbeat
	// run of its peer (world time).
	hbHeardAt time.Duration
	// deafHB3: the hbgo side ignores Heartbeat's statuses (a test that
	// the simulation sees what hearing them prevents).
	deafHB3 bool
}

type simConfig struct {
	groups   []string // homes
	ping     bool
	serial   bool
	failback string
}

func newSimWorld(t testing.TB, seed uint64, sc simConfig) *simWorld {
	ha := &conf.HAConfig{Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond, Initdead: time.Second,
		AutoFailback: sc.failback, Nodes: []string{"A", "B"}}
	if ha.AutoFailback == "" {
		ha.AutoFailback = "on"
	}
	w := &simWorld{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ha: ha, timing: DeriveTiming(ha),
		homes: sc.groups, ping: sc.ping, links: 2, serial: sc.serial, maxStop: 30 * time.Millisecond}
	w.excused = make([]bool, len(w.homes))
	nl := w.links
	if w.serial {
		nl++
	}
	for l := 0; l < nl; l++ {
		w.dirs = append(w.dirs, [2]*simDir{{}, {}})
	}
	var names []string
	names = append(names, w.homes...)
	layout := LayoutOf(append(append([]string{}, "g0", "g1", "\x01"), "A", "B"))
	for i, name := range []string{"A", "B"} {
		n := &simNode{w: w, idx: i, name: name, drift: (w.rng.Float64()*2 - 1) * 0.002, layout: layout}
		for range w.homes {
			n.runners = append(n.runners, &simRunner{})
		}
		n.ghost = make([]time.Duration, len(w.homes))
		w.nodes = append(w.nodes, n)
	}
	return w
}

func (w *simWorld) at(d time.Duration, fn func()) {
	w.seq++
	heap.Push(&w.q, &simEvent{at: w.now + d, seq: w.seq, fn: fn})
}

func (w *simWorld) logf(format string, args ...any) {
	if !w.tracing {
		return
	}
	w.trace = append(w.trace, fmt.Sprintf("%8.3fs ", w.now.Seconds())+fmt.Sprintf(format, args...))
	if len(w.trace) > 4000 {
		w.trace = w.trace[len(w.trace)-3000:]
	}
}

// local is a node's clock now.
func (n *simNode) local() time.Time {
	return simEpoch.Add(time.Duration(float64(n.w.now) * (1 + n.drift)))
}

// trueAt converts a node's local time into the world's.
func (n *simNode) trueAt(t time.Time) time.Duration {
	return time.Duration(float64(t.Sub(simEpoch)) / (1 + n.drift))
}

func (n *simNode) peer() *simNode { return n.w.nodes[1-n.idx] }

// alive is the heartbeat layer's word on the peer: heard on some link
// within deadtime, and not said it leaves since.
func (n *simNode) alive() bool {
	now := n.local()
	for _, t := range n.lastHeard {
		if !t.IsZero() && now.Sub(t) < n.w.ha.Deadtime && t.After(n.leftAt) {
			return true
		}
	}
	return false
}

func (n *simNode) boot() {
	w := n.w
	for _, g := range n.ghost {
		if g > w.now && !n.killed {
			// A machine that lost power boots again long after its lease.
			w.at(g-w.now+time.Millisecond, func() {
				if !n.up {
					n.boot()
				}
			})
			return
		}
	}
	if n.switchNext {
		n.hb3, n.switchNext = !n.hb3, false
	}
	if n.hb3 {
		n.bootHB3()
		return
	}
	n.up = true
	n.run++
	n.gen++
	n.start = n.local()
	n.book = newPeerBook(n.layout)
	n.nonces = newNonceBook(w.rng.Uint32())
	n.intents = intents{from: make([]uint32, len(w.homes))}
	n.away = make([]bool, len(w.homes))
	n.mayRun = make([]bool, len(w.homes))
	n.heardPeer = false
	n.leftAt = time.Time{}
	n.lastHeard = make([]time.Time, len(w.dirs))
	n.linkSeq = make([]uint64, len(w.dirs))
	n.peerSeq = map[[2]uint64]uint64{}
	n.lastSent = time.Time{}
	n.hbPeer, n.hbgoAt, n.delivered = nil, time.Time{}, time.Time{}
	n.restless, n.deadCheck = false, false
	n.wakeAt = 0 // a wake-up of the last run does nothing and must not stand in for this run's
	n.request, n.scope, n.leaving = RequestNone, "", false
	n.ping = 1
	if w.ping {
		n.ping = PingUnknown
		if w.legacy {
			n.ping = 0
		}
		run := n.run
		w.at(time.Duration(w.rng.IntN(300))*time.Millisecond, func() {
			if n.run == run && n.ping <= 0 {
				n.ping = 1
				n.changed()
			}
		})
	}
	for _, r := range n.runners {
		r.state, r.want, r.busy, r.hung, r.swept, r.sweeping = ClaimStopping, false, false, false, false, true
		r.gateUntil = 0
	}
	w.logf("%s boots (gen %d)", n.name, n.gen)
	run := n.run
	// The heartbeat layer sends every keepalive; the loop (Node.loop)
	// runs on events only: its first pass, the end of initdead, the
	// peer's claims or liveness changing, a claim changing here, the
	// lease's end, and a safety pass every restEvery.
	var tick func()
	tick = func() {
		if n.run != run {
			return
		}
		n.send()
		w.at(w.ha.Keepalive, tick)
	}
	w.at(time.Duration(w.rng.IntN(5))*time.Millisecond, tick)
	w.at(0, func() {
		if n.run == run {
			n.pass()
		}
	})
	w.at(w.ha.EffectiveInitdead()+time.Millisecond, func() {
		if n.run == run {
			n.pass()
		}
	})
	var rest func()
	rest = func() {
		if n.run == run {
			n.pass()
			w.at(restEvery, rest)
		}
	}
	w.at(restEvery, rest)
	for i := range n.runners {
		n.kick(i)
	}
}

// down ends the daemon: killed (resources stay) or powered off (they go).
func (n *simNode) down(powerOff bool) {
	w := n.w
	if n.hb3 {
		// Heartbeat killed with -9 leaves its resources for good, with
		// Heartbeat's peer as with hbgo: not modelled.
		powerOff = true
	}
	until := n.leaseTrue()
	for i, r := range n.runners {
		held := r.state.Holds() || r.leftover
		if held && n.mayRun[i] {
			// Its VIP stays lit, gated by the lease the daemon last set.
			n.ghost[i] = until
		}
		r.leftover = held && !powerOff
		r.busy = false
	}
	n.killed = !powerOff
	n.ghostSplit = !n.alive()
	n.up = false
	n.run++
	w.logf("%s %s", n.name, map[bool]string{true: "powered off", false: "killed -9"}[powerOff])
}

// leaseTrue is until when (world time) the node's lease lets it serve.
func (n *simNode) leaseTrue() time.Duration {
	if n.lastSent.IsZero() {
		return 0
	}
	p := n.peer()
	until := twoNodeLease(n.w.timing, n.lastSent, n.alive(), n.book.get(p.name), n.nonces, n.idx)
	return n.trueAt(until)
}

func (n *simNode) claims() *Claims {
	n.intents.mu.Lock()
	defer n.intents.mu.Unlock()
	return n.claimsLocked()
}

func (n *simNode) claimsLocked() *Claims {
	c := &Claims{Layout: n.layout, Request: n.request, Scope: n.scope}
	if n.leaving {
		c.Flags |= FlagLeaving
	}
	if n.ping == PingUnknown {
		c.Flags |= FlagPingUnknown
	} else {
		c.Ping = uint8(n.ping)
	}
	for _, r := range n.runners {
		c.Groups = append(c.Groups, Claim{State: r.state})
	}
	overlayIntents(c.Groups, n.intents.from)
	return c
}

// send sends one heartbeat on every link, as the heartbeat layer does.
func (n *simNode) send() {
	w := n.w
	for l := range w.dirs {
		n.intents.mu.Lock()
		c := n.claimsLocked()
		c.Nonce = n.nonces.next(n.local())
		n.lastSent = n.local()
		n.intents.mu.Unlock()
		c.Uptime = uint32(n.local().Sub(n.start).Milliseconds())
		c.Acks = make([]uint32, 2)
		if e := n.book.get(n.peer().name); e.claims != nil {
			c.Acks[1-n.idx] = e.claims.Nonce
		}
		n.linkSeq[l]++
		n.transmit(simPacket{from: n.idx, gen: n.gen, link: l, seq: n.linkSeq[l], app: c.Encode(nil)})
	}
}

func (n *simNode) sendLeave() {
	for l := range n.w.dirs {
		n.linkSeq[l]++
		n.transmit(simPacket{from: n.idx, gen: n.gen, link: l, seq: n.linkSeq[l], leaving: true})
	}
}

func (n *simNode) transmit(p simPacket) {
	w := n.w
	d := w.dirs[p.link][n.idx]
	if d.cut || w.rng.Float64() < d.loss {
		return
	}
	copies := 1
	if w.rng.Float64() < d.dup {
		copies = 2
	}
	for c := 0; c < copies; c++ {
		var delay time.Duration
		if w.serial && p.link == w.links {
			// 19200 baud: some 60 ms a heartbeat, in order, behind a queue.
			delay = 40*time.Millisecond + time.Duration(w.rng.IntN(30))*time.Millisecond + d.extraDelay
			if due := w.now + delay; due < d.lastDue {
				delay = d.lastDue - w.now
			}
			d.lastDue = w.now + delay
		} else {
			delay = time.Duration(100+w.rng.IntN(3000)) * time.Microsecond
			if w.rng.IntN(20) == 0 {
				delay += time.Duration(w.rng.IntN(40)) * time.Millisecond // reordering
			}
		}
		to := n.peer()
		w.at(delay, func() { to.receive(p) })
	}
}

func (n *simNode) receive(p simPacket) {
	if !n.up || n.hb3 {
		return // Heartbeat cannot read hbgo's heartbeats
	}
	if p.hb3 {
		n.receiveHB3(p)
		return
	}
	// The heartbeat layer's replay check (history.accept): an older
	// generation is dropped; per sender link, the sequence rises.
	if p.gen < n.peerGen {
		return
	}
	n.peerGen = p.gen
	k := [2]uint64{p.gen, uint64(p.link)}
	if last, ok := n.peerSeq[k]; ok && p.seq <= last {
		return
	}
	n.peerSeq[k] = p.seq
	now := n.local()
	n.hbgoAt = now
	if p.leaving {
		n.hbgoAt = time.Time{} // its hbgo run is over (Heartbeat.receive)
		n.leftAt = now
		n.w.logf("%s hears %s leave", n.name, n.peer().name)
		n.pass()
		return
	}
	wasAlive := n.alive()
	n.lastHeard[p.link] = now
	n.heardPeer = true
	n.watchDeadtime()
	if newer, changed := n.book.offer(n.peer().name, p.gen, p.app, now); changed || newer && n.restless || !wasAlive {
		n.pass()
	}
}

// watchDeadtime keeps one wake-up pending for the moment the peer's
// deadtime runs out, as the heartbeat layer's node-dead event.
func (n *simNode) watchDeadtime() {
	if n.deadCheck {
		return
	}
	var last time.Time
	for _, t := range n.lastHeard {
		if t.After(last) {
			last = t
		}
	}
	n.deadCheck = true
	run := n.run
	n.w.at(n.trueAt(last.Add(n.w.ha.Deadtime))-n.w.now+time.Millisecond, func() {
		if n.run != run {
			return
		}
		n.deadCheck = false
		if n.alive() {
			n.watchDeadtime()
			return
		}
		n.pass()
	})
}

// pass is one pass of the node's loop in two-node mode (Node.decideTwoNode).
func (n *simNode) pass() {
	if !n.up || n.hb3 {
		return
	}
	w := n.w
	now := n.local()
	p := n.peer()
	in := twoNodeInput{
		Me: n.name, Peer: p.name, Ready: n.heardPeer || now.Sub(n.start) >= w.ha.EffectiveInitdead(),
		PeerAlive: n.alive(), PeerEntry: n.book.get(p.name), MyIndex: n.idx,
		Homes: w.homes, HA: w.ha, PingConfigured: w.ping, MyPing: n.ping,
		MyRequest: n.request, MyScope: n.scope, Away: n.away, Now: now,
	}
	n.intents.mu.Lock()
	in.Mine = n.claimsLocked().Groups
	in.IntentFrom = append([]uint32(nil), n.intents.from...)
	n.intents.mu.Unlock()
	v := buildTwoNodeView(in, n.nonces)
	if w.legacy {
		v.Acked = true
		for i := range v.IntentAcked {
			v.IntentAcked[i] = true
		}
		if v.PeerClaims != nil {
			c := *v.PeerClaims
			c.Groups = append([]Claim(nil), c.Groups...)
			for i := range c.Groups {
				if c.Groups[i].State == ClaimIntent {
					c.Groups[i].State = ClaimStopped
				}
			}
			v.PeerClaims = &c
		}
	}
	if n.leaving {
		v.MyRequest, v.MyScope = RequestStandby, ScopeAll
	}
	for i, r := range n.runners {
		if v.Mine[i].State == ClaimFailed && (v.peerClaim(i).State == ClaimRunning || v.myRequest(i, RequestTakeover)) {
			r.state = ClaimStopped
		}
	}
	ds, changed := applyTwoNode(v, &n.intents, n.nonces, n.away)
	n.restless = twoNodeRestless(v, n.intents.from, n.request)
	for i, r := range n.runners {
		switch {
		case ds[i].Run && !n.mayRun[i]:
			r.blind = !v.PeerAlive
		case ds[i].Run && v.PeerAlive && !v.Acked && v.PeerSilent:
			// Kept through a silence: blind as one started with the
			// peer dead.
			r.blind = true
		case ds[i].Run && v.PeerAlive && v.Acked:
			r.blind = false
		}
		n.mayRun[i] = ds[i].Run
		if r.want != ds[i].Run {
			r.want = ds[i].Run
			n.kick(i)
		}
	}
	if n.request != RequestNone {
		if done, impossible := v.RequestDone(); done || impossible {
			w.logf("%s request %d done=%v impossible=%v", n.name, n.request, done, impossible)
			n.request, n.scope = RequestNone, ""
			changed = true
		}
	}
	if changed {
		n.send()
	}
	// The next deadline: the lease's end (the loop wakes for it). One
	// wake-up is pending at a time; it runs a pass, which sets the next.
	if until := n.leaseTrue(); until > w.now && (n.wakeAt <= w.now || until < n.wakeAt) {
		run := n.run
		n.wakeAt = until + time.Millisecond
		w.at(n.wakeAt-w.now, func() {
			if n.run == run {
				n.wakeAt = 0
				n.pass()
			}
		})
	}
}

// changed: a claim changed here; the heartbeat goes at once (SendNow)
// and the loop runs.
func (n *simNode) changed() {
	if n.hb3 {
		return
	}
	n.send()
	n.pass()
}

// kick moves runner i one step towards what it wants, as runner.run does.
func (n *simNode) kick(i int) {
	w := n.w
	r := n.runners[i]
	if !n.up || r.busy {
		return
	}
	run := n.run
	done := func(d time.Duration, fn func()) {
		r.busy = true
		w.at(d, func() {
			if n.run != run {
				return
			}
			r.busy = false
			fn()
			n.changed()
			n.kick(i)
			if n.leaving {
				n.maybeLeave()
			}
		})
	}
	if !r.swept {
		// The runner claims "stopping" from its start until the sweep
		// (a status, and a stop of what a former run left) is done.
		r.swept = true
		d := time.Duration(w.rng.IntN(20)) * time.Millisecond
		if r.leftover {
			w.logf("%s sweeps g%d left by its former run", n.name, i)
			d += time.Duration(w.rng.Int64N(int64(w.maxStop)))
		}
		done(d, func() {
			r.state, r.leftover, r.sweeping = ClaimStopped, false, false
			n.ghost[i] = 0 // the sweep stopped what the former run left, its VIP too
		})
		return
	}
	switch {
	case r.want && r.state == ClaimStopped:
		r.state = ClaimStarting
		w.logf("%s starts g%d", n.name, i)
		fail := r.failNext
		r.failNext = false
		done(time.Duration(w.rng.IntN(100))*time.Millisecond, func() {
			if fail {
				r.state = ClaimFailed
				w.logf("%s failed to start g%d", n.name, i)
			} else {
				r.state = ClaimRunning
			}
		})
		n.changed()
	case !r.want && r.state.Holds():
		r.state = ClaimStopping
		w.logf("%s stops g%d", n.name, i)
		d := time.Duration(w.rng.Int64N(int64(w.maxStop)))
		if r.hangNext {
			r.hangNext, r.hung = false, true
			d = time.Duration(1+w.rng.IntN(3)) * time.Second
		}
		done(d, func() {
			r.state, r.hung = ClaimStopped, false
			w.logf("%s stopped g%d", n.name, i)
		})
		n.changed()
	}
}

// gracefulStop is SIGTERM: every group given away (standby all, with the
// leaving flag), then, once every group stopped here, a leave message.
func (n *simNode) gracefulStop() {
	if n.hb3 {
		n.hbStop()
		return
	}
	if !n.up || n.leaving {
		return
	}
	n.leaving = true
	n.w.logf("%s stops gracefully", n.name)
	n.changed()
	n.maybeLeave()
}

func (n *simNode) maybeLeave() {
	if !n.up {
		return
	}
	for _, r := range n.runners {
		if r.state.Holds() || r.busy {
			return
		}
	}
	// Only when the peer has taken over or cannot (Node.Stop waits for
	// the standby, bounded by its timeout, then stops what is left).
	n.sendLeave()
	n.w.logf("%s left", n.name)
	n.up = false
	n.run++
}

// holders lists who holds group g now, as the invariant counts.
func (w *simWorld) holders(g int) []int {
	var out []int
	for _, n := range w.nodes {
		r := n.runners[g]
		switch {
		case n.up && r.state.Holds():
			if !n.hb3 && (r.hung || r.sweeping) && !(n.mayRun[g] && w.now < n.leaseTrue()) && w.now >= r.gateUntil {
				continue // a hung stop, or leftovers, without a lease: the VIP is dark
			}
			out = append(out, n.idx)
		case w.now < n.ghost[g]:
			out = append(out, n.idx)
		}
	}
	return out
}

// splitBrain: each side hears nothing of the other (a side that is down
// heard nothing of the other when it went down).
func (w *simWorld) splitBrain() bool {
	for _, n := range w.nodes {
		if n.up && n.alive() || !n.up && !n.ghostSplit {
			return false
		}
	}
	return true
}

// allBlind: every holder of group g is up and began to hold it blind.
func (w *simWorld) allBlind(g int, holders []int) bool {
	for _, i := range holders {
		n := w.nodes[i]
		if !n.up || !n.runners[g].blind {
			return false
		}
	}
	return true
}

func (w *simWorld) check() {
	for _, n := range w.nodes {
		if !n.up || n.hb3 {
			continue
		}
		for g, r := range n.runners {
			if n.mayRun[g] {
				r.gateUntil = max(r.gateUntil, n.leaseTrue())
			}
		}
	}
	for g := range w.homes {
		h := w.holders(g)
		if len(h) < 2 {
			w.excused[g] = false
			continue
		}
		excused := w.splitBrain() || w.allBlind(g, h)
		if w.nodes[0].hb3 {
			excused = w.hb3Cut() || w.hb3Unheard() || w.hb3BlindStopping(g)
		}
		if excused {
			w.excused[g] = true
		}
		if !w.excused[g] && w.failure == "" {
			w.failure = fmt.Sprintf("at %.3fs group g%d held by A (%s) and B (%s)", w.now.Seconds(), g,
				w.nodes[0].runners[g].state, w.nodes[1].runners[g].state)
		}
	}
}

// runUntil processes events up to world time end, checking after each.
func (w *simWorld) runUntil(end time.Duration) {
	for w.q.Len() > 0 && w.failure == "" {
		e := w.q[0]
		if e.at > end {
			break
		}
		heap.Pop(&w.q)
		w.now = e.at
		e.fn()
		w.check()
	}
	if w.now < end {
		w.now = end
	}
}

func (w *simWorld) heal() {
	for _, d := range w.dirs {
		for _, x := range d {
			x.cut, x.loss, x.dup, x.extraDelay = false, 0, 0, 0
		}
	}
	for _, n := range w.nodes {
		for _, r := range n.runners {
			r.hangNext, r.failNext = false, false
		}
		if n.up && w.ping && n.ping == 0 {
			n.ping = 1
			n.changed()
		}
	}
}

// state is the cluster as "A[running,stopped] B[stopped,running]".
func (w *simWorld) state() string {
	var parts []string
	for _, n := range w.nodes {
		var p []string
		for _, r := range n.runners {
			s := r.state.String()
			if !n.up {
				s = "down"
			}
			p = append(p, s)
		}
		parts = append(parts, fmt.Sprintf("%s[%s]", n.name, strings.Join(p, ",")))
	}
	return strings.Join(parts, " ")
}

// settled: every group runs on exactly one up node, and nothing is on the
// way, or it failed on every up node.
func (w *simWorld) settled() string {
	for g := range w.homes {
		running, failed, ups := 0, 0, 0
		for _, n := range w.nodes {
			if !n.up {
				continue
			}
			ups++
			switch r := n.runners[g]; {
			case r.state == ClaimRunning && r.want:
				running++
			case r.state == ClaimFailed:
				failed++
			case r.state != ClaimStopped && r.state != ClaimIntent:
				return fmt.Sprintf("g%d on the way: %s", g, w.state())
			}
			if r := n.runners[g]; r.leftover {
				return fmt.Sprintf("g%d left over on %s", g, n.name)
			}
		}
		if ups > 0 && running != 1 && failed != ups {
			return fmt.Sprintf("g%d runs on %d nodes: %s", g, running, w.state())
		}
	}
	return ""
}

func (w *simWorld) fail(seed uint64, what string) {
	w.t.Helper()
	w.t.Fatalf("seed %d: %s\nrerun: HBGO_SIM_SEED=%d go test -run 'TestSimTwoNodeRandom' ./crm\n%s", seed, what, seed, strings.Join(w.trace, "\n"))
}

// randomSchedule throws faults at the cluster for a while, heals
// everything, and gives it time to settle.
func (w *simWorld) randomSchedule(seed uint64) {
	a, b := w.nodes[0], w.nodes[1]
	// Starts at the same moment, or apart.
	a.boot()
	if w.rng.IntN(2) == 0 {
		b.boot()
	} else {
		w.at(time.Duration(w.rng.IntN(3000))*time.Millisecond, b.boot)
	}
	span := time.Duration(4+w.rng.IntN(8)) * time.Second
	nfaults := 2 + w.rng.IntN(8)
	for f := 0; f < nfaults; f++ {
		when := time.Duration(w.rng.Int64N(int64(span)))
		kind := w.rng.IntN(15)
		w.at(when, func() { w.fault(kind) })
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
	bound := w.ha.EffectiveInitdead() + 4*w.ha.Deadtime + 4*time.Second
	w.runUntil(span + bound)
	if w.failure != "" {
		w.fail(seed, w.failure)
	}
	if s := w.settled(); s != "" {
		w.fail(seed, "no progress after healing: "+s)
	}
}

func (w *simWorld) fault(kind int) {
	n := w.nodes[w.rng.IntN(2)]
	l := w.rng.IntN(len(w.dirs))
	g := w.rng.IntN(len(w.homes))
	switch kind {
	case 0: // one-way cut of every link
		for _, d := range w.dirs {
			d[n.idx].cut = true
		}
		w.logf("%s's heartbeats to its peer are lost on every link", n.name)
	case 1: // one link down both ways
		w.dirs[l][0].cut, w.dirs[l][1].cut = true, true
		w.logf("link %d cut", l)
	case 2:
		w.dirs[l][n.idx].loss = w.rng.Float64() * 0.6
		w.dirs[l][n.idx].dup = w.rng.Float64() * 0.3
		w.logf("link %d from %s: loss %.2f dup %.2f", l, n.name, w.dirs[l][n.idx].loss, w.dirs[l][n.idx].dup)
	case 3: // heal all links
		for _, d := range w.dirs {
			for _, x := range d {
				x.cut, x.loss, x.dup = false, 0, 0
			}
		}
		w.logf("links healed")
	case 4:
		if n.up {
			n.down(w.rng.IntN(2) == 0)
		}
	case 5:
		if !n.up {
			n.boot()
		}
	case 6:
		if n.up && !n.hb3 {
			n.request, n.scope = RequestStandby, []Scope{ScopeAll, ScopeLocal, ScopeForeign}[w.rng.IntN(3)]
			w.logf("%s: hb_standby %s", n.name, n.scope)
			n.changed()
		}
	case 7:
		if n.up && !n.hb3 {
			n.request, n.scope = RequestTakeover, []Scope{ScopeAll, ScopeLocal, ScopeForeign}[w.rng.IntN(3)]
			w.logf("%s: hb_takeover %s", n.name, n.scope)
			n.changed()
		}
	case 8:
		if n.up && w.ping && !n.hb3 {
			n.ping = w.rng.IntN(3)
			w.logf("%s: ping score %d", n.name, n.ping)
			n.changed()
		}
	case 9:
		n.runners[g].hangNext = true
		w.logf("%s: the next stop of g%d hangs", n.name, g)
	case 10:
		if n.hb3 {
			break // Heartbeat's failed start is not modelled
		}
		n.runners[g].failNext = true
		w.logf("%s: the next start of g%d fails", n.name, g)
	case 11:
		n.gracefulStop()
	case 12:
		if w.serial {
			// The daemon's serial link keeps only the latest heartbeat
			// (heartbeat.SerialLink.KeepLatest): a busy cable delays one
			// by about two frame times, not by a queue.
			w.dirs[w.links][n.idx].extraDelay = time.Duration(w.rng.IntN(150)) * time.Millisecond
			w.logf("serial cable from %s queues %v", n.name, w.dirs[w.links][n.idx].extraDelay)
		}
	case 13: // every link cut both ways for less than deadtime
		for _, d := range w.dirs {
			d[0].cut, d[1].cut = true, true
		}
		w.logf("every link cut")
		w.at(time.Duration(w.rng.Int64N(int64(w.ha.Deadtime))), func() {
			for _, d := range w.dirs {
				d[0].cut, d[1].cut = false, false
			}
			w.logf("every link back")
		})
	case 14: // restart: kill -9 and start again at once
		if n.up && !n.hb3 {
			n.down(false)
			w.at(time.Duration(w.rng.IntN(2000))*time.Millisecond, func() {
				if !n.up {
					n.boot()
				}
			})
		}
	}
}

func simSchedules(t *testing.T) int {
	if s := os.Getenv("HBGO_SIM_SCHEDULES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("HBGO_SIM_SCHEDULES: %v", err)
		}
		return n
	}
	if testing.Short() {
		return 300
	}
	return 10000
}

// TestSimTwoNodeRandom runs thousands of random schedules (HBGO_SIM_SEED
// runs one, HBGO_SIM_SCHEDULES sets how many).
func TestSimTwoNodeRandom(t *testing.T) {
	configs := []simConfig{
		{groups: []string{"A", "B"}},
		{groups: []string{"A", "B"}, ping: true},
		{groups: []string{"A", "B"}, serial: true},
		{groups: []string{"A", "B"}, ping: true, serial: true, failback: "off"},
	}
	one := func(seed uint64, tracing bool) (failed string) {
		sc := configs[seed%uint64(len(configs))]
		rt := &recordingTB{}
		w := newSimWorld(rt, seed, sc)
		w.tracing = tracing
		func() {
			defer func() {
				if r := recover(); r != nil && r != errSimFailed {
					panic(r)
				}
			}()
			w.randomSchedule(seed)
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
		return
	}
	n := simSchedules(t)
	base := uint64(time.Now().UnixNano())
	if s := os.Getenv("HBGO_SIM_BASE"); s != "" {
		base, _ = strconv.ParseUint(s, 10, 64)
	}
	var next atomic.Uint64
	var mu sync.Mutex
	var first string
	var wg sync.WaitGroup
	// One worker: make test runs packages in parallel on two cores, and
	// the namespace tests beside this one need the other core on time.
	for range 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1) - 1
				if k >= uint64(n) {
					return
				}
				mu.Lock()
				stop := first != ""
				mu.Unlock()
				if stop {
					return
				}
				if msg := one(base+k, false); msg != "" {
					mu.Lock()
					if first == "" {
						first = one(base+k, true)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first != "" {
		t.Fatal(first)
	}
	t.Logf("%d schedules from seed %d, no double holder, every group placed after healing", n, base)
}

var errSimFailed = fmt.Errorf("simulation failed")

// recordingTB keeps a simulation's failure so that many run in parallel.
type recordingTB struct {
	testing.TB
	msg string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(errSimFailed)
}

// TestSimFindsStartRaceWithoutHandshake shows that the simulation can
// fail: with the rules as they were before the handshake (a ping score of
// 0 until the first round, a start decided from the peer's last
// heartbeat alone), it finds two directors starting one group within a
// few hundred schedules, as make test did on real daemons.
func TestSimFindsStartRaceWithoutHandshake(t *testing.T) {
	for seed := uint64(1); seed <= 2000; seed++ {
		w := newSimWorld(&recordingTB{}, seed, simConfig{groups: []string{"A", "B"}, ping: true})
		w.legacy = true
		w.nodes[0].boot()
		w.nodes[1].boot()
		w.runUntil(3 * time.Second)
		if w.failure != "" {
			t.Logf("seed %d, both booted at once, legacy rules: %s", seed, w.failure)
			return
		}
	}
	t.Fatal("2000 simultaneous starts with the legacy rules and no double holder: the simulation cannot see the start race")
}
