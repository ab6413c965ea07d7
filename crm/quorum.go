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
	keys   *TransportKeys // the transport's keys, changed by a reload of authkeys
	stores *Stores
	voters []string

	mu         sync.Mutex
	started    bool
	lastVerify time.Time // leader: start of the last successful quorum round trip
	// lastTick is when the leader's renewal loop last ran, and trustFrom
	// the earliest start of a quorum round trip that may renew the
	// leader's lease: after the process stalled (frozen, starved), answers
	// raft received before the stall and reads only now could complete a
	// round trip begun after it.
	lastTick, trustFrom time.Time
	renewing            bool      // the leader's renewal loop runs
	handedAt            time.Time // the last leadership transfer to a witness
	busy                bool      // the last pass planned proposals or waits for a time
	anchor              time.Time // follower: send time of its newest heartbeat the leader acknowledged while it had caught up
	vouched             time.Time // the newest anchor a quorum of vouchers gave (crm/vouch.go)
	leaderSince         time.Time
	wasLeader           bool
	revokedAt           map[string]time.Time
	unplacedLog         map[string]time.Time // last "has no owner" line per group
	pending             map[string]bool      // proposals in flight, by group or "nodeup:NAME"
	nodeUpQueued        map[string]bool
	hasState            bool
}

// voterAddr says whether a is the raft address a voter announces in its
// heartbeats (authenticated): its connections get handshake slots of
// their own.
func (q *quorum) voterAddr(a netip.Addr) bool {
	for _, v := range q.voters {
		if v == q.n.cfg.Name {
			continue
		}
		for _, s := range q.n.layer.HB.PeerServices(v) {
			if s.Kind == heartbeat.ServiceRaft && s.Addr.Addr().Unmap() == a {
				return true
			}
		}
	}
	return false
}

// raftKeys derives the raft transport keys of the accepted keys.
func raftKeys(active conf.AuthKey, accept []conf.AuthKey) [][]byte {
	var out [][]byte
	for _, a := range accept {
		if a.Num != active.Num {
			out = append(out, a.Derive(RaftKeyPurpose))
		}
	}
	return out
}

func startQuorum(n *Node, key conf.AuthKey, accept []conf.AuthKey) (*quorum, error) {
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
	q.keys, err = NewTransportKeys(key.Derive(RaftKeyPurpose), raftKeys(key, accept))
	if err != nil {
		q.stores.Close()
		return nil, err
	}
	q.trans, err = NewTransport(TransportConfig{
		Bind: addr, Advertise: addr, Keys: q.keys, Trusted: q.voterAddr,
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
	// Raft's changes of state and leader wake the loop: a new leader
	// must start leading, a follower must learn whom to renew from.
	obs := make(chan raft.Observation, 8)
	q.raft.RegisterObserver(raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.RaftState, raft.LeaderObservation:
			return true
		}
		return false
	}))
	go func() {
		for {
			select {
			case o := <-obs:
				if lo, ok := o.Data.(raft.LeaderObservation); ok && lo.LeaderID != "" {
					n.log.Info(fmt.Sprintf("Placement log leader: %s", lo.LeaderID), "node", n.cfg.Name)
				}
				n.poke()
			case <-n.ctx.Done():
				return
			}
		}
	}()
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

// flags is what this node says of its placement log in its claims, with
// its lease as the pass judged it.
func (q *quorum) flags(lease bool) uint8 {
	var f uint8
	if q.hasState || q.raft.LastIndex() > 0 {
		f |= FlagRaftState
	}
	if lease {
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
// lease, and how much of it is left. A follower's lease is renewed here
// from the leader's newest claims, so that it renews with every leader
// heartbeat without a decision pass.
func (q *quorum) leaseValid() (bool, time.Duration) {
	st := q.raft.State()
	if st != raft.Leader {
		q.refreshAnchor()
	}
	q.refreshVouched()
	return q.leaseAt(time.Now(), st)
}

// logPos is the index and term of the last entry of the placement log
// when this node has applied all of it (commands; no-ops, barriers and
// configuration entries never reach the state), else zeros.
func (q *quorum) logPos() (index, term uint64) {
	last := q.raft.LastIndex()
	if last == 0 {
		return 0, 0
	}
	if _, applied := q.fsm.view(); !q.caughtUp(applied, last) {
		return 0, 0
	}
	var l raft.Log
	if err := q.stores.Log.GetLog(last, &l); err != nil {
		return 0, 0
	}
	return last, l.Term
}

// refreshVouched renews the lease from the voters' vouches.
func (q *quorum) refreshVouched() {
	n := q.n
	index, term := q.logPos()
	var others []vouchClaims
	for _, v := range q.voters {
		if v == n.cfg.Name {
			continue
		}
		e := n.book.get(v)
		if e.alien {
			continue
		}
		others = append(others, vouchClaims{Claims: e.claims, At: e.at})
	}
	a := vouchAnchor(n.voterIndex(n.cfg.Name), index, term, len(q.voters), others, n.nonces)
	q.mu.Lock()
	if a.After(q.vouched) {
		q.vouched = a
	}
	q.mu.Unlock()
}

// vouches is the Vouch field of this node's claims: every voter it hears
// and has heard without a break for the vouching probation.
func (q *quorum) vouches(now time.Time) uint32 {
	n := q.n
	up := map[string]bool{}
	for _, s := range n.layer.HB.Status() {
		up[s.Name] = s.State == heartbeat.NodeUp
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var bits uint32
	for i, v := range q.voters {
		if v == n.cfg.Name || !up[v] {
			continue
		}
		if at, ok := n.peerUpAt[v]; ok && now.Sub(at) >= q.timing.VouchProbation() {
			bits |= 1 << i
		}
	}
	return bits
}

// refreshClaims sets what this node's claims say of its placement log:
// the lease flag and, from the leader, its commit index. The heartbeat
// layer calls it for every heartbeat (Node.appState), so claims are
// current without a decision pass.
func (q *quorum) refreshClaims() {
	valid, _ := q.leaseValid()
	q.n.raftFlags.Store(uint32(q.flags(valid)))
	if q.raft.State() == raft.Leader {
		q.n.raftCommit.Store(q.raft.CommitIndex())
	} else {
		q.n.raftCommit.Store(0)
	}
	index, term := q.logPos()
	q.n.logIndex.Store(index)
	q.n.logTerm.Store(term)
	q.n.vouch.Store(q.vouches(time.Now()))
}

// leaseAt is leaseValid at a given time and raft state, so that a
// decision pass judges its lease once, at its own clock reading.
func (q *quorum) leaseAt(now time.Time, state raft.RaftState) (bool, time.Duration) {
	q.mu.Lock()
	anchor, verified := q.anchor, q.lastVerify
	if q.vouched.After(anchor) {
		anchor = q.vouched
	}
	q.mu.Unlock()
	switch state {
	case raft.Leader:
		// The quorum round trip renews a leader; what it held as a follower
		// still counts until then.
		if verified.After(anchor) {
			anchor = verified
		}
	case raft.Follower, raft.Candidate:
		// The anchor bounds the lease, whoever leads now: a moment
		// without a known leader (an election, a leadership transfer) does
		// not stop what runs here. A leader that stepped down keeps what
		// its last quorum round trip gave it: a new leader waits
		// NewLeaderWait from its election, which came after that round
		// trip's start.
		if verified.After(anchor) {
			anchor = verified
		}
	default:
		return false, 0
	}
	left := anchor.Add(q.timing.Lease).Sub(now)
	return !anchor.IsZero() && left > 0, max(left, 0)
}

// keepLeading starts, unless it runs, the leader's renewal loop: a
// quorum round trip (raft's VerifyLeader) every q.timing.RenewEvery while
// this node leads and less than half its lease is left (vouches keep it
// fresh at rest; a new leader's first rounds, before the probation of
// vouching ended, need the round trips), each success renewing the lease
// from the round trip's start. It wakes the decision loop only when the lease comes back or the
// round trip fails (leadership lost, quorum gone): at rest a leader's
// lease renews without any decision pass. A pace, not a feedback loop:
// an earlier design ran a round trip per pass and a pass per round trip,
// most of a core on the leader.
func (q *quorum) keepLeading() {
	q.mu.Lock()
	if q.renewing {
		q.mu.Unlock()
		return
	}
	q.renewing, q.lastTick = true, time.Time{}
	q.mu.Unlock()
	go func() {
		defer func() {
			q.mu.Lock()
			q.renewing = false
			q.mu.Unlock()
			q.n.poke()
		}()
		t := time.NewTicker(q.timing.RenewEvery)
		defer t.Stop()
		for q.raft.State() == raft.Leader {
			q.noticeStall()
			had, left := q.leaseValid()
			if had && left > q.timing.Lease/2 {
				// The voters' vouches keep the lease fresh (at rest
				// they always do): no round trip is needed.
				select {
				case <-q.n.ctx.Done():
					return
				case <-t.C:
				}
				continue
			}
			start := time.Now()
			err := q.raft.VerifyLeader().Error()
			q.mu.Lock()
			if err == nil && !start.Before(q.trustFrom) {
				q.lastVerify = start
			}
			// A round trip that waited (a follower slow to answer) is no
			// stall: the next gap counts from its end.
			q.lastTick = time.Now()
			q.mu.Unlock()
			if has, _ := q.leaseValid(); err != nil || has != had {
				q.n.poke()
			}
			select {
			case <-q.n.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// handToWitness gives raft leadership to a witness when a director leads
// and a witness is up, caught up and has its lease: the witness runs no
// group, so a director's crash then never costs an election and a new
// leader's wait (the leader keeps leading while it can; hashicorp/raft's
// leadership transfer replicates to the target before it steps down).
// The first attempt comes handSettle after taking office (the witness's
// claims are then newer than the election), later ones at most one every
// handEvery. It returns when the loop should look again, or zero.
func (q *quorum) handToWitness(now time.Time, valid bool) time.Time {
	n := q.n
	if n.role != "director" || len(n.ha.Witnesses) == 0 || !valid {
		return time.Time{}
	}
	q.mu.Lock()
	next := q.leaderSince.Add(q.handSettle())
	if !q.handedAt.IsZero() {
		next = later(next, q.handedAt.Add(handEvery))
	}
	if now.Before(next) || len(q.pending) > 0 || q.busy {
		q.mu.Unlock()
		if now.Before(next) {
			return next
		}
		return time.Time{} // the pass that ends the work looks again
	}
	q.mu.Unlock()
	for _, w := range n.ha.Witnesses {
		c := n.peerClaims(w)
		if c == nil || c.Flags&FlagLease == 0 || c.Flags&FlagLeaving != 0 || !n.peerAlive(w) {
			continue
		}
		addr, ok := q.raftAddr(w)
		if !ok {
			continue
		}
		q.mu.Lock()
		q.handedAt = now
		q.mu.Unlock()
		n.log.Info(fmt.Sprintf("Handing the placement log's leadership to the witness %s", w), "node", n.cfg.Name)
		f := q.raft.LeadershipTransferToServer(raft.ServerID(w), raft.ServerAddress(addr.String()))
		go func() {
			if err := f.Error(); err != nil {
				n.log.Warn(fmt.Sprintf("Leadership transfer to %s failed: %v", w, err), "node", n.cfg.Name)
			}
			n.poke()
		}()
		return now.Add(handEvery)
	}
	return time.Time{} // no witness ready: its claims wake the loop
}

// handEvery bounds how often a director leader tries again to hand
// leadership to a witness.
const handEvery = 10 * time.Second

// handSettle is how long a director that took office waits before it
// hands the leadership to a witness: two keepalives, so that the claims it
// judges the witness by were sent after the election.
func (q *quorum) handSettle() time.Duration { return 2 * q.timing.Keepalive }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (q *quorum) hasQuorum() bool {
	ok, _ := q.leaseValid()
	return ok
}

// decide runs on every pass of the node's loop: it keeps the raft side
// going (bootstrap, the leader's renewal loop), then takes one snapshot,
// plans from it with PlanQuorum and applies the plan. It returns the
// plan's Wake, or the end of initdead while the log waits to start.
func (q *quorum) decide() time.Time {
	n := q.n
	q.bootstrap()
	if q.raft.State() == raft.Leader {
		if c := q.raft.CommitIndex(); n.raftCommit.Swap(c) != c {
			n.claimsChanged() // followers renew their leases from it
		}
	} else {
		n.raftCommit.Store(0)
		q.refreshAnchor()
	}
	q.refreshVouched()
	now := time.Now()
	rs := q.raft.State()
	valid, _ := q.leaseAt(now, rs)
	if f := uint32(q.flags(valid)); n.raftFlags.Swap(f) != f {
		n.claimsChanged() // peers learn at once that our lease came or went
	}
	isLeader := rs == raft.Leader
	q.mu.Lock()
	if isLeader && !q.wasLeader {
		q.leaderSince = now
		q.handedAt = time.Time{}
		q.nodeUpQueued = map[string]bool{}
	}
	q.wasLeader = isLeader
	q.mu.Unlock()
	var handAt time.Time
	if isLeader {
		q.keepLeading()
		handAt = q.handToWitness(now, valid)
	}

	v := q.view(now, isLeader, valid)
	plan := PlanQuorum(v)
	q.apply(v, plan)
	q.mu.Lock()
	// A leader with proposals to make or a time to wait for keeps leading
	// until it is done: handing over would make the witness wait
	// NewLeaderWait before it may act.
	q.busy = len(plan.Proposals) > 0 || !plan.Wake.IsZero()
	q.mu.Unlock()
	// Without a lease, the next leader heartbeat that renews it matters;
	// with a request pending, every peer's progress does.
	n.mu.Lock()
	req := n.request != RequestNone
	n.mu.Unlock()
	n.restless.Store(!valid || req)
	wake := plan.Wake
	if !handAt.IsZero() && (wake.IsZero() || handAt.Before(wake)) {
		wake = handAt
	}
	if !q.hasState {
		if t := n.start.Add(n.ha.EffectiveInitdead()); t.After(now) && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	return wake
}

// view takes the pass's snapshot: the committed state, every voter's
// liveness and claims (decoded once), and the leader's bookkeeping.
func (q *quorum) view(now time.Time, isLeader, valid bool) *QuorumView {
	n := q.n
	st, applied := q.fsm.view()
	v := &QuorumView{
		Me: n.cfg.Name, Voters: q.voters, Directors: n.ha.Nodes, Homes: n.homes, Layout: n.layout,
		State: st, Applied: applied, CaughtUp: q.caughtUp(applied, q.raft.CommitIndex()),
		Nodes: map[string]QuorumNode{}, Now: now, IsLeader: isLeader, LeaseValid: valid,
		PingConfigured: n.pinger.configured(), AutoFailback: n.ha.AutoFailback, Timing: q.timing,
	}
	for _, g := range n.groups {
		v.Groups = append(v.Groups, g.Name)
	}
	liveness := map[string]heartbeat.NodeStatus{}
	for _, s := range n.layer.HB.Status() {
		liveness[s.Name] = s
	}
	n.mu.Lock()
	v.Stopping = n.stopping
	upAt := make(map[string]time.Time, len(n.peerUpAt))
	for k, t := range n.peerUpAt {
		upAt[k] = t
	}
	n.mu.Unlock()
	q.mu.Lock()
	v.LeaderSince = q.leaderSince
	// A revocation counts from when it was applied here, once it was:
	// the proposal's time would start the wait before the commit.
	v.RevokedAt = q.fsm.revocations()
	for k, t := range q.revokedAt {
		if t.After(v.RevokedAt[k]) {
			v.RevokedAt[k] = t
		}
	}
	queued := make(map[string]bool, len(q.nodeUpQueued))
	for k, b := range q.nodeUpQueued {
		queued[k] = b
	}
	q.mu.Unlock()
	for _, name := range q.voters {
		nv := QuorumNode{UpAt: upAt[name], UpQueued: queued[name]}
		if name == n.cfg.Name {
			nv.Alive, nv.Claims, nv.Generation = true, n.myClaims(), n.layer.HB.Generation()
		} else {
			s := liveness[name]
			nv.Alive, nv.LastHeard = s.State == heartbeat.NodeUp, s.LastSeen
			nv.Generation = n.layer.HB.PeerGeneration(name)
			// The newest claims by the peer's own numbering (the peer
			// book), not the last to arrive: a slow link's older ones
			// never count. Claims of another layout are kept for the
			// planner to refuse; unreadable ones are nil.
			e := n.book.get(name)
			nv.Claims = e.claims
			if me := n.voterIndex(n.cfg.Name); e.claims != nil && me >= 0 && me < len(e.claims.Acks) {
				if sent, ok := n.nonces.sentAt(e.claims.Acks[me]); ok && !sent.After(e.at) {
					nv.AckedMine = sent
				}
			}
		}
		v.Nodes[name] = nv
	}
	return v
}

// apply carries a plan out: runners, the pending request, the leader's
// proposals and what the operator should read.
func (q *quorum) apply(v *QuorumView, p QuorumPlan) {
	n := q.n
	for i, r := range n.runners {
		if i >= len(p.Groups) {
			break
		}
		g := p.Groups[i]
		if g.ClearFailed {
			r.clearFailed()
		}
		r.set(g.Want, g.Epoch)
	}
	if p.Request.Done || p.Request.Impossible {
		// Only the request the plan judged: one the operator made since
		// waits for the next pass.
		mine := v.Nodes[v.Me].Claims
		n.mu.Lock()
		same := mine != nil && n.request == mine.Request && n.reqID == mine.ReqID
		n.mu.Unlock()
		if same {
			n.finishRequest(p.Request.Done, p.Request.Impossible)
		}
	}
	if !p.Led {
		if v.IsLeader {
			q.logLeaderStuck(v.LeaseValid, v.Applied)
		}
		return
	}
	q.mu.Lock()
	for _, name := range v.Voters {
		if !v.Nodes[name].Alive && name != v.Me {
			delete(q.nodeUpQueued, name)
		}
	}
	said := map[string]bool{}
	for _, u := range p.Unplaced {
		said[u.Group] = true
	}
	for name, a := range v.State.Groups {
		if a.Owner != "" && !said[name] {
			delete(q.unplacedLog, name)
		}
	}
	delete(q.unplacedLog, leaderStuckKey)
	q.mu.Unlock()
	for _, pr := range p.Proposals {
		if pr.Command.Op == "nodeup" && q.propose(pr.Key, pr.Command) {
			q.mu.Lock()
			delete(q.nodeUpQueued, pr.Command.Node)
			q.mu.Unlock()
		}
	}
	q.addVoters(v)
	for _, pr := range p.Proposals {
		if pr.Command.Op != "assign" || !q.propose(pr.Key, pr.Command) {
			continue
		}
		if pr.Command.Owner == "" {
			q.mu.Lock()
			q.revokedAt[pr.Command.Group] = time.Now()
			q.mu.Unlock()
		}
		n.log.Info(pr.String(), "node", n.cfg.Name)
	}
	for _, u := range p.Unplaced {
		q.logUnplaced(u)
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

// addVoters adds to the placement log every voter of ha.cf that is alive,
// whose address its heartbeats carry, and that the log does not have (one
// that was down when the log started), or whose address changed.
func (q *quorum) addVoters(view *QuorumView) {
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
		if !ok || !view.Nodes[v].Alive {
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
		if err != nil {
			// Refused by raft (a leadership transfer under way,
			// leadership lost), most often at once: proposing again at
			// the next pass would spin the loop until raft accepts; try
			// again a keepalive later.
			q.n.log.Debug(fmt.Sprintf("Proposal %s not applied: %v", key, err), "node", q.n.cfg.Name)
			time.AfterFunc(q.retryEvery(), func() {
				q.mu.Lock()
				delete(q.pending, key)
				q.mu.Unlock()
				q.n.poke()
			})
			return
		}
		if r, ok := f.Response().(applyResult); ok {
			err = r.err
		}
		q.mu.Lock()
		delete(q.pending, key)
		q.mu.Unlock()
		if err != nil {
			q.n.log.Debug(fmt.Sprintf("Proposal %s not applied: %v", key, err), "node", q.n.cfg.Name)
		} else {
			// Followers learn that an entry committed from the next
			// append: with CommitTimeout long (an empty append every
			// CommitTimeout is what an idle leader costs), a barrier
			// carries the commit out at once.
			q.raft.Barrier(q.timing.HeartbeatTimeout)
		}
		q.n.poke()
	}()
	return true
}

// retryEvery is how long a refused proposal waits before it is made
// again.
func (q *quorum) retryEvery() time.Duration { return max(q.n.ha.Keepalive, 10*time.Millisecond) }

// nodeCameUp is called on heartbeat node-up events.
func (q *quorum) nodeCameUp(node string) {
	q.mu.Lock()
	q.nodeUpQueued[node] = true
	q.mu.Unlock()
}

func (q *quorum) submitRequest(kind RequestKind, s Scope) { q.n.poke() }

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
// leader leaves a group without an owner, with each director's reason.
func (q *quorum) logUnplaced(u Unplaced) {
	q.mu.Lock()
	last, seen := q.unplacedLog[u.Group]
	if seen && time.Since(last) < unplacedEvery {
		q.mu.Unlock()
		return
	}
	q.unplacedLog[u.Group] = time.Now()
	q.mu.Unlock()
	if !seen {
		return // the first pass without an owner is normal: say it only when it lasts
	}
	if u.Owner != "" {
		q.n.log.Warn(fmt.Sprintf("Group %s stays on %s: %s (%s)", u.Group, u.Owner, u.What, strings.Join(u.Why, "; ")), "node", q.n.cfg.Name)
		return
	}
	q.n.log.Warn(fmt.Sprintf("Group %s still has no owner: %s (%s)", u.Group, u.What, strings.Join(u.Why, "; ")), "node", q.n.cfg.Name)
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

// noticeStall runs first in every round of the leader's renewal loop. A
// gap of more than half a lease since the last round means the process
// stood still (SIGSTOP, a
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
