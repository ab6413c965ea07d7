package crm

import (
	"slices"
	"time"
)

// Vouching: a quorum-mode node renews its lease from any quorum of voters
// at its own log position, not only from the leader, so that the crash of
// the leader (the witness, normally) darkens no VIP while raft elects
// another.
//
// Every heartbeat's claims carry the sender's log position (the index and
// term of its last entry, when it has applied all of it) and one bit per
// voter it vouches for: a voter it hears, and has heard without a break
// for VouchProbation. A node's vouch anchor is the newest time T such
// that, counting itself, a quorum of voters at its own log position
// vouched for it in claims that acknowledge a heartbeat it sent at T or
// later. Its lease runs to anchor + Lease, as from the leader.
//
// Why no two nodes run a group: the leader gives a group away from an
// owner d only after committing its revocation. Committing needs a quorum
// that appended the entry; every quorum that could vouch for d shares a
// voter with it, and that voter's log position has moved on from d's
// (d, not having applied the revocation, is at the old position, or has
// appended it and not applied it, and then counts no vouch at all). So no
// vouch renews d after the commit, and d's lease ends at the latest Lease
// after it: the leader's SafeWait after the revocation covers that. To
// give the group away sooner, at the moment it declares d dead (its own
// last word from d plus Lease and margin, as with the leader's own
// acknowledgements), the leader needs proof that no other voter vouched
// for d meanwhile: VouchProof.
//
// A voter clears d's bit when it declares d dead (it last heard d at
// least deadtime before, so what it vouched then ended within Lease of
// that) and keeps it cleared for VouchProbation after d comes back. So a
// claim of v with d's bit cleared, made after the leader sent heartbeat
// x (v acknowledges x), proves that v vouches for d at no time from a
// deadtime before the claim until x's send time plus VouchProbation,
// unless v had just started (a former run may have vouched until it
// stopped): the claim's uptime must exceed deadtime.

// VouchProbation is how long a voter must have heard another without a
// break before it vouches for it.
func (t Timing) VouchProbation() time.Duration { return 2 * t.Deadtime }

// vouchAnchor is the newest time a quorum (this node, at index me of the
// voters, counting as one) vouched for this node at its log position pos
// (0: not all applied, no vouch counts). others holds each other voter's
// newest claims and their arrival (nil claims: not heard).
func vouchAnchor(me int, index, term uint64, voters int, others []vouchClaims, nonces *nonceBook) time.Time {
	need := voters/2 + 1 - 1 // a quorum less this node
	if index == 0 || me < 0 || need <= 0 {
		return time.Time{}
	}
	var anchors []time.Time
	for _, o := range others {
		c := o.Claims
		if c == nil || c.Vouch&(1<<me) == 0 || c.Index != index || c.LogTerm != term || me >= len(c.Acks) {
			continue
		}
		sent, ok := nonces.sentAt(c.Acks[me])
		if !ok || sent.After(o.At) {
			continue
		}
		anchors = append(anchors, sent)
	}
	if len(anchors) < need {
		return time.Time{}
	}
	slices.SortFunc(anchors, func(a, b time.Time) int { return b.Compare(a) })
	return anchors[need-1]
}

// vouchClaims is one voter's newest claims and when they arrived.
type vouchClaims struct {
	Claims *Claims
	At     time.Time
}

// VouchProof reports whether, by the view's time, no quorum can have
// vouched for director d since the leader's revocation of a group at
// revoked, beyond what d's lapse by the leader's own hearing covers: the
// voters other than the leader and d that cannot be shown silent, with d,
// fall short of a quorum. A voter is shown silent by its newest claims:
// d's bit cleared, an uptime over deadtime, and an acknowledgement of a
// heartbeat the leader sent less than VouchProbation before revoked.
func (v *QuorumView) VouchProof(d string, revoked time.Time) bool {
	di := -1
	for i, name := range v.Voters {
		if name == d {
			di = i
		}
	}
	if di < 0 {
		return false
	}
	unproven := 0
	for _, name := range v.Voters {
		if name == v.Me || name == d {
			continue
		}
		n := v.Nodes[name]
		c := n.Claims
		silent := c != nil && c.Vouch&(1<<di) == 0 && time.Duration(c.Uptime)*time.Millisecond > v.Timing.Deadtime &&
			!n.AckedMine.IsZero() && revoked.Before(n.AckedMine.Add(v.Timing.VouchProbation()))
		if !silent {
			unproven++
		}
	}
	return unproven+1 < len(v.Voters)/2+1
}
