package crm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"hbgo/conf"
	"hbgo/heartbeat"
)

// quorum is the raft-backed placement of quorum mode: the leader decides
// where every group runs and commits it; every director runs what the
// committed state gives it, only while its lease is fresh.
type quorum struct {
	n      *Node
	timing Timing
	fsm    *fsm
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	stores *Stores
	voters []string

	mu         sync.Mutex
	started    bool
	lastVerify time.Time // leader: start of the last successful quorum round trip
	// lastTick is when decide last ran, and trustFrom the earliest start
	// of a quorum round trip that may renew the leader's lease: after the
	// process stalled (frozen, starved), answers raft received before the
	// stall and reads only now could complete a round trip begun after it.
	lastTick, trustFrom time.Time
	anchor              time.Time // follower: arrival of the last leader claim it had caught up with
	verifying           bool
	leaderSince         time.Time
	wasLeader           bool
	revokedAt           map[string]time.Time
	unplacedLog         map[string]time.Time // last "has no owner" line per group
	pending             map[string]bool      // proposals in flight, by group or "nodeup:NAME"
	nodeUpQueued        map[string]bool
	hasState            bool
}

func startQuorum(n *Node, key conf.AuthKey) (*quorum, error) {
	q := &quorum{n: n, timing: DeriveTiming(n.ha), revokedAt: map[string]time.Time{}, unplacedLog: map[string]time.Time{},
		pending: map[string]bool{}, nodeUpQueued: map[string]bool{}}
	if err := q.timing.Validate(); err != nil {
		return nil, err
	}
	q.voters = heartbeat.Members(n.ha)
	q.fsm = newFSM(n.poke)
	if !n.layer.Addr.IsValid() {
		return nil, errors.New("quorum mode needs a UDP medium with an address for raft")
	}
	var err error
	q.stores, err = OpenStores(filepath.Join(n.cfg.StateDir, "raft"))
	if err != nil {
		return nil, err
	}
	addr := netip.AddrPortFrom(n.layer.Addr, uint16(n.ha.RaftPort))
	q.trans, err = NewTransport(TransportConfig{
		Bind: addr, Advertise: addr, Key: key.Derive(RaftKeyPurpose),
		MaxPool: 3, Timeout: max(q.timing.HeartbeatTimeout, time.Second), Dial: n.cfg.Dial,
		Logger: SlogHCLogger(n.log),
	})
	if err != nil {
		q.stores.Close()
		return nil, err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.Name)
	rc.HeartbeatTimeout = q.timing.HeartbeatTimeout
	rc.ElectionTimeout = q.timing.ElectionTimeout
	rc.LeaderLeaseTimeout = q.timing.LeaderLeaseTimeout
	rc.CommitTimeout = q.timing.CommitTimeout
	rc.SnapshotThreshold = 1024
	rc.TrailingLogs = 1024
	// raft's lines go to the node's log as events of their own (no second
	// timestamp or level inside the message), warnings and up.
	rl := SlogHCLogger(n.log.With("node", n.cfg.Name, "subsys", "raft"))
	rl.SetLevel(hclog.Warn)
	rc.Logger = rl
	q.hasState, err = raft.HasExistingState(q.stores.Log, q.stores.Stable, q.stores.Snapshots)
	if err != nil {
		q.close()
		return nil, err
	}
	q.raft, err = raft.NewRaft(rc, q.fsm, q.stores.Log, q.stores.Stable, q.stores.Snapshots, q.trans)
	if err != nil {
		q.close()
		return nil, err
	}
	n.log.Info("Placement log: "+q.timing.String(), "node", n.cfg.Name)
	return q, nil
}

func (q *quorum) close() {
	if q.trans != nil {
		q.trans.Close()
	}
	if q.stores != nil {
		q.stores.Close()
	}
}

// flags is what this node says of its placement log in its claims.
func (q *quorum) flags() uint8 {
	var f uint8
	if q.hasState || q.raft.LastIndex() > 0 {
		f |= FlagRaftState
	}
	if ok, _ := q.leaseValid(); ok {
		f |= FlagLease
	}
	return f
}

// bootstrap starts a new placement log when every voter's raft address is
// known from heartbeats, or, after initdead, a quorum of them, and no peer
// already has a log (then this node waits to be added).
func (q *quorum) bootstrap() {
	if q.hasState || q.raft.LastIndex() > 0 {
		q.hasState = true
		return
	}
	n := q.n
	var servers []raft.Server
	for _, v := range q.voters {
		if v != n.cfg.Name {
			if c := n.peerClaims(v); c != nil && c.Flags&FlagRaftState != 0 {
				return // a log exists: wait for its leader to add us
			}
		}
		addr, ok := q.raftAddr(v)
		if !ok {
			continue
		}
		servers = append(servers, raft.Server{ID: raft.ServerID(v), Address: raft.ServerAddress(addr.String()), Suffrage: raft.Voter})
	}
	all := len(servers) == len(q.voters)
	if !all && (time.Since(n.start) < n.ha.EffectiveInitdead() || len(servers) <= len(q.voters)/2) {
		return
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	f := q.raft.BootstrapCluster(raft.Configuration{Servers: servers})
	if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		n.log.Warn(fmt.Sprintf("Cannot start the placement log: %v", err), "node", n.cfg.Name)
		return
	}
	q.hasState = true
	n.log.Info(fmt.Sprintf("Placement log started with %d voters", len(servers)), "node", n.cfg.Name)
}

// raftAddr is a voter's raft address: ours, or what its heartbeats carry.
func (q *quorum) raftAddr(node string) (netip.AddrPort, bool) {
	if node == q.n.cfg.Name {
		return netip.AddrPortFrom(q.n.layer.Addr, uint16(q.n.ha.RaftPort)), true
	}
	for _, s := range q.n.layer.HB.PeerServices(node) {
		if s.Kind == heartbeat.ServiceRaft {
			return s.Addr, true
		}
	}
	return netip.AddrPort{}, false
}

// leaseValid reports whether this node heard from a quorum within the
// lease, and how much of it is left.
func (q *quorum) leaseValid() (bool, time.Duration) {
	now := time.Now()
	q.mu.Lock()
	anchor, verified := q.anchor, q.lastVerify
	q.mu.Unlock()
	switch q.raft.State() {
	case raft.Leader:
		// The quorum round trip renews a leader; what it held as a follower
		// still counts until then.
		if verified.After(anchor) {
			anchor = verified
		}
	case raft.Follower, raft.Candidate:
		// The anchor alone bounds the lease, whoever leads now: a moment
		// without a known leader (an election, a leadership transfer) does
		// not stop what runs here.
	default:
		return false, 0
	}
	left := anchor.Add(q.timing.Lease).Sub(now)
	return !anchor.IsZero() && left > 0, max(left, 0)
}

// verifyLeadership renews a leader's lease with a quorum round trip.
func (q *quorum) verifyLeadership() {
	q.mu.Lock()
	if q.verifying {
		q.mu.Unlock()
		return
	}
	q.verifying = true
	q.mu.Unlock()
	go func() {
		start := time.Now()
		err := q.raft.VerifyLeader().Error()
		q.mu.Lock()
		q.verifying = false
		if err == nil && !start.Before(q.trustFrom) {
			q.lastVerify = start
		}
		q.mu.Unlock()
		if err == nil {
			q.n.poke()
		}
	}()
}

func (q *quorum) hasQuorum() bool {
	ok, _ := q.leaseValid()
	return ok
}

// decide runs on every tick of the node's loop.
func (q *quorum) decide() {
	n := q.n
	q.noticeStall()
	q.bootstrap()
	if q.raft.State() == raft.Leader {
		if c := q.raft.CommitIndex(); n.raftCommit.Swap(c) != c {
			n.claimsChanged() // followers renew their leases from it
		}
	} else {
		n.raftCommit.Store(0)
		q.refreshAnchor()
	}
	if f := uint32(q.flags()); n.raftFlags.Swap(f) != f {
		n.claimsChanged() // peers learn at once that our lease came or went
	}
	isLeader := q.raft.State() == raft.Leader
	if isLeader {
		q.verifyLeadership()
	}
	q.mu.Lock()
	if isLeader && !q.wasLeader {
		q.leaderSince = time.Now()
		q.nodeUpQueued = map[string]bool{}
	}
	q.wasLeader = isLeader
	q.mu.Unlock()

	st, applied := q.fsm.view()
	valid, _ := q.leaseValid()
	// A node that has not applied everything the leader committed may be
	// acting on a stale assignment (it just rejoined): it may keep what it
	// runs, but starts nothing until it has caught up.
	caughtUp := q.caughtUp(applied, q.raft.CommitIndex())
	if n.role == "director" {
		n.mu.Lock()
		stopping := n.stopping
		n.mu.Unlock()
		for i, r := range n.runners {
			a := st.Groups[n.groups[i].Name]
			cl, _, _ := r.get()
			want := valid && !stopping && a.Owner == n.cfg.Name && (caughtUp || cl.State.Holds())
			if cl.State == ClaimFailed && (q.requestCovers(n.cfg.Name, i, RequestTakeover) || q.runningElsewhere(i)) {
				r.clearFailed()
			}
			r.set(want, a.Epoch)
		}
		q.checkRequest(st)
	}
	if isLeader && valid && caughtUp {
		q.lead(st)
		q.mu.Lock()
		delete(q.unplacedLog, leaderStuckKey)
		q.mu.Unlock()
	} else if isLeader {
		q.logLeaderStuck(valid, applied)
	}
}

// caughtUp reports whether the state machine has applied every command
// raft has committed. Entries that never reach it (no-ops, configuration)
// are skipped by looking at the log itself.
func (q *quorum) caughtUp(applied, commit uint64) bool {
	if applied >= commit {
		return true
	}
	if commit-applied > 64 {
		return false
	}
	for idx := commit; idx > applied; idx-- {
		var l raft.Log
		if err := q.stores.Log.GetLog(idx, &l); err != nil {
			return false // compacted or unreadable: be careful
		}
		if l.Type == raft.LogCommand {
			return false
		}
	}
	return true
}

// refreshAnchor renews a follower's lease from the leader's latest claim,
// if this node has applied everything that claim says was committed.
func (q *quorum) refreshAnchor() {
	_, id := q.raft.LeaderWithID()
	if id == "" || string(id) == q.n.cfg.Name {
		return
	}
	e := q.n.book.get(string(id))
	c, at := e.claims, e.at
	if c == nil || e.alien || c.Commit == 0 {
		return
	}
	_, applied := q.fsm.view()
	if !q.caughtUp(applied, c.Commit) {
		return
	}
	// Anchor at the send time of our own nonce the leader acknowledges:
	// the leader heard us then, so it can bound our lease by the last time
	// it heard us.
	i := q.n.voterIndex(q.n.cfg.Name)
	if i < 0 || i >= len(c.Acks) {
		return
	}
	sent, ok := q.n.nonces.sentAt(c.Acks[i])
	if !ok || sent.After(at) {
		return
	}
	q.mu.Lock()
	if sent.After(q.anchor) {
		q.anchor = sent
	}
	q.mu.Unlock()
}

// claimsOf is what a node says: this node's own, or its last heartbeat's.
func (q *quorum) claimsOf(node string) *Claims {
	if node == q.n.cfg.Name {
		return q.n.myClaims()
	}
	return q.n.peerClaims(node)
}

func (q *quorum) alive(node string) bool {
	return node == q.n.cfg.Name || q.n.peerAlive(node)
}

func (q *quorum) holds(node string, i int) bool {
	c := q.claimsOf(node)
	return c != nil && i < len(c.Groups) && c.Groups[i].State.Holds()
}

func (q *quorum) running(node string, i int) bool {
	c := q.claimsOf(node)
	return c != nil && i < len(c.Groups) && c.Groups[i].State == ClaimRunning
}

func (q *quorum) runningElsewhere(i int) bool {
	for _, d := range q.n.ha.Nodes {
		if d != q.n.cfg.Name && q.alive(d) {
			if c := q.claimsOf(d); c != nil && i < len(c.Groups) && c.Groups[i].State == ClaimRunning {
				return true
			}
		}
	}
	return false
}

func (q *quorum) requestCovers(node string, i int, kind RequestKind) bool {
	c := q.claimsOf(node)
	return c != nil && c.Request == kind && Covers(c.Scope, node, q.n.homes[i])
}

// bestPing is the highest ping score among live directors.
func (q *quorum) bestPing() int {
	best := 0
	for _, d := range q.n.ha.Nodes {
		if c := q.claimsOf(d); c != nil && q.alive(d) && int(c.Ping) > best {
			best = int(c.Ping)
		}
	}
	return best
}

// eligible: node can run group i now.
func (q *quorum) eligible(node string, i int) bool { return q.ineligible(node, i) == "" }

// ineligible says why node cannot run group i now ("" when it can).
func (q *quorum) ineligible(node string, i int) string {
	if !q.n.ha.IsNode(node) {
		return "not a director"
	}
	if !q.alive(node) {
		return "not heard"
	}
	c := q.claimsOf(node)
	switch {
	case c == nil:
		return "its state is unknown"
	case c.Layout != q.n.layout:
		return "its haresources or voters differ"
	case i >= len(c.Groups):
		return "its group list is short"
	case c.Groups[i].State == ClaimFailed:
		return "the group failed to start there"
	}
	if node != q.n.cfg.Name && c.Flags&FlagLease == 0 {
		return "it has no lease (it cannot hear a quorum)"
	}
	if c.Flags&FlagLeaving != 0 {
		return "it is shutting down"
	}
	if q.requestCovers(node, i, RequestStandby) {
		return "it asked to give the group away"
	}
	if q.n.pinger.configured() && int(c.Ping) < q.bestPing() {
		return fmt.Sprintf("its ping score %d is below the best %d", c.Ping, q.bestPing())
	}
	return ""
}

// homeComing: the home was heard recently and lacks only its lease (it
// has not heard from the leader yet); placing the group elsewhere now
// would move it twice.
func (q *quorum) homeComing(home string, i int) bool {
	if home == q.n.cfg.Name || !q.alive(home) {
		return false
	}
	c := q.claimsOf(home)
	if c == nil || c.Flags&FlagLease != 0 || i >= len(c.Groups) || c.Groups[i].State == ClaimFailed || q.requestCovers(home, i, RequestStandby) {
		return false
	}
	q.n.mu.Lock()
	up := q.n.peerUpAt[home]
	q.n.mu.Unlock()
	q.mu.Lock()
	if q.leaderSince.After(up) {
		up = q.leaderSince
	}
	q.mu.Unlock()
	return time.Since(up) < q.n.ha.Deadtime+q.timing.Lease
}

// choose picks where an unassigned group should go.
func (q *quorum) choose(i int) string {
	for _, d := range q.n.ha.Nodes {
		if q.requestCovers(d, i, RequestTakeover) && q.eligible(d, i) {
			return d
		}
	}
	if h := q.n.homes[i]; q.eligible(h, i) {
		return h
	}
	for _, d := range q.n.ha.Nodes {
		if q.eligible(d, i) {
			return d
		}
	}
	return ""
}

// lead is the leader's placement pass.
func (q *quorum) lead(st *State) {
	n := q.n
	// Record nodes that came up or restarted, for auto_failback.
	for _, v := range q.voters {
		if !q.alive(v) {
			q.mu.Lock()
			delete(q.nodeUpQueued, v)
			q.mu.Unlock()
			continue
		}
		gen := n.layer.HB.PeerGeneration(v)
		if v == n.cfg.Name {
			gen = n.layer.HB.Generation()
		}
		q.mu.Lock()
		queued := q.nodeUpQueued[v]
		q.mu.Unlock()
		if gen != 0 && (st.Nodes[v].Generation != gen || queued) {
			if q.propose("nodeup:"+v, Command{Op: "nodeup", Node: v, Gen: gen}) {
				q.mu.Lock()
				delete(q.nodeUpQueued, v)
				q.mu.Unlock()
			}
		}
	}
	q.addVoters()
	fb := n.ha.AutoFailback == "on" || n.ha.AutoFailback == "legacy"
	for i, g := range n.groups {
		a := st.Groups[g.Name]
		if a.Owner != "" {
			q.mu.Lock()
			delete(q.unplacedLog, g.Name)
			q.mu.Unlock()
			why := q.ineligible(a.Owner, i)
			keep := why == ""
			if keep && fb && a.Owner != g.Home && a.Failback && q.eligible(g.Home, i) &&
				!q.requestCovers(a.Owner, i, RequestTakeover) {
				keep, why = false, "its home "+g.Home+" can run it again"
			}
			for _, d := range n.ha.Nodes {
				if d != a.Owner && q.requestCovers(d, i, RequestTakeover) && q.eligible(d, i) {
					keep, why = false, d+" takes it over"
				}
			}
			if !keep {
				if q.propose(g.Name, Command{Op: "assign", Group: g.Name, Owner: "", Epoch: a.Epoch + 1}) {
					q.mu.Lock()
					q.revokedAt[g.Name] = time.Now()
					q.mu.Unlock()
					n.log.Info(fmt.Sprintf("Revoking group %s from %s (epoch %d): %s", g.Name, a.Owner, a.Epoch+1, why), "node", n.cfg.Name)
				}
			}
			continue
		}
		target := q.choose(i)
		if target == "" {
			q.logUnplaced(g.Name, i, "no director can run it")
			continue
		}
		if target != g.Home && q.homeComing(g.Home, i) {
			continue // the home just came up: give it a deadtime to be ready
		}
		if !q.safeToAssign(st, i, a, target) {
			q.logUnplaced(g.Name, i, "waiting until it is safe to give it to "+target)
			continue
		}
		homeLeaving := false
		if c := q.claimsOf(g.Home); c != nil && c.Flags&FlagLeaving != 0 {
			homeLeaving = true // a shutdown, not an operator's standby
		}
		away := target != g.Home && (homeLeaving || !q.requestCovers(g.Home, i, RequestStandby)) && !q.requestCovers(target, i, RequestTakeover)
		if q.propose(g.Name, Command{Op: "assign", Group: g.Name, Owner: target, Epoch: a.Epoch + 1, Failback: away}) {
			n.log.Info(fmt.Sprintf("Assigning group %s to %s (epoch %d)", g.Name, target, a.Epoch+1), "node", n.cfg.Name)
		}
	}
}

// addVoters adds to the placement log every voter of ha.cf that is alive,
// whose address its heartbeats carry, and that the log does not have (one
// that was down when the log started), or whose address changed.
func (q *quorum) addVoters() {
	f := q.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	have := map[raft.ServerID]raft.ServerAddress{}
	for _, s := range f.Configuration().Servers {
		have[s.ID] = s.Address
	}
	for _, v := range q.voters {
		addr, ok := q.raftAddr(v)
		if !ok || !q.alive(v) {
			continue
		}
		if cur, in := have[raft.ServerID(v)]; in && cur == raft.ServerAddress(addr.String()) {
			continue
		}
		key := "voter:" + v
		q.mu.Lock()
		busy := q.pending[key]
		q.pending[key] = true
		q.mu.Unlock()
		if busy {
			continue
		}
		fut := q.raft.AddVoter(raft.ServerID(v), raft.ServerAddress(addr.String()), 0, q.timing.HeartbeatTimeout*4)
		go func() {
			err := fut.Error()
			q.mu.Lock()
			delete(q.pending, key)
			q.mu.Unlock()
			if err == nil {
				q.n.log.Info(fmt.Sprintf("Added %s at %s to the placement log", v, addr), "node", q.n.cfg.Name)
			}
		}()
	}
}

// safeToAssign: no node other than target may still run group i. A node
// we hear must say it stopped (at the current epoch or later); one we
// cannot hear must have been revoked at least SafeWait ago, so its lease
// has surely lapsed.
func (q *quorum) safeToAssign(st *State, i int, a Assignment, target string) bool {
	n := q.n
	name := n.groups[i].Name
	q.mu.Lock()
	revoked, ok := q.revokedAt[name]
	if !ok || revoked.Before(q.leaderSince) {
		// Revoked before this node led (or never seen): count from the
		// start of this leadership.
		revoked = q.leaderSince
	}
	q.mu.Unlock()
	waited := time.Since(revoked) >= q.timing.SafeWait
	// A node we heard last at T renewed its lease last from an ack of a
	// heartbeat it sent before T: its lease is over by T + Lease. Before
	// this node led, another leader may have renewed it: count SafeWait
	// from the start of this leadership for that.
	q.mu.Lock()
	sinceLead := time.Since(q.leaderSince) >= q.timing.NewLeaderWait
	q.mu.Unlock()
	lapsed := func(d string) bool {
		return sinceLead && time.Since(q.lastHeard(d)) >= q.timing.Lease+q.timing.Margin
	}
	for _, d := range n.ha.Nodes {
		if d == target {
			continue
		}
		c := q.claimsOf(d)
		heard := q.alive(d) && c != nil && c.Layout == n.layout && i < len(c.Groups)
		switch {
		case heard && c.Groups[i].State.Holds():
			return false // still running or stopping there
		case heard && c.Groups[i].Epoch >= a.Epoch:
			// It has seen the revocation and does not hold the group.
		case d == a.LastOwner || a.Epoch > 0:
			// Not heard, or not yet acting on the newest epoch.
			if !waited && !lapsed(d) {
				return false
			}
		}
	}
	return true
}

// lastHeard is when the heartbeat layer last heard a node.
func (q *quorum) lastHeard(node string) time.Time {
	for _, s := range q.n.layer.HB.Status() {
		if s.Name == node {
			return s.LastSeen
		}
	}
	return time.Time{}
}

// propose commits a command unless one for the same key is in flight.
func (q *quorum) propose(key string, c Command) bool {
	q.mu.Lock()
	if q.pending[key] {
		q.mu.Unlock()
		return false
	}
	q.pending[key] = true
	q.mu.Unlock()
	b, _ := json.Marshal(c)
	f := q.raft.Apply(b, q.timing.HeartbeatTimeout*4)
	go func() {
		err := f.Error()
		if err == nil {
			if r, ok := f.Response().(applyResult); ok {
				err = r.err
			}
		}
		q.mu.Lock()
		delete(q.pending, key)
		q.mu.Unlock()
		if err != nil {
			q.n.log.Debug(fmt.Sprintf("Proposal %s not applied: %v", key, err), "node", q.n.cfg.Name)
		}
		q.n.poke()
	}()
	return true
}

// nodeCameUp is called on heartbeat node-up events.
func (q *quorum) nodeCameUp(node string) {
	q.mu.Lock()
	q.nodeUpQueued[node] = true
	q.mu.Unlock()
}

func (q *quorum) submitRequest(kind RequestKind, s Scope) { q.n.poke() }

// checkRequest finishes this node's pending request when the committed
// state and the claims show it fulfilled, or impossible.
func (q *quorum) checkRequest(st *State) {
	n := q.n
	n.mu.Lock()
	req, scope := n.request, n.scope
	n.mu.Unlock()
	me := n.cfg.Name
	switch req {
	case RequestStandby:
		for i, g := range n.groups {
			if !Covers(scope, me, g.Home) {
				continue
			}
			if q.holds(me, i) || st.Groups[g.Name].Owner == me {
				// Still here: impossible if nobody else could take it.
				other := false
				for _, d := range n.ha.Nodes {
					if d != me && q.eligible(d, i) {
						other = true
					}
				}
				if !other {
					n.finishRequest(false, true)
				}
				return
			}
			if o := st.Groups[g.Name].Owner; o == "" || !q.running(o, i) {
				// Not yet running elsewhere; done only if nobody could.
				for _, d := range n.ha.Nodes {
					if d != me && q.eligible(d, i) {
						return
					}
				}
			}
		}
		n.finishRequest(true, false)
	case RequestTakeover:
		for i, g := range n.groups {
			if !Covers(scope, me, g.Home) {
				continue
			}
			c := q.claimsOf(me)
			if c.Groups[i].State == ClaimFailed {
				n.finishRequest(false, true)
				return
			}
			if c.Groups[i].State != ClaimRunning || st.Groups[g.Name].Owner != me {
				return
			}
		}
		n.finishRequest(true, false)
	}
}

func (q *quorum) status() RaftStatus {
	addr, id := q.raft.LeaderWithID()
	_ = addr
	rs := RaftStatus{State: q.raft.State().String(), Leader: string(id), Voters: append([]string(nil), q.voters...)}
	stats := q.raft.Stats()
	fmt.Sscan(stats["term"], &rs.Term)
	fmt.Sscan(stats["commit_index"], &rs.CommitIndex)
	valid, left := q.leaseValid()
	rs.LeaseValid, rs.LeaseLeft = valid, Duration(left)
	return rs
}

func (q *quorum) assigned(group string) (string, uint64, bool) {
	st, _ := q.fsm.view()
	a, ok := st.Groups[group]
	return a.Owner, a.Epoch, ok
}

func (q *quorum) stop() error {
	if q.raft.State() == raft.Leader {
		// Hand leadership over so the others need not wait for an election.
		q.raft.LeadershipTransfer().Error()
	}
	err := q.raft.Shutdown().Error()
	q.close()
	return err
}

// unplacedEvery is how often the leader says why a group has no owner.
const unplacedEvery = 5 * time.Second

// logUnplaced tells, at most every unplacedEvery per group, why the
// leader leaves group i without an owner, with each director's reason.
func (q *quorum) logUnplaced(group string, i int, what string) {
	q.mu.Lock()
	last, seen := q.unplacedLog[group]
	if seen && time.Since(last) < unplacedEvery {
		q.mu.Unlock()
		return
	}
	q.unplacedLog[group] = time.Now()
	q.mu.Unlock()
	if !seen {
		return // the first pass without an owner is normal: say it only when it lasts
	}
	var why []string
	for _, d := range q.n.ha.Nodes {
		r := q.ineligible(d, i)
		if r == "" {
			r = "eligible"
		}
		why = append(why, d+": "+r)
	}
	q.n.log.Warn(fmt.Sprintf("Group %s still has no owner: %s (%s)", group, what, strings.Join(why, "; ")), "node", q.n.cfg.Name)
}

// leaderStuckKey is logUnplaced's map entry for the leader itself.
const leaderStuckKey = "\x00leader"

// logLeaderStuck tells, at most every unplacedEvery, that this leader
// cannot place groups (no lease, or not caught up with its own log).
func (q *quorum) logLeaderStuck(valid bool, applied uint64) {
	q.mu.Lock()
	last, seen := q.unplacedLog[leaderStuckKey]
	if seen && time.Since(last) < unplacedEvery {
		q.mu.Unlock()
		return
	}
	q.unplacedLog[leaderStuckKey] = time.Now()
	q.mu.Unlock()
	if seen {
		q.n.log.Warn(fmt.Sprintf("Leading but placing nothing: lease valid %v, applied %d of %d committed", valid, applied, q.raft.CommitIndex()), "node", q.n.cfg.Name)
	}
}

// noticeStall runs first in every decision pass. A gap of more than half
// a lease since the last pass means the process stood still (SIGSTOP, a
// starved machine): answers that raft's sockets kept meanwhile are old,
// and hashicorp/raft counts any successful answer toward a leadership
// check, whenever it was sent. So for a leader lease timeout from now —
// time enough to read what piled up, and to step down if a newer term is
// in it — no quorum round trip renews the lease. The lease left from
// before the stall still counts; it has usually run out.
func (q *quorum) noticeStall() {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.lastTick.IsZero() && now.Sub(q.lastTick) > q.timing.Lease/2 {
		q.trustFrom = now.Add(q.timing.LeaderLeaseTimeout)
		q.n.log.Warn(fmt.Sprintf("Stood still for %v: not renewing the lease from raft answers before %s",
			now.Sub(q.lastTick).Round(time.Millisecond), q.trustFrom.Format("15:04:05.000")), "node", q.n.cfg.Name)
	}
	q.lastTick = now
}
