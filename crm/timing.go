package crm

import (
	"fmt"
	"time"

	"hbgo/conf"
)

// Timing is every time the cluster layer uses, derived from ha.cf in one
// place (DeriveTiming).
type Timing struct {
	Keepalive, Deadtime time.Duration

	// Raft: a follower that hears no leader for HeartbeatTimeout starts an
	// election (ElectionTimeout is the same, randomised by raft up to
	// twice); a leader that cannot reach a quorum for LeaderLeaseTimeout
	// steps down; CommitTimeout bounds how long followers wait to learn
	// that an entry committed (it sets switchover time).
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration

	// Lease: a node runs a group only while it has heard from a quorum
	// within Lease (a leader: a successful quorum round trip started less
	// than Lease ago; a follower: the leader's last contact).
	Lease time.Duration
	// Margin covers clock-rate differences and messages in flight.
	Margin time.Duration
	// SafeWait is how long the leader waits, after it revoked a group from
	// an owner it cannot reach, before it gives the group to another node:
	// the owner's lease has then surely lapsed.
	SafeWait time.Duration
}

// DeriveTiming turns keepalive and deadtime into the cluster's timings:
//
//	HeartbeatTimeout = ElectionTimeout = max(deadtime/2, 100ms)
//	LeaderLeaseTimeout = HeartbeatTimeout/2
//	CommitTimeout = min(keepalive/20, 10ms)
//	Lease = max(HeartbeatTimeout, 3*keepalive)
//	Margin = max(Lease/10, 20ms)
//	SafeWait = Lease + 2*LeaderLeaseTimeout + Margin
//
// Why SafeWait suffices: a leader renews its own lease with a quorum round
// trip; a follower renews its lease only from the leader's claims (in its
// heartbeats, every keepalive and at once on change), and only from a claim
// whose commit index it has applied. After the leader commits a revocation
// at time T, every claim it sends carries a commit index at or past it, so
// the owner cannot renew without applying the revocation: its last renewal
// without it comes from a claim sent before T, and its lease ends before
// T + Lease (plus flight time).
// A deposed leader that still believes it leads can renew an owner in its
// minority only until it notices it lost its quorum, at most two
// LeaderLeaseTimeouts after the new leader could have been elected; the
// margin covers clock rates and flight times. So a group moved from an
// unreachable owner runs elsewhere after: detection (deadtime) + commit +
// SafeWait + start.
func DeriveTiming(ha *conf.HAConfig) Timing {
	t := Timing{Keepalive: ha.Keepalive, Deadtime: ha.Deadtime}
	t.HeartbeatTimeout = max(ha.Deadtime/2, 100*time.Millisecond)
	t.ElectionTimeout = t.HeartbeatTimeout
	t.LeaderLeaseTimeout = t.HeartbeatTimeout / 2
	t.CommitTimeout = min(ha.Keepalive/20, 10*time.Millisecond)
	t.Lease = max(t.HeartbeatTimeout, 3*ha.Keepalive)
	t.Margin = max(t.Lease/10, 20*time.Millisecond)
	t.SafeWait = t.Lease + 2*t.LeaderLeaseTimeout + t.Margin
	return t
}

// Validate checks the derived timings against raft's own rules.
func (t Timing) Validate() error {
	switch {
	case t.LeaderLeaseTimeout > t.HeartbeatTimeout:
		return fmt.Errorf("leader lease %v exceeds heartbeat timeout %v", t.LeaderLeaseTimeout, t.HeartbeatTimeout)
	case t.CommitTimeout > t.HeartbeatTimeout:
		return fmt.Errorf("commit timeout %v exceeds heartbeat timeout %v", t.CommitTimeout, t.HeartbeatTimeout)
	case t.Lease < t.HeartbeatTimeout/2:
		return fmt.Errorf("lease %v is shorter than half the heartbeat timeout %v", t.Lease, t.HeartbeatTimeout)
	}
	return nil
}

func (t Timing) String() string {
	return fmt.Sprintf("keepalive %v, deadtime %v, raft heartbeat/election %v, leader lease %v, lease %v, safe wait %v",
		t.Keepalive, t.Deadtime, t.HeartbeatTimeout, t.LeaderLeaseTimeout, t.Lease, t.SafeWait)
}
