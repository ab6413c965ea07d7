package crm

import (
	"time"

	"hbgo/conf"
)

// The pieces of a two-node pass that are not the rules themselves
// (twonode.go) and not the daemon's plumbing (node.go): the snapshot, the
// intent bookkeeping and the lease. The daemon and the simulation run the
// same functions.

// twoNodeInput is what a pass reads, gathered once.
type twoNodeInput struct {
	Me, Peer       string
	Ready          bool
	PeerAlive      bool
	PeerEntry      peerEntry // the peer's newest claims (peerBook.get)
	MyIndex        int       // this node's voter index (its acks' position)
	Mine           []Claim   // this node's claims, intents overlaid
	IntentFrom     []uint32  // per group: first nonce of the intent, 0 for none
	Homes          []string
	HA             *conf.HAConfig
	PingConfigured bool
	MyPing         int
	MyRequest      RequestKind
	MyScope        Scope
	Away           []bool
	Now            time.Time
}

// buildTwoNodeView turns a pass's input into the planner's view.
func buildTwoNodeView(in twoNodeInput, nonces *nonceBook) *TwoNodeView {
	v := &TwoNodeView{
		Me: in.Me, Peer: in.Peer, Ready: in.Ready, PeerAlive: in.PeerAlive,
		Homes: in.Homes, AutoFailback: in.HA.AutoFailback, PingConfigured: in.PingConfigured, MyPing: in.MyPing,
		MyRequest: in.MyRequest, MyScope: in.MyScope, AwayFromHome: append([]bool(nil), in.Away...),
		Mine: in.Mine, IntentAcked: make([]bool, len(in.Mine)),
	}
	switch {
	case in.PeerEntry.heartbeat3:
		v.PeerHeartbeat3 = true
	case in.PeerEntry.alien:
		v.PeerAlien = true
	default:
		v.PeerClaims = in.PeerEntry.claims
	}
	if v.PeerClaims != nil {
		ack := ackOf(v.PeerClaims, in.MyIndex)
		t := DeriveTiming(in.HA)
		v.Acked = in.Now.Before(ackAnchor(in.PeerEntry, ack, nonces, t).Add(t.AckLease))
		v.PeerSilent = peerSilent(in.PeerEntry, in.MyIndex, t.Keepalive)
		for i := range v.IntentAcked {
			v.IntentAcked[i] = nonces.since(ack, in.IntentFrom[i])
		}
	}
	return v
}

// applyTwoNode decides every group and keeps the intents and the
// away-from-home marks that go with the decisions; it reports whether an
// intent came or went (the claims then travel at once).
func applyTwoNode(v *TwoNodeView, in *intents, nonces *nonceBook, away []bool) (ds []Decision, changed bool) {
	for i := range v.Mine {
		d := v.Decide(i)
		if d.Run && !v.Mine[i].State.Holds() {
			away[i] = v.StartsAway(i)
		}
		// The intent stays announced until the group runs: a heartbeat
		// sent between the decision and the runner's start must not say
		// "stopped".
		if in.set(i, d.Intend || d.Run, nonces.peek) {
			changed = true
		}
		ds = append(ds, d)
	}
	return ds, changed
}

// twoNodeRestless says whether the pass that built v waits on the peer,
// so that each of its heartbeats may change the outcome and must wake the
// loop: while the peer has not acknowledged our heartbeats at all, or an
// intent of ours (from: the intents' nonces, 0 for none), or while a
// request is under way. An intent stays while its group runs; once
// acknowledged it waits on nothing (the lease's end is a deadline of the
// loop's own).
func twoNodeRestless(v *TwoNodeView, from []uint32, request RequestKind) bool {
	if v.PeerAlive && v.PeerClaims != nil && !v.Acked || request != RequestNone {
		return true
	}
	for i, f := range from {
		if f != 0 && !(i < len(v.IntentAcked) && v.IntentAcked[i]) {
			return true
		}
	}
	return false
}

// overlayIntents shows ClaimIntent for each stopped group with an intent.
func overlayIntents(groups []Claim, from []uint32) {
	for i := range groups {
		if i < len(from) && groups[i].State == ClaimStopped && from[i] != 0 {
			groups[i].State = ClaimIntent
		}
	}
}

// peerSilent: the peer's newest heartbeat came less than half a keepalive
// after the first that carried its newest acknowledgement of ours, so it
// belongs to the same round: the peer has sent nothing since (a later
// round, acknowledging nothing newer, would say it is alive and does not
// hear us). A peer that acknowledged nothing of this run is not silent.
func peerSilent(e peerEntry, myIndex int, keepalive time.Duration) bool {
	if e.claims == nil || ackOf(e.claims, myIndex) == 0 || myIndex >= len(e.ackAt) {
		return false
	}
	return e.at.Sub(e.ackAt[myIndex]) < keepalive/2
}

// ackOf is the newest nonce of voter idx that claims c acknowledge.
func ackOf(c *Claims, idx int) uint32 {
	if c == nil || idx < 0 || idx >= len(c.Acks) {
		return 0
	}
	return c.Acks[idx]
}

// ackAnchor is the time from which the peer of entry e cannot have
// declared this node dead for a deadtime (the lease is the anchor plus
// Timing.AckLease): the send time of the newest heartbeat of ours it
// acknowledges, since it heard us then or later.
//
// A peer whose run has not heard us yet (it acknowledges nothing)
// declares us dead no sooner than initdead after its start. Its start is
// known only from its uptime, made later by the delay of its packets, so
// the lease is the earlier of: a short grace after its first heartbeat
// arrived here (AckGrace: a healthy peer hears us and answers within a
// couple of keepalives), and its start plus initdead less the margin (it
// started long ago and its packets were lost: it may have declared us
// dead already). Safe while the peer's packets take less than initdead
// less AckGrace to arrive. An acknowledgement that is not of a recent
// heartbeat of this run anchors nothing.
func ackAnchor(e peerEntry, ack uint32, nonces *nonceBook, t Timing) time.Time {
	if ack == 0 {
		if e.startEst.IsZero() {
			return time.Time{}
		}
		grace := e.firstAt.Add(t.AckGrace - t.AckLease)
		if s := e.startEst.Add(max(t.Initdead-t.Deadtime, 0)); s.Before(grace) {
			return s
		}
		return grace
	}
	sent, _ := nonces.sentAt(ack)
	return sent
}

// twoNodeLease is until when a two-node director may hold its groups.
// While the peer is heard it is AckLease after the anchor of the peer's
// acknowledgements: the peer heard us at the anchor or later, so it
// declares us dead no sooner than a deadtime after it (one-way loss ends
// the lease: we hear the peer, it hears us no more; a frozen daemon
// renews nothing and goes dark at the same time). With the peer not
// heard there is nothing acknowledged: TwoNodeLease after the last
// heartbeat sent, so that a frozen daemon goes dark on its own.
//
// The acknowledged lease alone is safe, and it is not shortened by the
// time since the last send: the two together left a keepalive of slack
// at deadtime = 3 x keepalive, which the jitter of a busy machine ate.
//
// A live Heartbeat 3 peer may hold every group and hears nothing of ours:
// the lease ended when its run was first heard, so that the VIPs here go
// dark at once, even while a stop hangs.
func twoNodeLease(t Timing, lastPass time.Time, peerAlive bool, e peerEntry, nonces *nonceBook, myIndex int) time.Time {
	if peerAlive && e.heartbeat3 {
		return e.firstAt
	}
	if peerAlive && e.claims != nil && !e.alien {
		return ackAnchor(e, ackOf(e.claims, myIndex), nonces, t).Add(t.AckLease)
	}
	return lastPass.Add(t.TwoNodeLease)
}
