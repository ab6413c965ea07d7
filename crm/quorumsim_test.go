package crm

// A deterministic simulation of quorum mode: two directors and a witness
// run the real planner (PlanQuorum) and the real state machine
// (State.apply) over a small raft of the simulation's own, a simulated
// network (delay, loss, one-way and two-way cuts), simulated clocks that
// drift, and runners whose starts and stops take time. Nothing touches a
// socket, the real clock or the system, so a failing schedule replays
// from its seed (HBGO_SIM_SEED).
//
// The raft stand-in keeps what placement relies on: one leader per term,
// elected by a majority with an up-to-date log, that loses office when it
// cannot reach a majority for LeaderLeaseTimeout; no vote for another
// while a leader is known (as hashicorp/raft); a no-op at each election;
// commands committed by a majority of the leader's term; quorum round
// trips (VerifyLeader) counted from any answer that arrives after they
// began, as hashicorp/raft counts them. The lease and claims logic copies
// quorum.go (refreshAnchor, leaseValid, the nonce acks), and a
// director's VIP is gated as the kernel gates it: lit until the end of
// the lease it last saw while the state named it the owner.

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const simTick = 5 * time.Millisecond

var simBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type simKind uint8

const (
	simClaims simKind = iota
	simAppend
	simAppendResp
	simPreVote
	simPreVoteResp
	simVote
	simVoteResp
)

type simEntry struct {
	term uint64
	cmd  *Command // nil: the no-op a new leader appends
	key  string   // the proposal's key, freed when the leader applies it
}

type simMsg struct {
	seq      uint64
	at       time.Duration // delivery, global time
	from, to string
	kind     simKind
	// claims
	gen uint64
	app []byte
	// raft
	term              uint64
	entries           []simEntry
	commit            uint64
	ok                bool
	match             uint64
	lastIdx, lastTerm uint64
	round             int // a candidate's pre-vote round
}

// simNet carries messages between voters. A cut (from, to) drops
// everything sent that way, and what is in flight when it falls.
type simNet struct {
	rng      *rand.Rand
	cut      map[[2]string]bool
	loss     float64
	maxDelay time.Duration
	queue    []*simMsg
	seq      uint64
}

func (n *simNet) send(now time.Duration, m *simMsg) {
	if n.cut[[2]string{m.from, m.to}] || n.rng.Float64() < n.loss {
		return
	}
	n.seq++
	m.seq = n.seq
	m.at = now + simTick + time.Duration(n.rng.Int63n(int64(n.maxDelay)+1))
	n.queue = append(n.queue, m)
}

// due takes the messages to deliver by now, in delivery order.
func (n *simNet) due(now time.Duration) []*simMsg {
	var out, keep []*simMsg
	for _, m := range n.queue {
		if m.at <= now {
			out = append(out, m)
		} else {
			keep = append(keep, m)
		}
	}
	n.queue = keep
	sort.Slice(out, func(i, j int) bool {
		if out[i].at != out[j].at {
			return out[i].at < out[j].at
		}
		return out[i].seq < out[j].seq
	})
	var live []*simMsg
	for _, m := range out {
		if !n.cut[[2]string{m.from, m.to}] {
			live = append(live, m)
		}
	}
	return live
}

type simRole uint8

const (
	simFollower simRole = iota
	simCandidate
	simLeader
)

func (r simRole) String() string { return [...]string{"follower", "candidate", "leader"}[r] }

// simRaft is one voter's raft state; terms, votes and the log survive a
// crash (they are on disk), the rest does not.
type simRaft struct {
	role        simRole
	term        uint64
	votedFor    string
	leader      string
	log         []simEntry
	commit      uint64
	lastContact time.Time // local clock
	timeout     time.Duration
	prevoting   bool // a candidate asks for pre-votes before it raises its term
	round       int
	prevotes    map[string]bool
	votes       map[string]bool
	match       map[string]uint64
	lastAck     map[string]time.Time
	nextBeat    time.Time
}

func (r *simRaft) lastIndexTerm() (uint64, uint64) {
	if len(r.log) == 0 {
		return 0, 0
	}
	return uint64(len(r.log)), r.log[len(r.log)-1].term
}

type simPeer struct {
	alive           bool
	lastHeard, upAt time.Time // local clock
	gen             uint64
	nonce           uint32
	app             []byte
	appAt           time.Time
}

type qRunner struct {
	want  bool
	epoch uint64
	state ClaimState
	until time.Duration // end of the start or stop in progress
	// gate is when the group's VIP goes dark by itself: the end of the
	// lease this node last saw while it held the group and the state
	// named it the owner (the kernel's address lifetime).
	gate time.Duration
}

type qNode struct {
	name     string
	director bool
	drift    float64 // clock rate error
	down     bool
	gen      uint64
	raft     simRaft
	state    *State
	applied  uint64

	// quorum.go's own state
	anchor, lastVerify time.Time
	vouched            time.Time // the newest anchor a quorum of vouchers gave
	started            time.Time // local: this run's start (claims' uptime)
	verifying          bool
	verifyStart        time.Time
	verifyAcks         map[string]bool
	leaderSince        time.Time
	wasLeader          bool
	revokedAt          map[string]time.Time
	pending            map[string]bool
	upQueued           map[string]bool
	raftCommit         uint64
	flags              uint8
	nonces             *nonceBook

	peers    map[string]*simPeer
	runners  []*qRunner
	dirty    bool
	nextSend time.Time
	failP    float64 // chance that a start fails here
	ping     int
	slowStop bool // stops hang for seconds (a resource that will not stop)
	// frozen is when a frozen process (SIGSTOP, a starved machine)
	// resumes: until then it does nothing, its VIPs stay in the kernel
	// and what it is sent waits in backlog.
	frozen    time.Duration
	backlog   []*simMsg
	lastTick  time.Time
	trustFrom time.Time
}

// qsim is one seeded run.
type qsim struct {
	t       testing.TB
	seed    int64
	rng     *rand.Rand
	now     time.Duration
	net     *simNet
	nodes   []*qNode
	byName  map[string]*qNode
	voters  []string
	dirs    []string
	groups  []string
	homes   []string
	layout  uint32
	timing  Timing
	fb      string
	flaky   string // the director whose starts may fail
	pinged  bool   // ping nodes configured
	trace   []string
	hint    string // how to rerun the failing schedule
	commits int    // assignments committed, as the leader saw them
}

func newQSim(t testing.TB, seed int64) *qsim {
	rng := rand.New(rand.NewSource(seed))
	s := &qsim{
		t: t, seed: seed, rng: rng, timing: qpTiming,
		net:    &simNet{rng: rng, cut: map[[2]string]bool{}, maxDelay: 10 * time.Millisecond},
		byName: map[string]*qNode{}, voters: []string{"A", "B", "W"}, dirs: []string{"A", "B"},
		groups: []string{"g0", "g1"}, homes: []string{"A", "B"}, layout: qpLayout,
		fb: []string{"on", "off", "legacy"}[rng.Intn(3)],
	}
	s.flaky = s.dirs[rng.Intn(len(s.dirs))]
	s.pinged = rng.Intn(2) == 0
	for _, name := range s.voters {
		n := &qNode{name: name, director: name != "W", drift: (rng.Float64()*2 - 1) * 0.005, ping: 1}
		n.gen = 1
		s.restart(n)
		s.nodes = append(s.nodes, n)
		s.byName[name] = n
	}
	return s
}

// restart (re)starts a node: what raft keeps on disk survives, the rest
// starts afresh, and the restart sweep leaves every group stopped.
func (s *qsim) restart(n *qNode) {
	n.down = false
	n.gen++
	now := s.local(n)
	n.raft.role, n.raft.leader, n.raft.commit = simFollower, "", 0
	n.raft.lastContact = now
	n.raft.timeout = s.randTimeout(s.timing.HeartbeatTimeout)
	n.state, n.applied = newState(), 0
	n.anchor, n.lastVerify, n.verifying = time.Time{}, time.Time{}, false
	n.vouched, n.started = time.Time{}, now
	n.leaderSince, n.wasLeader = time.Time{}, false
	n.revokedAt, n.pending, n.upQueued = map[string]time.Time{}, map[string]bool{}, map[string]bool{}
	n.raftCommit, n.flags = 0, 0
	n.frozen, n.backlog, n.lastTick, n.trustFrom = 0, nil, time.Time{}, time.Time{}
	n.nonces = &nonceBook{}
	n.peers = map[string]*simPeer{}
	for _, p := range s.voters {
		if p != n.name {
			n.peers[p] = &simPeer{}
		}
	}
	n.runners = nil
	if n.director {
		for range s.groups {
			n.runners = append(n.runners, &qRunner{})
		}
	}
	n.dirty = true
}

func (s *qsim) randTimeout(d time.Duration) time.Duration {
	return d + time.Duration(s.rng.Int63n(int64(d)))
}

// local is a node's clock.
func (s *qsim) local(n *qNode) time.Time {
	return simBase.Add(time.Duration(float64(s.now) * (1 + n.drift)))
}

// global is when a node's clock shows t.
func (s *qsim) global(n *qNode, t time.Time) time.Duration {
	return time.Duration(float64(t.Sub(simBase)) / (1 + n.drift))
}

func (s *qsim) logf(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("%8.3fs ", s.now.Seconds())+fmt.Sprintf(format, args...))
	if len(s.trace) > 400 {
		s.trace = s.trace[len(s.trace)-300:]
	}
}

func (s *qsim) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s seed %d%s at %.3fs: %s\n%s\nlast events:\n%s",
		s.t.Name(), s.seed, s.hint, s.now.Seconds(), fmt.Sprintf(format, args...), s.describe(), strings.Join(s.trace, "\n"))
}

func (s *qsim) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "auto_failback %s, ping %v, loss %.2f, delay ≤%v, cuts %v\n", s.fb, s.pinged, s.net.loss, s.net.maxDelay, s.cuts())
	for _, n := range s.nodes {
		valid, _ := s.lease(n, s.local(n))
		if s.now < n.frozen {
			fmt.Fprintf(&b, "  %s frozen until %.3fs", n.name, n.frozen.Seconds())
		}
		fmt.Fprintf(&b, "  %s down=%v %s term %d leader %q commit %d applied %d lease %v groups %v runners",
			n.name, n.down, n.raft.role, n.raft.term, n.raft.leader, n.raft.commit, n.applied, valid, n.state.Groups)
		for i, r := range n.runners {
			fmt.Fprintf(&b, " g%d:%s/e%d/want=%v/gate=%.3f", i, r.state, r.epoch, r.want, r.gate.Seconds())
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (s *qsim) cuts() []string {
	var out []string
	for k, v := range s.net.cut {
		if v {
			out = append(out, k[0]+">"+k[1])
		}
	}
	sort.Strings(out)
	return out
}

func (s *qsim) quorum() int { return len(s.voters)/2 + 1 }

// --- raft ---

func (s *qsim) sendRaft(from *qNode, to string, m simMsg) {
	m.from, m.to = from.name, to
	s.net.send(s.now, &m)
}

func (s *qsim) appendTo(n *qNode, peer string) {
	r := &n.raft
	s.sendRaft(n, peer, simMsg{kind: simAppend, term: r.term, entries: append([]simEntry(nil), r.log...), commit: r.commit})
}

func (s *qsim) broadcastAppend(n *qNode) {
	for _, p := range s.voters {
		if p != n.name {
			s.appendTo(n, p)
		}
	}
	n.raft.nextBeat = s.local(n).Add(s.timing.HeartbeatTimeout / 10)
}

func (s *qsim) becomeFollower(n *qNode, term uint64, leader string) {
	r := &n.raft
	if r.role == simLeader {
		s.logf("%s steps down (term %d)", n.name, r.term)
		n.verifying = false
		n.pending = map[string]bool{}
	}
	if term > r.term {
		r.term, r.votedFor = term, ""
	}
	if r.role != simFollower {
		r.lastContact = s.local(n)
		r.timeout = s.randTimeout(s.timing.HeartbeatTimeout)
	}
	r.role, r.leader = simFollower, leader
}

func (s *qsim) raftTimers(n *qNode) {
	r := &n.raft
	now := s.local(n)
	switch r.role {
	case simFollower, simCandidate:
		if now.Sub(r.lastContact) < r.timeout {
			return
		}
		// Heartbeat or election timeout: a pre-vote at the next term,
		// which changes nobody's term (hashicorp/raft's default).
		r.role, r.leader = simCandidate, ""
		r.prevoting, r.round, r.prevotes = true, r.round+1, map[string]bool{n.name: true}
		r.lastContact = now
		r.timeout = s.randTimeout(s.timing.ElectionTimeout)
		li, lt := r.lastIndexTerm()
		for _, p := range s.voters {
			if p != n.name {
				s.sendRaft(n, p, simMsg{kind: simPreVote, term: r.term + 1, lastIdx: li, lastTerm: lt, round: r.round})
			}
		}
	case simLeader:
		contacted := 1
		for _, p := range s.voters {
			if p != n.name && now.Sub(r.lastAck[p]) < s.timing.LeaderLeaseTimeout {
				contacted++
			}
		}
		if contacted < s.quorum() {
			s.becomeFollower(n, r.term, "")
			return
		}
		if !now.Before(r.nextBeat) {
			s.broadcastAppend(n)
		}
	}
}

func (s *qsim) becomeLeader(n *qNode) {
	r := &n.raft
	now := s.local(n)
	r.role, r.leader = simLeader, n.name
	r.match, r.lastAck = map[string]uint64{}, map[string]time.Time{}
	for _, p := range s.voters {
		r.lastAck[p] = now
	}
	r.log = append(r.log, simEntry{term: r.term})
	s.logf("%s leads term %d", n.name, r.term)
	s.broadcastAppend(n)
}

func (s *qsim) receiveRaft(n *qNode, m *simMsg) {
	r := &n.raft
	now := s.local(n)
	switch m.kind {
	case simAppend:
		if m.term < r.term {
			s.sendRaft(n, m.from, simMsg{kind: simAppendResp, term: r.term})
			return
		}
		if m.term > r.term || r.role != simFollower || r.leader != m.from {
			s.becomeFollower(n, m.term, m.from)
		}
		r.lastContact = now
		for i, e := range m.entries {
			switch {
			case i >= len(r.log):
				r.log = append(r.log, e)
			case r.log[i].term != e.term:
				r.log = append(r.log[:i], e)
			}
		}
		if c := min(m.commit, uint64(len(m.entries))); c > r.commit {
			r.commit = c
		}
		s.sendRaft(n, m.from, simMsg{kind: simAppendResp, term: r.term, ok: true, match: uint64(len(m.entries))})
	case simAppendResp:
		if m.term > r.term {
			s.becomeFollower(n, m.term, "")
			return
		}
		if r.role != simLeader || !m.ok || m.term != r.term {
			return
		}
		r.lastAck[m.from] = now
		r.match[m.from] = max(r.match[m.from], m.match)
		for idx := uint64(len(r.log)); idx > r.commit; idx-- {
			if r.log[idx-1].term != r.term {
				break
			}
			votes := 1
			for _, p := range s.voters {
				if p != n.name && r.match[p] >= idx {
					votes++
				}
			}
			if votes >= s.quorum() {
				r.commit = idx
				s.broadcastAppend(n) // followers learn the commit (CommitTimeout)
				break
			}
		}
		if n.verifying {
			n.verifyAcks[m.from] = true
			if 1+len(n.verifyAcks) >= s.quorum() {
				n.verifying = false
				if !n.verifyStart.Before(n.trustFrom) {
					n.lastVerify = n.verifyStart
				}
			}
		}
	case simPreVote:
		li, lt := r.lastIndexTerm()
		grant := !(r.leader != "" && r.leader != m.from) && m.term >= r.term &&
			(m.lastTerm > lt || m.lastTerm == lt && m.lastIdx >= li)
		s.sendRaft(n, m.from, simMsg{kind: simPreVoteResp, term: max(r.term, m.term), ok: grant, round: m.round})
	case simPreVoteResp:
		if m.term > r.term+1 {
			s.becomeFollower(n, m.term, "")
			return
		}
		if r.role != simCandidate || !r.prevoting || m.round != r.round || !m.ok {
			return
		}
		r.prevotes[m.from] = true
		if len(r.prevotes) < s.quorum() {
			return
		}
		r.prevoting = false
		r.term++
		r.votedFor = n.name
		r.votes = map[string]bool{n.name: true}
		r.lastContact = now
		r.timeout = s.randTimeout(s.timing.ElectionTimeout)
		li, lt := r.lastIndexTerm()
		for _, p := range s.voters {
			if p != n.name {
				s.sendRaft(n, p, simMsg{kind: simVote, term: r.term, lastIdx: li, lastTerm: lt})
			}
		}
	case simVote:
		grant := false
		li, lt := r.lastIndexTerm()
		switch {
		case r.leader != "" && r.leader != m.from:
		case m.term < r.term:
		default:
			if m.term > r.term {
				s.becomeFollower(n, m.term, "")
			}
			if (r.votedFor == "" || r.votedFor == m.from) && (m.lastTerm > lt || m.lastTerm == lt && m.lastIdx >= li) {
				grant = true
				r.votedFor = m.from
				r.lastContact = now
			}
		}
		s.sendRaft(n, m.from, simMsg{kind: simVoteResp, term: r.term, ok: grant})
	case simVoteResp:
		if m.term > r.term {
			s.becomeFollower(n, m.term, "")
			return
		}
		if r.role != simCandidate || r.prevoting || m.term != r.term || !m.ok {
			return
		}
		r.votes[m.from] = true
		if len(r.votes) >= s.quorum() {
			s.becomeLeader(n)
		}
	}
}

// applyCommitted runs the state machine up to the commit index.
func (s *qsim) applyCommitted(n *qNode) {
	r := &n.raft
	for n.applied < r.commit && n.applied < uint64(len(r.log)) {
		e := r.log[n.applied]
		n.applied++
		if e.cmd != nil {
			if err := n.state.apply(*e.cmd, n.applied); err == nil && r.role == simLeader {
				if e.cmd.Op == "assign" {
					s.commits++
				}
				s.logf("commit %d: %s %s owner %q epoch %d", n.applied, e.cmd.Op, e.cmd.Group+e.cmd.Node, e.cmd.Owner, e.cmd.Epoch)
			}
		}
		if r.role == simLeader && e.term == r.term && e.key != "" {
			delete(n.pending, e.key)
		}
	}
}

// --- heartbeats and claims ---

func (s *qsim) myClaims(n *qNode) *Claims {
	c := &Claims{Layout: s.layout, Flags: n.flags, Ping: uint8(n.ping), Commit: n.raftCommit}
	c.Index, c.LogTerm = s.logPos(n)
	now := s.local(n)
	c.Uptime = uint32(now.Sub(n.started).Milliseconds())
	for i, v := range s.voters {
		if p := n.peers[v]; p != nil && p.alive && now.Sub(p.upAt) >= s.timing.VouchProbation() {
			c.Vouch |= 1 << i
		}
	}
	for _, r := range n.runners {
		c.Groups = append(c.Groups, Claim{State: r.state, Epoch: r.epoch})
	}
	return c
}

func (s *qsim) sendClaims(n *qNode) {
	now := s.local(n)
	c := s.myClaims(n)
	c.Nonce = n.nonces.next(now)
	for _, v := range s.voters {
		var ack uint32
		if p := n.peers[v]; p != nil {
			ack = p.nonce
		}
		c.Acks = append(c.Acks, ack)
	}
	b := c.Encode(nil)
	for _, p := range s.voters {
		if p != n.name {
			s.net.send(s.now, &simMsg{kind: simClaims, from: n.name, to: p, gen: n.gen, app: b})
		}
	}
	n.dirty = false
	n.nextSend = now.Add(s.timing.Keepalive)
}

func (s *qsim) receiveClaims(n *qNode, m *simMsg) {
	p := n.peers[m.from]
	c, err := DecodeClaims(m.app)
	if err != nil {
		s.fail("undecodable claims from %s: %v", m.from, err)
	}
	switch {
	case m.gen < p.gen:
		return
	case m.gen > p.gen:
		p.gen, p.nonce = m.gen, 0
	case c.Nonce <= p.nonce:
		return // replayed or overtaken
	}
	now := s.local(n)
	p.nonce, p.app, p.appAt, p.lastHeard = c.Nonce, m.app, now, now
	if !p.alive {
		p.alive, p.upAt = true, now
		n.upQueued[m.from] = true
		s.logf("%s hears %s up", n.name, m.from)
	}
}

func (s *qsim) liveness(n *qNode) {
	now := s.local(n)
	for _, name := range s.voters {
		if p := n.peers[name]; p != nil && p.alive && now.Sub(p.lastHeard) >= s.timing.Deadtime {
			p.alive = false
			s.logf("%s declares %s dead", n.name, name)
		}
	}
}

// --- quorum.go's side, over the simulation ---

// logPos is quorum.logPos: the last entry's index and term when all of
// the log is applied.
func (s *qsim) logPos(n *qNode) (uint64, uint64) {
	if n.applied != uint64(len(n.raft.log)) {
		return 0, 0
	}
	return n.raft.lastIndexTerm()
}

// refreshVouched is quorum.refreshVouched.
func (s *qsim) refreshVouched(n *qNode) {
	index, term := s.logPos(n)
	var others []vouchClaims
	me := -1
	for i, v := range s.voters {
		if v == n.name {
			me = i
			continue
		}
		p := n.peers[v]
		var c *Claims
		if len(p.app) > 0 {
			c, _ = DecodeClaims(p.app)
		}
		others = append(others, vouchClaims{Claims: c, At: p.appAt})
	}
	if a := vouchAnchor(me, index, term, len(s.voters), others, n.nonces); a.After(n.vouched) {
		n.vouched = a
	}
}

func (s *qsim) lease(n *qNode, now time.Time) (bool, time.Time) {
	if n.down {
		return false, time.Time{}
	}
	s.refreshVouched(n)
	anchor := n.anchor
	if n.vouched.After(anchor) {
		anchor = n.vouched
	}
	if n.raft.role == simLeader && n.lastVerify.After(anchor) {
		anchor = n.lastVerify
	}
	end := anchor.Add(s.timing.Lease)
	return !anchor.IsZero() && end.After(now), end
}

func (s *qsim) refreshAnchor(n *qNode) {
	id := n.raft.leader
	if id == "" || id == n.name {
		return
	}
	p := n.peers[id]
	c, err := DecodeClaims(p.app)
	if err != nil || c.Commit == 0 || n.applied < c.Commit {
		return
	}
	i := -1
	for k, v := range s.voters {
		if v == n.name {
			i = k
		}
	}
	if i >= len(c.Acks) {
		return
	}
	sent, ok := n.nonces.sentAt(c.Acks[i])
	if !ok || sent.After(p.appAt) {
		return
	}
	if sent.After(n.anchor) {
		n.anchor = sent
	}
}

func (s *qsim) decide(n *qNode) {
	r := &n.raft
	// quorum.noticeStall
	if t := s.local(n); !n.lastTick.IsZero() && t.Sub(n.lastTick) > s.timing.Lease/2 {
		n.trustFrom = t.Add(s.timing.LeaderLeaseTimeout)
		s.logf("%s stood still for %v", n.name, t.Sub(n.lastTick))
	}
	n.lastTick = s.local(n)
	if r.role == simLeader {
		if n.raftCommit != r.commit {
			n.raftCommit, n.dirty = r.commit, true
		}
	} else {
		n.raftCommit = 0
		s.refreshAnchor(n)
	}
	now := s.local(n)
	valid, _ := s.lease(n, now)
	f := uint8(FlagRaftState)
	if valid {
		f |= FlagLease
	}
	if f != n.flags {
		n.flags, n.dirty = f, true
	}
	isLeader := r.role == simLeader
	// keepLeading: a round trip only while less than half the lease is
	// left (vouches keep it fresh at rest).
	if _, end := s.lease(n, now); isLeader && !n.verifying && end.Sub(now) <= s.timing.Lease/2 {
		n.verifying, n.verifyStart, n.verifyAcks = true, now, map[string]bool{}
		s.broadcastAppend(n)
	}
	if isLeader && !n.wasLeader {
		n.leaderSince = now
		n.upQueued = map[string]bool{}
	}
	n.wasLeader = isLeader

	v := &QuorumView{
		Me: n.name, Voters: s.voters, Directors: s.dirs, Groups: s.groups, Homes: s.homes, Layout: s.layout,
		State: n.state.clone(), Applied: n.applied, CaughtUp: n.applied >= r.commit, Nodes: map[string]QuorumNode{},
		Now: now, IsLeader: isLeader, LeaderSince: n.leaderSince, RevokedAt: map[string]time.Time{},
		LeaseValid: valid, AutoFailback: s.fb, Timing: s.timing, PingConfigured: s.pinged,
	}
	for k, t := range n.revokedAt {
		v.RevokedAt[k] = t
	}
	me := 0
	for i, name := range s.voters {
		if name == n.name {
			me = i
		}
	}
	for _, name := range s.voters {
		qn := QuorumNode{UpQueued: n.upQueued[name]}
		if name == n.name {
			qn.Alive, qn.Claims, qn.Generation = true, s.myClaims(n), n.gen
		} else {
			p := n.peers[name]
			qn.Alive, qn.LastHeard, qn.UpAt, qn.Generation = p.alive, p.lastHeard, p.upAt, p.gen
			if len(p.app) > 0 {
				qn.Claims, _ = DecodeClaims(p.app)
			}
			if c := qn.Claims; c != nil && me < len(c.Acks) {
				if sent, ok := n.nonces.sentAt(c.Acks[me]); ok && !sent.After(p.appAt) {
					qn.AckedMine = sent
				}
			}
		}
		v.Nodes[name] = qn
	}
	p := PlanQuorum(v)

	for i, rn := range n.runners {
		g := p.Groups[i]
		if g.ClearFailed && rn.state == ClaimFailed {
			rn.state, n.dirty = ClaimStopped, true
		}
		rn.want = g.Want
		if g.Epoch > rn.epoch {
			rn.epoch, n.dirty = g.Epoch, true
		}
	}
	if !p.Led {
		return
	}
	for _, name := range s.voters {
		if name != n.name && !n.peers[name].alive {
			delete(n.upQueued, name)
		}
	}
	for _, pr := range p.Proposals {
		if pr.Command.Op == "nodeup" && s.propose(n, pr) {
			delete(n.upQueued, pr.Command.Node)
		}
	}
	for _, pr := range p.Proposals {
		if pr.Command.Op != "assign" || !s.propose(n, pr) {
			continue
		}
		if pr.Command.Owner == "" {
			n.revokedAt[pr.Command.Group] = now
		}
		s.logf("%s proposes: %s", n.name, pr)
	}
}

func (s *qsim) propose(n *qNode, pr Proposal) bool {
	if n.pending[pr.Key] {
		return false
	}
	n.pending[pr.Key] = true
	c := pr.Command
	n.raft.log = append(n.raft.log, simEntry{term: n.raft.term, cmd: &c, key: pr.Key})
	s.broadcastAppend(n)
	return true
}

// runners moves each runner one step: starts and stops take time, and a
// start may fail.
func (s *qsim) runners(n *qNode) {
	for i, r := range n.runners {
		switch {
		case r.state == ClaimStarting && s.now >= r.until:
			r.state = ClaimRunning
			if s.rng.Float64() < n.failP {
				r.state = ClaimFailed
			}
			s.logf("%s g%d %s", n.name, i, r.state)
			n.dirty = true
		case r.state == ClaimStopping && s.now >= r.until:
			r.state = ClaimStopped
			s.logf("%s g%d stopped", n.name, i)
			n.dirty = true
		case r.state == ClaimStarting || r.state == ClaimStopping:
		case r.want && r.state == ClaimStopped:
			r.state, r.until = ClaimStarting, s.now+time.Duration(10+s.rng.Intn(300))*time.Millisecond
			s.logf("%s g%d starting (epoch %d)", n.name, i, r.epoch)
			n.dirty = true
		case !r.want && r.state == ClaimRunning:
			d := time.Duration(10+s.rng.Intn(300)) * time.Millisecond
			if n.slowStop {
				d = time.Duration(2000+s.rng.Intn(6000)) * time.Millisecond
			}
			r.state, r.until = ClaimStopping, s.now+d
			s.logf("%s g%d stopping", n.name, i)
			n.dirty = true
		}
	}
}

// gates renews each held group's VIP lifetime while the node may run it
// (Node.GroupLease: a valid lease and the state naming it the owner).
func (s *qsim) gates(n *qNode) {
	valid, end := s.lease(n, s.local(n))
	if !valid {
		return
	}
	for i, r := range n.runners {
		if r.state.Holds() && n.state.Groups[s.groups[i]].Owner == n.name {
			r.gate = max(r.gate, s.global(n, end))
		}
	}
}

// check is the safety invariant: no group is lit on two directors at
// once.
func (s *qsim) check() {
	for i, g := range s.groups {
		var lit []string
		for _, n := range s.nodes {
			if n.director && n.runners[i].state.Holds() && s.now < n.runners[i].gate {
				lit = append(lit, fmt.Sprintf("%s(%s until %.3fs)", n.name, n.runners[i].state, n.runners[i].gate.Seconds()))
			}
		}
		if len(lit) > 1 {
			s.fail("group %s lit on %s", g, strings.Join(lit, " and "))
		}
	}
}

func (s *qsim) receive(n *qNode, m *simMsg) {
	if m.kind == simClaims {
		s.receiveClaims(n, m)
	} else {
		s.receiveRaft(n, m)
	}
}

// step advances the simulation by one tick.
func (s *qsim) step() {
	s.now += simTick
	for _, m := range s.net.due(s.now) {
		n := s.byName[m.to]
		switch {
		case n.down:
		case s.now < n.frozen:
			n.backlog = append(n.backlog, m)
		default:
			s.receive(n, m)
		}
	}
	for _, k := range s.rng.Perm(len(s.nodes)) {
		n := s.nodes[k]
		if n.down || s.now < n.frozen {
			continue
		}
		thawing := len(n.backlog) > 0
		if !thawing {
			s.raftTimers(n)
		}
		s.applyCommitted(n)
		s.liveness(n)
		s.runners(n)
		s.decide(n)
		if thawing {
			// Thawed: what piled up is read a little at a time, after
			// the loop's first pass and before raft's timers notice the
			// time that passed, as raft's goroutines may read it
			// (answers to a quorum round trip the pass just began).
			k := min(len(n.backlog), 2)
			for _, m := range n.backlog[:k] {
				s.receive(n, m)
			}
			n.backlog = n.backlog[k:]
		}
		s.gates(n)
		if n.dirty || !s.local(n).Before(n.nextSend) {
			s.sendClaims(n)
		}
	}
	s.check()
}

func (s *qsim) run(d time.Duration) {
	for end := s.now + d; s.now < end; {
		s.step()
	}
}

// --- faults ---

func (s *qsim) heal() {
	s.net.cut = map[[2]string]bool{}
	s.net.loss = 0
	s.net.maxDelay = 10 * time.Millisecond
	for _, n := range s.nodes {
		n.failP, n.ping, n.slowStop = 0, 1, false
		if n.down {
			s.logf("restart %s", n.name)
			s.restart(n)
		}
	}
	s.logf("heal")
}

// target picks a node to hurt: often the leader or the holder of a
// group, where faults matter most.
func (s *qsim) target() string {
	var hot []string
	for _, n := range s.nodes {
		if n.down {
			continue
		}
		if n.raft.role == simLeader {
			hot = append(hot, n.name)
		}
		for _, r := range n.runners {
			if r.state.Holds() {
				hot = append(hot, n.name)
			}
		}
	}
	if len(hot) > 0 && s.rng.Intn(2) == 0 {
		return hot[s.rng.Intn(len(hot))]
	}
	return s.voters[s.rng.Intn(len(s.voters))]
}

// fault applies one random fault.
func (s *qsim) fault() {
	name := s.target()
	other := s.voters[s.rng.Intn(len(s.voters))]
	switch k := s.rng.Intn(13); {
	case k < 3: // isolate a node both ways
		for _, p := range s.voters {
			if p != name {
				s.net.cut[[2]string{name, p}], s.net.cut[[2]string{p, name}] = true, true
			}
		}
		s.logf("isolate %s", name)
	case k < 5: // one way only
		if name != other {
			s.net.cut[[2]string{name, other}] = true
			s.logf("cut %s>%s", name, other)
		}
	case k == 5:
		s.net.cut = map[[2]string]bool{}
		s.logf("links back")
	case k == 6:
		s.net.loss = []float64{0, 0.05, 0.3}[s.rng.Intn(3)]
		s.net.maxDelay = []time.Duration{2, 10, 30, 60}[s.rng.Intn(4)] * time.Millisecond
		s.logf("loss %.2f delay ≤%v", s.net.loss, s.net.maxDelay)
	case k == 7:
		if n := s.byName[name]; !n.down {
			n.down = true
			s.logf("crash %s", name)
		} else {
			s.logf("restart %s", name)
			s.restart(n)
		}
	case k == 8:
		// Starts fail on one director only: a group that failed on both
		// stays down until an operator acts (hb_takeover), by design.
		n := s.byName[s.flaky]
		n.failP = []float64{0, 0.5}[s.rng.Intn(2)]
		s.logf("%s starts fail with p=%.1f", n.name, n.failP)
	case k == 9: // one link back
		delete(s.net.cut, [2]string{name, other})
		s.logf("link %s>%s back", name, other)
	case k == 10:
		if n := s.byName[name]; n.director && s.pinged {
			n.ping = s.rng.Intn(3)
			s.logf("%s ping score %d", name, n.ping)
		}
	case k == 11:
		n := s.byName[name]
		if s.rng.Intn(2) == 0 {
			n.slowStop = !n.slowStop
			s.logf("%s stops hang=%v", name, n.slowStop)
		} else if !n.down {
			n.frozen = s.now + time.Duration(500+s.rng.Intn(5000))*time.Millisecond
			s.logf("freeze %s until %.3fs", name, n.frozen.Seconds())
		}
	default:
		s.logf("quiet")
	}
}

// settled checks progress: one leader, every group running on exactly one
// director that the state names (at its home when failback is on), every
// node agreeing.
func (s *qsim) settled() string {
	leaders := 0
	for _, n := range s.nodes {
		if n.raft.role == simLeader {
			leaders++
		}
		if valid, _ := s.lease(n, s.local(n)); !valid {
			return n.name + " has no lease"
		}
	}
	if leaders != 1 {
		return fmt.Sprintf("%d leaders", leaders)
	}
	for i, g := range s.groups {
		var running []string
		for _, n := range s.nodes {
			if n.director && n.runners[i].state != ClaimStopped {
				running = append(running, n.name+":"+n.runners[i].state.String())
			}
		}
		owner := s.nodes[0].state.Groups[g].Owner
		for _, n := range s.nodes {
			if o := n.state.Groups[g].Owner; o != owner {
				return fmt.Sprintf("%s: %s says owner %q, %s says %q", g, s.nodes[0].name, owner, n.name, o)
			}
		}
		if len(running) != 1 || running[0] != owner+":running" {
			return fmt.Sprintf("%s: owner %q, held %v", g, owner, running)
		}
		if s.fb != "off" && owner != s.homes[i] {
			return fmt.Sprintf("%s runs on %s, not at home", g, owner)
		}
	}
	return ""
}

// simulate runs one schedule: a clean start, a stretch of random faults,
// then healing, after which the cluster must settle.
func simulate(t testing.TB, seed int64, faults int) *qsim {
	s := newQSim(t, seed)
	s.hint = fmt.Sprintf(" (rerun: HBGO_SIM_SEED=%d go test -run TestQuorumSimulation ./crm)", seed)
	s.run(5 * time.Second)
	if why := s.settled(); why != "" {
		s.fail("not settled after a clean start: %s", why)
	}
	for i := 0; i < faults; i++ {
		s.fault()
		switch s.rng.Intn(3) {
		case 0:
			s.run(time.Duration(200+s.rng.Intn(4000)) * time.Millisecond)
			continue
		case 1:
			s.run(time.Duration(s.rng.Intn(800)) * time.Millisecond)
			continue
		}
		// The next fault strikes just after a placement decision
		// commits, when leases and claims are in motion.
		c, end := s.commits, s.now+5*time.Second
		for s.commits == c && s.now < end {
			s.step()
		}
		s.run(time.Duration(s.rng.Intn(60)) * time.Millisecond)
	}
	s.heal()
	deadline := s.now + 30*time.Second
	for {
		s.run(time.Second)
		why := s.settled()
		if why == "" {
			break
		}
		if s.now >= deadline {
			s.fail("not settled 30s after healing: %s", why)
		}
	}
	// Settled means stable: nothing moves any more.
	before := s.describe()
	s.run(5 * time.Second)
	if why := s.settled(); why != "" {
		s.fail("unsettled again without a fault: %s\nwas:\n%s", why, before)
	}
	return s
}

// TestQuorumSimulation runs fixed seeds (20 with -short, 200 without,
// HBGO_QSIM_RUNS=N for N); HBGO_SIM_SEED=N runs schedule N alone,
// HBGO_SIM_RANDOM=1 draws new seeds from the clock.
func TestQuorumSimulation(t *testing.T) {
	if v := os.Getenv("HBGO_SIM_SEED"); v != "" {
		seed, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("HBGO_SIM_SEED: %v", err)
		}
		simulate(t, seed, 20)
		return
	}
	runs := 200
	if testing.Short() {
		runs = 20
	}
	if v, err := strconv.Atoi(os.Getenv("HBGO_QSIM_RUNS")); err == nil && v > 0 {
		runs = v
	}
	base := int64(1)
	if os.Getenv("HBGO_SIM_RANDOM") != "" {
		base = time.Now().UnixNano()
	}
	for i := 0; i < runs; i++ {
		simulate(t, base+int64(i), 20)
	}
}

// A schedule is a function of its seed alone: the same seed gives the
// same run, event for event.
func TestQuorumSimulationIsDeterministic(t *testing.T) {
	a, b := simulate(t, 7, 20), simulate(t, 7, 20)
	if a.now != b.now || a.describe() != b.describe() || strings.Join(a.trace, "\n") != strings.Join(b.trace, "\n") {
		t.Fatalf("seed 7 ran two ways:\n%s\n%s", a.describe(), b.describe())
	}
}

// runUntil steps until cond holds, for at most d; it reports whether
// cond held.
func (s *qsim) runUntil(cond func() bool, d time.Duration) bool {
	for end := s.now + d; s.now < end; {
		if cond() {
			return true
		}
		s.step()
	}
	return cond()
}

func (s *qsim) cutOne(from, to string, cut bool) {
	if cut {
		s.net.cut[[2]string{from, to}] = true
	} else {
		delete(s.net.cut, [2]string{from, to})
	}
	s.logf("link %s>%s cut=%v", from, to, cut)
}

// A new leader must not trust that an owner it has not heard for a lease
// is out of office: the leader it replaced may have renewed that owner
// until it stepped down. Here the old leader L1, a director, keeps the
// other director O leased while the witness W hears neither; then L1
// loses O, steps down, and at once elects W, for whom O has long been
// dead. W must still wait NewLeaderWait before it gives O's group away
// (so must L1 if it wins again).
// (W's log must be as new as L1's to win, so nothing may commit while W
// is cut off: O keeps its lease from L1 throughout.)
func TestQuorumSimDeposedLeadersLease(t *testing.T) {
	ran := 0
	for seed := int64(1); seed <= 100 && ran < 30; seed++ {
		s := newQSim(t, seed)
		s.fb, s.pinged = "off", false
		s.run(5 * time.Second)
		if why := s.settled(); why != "" {
			s.fail("not settled: %s", why)
		}
		var l1, o string
		for _, n := range s.nodes {
			if n.raft.role == simLeader {
				l1 = n.name
			}
		}
		if l1 == "W" {
			continue // the script needs a director in office
		}
		ran++
		for _, d := range s.dirs {
			if d != l1 {
				o = d
			}
		}
		// O's stop hangs, so only its lease ends its VIP.
		s.byName[o].slowStop = true
		s.logf("script: old leader %s, owner %s", l1, o)
		s.cutOne(o, "W", true)
		s.cutOne(l1, "W", true)
		w := s.byName["W"]
		if !s.runUntil(func() bool { return !w.peers[o].alive && w.raft.role == simCandidate }, 10*time.Second) {
			s.fail("W still hears %s or follows %s", o, l1)
		}
		s.cutOne(o, l1, true)
		s.cutOne(l1, o, true)
		if !s.runUntil(func() bool { return s.byName[l1].raft.role != simLeader }, 5*time.Second) {
			s.fail("%s did not step down", l1)
		}
		// Now W or L1 wins the election (L1's office is new too).
		s.cutOne(l1, "W", false)
		if !s.runUntil(func() bool { return w.raft.role == simLeader || s.byName[l1].raft.role == simLeader }, 5*time.Second+3*s.timing.ElectionTimeout) {
			s.fail("nobody was elected")
		}
		if !s.runUntil(func() bool { return s.byName[l1].runners[s.indexOfHome(o)].state == ClaimRunning }, 5*time.Second) {
			s.fail("%s's group did not move to %s", o, l1)
		}
		s.heal()
		if !s.runUntil(func() bool { return s.settled() == "" }, 30*time.Second) {
			s.fail("not settled after healing: %s", s.settled())
		}
	}
	if ran == 0 {
		t.Fatal("no seed elected a director first")
	}
}

func (s *qsim) indexOfHome(node string) int {
	for i, h := range s.homes {
		if h == node {
			return i
		}
	}
	return -1
}

// The witness leads and crashes: the directors renew their leases from
// each other (vouching, crm/vouch.go) while raft elects one of them, so
// no group goes dark for a moment and none moves. Without vouching every
// lease ends about a lease after the crash, before an election at
// deadtime/2 to deadtime and the new leader's first renewal.
func TestQuorumSimWitnessCrashKeepsVIPs(t *testing.T) {
	ran := 0
	for seed := int64(1); seed <= 200 && ran < 20; seed++ {
		s := newQSim(t, seed)
		s.fb, s.pinged = "on", false
		s.net.loss, s.net.maxDelay = 0, 2*time.Millisecond
		s.run(5 * time.Second)
		if why := s.settled(); why != "" {
			s.fail("not settled: %s", why)
		}
		w := s.byName["W"]
		if w.raft.role != simLeader {
			continue // the script needs the witness in office
		}
		ran++
		s.logf("script: crash the leader W")
		w.down = true
		var dark []string
		for end := s.now + 2*s.timing.ElectionTimeout + 3*time.Second; s.now < end; {
			s.step()
			for i, g := range s.groups {
				lit := false
				for _, n := range s.nodes {
					if n.director && !n.down && n.runners[i].state == ClaimRunning && s.now < n.runners[i].gate {
						lit = true
					}
				}
				if !lit {
					dark = append(dark, fmt.Sprintf("%s at %.3fs", g, s.now.Seconds()))
				}
			}
		}
		if len(dark) > 0 {
			s.fail("dark after the witness crashed: %v", dark[:min(len(dark), 5)])
		}
		leader := ""
		for _, n := range s.nodes {
			if !n.down && n.raft.role == simLeader {
				leader = n.name
			}
		}
		if leader == "" {
			s.fail("no leader two election timeouts and 3 s after the witness crashed")
		}
		s.restart(w)
		if !s.runUntil(func() bool { return s.settled() == "" }, 30*time.Second) {
			s.fail("not settled after the witness came back: %s", s.settled())
		}
	}
	if ran == 0 {
		t.Fatal("no seed elected the witness")
	}
}
