package crm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hbgo/conf"
	"hbgo/heartbeat"
)

// Modes of a cluster, from ha.cf.
const (
	ModeSingle  = "single"   // one director: it runs everything
	ModeTwoNode = "two-node" // two directors, no witness: Heartbeat's rules
	ModeQuorum  = "quorum"   // three or more voters: raft placement with leases
)

// ModeOf picks the mode ha.cf implies.
func ModeOf(ha *conf.HAConfig) string {
	switch {
	case len(ha.Witnesses) > 0 || len(ha.Nodes) >= 3:
		return ModeQuorum
	case len(ha.Nodes) == 2:
		return ModeTwoNode
	}
	return ModeSingle
}

// NodeConfig is what the daemon hands the cluster layer.
type NodeConfig struct {
	Name     string
	Config   *conf.Config
	StateDir string
	Version  string
	Logger   *slog.Logger
	// NewChain builds a group's resource chain; nil for a witness.
	NewChain func(g conf.ResourceGroup) (Chain, error)
	// StartTimeout bounds a group's start or stop (default 120s).
	StartTimeout time.Duration
	// Dial, when set, opens outgoing TCP streams (gossip, raft) from the
	// node's network namespace; tests that run several nodes in one
	// process need it, a daemon does not.
	Dial func(network, addr string, timeout time.Duration) (net.Conn, error)
	// Links replaces ha.cf's media (tests).
	Links []heartbeat.Link
	// CarrierDevs are the interfaces of this director's VIPs
	// (resources.VIPDevices), whose carrier counts in its score; see
	// carrierWatch.
	CarrierDevs []string
}

// Node is one running cluster member.
type Node struct {
	cfg    NodeConfig
	log    *slog.Logger
	ha     *conf.HAConfig
	mode   string
	role   string
	groups []conf.ResourceGroup
	homes  []string
	layout uint32
	start  time.Time

	layer   *heartbeat.Layer
	pinger  *pinger
	runners []*runner
	quorum  *quorum

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	raftFlags  atomic.Uint32 // claims flags set by quorum mode
	leaving    atomic.Bool   // graceful stop in progress
	book       *peerBook     // each peer's newest claims
	nonces     *nonceBook
	intents    intents         // two-node handshake; its lock also orders claims with nonces
	mayRun     []atomic.Bool   // per group: the last decision lets it run here (GroupLease)
	aliens     map[string]bool // peers whose claims cannot be compared, as last logged
	heartbeat3 map[string]bool // live peers that run Heartbeat 3, as last logged

	// Anycast groups (see anycast.go): their runners, and whether an
	// operator's hb_standby took them down here.
	anycastGroups []conf.ResourceGroup
	anycast       []*runner
	anycastOff    atomic.Bool
	bellMu        sync.Mutex
	leaseBell     chan struct{} // closed when the lease holds again (LeaseResumed)
	unacked       int           // two-node: the peer's claims did not acknowledge us (1; 2: and it is silent), as last logged
	raftCommit    atomic.Uint64 // leader's commit index, sent in claims
	logIndex      atomic.Uint64 // quorum mode: log position and vouches, sent in claims
	logTerm       atomic.Uint64
	vouch         atomic.Uint32
	lastSent      atomic.Int64 // unix ns of the last heartbeat sent (two-node lease)
	lastPass      atomic.Int64 // unix ns of the loop's last pass
	passStart     atomic.Int64 // unix ns the pass under way began; 0 while the loop waits
	restless      atomic.Bool  // the last pass waits on acknowledgements or a lease: every heartbeat counts
	layerSet      atomic.Bool  // n.layer may be read from the layer's own goroutines

	mu        sync.Mutex
	request   RequestKind
	scope     Scope
	reqID     uint32
	ping      int // PingUnknown until the first round ended
	peerUpAt  map[string]time.Time
	away      []bool // two-node mode: per group, here only because the home could not run it
	heardPeer bool
	stopping  bool
	reqWaiter chan reqResult // the command waiting for the pending request
	warnings  []string
}

// StartNode starts the heartbeat layer and the cluster logic of one node.
// It must be called in the node's network namespace.
func StartNode(cfg NodeConfig) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 120 * time.Second
	}
	c := cfg.Config
	ha := c.HA
	n := &Node{cfg: cfg, log: cfg.Logger, ha: ha, mode: ModeOf(ha), start: time.Now(),
		wake: make(chan struct{}, 1), peerUpAt: map[string]time.Time{}, ping: PingUnknown,
		nonces: newNonceBook(randomNonce()), aliens: map[string]bool{}, heartbeat3: map[string]bool{}}
	switch {
	case ha.IsNode(cfg.Name):
		n.role = "director"
	case ha.IsWitness(cfg.Name):
		n.role = "witness"
	default:
		return nil, fmt.Errorf("node %s is neither a node nor a witness of %s", cfg.Name, ha.File)
	}
	if c.Resources != nil {
		// Anycast groups (a BGPaddr) run on every healthy director at
		// once: outside placement, the claims and the one-holder rule.
		for _, g := range c.Resources.Groups {
			if g.IsAnycast() {
				n.anycastGroups = append(n.anycastGroups, g)
			} else {
				n.groups = append(n.groups, g)
			}
		}
	}
	var names []string
	for _, g := range n.groups {
		names = append(names, g.Name)
		n.homes = append(n.homes, g.Home)
	}
	// The layout covers the voters too: acks are indexed by voter.
	n.layout = LayoutOf(append(append(names, "\x01"), heartbeat.Members(ha)...))
	n.away = make([]bool, len(n.groups))
	n.book = newPeerBook(n.layout)
	n.intents.from = make([]uint32, len(n.groups))
	n.mayRun = make([]atomic.Bool, len(n.groups))
	key, ok := c.Auth.ActiveKey()
	if !ok {
		return nil, errors.New("authkeys has no active key")
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())

	if n.role == "director" {
		// Ordinary groups tell their claims to the peers; anycast groups
		// are this node's alone.
		build := func(groups []conf.ResourceGroup, onChange func()) ([]*runner, error) {
			var out []*runner
			for _, g := range groups {
				if cfg.NewChain == nil {
					return nil, errors.New("no resource chain builder")
				}
				ch, err := cfg.NewChain(g)
				if err != nil {
					return nil, fmt.Errorf("group %s: %w", g.Name, err)
				}
				out = append(out, newRunner(cfg.Name, g.Name, ch, cfg.StartTimeout, n.log, onChange))
			}
			return out, nil
		}
		var err error
		if n.runners, err = build(n.groups, n.claimsChanged); err == nil {
			n.anycast, err = build(n.anycastGroups, n.poke)
		}
		if err != nil {
			n.cancel()
			return nil, err
		}
	}
	var err error
	if n.pinger, err = newPinger(ha, cfg.Name, n.log); err != nil {
		n.cancel()
		return nil, err
	}
	if n.mode != ModeSingle && hasVIPs(n.groups) {
		// Every node scores carrier when the groups hold VIPs, so that
		// all agree scores count; a witness has no interface to watch.
		var devs []string
		if n.role == "director" {
			devs = cfg.CarrierDevs
		}
		n.pinger.carrier = newCarrierWatch(devs, ha.Deadtime, n.log, cfg.Name)
	}
	if n.pinger.configured() {
		if err := n.pinger.start(n.ctx, n.pingChanged); err != nil {
			n.cancel()
			return nil, err
		}
	}
	// Two-node leases count from the peer's acknowledgements: the second
	// director sends half a keepalive after the first, so that each
	// hears the other's acknowledgement within about half a keepalive.
	follow := ""
	if n.mode == ModeTwoNode && len(ha.Nodes) == 2 && ha.Nodes[1] == cfg.Name {
		follow = ha.Nodes[0]
	}
	n.layer, err = heartbeat.StartLayer(heartbeat.LayerConfig{
		Node: cfg.Name, HA: ha, Key: key, Accept: c.Auth.Defined(), StateDir: cfg.StateDir, Role: n.role, Version: cfg.Version,
		Digests: c.Digests, Logger: n.log, OnEvent: n.onEvent, Links: cfg.Links,
		GossipDial: cfg.Dial, App: n.appState, OnApp: n.onApp, Follow: follow,
		HearHeartbeat: n.mode == ModeTwoNode, OnHeartbeat3: n.onHeartbeat3,
	})
	if err != nil {
		n.cancel()
		return nil, err
	}
	n.layerSet.Store(true)
	n.mu.Lock()
	ping := n.ping
	n.mu.Unlock()
	if ping != PingUnknown {
		n.layer.SetPing(ping) // a score known before the layer started (carrier)
	}
	if n.mode == ModeQuorum {
		q, err := startQuorum(n, key, c.Auth.Defined())
		if err != nil {
			n.layer.Stop(false)
			n.cancel()
			return nil, err
		}
		n.mu.Lock()
		n.quorum = q
		n.mu.Unlock()
	}
	for _, r := range append(append([]*runner(nil), n.runners...), n.anycast...) {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); r.run(n.ctx) }()
	}
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.loop() }()
	n.log.Info(fmt.Sprintf("hbgo %s starting as %s (%s mode)", cfg.Version, n.role, n.mode), "node", cfg.Name)
	return n, nil
}

// getQuorum is quorum mode's state, nil before it started (heartbeats
// are sent from before) and in the other modes.
func (n *Node) getQuorum() *quorum {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.quorum
}

func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Node) claimsChanged() {
	n.poke()
	if n.layerSet.Load() {
		go n.layer.HB.SendNow()
	}
}

// onApp hears the claims of every heartbeat from a peer (heartbeat's lock
// held: it must not block). A heartbeat that says nothing new (only its
// nonce, acks and uptime moved) wakes the loop only while the last pass
// waits on an acknowledgement or a lease: at rest the loop sleeps.
func (n *Node) onApp(node string, gen uint64, app []byte, at time.Time) {
	if newer, changed := n.book.offer(node, gen, app, at); changed || newer && n.restless.Load() {
		n.poke()
	}
}

// onHeartbeat3 hears a status message of a peer that runs Linux-HA
// Heartbeat 3 (two-node mode, during a migration).
func (n *Node) onHeartbeat3(node string, gen uint64, at time.Time) {
	if n.book.offerHeartbeat3(node, gen, at) {
		n.poke()
	}
}

func (n *Node) pingChanged(score int) {
	n.mu.Lock()
	n.ping = score
	n.mu.Unlock()
	if n.layerSet.Load() && score != PingUnknown {
		n.layer.SetPing(score)
	}
	n.claimsChanged()
}

func (n *Node) onEvent(e heartbeat.Event) {
	if e.Kind == heartbeat.EventNodeUp || e.Kind == heartbeat.EventLinkUp {
		// A peer back, or a link healed: whoever heard a wrong owner
		// during the split learns the right one now.
		for _, r := range n.runners {
			r.announce(n.ctx)
		}
	}
	if e.Kind == heartbeat.EventNodeDead {
		// Events arrive after the tracker changed: until this node's
		// coming back is dispatched, its up time must not be the old
		// one, or a heartbeat sent meanwhile would vouch for it without
		// the probation (quorum.vouches).
		n.mu.Lock()
		delete(n.peerUpAt, e.Node)
		n.mu.Unlock()
	}
	if e.Kind == heartbeat.EventNodeUp {
		n.mu.Lock()
		n.peerUpAt[e.Node] = e.Time
		n.heardPeer = true
		q := n.quorum
		n.mu.Unlock()
		if q != nil {
			q.nodeCameUp(e.Node)
		}
	}
	n.poke()
}

// myClaims is this node's claims now.
func (n *Node) myClaims() *Claims {
	n.intents.mu.Lock()
	defer n.intents.mu.Unlock()
	return n.myClaimsLocked()
}

// myClaimsLocked builds the claims with n.intents.mu held: a stopped
// group this node means to start says ClaimIntent.
func (n *Node) myClaimsLocked() *Claims {
	n.mu.Lock()
	flags := uint8(n.raftFlags.Load())
	if n.leaving.Load() {
		flags |= FlagLeaving
	}
	ping := n.ping
	if ping == PingUnknown {
		flags |= FlagPingUnknown
		ping = 0
	}
	c := &Claims{Layout: n.layout, Flags: flags, Ping: uint8(min(ping, 255)), Request: n.request, Scope: n.scope, ReqID: n.reqID,
		Commit: n.raftCommit.Load(), Index: n.logIndex.Load(), LogTerm: n.logTerm.Load(), Vouch: n.vouch.Load()}
	n.mu.Unlock()
	for _, r := range n.runners {
		cl, _, _ := r.get()
		c.Groups = append(c.Groups, cl)
	}
	overlayIntents(c.Groups, n.intents.from)
	return c
}

// appState is the cluster state each heartbeat carries: this node's
// claims, a fresh nonce (its send time remembered) and acks of the newest
// nonce heard from every voter. Claims are built and numbered under the
// intents' lock, so a heartbeat numbered from an intent's first nonce on
// carries the intent.
func (n *Node) appState() []byte {
	if q := n.getQuorum(); q != nil {
		q.refreshClaims()
	}
	n.intents.mu.Lock()
	c := n.myClaimsLocked()
	now := time.Now()
	c.Nonce = n.nonces.next(now)
	n.lastSent.Store(now.UnixNano())
	n.intents.mu.Unlock()
	c.Uptime = uint32(min(now.Sub(n.start).Milliseconds(), 1<<32-1))
	for _, v := range heartbeat.Members(n.ha) {
		var ack uint32
		if v != n.cfg.Name {
			if e := n.book.get(v); e.claims != nil {
				ack = e.claims.Nonce
			}
		}
		c.Acks = append(c.Acks, ack)
	}
	return c.Encode(nil)
}

// voterIndex is a voter's position in ha.cf order (nodes, then witnesses).
func (n *Node) voterIndex(name string) int {
	for i, v := range heartbeat.Members(n.ha) {
		if v == name {
			return i
		}
	}
	return -1
}

// peerClaims is what a peer last said (newest by its own numbering); nil
// when never heard, or when its claims cannot be compared with ours.
func (n *Node) peerClaims(peer string) *Claims {
	e := n.book.get(peer)
	if e.alien {
		return nil
	}
	return e.claims
}

// peerAlive is the heartbeat layer's view of a peer.
func (n *Node) peerAlive(peer string) bool {
	for _, s := range n.layer.HB.Status() {
		if s.Name == peer {
			return s.State == heartbeat.NodeUp
		}
	}
	return false
}

func (n *Node) peers() []string {
	var out []string
	for _, p := range heartbeat.Members(n.ha) {
		if p != n.cfg.Name {
			out = append(out, p)
		}
	}
	return out
}

// loop decides when something happens: a peer's claims or liveness
// change, raft applies or changes state, a request comes, a runner's
// claim changes, or a time a rule waits for comes (a lease's end, the end
// of initdead, a wait for a dead owner's lease to lapse). It never runs
// because it ran, and it runs a full pass at least every restEvery, as a
// safety net that costs nothing at rest. While it waits it is live (see
// LastPass): nothing wakes it to prove it.
func (n *Node) loop() {
	warned := map[string]bool{}
	holders := map[string]string{}
	lastWarnCheck := time.Time{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var clock passClock
	full := true
	leaseHeld := false
	for {
		now := time.Now()
		n.passStart.Store(now.UnixNano())
		if full {
			wake := n.decide()
			now = time.Now()
			clock.passed(now, wake)
			if now.Sub(lastWarnCheck) >= time.Second {
				lastWarnCheck = now
				n.logNewWarnings(warned)
				n.logHolders(holders)
			}
		}
		n.lastPass.Store(now.UnixNano())
		until, ok := n.Lease()
		if ok != leaseHeld {
			leaseHeld = ok
			if ok {
				n.ringLease()
			}
		}
		timer.Reset(max(clock.next(now, until, ok).Sub(time.Now()), 0))
		n.passStart.Store(0)
		select {
		case <-n.ctx.Done():
			return
		case <-n.wake:
			full = true
		case <-timer.C:
			until, ok := n.Lease()
			full = clock.due(time.Now(), until, ok, n.holdsAny())
		}
	}
}

// passClock keeps the loop's times between passes: the last full pass
// and the time it waits for (its Wake).
type passClock struct {
	lastFull time.Time
	wake     time.Time // zero: none
}

// passed records a full pass ending at now that waits for wake.
func (c *passClock) passed(now, wake time.Time) { c.lastFull, c.wake = now, wake }

// next is when the loop wakes next after now, with the lease (if ok)
// ending at until: the pass's wake, the safety net's full pass and the
// lease's end, whichever comes first.
func (c *passClock) next(now, until time.Time, ok bool) time.Time {
	next := now.Add(restEvery)
	due := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	due(c.wake)
	due(c.lastFull.Add(restEvery))
	if ok {
		// The lease's end is a deadline of its own: a group must stop
		// when the lease lapses, not at the next event.
		due(until.Add(time.Millisecond))
	}
	return next
}

// due says whether the timer's wakeup at now calls for a full pass (a
// deadline came), not only a look at the lease. A lease renewed meanwhile is
// no deadline; a lease lapsed while something here may run is one.
func (c *passClock) due(now, until time.Time, ok, holds bool) bool {
	switch {
	case !c.wake.IsZero() && !now.Before(c.wake):
		return true
	case now.Sub(c.lastFull) >= restEvery:
		return true
	case !ok && holds, ok && !now.Before(until):
		return true
	}
	return false
}

// restEvery is the longest the loop goes without a full pass.
const restEvery = 2 * time.Second

// holdsAny reports whether a group here runs or may run.
func (n *Node) holdsAny() bool {
	for i := range n.mayRun {
		if n.mayRun[i].Load() {
			return true
		}
	}
	for _, r := range n.runners {
		if cl, _, _ := r.get(); cl.State.Holds() {
			return true
		}
	}
	return false
}

// decide runs one pass and returns the earliest time a rule it applied
// waits for (zero: none).
func (n *Node) decide() time.Time {
	n.decideAnycast()
	n.mu.Lock()
	stopping := n.stopping
	n.mu.Unlock()
	if stopping || n.role != "director" {
		n.restless.Store(false)
		if n.quorum != nil {
			return n.quorum.decide()
		}
		return time.Time{}
	}
	switch n.mode {
	case ModeSingle:
		for _, r := range n.runners {
			r.set(true, 0)
		}
		n.finishRequest(true, false)
	case ModeTwoNode:
		return n.decideTwoNode()
	case ModeQuorum:
		return n.quorum.decide()
	}
	return time.Time{}
}

func (n *Node) decideTwoNode() time.Time {
	now := time.Now()
	v := n.twoNodeView(now)
	n.noteAlien(v.Peer, v.PeerAlien)
	n.noteHeartbeat3(v.Peer, v.PeerAlive && v.PeerHeartbeat3)
	unacked := 0
	if v.PeerAlive && v.PeerClaims != nil && !v.Acked {
		unacked = 1
		if v.PeerSilent {
			unacked = 2
		}
	}
	if unacked != n.unacked {
		switch unacked {
		case 1:
			n.log.Warn(fmt.Sprintf("%s hears us no more (its heartbeats do not acknowledge ours): stopping every group here before its deadtime can end", v.Peer), "node", n.cfg.Name)
		case 2:
			n.log.Warn(fmt.Sprintf("%s is silent since its last acknowledgement of our heartbeats: the lease has ended and the VIPs here are dark; the groups stay until it is heard again or declared dead", v.Peer), "node", n.cfg.Name)
		default:
			if v.PeerAlive {
				n.log.Info(fmt.Sprintf("%s hears us again", v.Peer), "node", n.cfg.Name)
			}
		}
		n.unacked = unacked
	}
	for i, r := range n.runners {
		// A failed start is forgotten once the peer runs the group, or
		// when the operator asks this node to take it.
		if v.Mine[i].State == ClaimFailed && (v.peerClaim(i).State == ClaimRunning || v.myRequest(i, RequestTakeover)) {
			r.clearFailed()
		}
	}
	ds, changed := applyTwoNode(v, &n.intents, n.nonces, n.away)
	if changed {
		n.claimsChanged()
	}
	for i, r := range n.runners {
		n.mayRun[i].Store(ds[i].Run)
		r.set(ds[i].Run, 0)
	}
	done, impossible := v.RequestDone()
	n.finishRequest(done, impossible)
	n.intents.mu.Lock()
	from := append([]uint32(nil), n.intents.from...)
	n.intents.mu.Unlock()
	n.mu.Lock()
	req := n.request
	n.mu.Unlock()
	n.restless.Store(twoNodeRestless(v, from, req))
	if !v.Ready {
		return n.start.Add(n.ha.EffectiveInitdead())
	}
	return time.Time{}
}

// twoNodeView is the snapshot a two-node pass decides on.
func (n *Node) twoNodeView(now time.Time) *TwoNodeView {
	peer := n.peers()[0]
	n.mu.Lock()
	in := twoNodeInput{
		Me: n.cfg.Name, Peer: peer, Ready: n.heardPeer || now.Sub(n.start) >= n.ha.EffectiveInitdead(),
		PeerAlive: n.peerAlive(peer), PeerEntry: n.book.get(peer), MyIndex: n.voterIndex(n.cfg.Name),
		Homes: n.homes, HA: n.ha, PingConfigured: n.pinger.configured(), MyPing: n.ping,
		MyRequest: n.request, MyScope: n.scope, Away: n.away, Now: now,
	}
	n.mu.Unlock()
	n.intents.mu.Lock()
	in.Mine = n.myClaimsLocked().Groups
	in.IntentFrom = append([]uint32(nil), n.intents.from...)
	n.intents.mu.Unlock()
	if n.leaving.Load() {
		// Shutting down: whatever the operator's request, give all away.
		in.MyRequest, in.MyScope = RequestStandby, ScopeAll
	}
	return buildTwoNodeView(in, n.nonces)
}

// noteAlien logs, once per change, a peer that is alive and whose claims
// cannot be compared with ours.
func (n *Node) noteAlien(peer string, alien bool) {
	n.mu.Lock()
	was := n.aliens[peer]
	n.aliens[peer] = alien
	n.mu.Unlock()
	switch {
	case alien && !was:
		n.log.Error(fmt.Sprintf("CRITICAL: %s", alienWarning(n.cfg.Name, peer)), "node", n.cfg.Name)
	case !alien && was:
		n.log.Info(fmt.Sprintf("Claims of %s can be compared again: placement resumes", peer), "node", n.cfg.Name)
	}
}

// noteHeartbeat3 logs, once per change, a live peer that runs Heartbeat.
func (n *Node) noteHeartbeat3(peer string, live bool) {
	n.mu.Lock()
	was := n.heartbeat3[peer]
	n.heartbeat3[peer] = live
	n.mu.Unlock()
	switch {
	case live && !was:
		n.log.Warn(heartbeat3Warning(n.cfg.Name, peer), "node", n.cfg.Name)
	case !live && was:
		n.log.Info(fmt.Sprintf("Heartbeat on %s is gone: %s places the groups again", peer, n.cfg.Name), "node", n.cfg.Name)
	}
}

func heartbeat3Warning(me, peer string) string {
	return fmt.Sprintf("%s runs Linux-HA Heartbeat, which may hold every group and cannot hear hbgo: %s runs no group while it lives (stop Heartbeat there to hand the groups over)", peer, me)
}

func alienWarning(me, peer string) string {
	return fmt.Sprintf("%s is alive but its haresources (or hbgo version) differ from %s's: no group starts until they match", peer, me)
}

// request handling shared by the modes: a command sets a request, the
// decision loop fulfils it, and finishRequest wakes the waiting command.
type reqResult struct {
	done, impossible bool
}

func (n *Node) finishRequest(done, impossible bool) {
	n.mu.Lock()
	active := n.request != RequestNone
	if active && (done || impossible) {
		n.request, n.scope = RequestNone, ""
	}
	ch := n.reqWaiter
	n.mu.Unlock()
	if !active || !(done || impossible) || ch == nil {
		return
	}
	select {
	case ch <- reqResult{done, impossible}:
	default:
	}
}

// move runs a standby or takeover request to its end.
func (n *Node) move(ctx context.Context, kind RequestKind, scope Scope) (*MoveResult, error) {
	if n.role != "director" {
		return nil, errors.Join(ErrBadRequest, errors.New("a witness runs no groups"))
	}
	before := n.owners(ctx)
	ch := make(chan reqResult, 1)
	n.mu.Lock()
	busy := n.reqWaiter != nil
	if !busy {
		n.reqWaiter = ch
	}
	n.mu.Unlock()
	if busy {
		return nil, errors.Join(ErrBadRequest, errors.New("another standby or takeover is in progress"))
	}
	defer func() {
		n.mu.Lock()
		n.reqWaiter = nil
		n.mu.Unlock()
	}()
	t0 := time.Now()
	n.mu.Lock()
	if n.stopping {
		n.mu.Unlock()
		return nil, ErrShuttingDown
	}
	n.request, n.scope = kind, scope
	n.reqID++
	n.mu.Unlock()
	n.anycastRequest(kind, scope)
	n.claimsChanged()
	if n.quorum != nil {
		n.quorum.submitRequest(kind, scope)
	}
	Accepted(ctx)
	select {
	case res := <-ch:
		if res.impossible {
			if kind == RequestTakeover {
				return nil, fmt.Errorf("a group failed to start here: %w", ErrBadRequest)
			}
			return nil, ErrNoPeer
		}
	case <-ctx.Done():
		n.mu.Lock()
		n.request, n.scope = RequestNone, ""
		n.mu.Unlock()
		n.claimsChanged()
		if n.quorum != nil && !n.quorum.hasQuorum() {
			return nil, ErrNoQuorum
		}
		return nil, ErrTimeout
	}
	if kind == RequestStandby && n.anycastOff.Load() {
		// The anycast VIPs are withdrawn here when the command returns.
		if err := n.waitAnycastStopped(ctx); err != nil {
			return nil, ErrTimeout
		}
	}
	after := n.owners(ctx)
	res := &MoveResult{Took: Duration(time.Since(t0))}
	for g, to := range after {
		if from := before[g]; from != to {
			res.Moved = append(res.Moved, GroupMove{Group: g, From: from, To: to})
		}
	}
	sort.Slice(res.Moved, func(i, j int) bool { return res.Moved[i].Group < res.Moved[j].Group })
	return res, nil
}

// owners maps each group to the node running it, as this node sees it.
func (n *Node) owners(ctx context.Context) map[string]string {
	st, _ := n.Status(ctx)
	out := map[string]string{}
	for _, g := range st.Groups {
		out[g.Name] = g.Owner
	}
	return out
}

// Standby implements Controller.
func (n *Node) Standby(ctx context.Context, scope Scope) (*MoveResult, error) {
	return n.move(ctx, RequestStandby, scope)
}

// Takeover implements Controller.
func (n *Node) Takeover(ctx context.Context, scope Scope) (*MoveResult, error) {
	return n.move(ctx, RequestTakeover, scope)
}

// Reload implements Controller: hbgo rereads its configuration at restart;
// a reload checks the files and reports what would change.
func (n *Node) Reload(ctx context.Context) error {
	c, ds, err := conf.Load(n.cfg.Config.Dir, conf.LoadOptions{})
	if err != nil {
		return err
	}
	if ds.HasErrors() {
		return fmt.Errorf("configuration has errors, kept the running one:\n%s", ds.Errors())
	}
	if err := n.reloadKeys(c.Auth); err != nil {
		return err
	}
	if n.pinger != nil {
		switch changed, err := n.pinger.reconfigure(c.HA); {
		case err != nil:
			n.log.Warn(fmt.Sprintf("Ping nodes kept as they were: %v", err), "node", n.cfg.Name)
		case changed:
			n.log.Info(fmt.Sprintf("Ping nodes applied: %s", strings.Join(append(append([]string(nil), c.HA.Ping...), pingGroupNames(c.HA)...), " ")), "node", n.cfg.Name)
		}
	}
	n.log.Info("Configuration checked; authkeys and ping nodes are applied, other changes to ha.cf and haresources take effect at restart", "node", n.cfg.Name)
	return nil
}

// pingGroupNames lists ha's ping groups as "group:NAME".
func pingGroupNames(ha *conf.HAConfig) []string {
	var out []string
	for _, g := range ha.PingGroups {
		out = append(out, "group:"+g.Name)
	}
	return out
}

// reloadKeys applies authkeys at once, as Heartbeat does on a reload:
// heartbeats, gossip and raft connections are signed with the active key
// from now on, and every defined key is accepted, so that a key is
// rotated one node at a time with nothing moving.
func (n *Node) reloadKeys(a *conf.Authkeys) error {
	key, ok := a.ActiveKey()
	if !ok {
		return errors.New("authkeys has no active key, kept the running keys")
	}
	defined := a.Defined()
	if n.layer != nil {
		if err := n.layer.SetKeys(key, defined); err != nil {
			return fmt.Errorf("gossip keys: %w", err)
		}
	}
	n.mu.Lock()
	q := n.quorum
	n.mu.Unlock()
	if q != nil && q.keys != nil {
		if err := q.keys.Set(key.Derive(RaftKeyPurpose), raftKeys(key, defined)); err != nil {
			return fmt.Errorf("raft keys: %w", err)
		}
	}
	nums := make([]string, len(defined))
	for i, k := range defined {
		nums[i] = strconv.Itoa(k.Num)
	}
	n.log.Info(fmt.Sprintf("authkeys applied: signing with key %d, accepting keys %s", key.Num, strings.Join(nums, ", ")), "node", n.cfg.Name)
	return nil
}

// Status implements Controller.
func (n *Node) Status(ctx context.Context) (*Status, error) {
	st := &Status{Node: n.cfg.Name, Version: n.cfg.Version, Role: n.role, Mode: n.mode, Since: n.start,
		Params: hacfParams(n.ha)}
	st.Raft.State = "off"
	if n.quorum != nil {
		st.Raft = n.quorum.status()
	}
	// Nodes: this one, the peers, the ping nodes.
	me := NodeStatus{Name: n.cfg.Name, Type: nodeType(n.ha, n.cfg.Name), Status: "active", Links: map[string]string{}, Key: n.layer.HB.KeyNum()}
	n.mu.Lock()
	me.Ping = n.ping
	n.mu.Unlock()
	me.Version = n.cfg.Version
	me.Digests = n.cfg.Config.Digests
	for _, l := range n.layer.HB.LinkNames() {
		me.Links[l] = "up"
	}
	st.Nodes = append(st.Nodes, me)
	members := map[string]heartbeat.Meta{}
	if n.layer.Gossip != nil {
		members = n.layer.Gossip.Members()
	}
	claims := map[string]*Claims{n.cfg.Name: n.myClaims()}
	for _, hs := range n.layer.HB.Status() {
		ns := NodeStatus{Name: hs.Name, Type: nodeType(n.ha, hs.Name), Links: map[string]string{}, Key: hs.Key}
		switch hs.State {
		case heartbeat.NodeUp:
			ns.Status = "active"
		case heartbeat.NodeDead:
			ns.Status = "dead"
		default:
			ns.Status = "init"
		}
		for l, s := range hs.Links {
			ns.Links[l] = s.String()
		}
		if m, ok := members[hs.Name]; ok {
			ns.Version, ns.Digests = m.Version, m.Digests
		}
		if hs.Heartbeat3 {
			ns.Version = "Heartbeat 3"
		}
		if c := n.peerClaims(hs.Name); c != nil {
			ns.Ping = int(c.Ping)
			if hs.State == heartbeat.NodeUp {
				claims[hs.Name] = c
			}
		}
		st.Nodes = append(st.Nodes, ns)
	}
	if w := n.pinger.carrier; w != nil && n.role == "director" {
		st.Links = w.states(time.Now())
		for _, l := range st.Links {
			if !l.Carrier {
				st.Warnings = append(st.Warnings, fmt.Sprintf("interface %s of a VIP has no carrier: this director's score is lower, its groups go to a peer that has it", l.Name))
			}
		}
	}
	for name, up := range n.pinger.states() {
		s := "dead"
		if up {
			s = "up"
		}
		st.Nodes = append(st.Nodes, NodeStatus{Name: name, Type: "ping", Status: s, Links: map[string]string{name: s}})
	}
	// Groups: who runs what, from every live node's claims.
	local, foreign := 0, 0
	var held []string // warnings: groups several nodes hold
	for i, g := range n.groups {
		gs := GroupStatus{Name: g.Name, Home: g.Home, State: "stopped"}
		for _, r := range g.Resources {
			gs.Resources = append(gs.Resources, r.Raw)
		}
		gs.Holders = holdersOf(claims, i)
		if o := ownerOf(claims, i, gs.Holders, g.Home); o != "" {
			cl := claims[o].Groups[i]
			gs.Owner, gs.State, gs.Epoch = o, cl.State.String(), cl.Epoch
		}
		if w := HoldersWarning(g.Name, gs.Holders); w != "" {
			held = append(held, w)
		}
		for node, c := range claims {
			if i >= len(c.Groups) {
				continue
			}
			cl := c.Groups[i]
			if cl.State == ClaimFailed {
				if gs.Failed == nil {
					gs.Failed = map[string]string{}
				}
				gs.Failed[node] = "start failed"
				if node == n.cfg.Name && i < len(n.runners) {
					_, _, e := n.runners[i].get()
					gs.Failed[node] = e
				}
			}
		}
		if gs.Owner == "" && len(gs.Failed) > 0 {
			gs.State = "failed"
		}
		if n.quorum != nil {
			if o, ep, ok := n.quorum.assigned(g.Name); ok {
				gs.Epoch = ep
				if gs.Owner == "" && o != "" {
					gs.Owner, gs.State = o, "assigned"
				}
			}
		}
		if gs.Owner == n.cfg.Name {
			local++
		} else if gs.Owner != "" {
			foreign++
		}
		st.Groups = append(st.Groups, gs)
	}
	switch {
	case local > 0 && foreign == 0 && local == len(n.groups):
		st.Resources = "all"
	case local > 0:
		st.Resources = "local"
	case foreign > 0:
		st.Resources = "foreign"
	default:
		st.Resources = "none"
	}
	st.Groups = append(st.Groups, n.anycastStatus()...)
	st.Warnings = append(held, n.digestWarnings(st.Nodes)...)
	for _, p := range n.peers() {
		if e := n.book.get(p); e.heartbeat3 && n.peerAlive(p) {
			st.Warnings = append(st.Warnings, heartbeat3Warning(n.cfg.Name, p))
		}
		if e := n.book.get(p); e.alien && n.peerAlive(p) {
			st.Blocked = append(st.Blocked, alienWarning(n.cfg.Name, p))
			st.Warnings = append(st.Warnings, alienWarning(n.cfg.Name, p))
		}
	}
	return st, nil
}

// logHolders logs a group that several nodes claim at once, when two
// looks a second apart agree (a claim is as old as its heartbeat, so one
// look during a move may see the old holder still), and when it ends.
// seen keeps, per group, the last look's warning and what was logged.
func (n *Node) logHolders(seen map[string]string) {
	claims := map[string]*Claims{n.cfg.Name: n.myClaims()}
	for _, p := range n.peers() {
		if c := n.peerClaims(p); c != nil && n.peerAlive(p) {
			claims[p] = c
		}
	}
	for i, g := range n.groups {
		w := HoldersWarning(g.Name, holdersOf(claims, i))
		last, logged := seen[g.Name], seen["\x00"+g.Name]
		switch {
		case w != "" && w == last && w != logged:
			n.log.Error("CRITICAL: "+w, "node", n.cfg.Name, "group", g.Name)
			seen["\x00"+g.Name] = w
		case w == "" && logged != "":
			n.log.Info(fmt.Sprintf("Group %s has one holder again", g.Name), "node", n.cfg.Name, "group", g.Name)
			delete(seen, "\x00"+g.Name)
		}
		seen[g.Name] = w
	}
}

// logNewWarnings logs each configuration difference between nodes once.
func (n *Node) logNewWarnings(warned map[string]bool) {
	if n.layer.Gossip == nil {
		return
	}
	var nodes []NodeStatus
	for name, m := range n.layer.Gossip.Members() {
		nodes = append(nodes, NodeStatus{Name: name, Digests: m.Digests})
	}
	for _, w := range n.digestWarnings(nodes) {
		if !warned[w] {
			warned[w] = true
			n.log.Warn("WARN: configuration: "+w, "node", n.cfg.Name)
		}
	}
}

// digestWarnings names the files whose digests differ between nodes.
func (n *Node) digestWarnings(nodes []NodeStatus) []string {
	var out []string
	mine := n.cfg.Config.Digests
	for _, ns := range nodes {
		if ns.Name == n.cfg.Name || ns.Digests == nil {
			continue
		}
		var diff []string
		for f, d := range mine {
			if pd, ok := ns.Digests[f]; ok && len(d) >= len(pd) && d[:len(pd)] != pd {
				diff = append(diff, f)
			}
		}
		sort.Strings(diff)
		for _, f := range diff {
			out = append(out, fmt.Sprintf("%s differs between %s and %s", f, n.cfg.Name, ns.Name))
		}
	}
	return out
}

func nodeType(ha *conf.HAConfig, name string) string {
	if ha.IsWitness(name) {
		return "witness"
	}
	return "normal"
}

// hacfParams gives ha.cf's values for cl_status parameter.
func hacfParams(ha *conf.HAConfig) map[string]string {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	return map[string]string{
		"keepalive": ms(ha.Keepalive), "deadtime": ms(ha.Deadtime), "warntime": ms(ha.EffectiveWarntime()),
		"initdead": ms(ha.EffectiveInitdead()), "udpport": strconv.Itoa(ha.UDPPort), "baud": strconv.Itoa(ha.Baud),
		"auto_failback": ha.AutoFailback, "nice_failback": map[bool]string{true: "off", false: "on"}[ha.AutoFailback == "on"],
		"autojoin": ha.Autojoin, "logfacility": ha.LogFacility, "logfile": ha.LogFile, "debugfile": ha.DebugFile,
		"debug": strconv.Itoa(ha.Debug), "watchdog": ha.Watchdog, "deadping": ms(ha.EffectiveDeadping()),
		"hopfudge": strconv.Itoa(ha.Hopfudge), "msgfmt": ha.MsgFmt, "node": joinNames(ha.Nodes),
		"hbversion": "hbgo",
	}
}

func joinNames(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// Stop ends the node. Graceful: give every group away first (as
// hb_standby all), then tell peers this node is leaving.
func (n *Node) Stop(graceful bool, timeout time.Duration) error {
	var errs []error
	// Anycast VIPs are withdrawn first, so that the routers send their
	// flows to the other directors while this one still serves them.
	errs = append(errs, n.stopAnycast(timeout))
	if graceful && n.role == "director" && n.mode != ModeSingle {
		n.leaving.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if _, err := n.Standby(ctx, ScopeAll); err != nil && !errors.Is(err, ErrNoPeer) {
			errs = append(errs, fmt.Errorf("standby before stop: %w", err))
		}
		cancel()
	}
	n.mu.Lock()
	n.stopping = true
	n.mu.Unlock()
	for i := range n.intents.from {
		n.intents.set(i, false, n.nonces.peek)
	}
	// A graceful stop leaves the cluster only once every group has
	// stopped here: until then the node goes on heartbeating, its claims
	// say "stopping", the runner retries the stop, and no peer takes the
	// group. A stop without grace (a second signal) waits timeout, then
	// goes silent: the peer takes over after deadtime.
	stopped := true
	for _, r := range n.runners {
		for waited := time.Duration(0); ; waited += timeout {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := r.waitStopped(ctx)
			cancel()
			if err == nil {
				break
			}
			if !graceful || n.ctx.Err() != nil {
				errs = append(errs, err)
				stopped = false
				break
			}
			n.log.Error(fmt.Sprintf("CRITICAL: %v after %v; still trying, staying in the cluster until it stops", err, waited+timeout), "node", n.cfg.Name)
		}
	}
	n.claimsChanged()
	if n.quorum != nil {
		errs = append(errs, n.quorum.stop())
	}
	errs = append(errs, n.layer.Stop(graceful && stopped))
	n.cancel()
	n.wg.Wait()
	n.log.Info("hbgo stopped", "node", n.cfg.Name)
	return errors.Join(errs...)
}

// Lease says until when this node may hold its groups; resources.Env.Lease
// hands it to the agents that make the kernel enforce it (a VIP's
// lifetime and nftables gate), so that a daemon killed with -9 or frozen
// loses its VIPs on its own. In quorum mode it is the raft lease; in
// two-node mode the node's last decision plus Timing.TwoNodeLease, so the
// VIP goes dark before the peer can see this node dead; a node alone
// holds no lease (ok false, and the daemon does not gate its resources).
func (n *Node) Lease() (until time.Time, ok bool) {
	now := time.Now()
	switch n.mode {
	case ModeQuorum:
		n.mu.Lock()
		q := n.quorum
		n.mu.Unlock()
		if q == nil {
			return time.Time{}, false
		}
		valid, left := q.leaseValid()
		return now.Add(left), valid
	case ModeTwoNode:
		last := n.lastSent.Load()
		if last == 0 {
			return time.Time{}, false
		}
		peer := n.peers()[0]
		until = twoNodeLease(DeriveTiming(n.ha), time.Unix(0, last), n.peerAlive(peer), n.book.get(peer), n.nonces, n.voterIndex(n.cfg.Name))
		return until, until.After(now)
	}
	return time.Time{}, false
}

// LeaseResumed gives a channel closed the next time the loop finds the
// lease held after it was not (resources.Env.LeaseResumed).
func (n *Node) LeaseResumed() <-chan struct{} {
	n.bellMu.Lock()
	defer n.bellMu.Unlock()
	if n.leaseBell == nil {
		n.leaseBell = make(chan struct{})
	}
	return n.leaseBell
}

func (n *Node) ringLease() {
	n.bellMu.Lock()
	defer n.bellMu.Unlock()
	if n.leaseBell != nil {
		close(n.leaseBell)
		n.leaseBell = nil
	}
}

// Leased reports whether this node's groups are held under a lease the
// kernel enforces (every mode but a node alone).
func (n *Node) Leased() bool { return n.mode != ModeSingle }

// GroupLease is Lease for one group: it holds only while this node may
// run the group too — in quorum mode while the replicated state names
// this node its owner, in two-node mode while the node wants it — so a
// node that rejoins after a freeze, with a fresh lease but the group
// given away meanwhile, does not light the group's VIP again before it
// stops it.
func (n *Node) GroupLease(group string) (until time.Time, ok bool) {
	until, ok = n.Lease()
	if !ok {
		return until, false
	}
	switch n.mode {
	case ModeQuorum:
		n.mu.Lock()
		q := n.quorum
		n.mu.Unlock()
		st, _ := q.fsm.view()
		if st.Groups[group].Owner != n.cfg.Name {
			return time.Time{}, false
		}
	case ModeTwoNode:
		for i, g := range n.groups {
			if g.Name == group && !n.mayRun[i].Load() {
				return time.Time{}, false
			}
		}
	}
	return until, true
}
