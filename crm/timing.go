package crm

import (
	"fmt"
	"time"

	"hbgo/conf"
)

// Timing is every time the cluster layer uses, derived from ha.cf in one
// place (DeriveTiming).
type Timing struct {
	Keepalive, Deadtime, Initdead time.Duration

	// Raft: a follower that hears no leader for HeartbeatTimeout starts an
	// election (ElectionTimeout is the same, randomised by raft up to
	// twice); a leader that cannot reach a quorum for LeaderLeaseTimeout
	// steps down; CommitTimeout bounds how long followers wait to learn
	// that an entry committed (it sets switchover time).
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration

	// Lease: a node runs a group only while it has heard from a quorum
	// within Lease (a leader: a successful quorum round trip started less
	// than Lease ago; a follower: the send time of its newest heartbeat
	// the leader acknowledged). Lease + Margin is deadtime, so that by the
	// time a dead owner is declared dead its lease has ended.
	Lease time.Duration
	// Margin covers clock-rate differences and messages in flight.
	Margin time.Duration
	// RenewEvery is the pace of the leader's quorum round trips.
	RenewEvery time.Duration
	// SafeWait is how long the leader waits, after it revoked a group from
	// an owner it cannot reach, before it gives the group to another node:
	// the owner's lease has then surely lapsed.
	SafeWait time.Duration
	// NewLeaderWait is how long a new leader waits from taking office
	// before it gives away a group whose owner it cannot hear: leases the
	// previous leader granted are over by then.
	NewLeaderWait time.Duration
	// TwoNodeLease is how long a node of a two-node cluster may go on
	// holding its groups after its last decision: the peer takes over no
	// sooner than deadtime after the last heartbeat it heard, which was
	// sent at most a keepalive before that decision.
	TwoNodeLease time.Duration
	// AckLease is how long a node of a two-node cluster may hold its
	// groups after the send time of the newest heartbeat of its own that
	// the peer acknowledged: the peer heard it then or later, so it
	// declares the node dead no sooner than a deadtime after.
	AckLease time.Duration
	// AckGrace is how long a two-node director keeps its groups after the
	// first heartbeat of a peer's new run arrived, while that peer has not
	// acknowledged any heartbeat of ours yet.
	AckGrace time.Duration
}

// DeriveTiming turns keepalive and deadtime into the cluster's timings:
//
//	HeartbeatTimeout = ElectionTimeout = max(deadtime, 100ms)
//	LeaderLeaseTimeout = HeartbeatTimeout/2
//	CommitTimeout = HeartbeatTimeout
//	Margin = max(deadtime/10, 20ms)
//	Lease = deadtime - Margin
//	RenewEvery = min(max(keepalive, Lease/4), Lease/3)
//	SafeWait = Lease + 2*LeaderLeaseTimeout + Margin
//	NewLeaderWait = Lease + Margin with three voters, SafeWait with more
//	TwoNodeLease = deadtime - keepalive - max((deadtime-keepalive)/10, 20ms)
//	AckLease = deadtime - max(deadtime/10, 20ms)
//	AckGrace = min(AckLease, 3*keepalive)
//
// Why this is safe: a leader renews its own lease with a quorum round
// trip. A follower renews its lease only from the leader's claims (in the
// leader's heartbeats), only when it has applied everything the claim says
// was committed, and anchored at the time it sent the heartbeat whose
// nonce the claim acknowledges. So a follower the leader last heard at T
// holds no lease past T + Lease, and a node that rejoins acts on nothing
// before it has applied the newest decisions. When the leader cannot hear
// the owner of a group it commits a revocation and assigns the group
// elsewhere once T + Lease + Margin = T + deadtime has passed: the moment
// the owner is declared dead. A crash of a director that does not lead
// therefore moves its groups after deadtime + two commits + start. A
// leader that has led for less than NewLeaderWait counts its waits from
// the start of its leadership instead, since the previous leader may have
// renewed the owner until it fell; with more than three voters a deposed
// leader may have renewed nodes in its minority for up to two leader lease
// timeouts, hence SafeWait.
//
// Why it is cheap: raft's leader sends every follower an empty append
// each tenth to fifth of HeartbeatTimeout, the biggest part of an idle
// leader's cost; with vouching (crm/vouch.go) the leader's crash darkens
// nothing and moves nothing, so the election need not beat deadtime and
// HeartbeatTimeout is deadtime, not less. Followers learn that an entry committed from the next
// append, and raft sends an empty append to every follower each
// CommitTimeout; a short CommitTimeout was most of an idle leader's cost.
// CommitTimeout is as long as raft allows, and the leader sends a barrier
// after each of its commits instead, so followers learn it at once.
func DeriveTiming(ha *conf.HAConfig) Timing {
	t := Timing{Keepalive: ha.Keepalive, Deadtime: ha.Deadtime, Initdead: max(ha.EffectiveInitdead(), ha.Deadtime)}
	t.HeartbeatTimeout = max(ha.Deadtime, 100*time.Millisecond)
	t.ElectionTimeout = t.HeartbeatTimeout
	t.LeaderLeaseTimeout = t.HeartbeatTimeout / 2
	t.CommitTimeout = t.HeartbeatTimeout
	t.Margin = max(ha.Deadtime/10, 20*time.Millisecond)
	t.Lease = ha.Deadtime - t.Margin
	t.RenewEvery = min(max(ha.Keepalive, t.Lease/4), t.Lease/3)
	t.SafeWait = t.Lease + 2*t.LeaderLeaseTimeout + t.Margin
	t.NewLeaderWait = t.SafeWait
	t.TwoNodeLease = ha.Deadtime - ha.Keepalive
	t.TwoNodeLease -= max(t.TwoNodeLease/10, 20*time.Millisecond)
	t.AckLease = ha.Deadtime - max(ha.Deadtime/10, 20*time.Millisecond)
	t.AckGrace = min(t.AckLease, 3*ha.Keepalive)
	if voters := len(ha.Nodes) + len(ha.Witnesses); voters <= 3 {
		// With three voters, the other voter that elected the new leader
		// had dropped the old one first (raft grants no vote while it
		// knows a leader; a follower renews only from the leader raft
		// names), or it was the old leader, which stepped down to vote.
		// Either way nobody renews from the old leader after the election,
		// so every lease it granted ends within Lease of it.
		t.NewLeaderWait = t.Lease + t.Margin
	}
	return t
}

// Validate checks the derived timings against raft's own rules.
func (t Timing) Validate() error {
	switch {
	case t.LeaderLeaseTimeout > t.HeartbeatTimeout:
		return fmt.Errorf("leader lease %v exceeds heartbeat timeout %v", t.LeaderLeaseTimeout, t.HeartbeatTimeout)
	case t.CommitTimeout > t.HeartbeatTimeout:
		return fmt.Errorf("commit timeout %v exceeds heartbeat timeout %v", t.CommitTimeout, t.HeartbeatTimeout)
	case t.Lease <= t.Keepalive:
		return fmt.Errorf("lease %v (deadtime less a margin) is not longer than keepalive %v: deadtime is too short", t.Lease, t.Keepalive)
	}
	return nil
}

func (t Timing) String() string {
	return fmt.Sprintf("keepalive %v, deadtime %v, raft heartbeat/election %v, leader lease %v, lease %v, safe wait %v",
		t.Keepalive, t.Deadtime, t.HeartbeatTimeout, t.LeaderLeaseTimeout, t.Lease, t.SafeWait)
}
