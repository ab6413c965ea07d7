package crm

// Two-node mode: two directors and no witness. Each side decides alone,
// from what both sides say in their heartbeats (Claims), as Heartbeat did,
// with one addition: while both live, nobody starts a group without a
// handshake.
//
// The rules, in the order Decide applies them:
//
//  1. Before initdead (or the first word from the peer) nothing runs.
//  2. A group that failed to start here, or a node whose uplink is down
//     (ping configured, score 0), runs nothing.
//  3. A peer dead on every link for deadtime: the survivor runs every
//     group, as Heartbeat does (a node whose ping round has not ended yet
//     keeps what it holds and waits for it).
//  4. A peer alive whose claims cannot be compared with ours (its
//     haresources or version differ): keep what runs here, start nothing.
//     A peer that runs Linux-HA Heartbeat 3 (a migration) may hold every
//     group and cannot hear us: run nothing while it lives.
//  5. A peer alive that does not acknowledge our heartbeats (one-way loss):
//     it may declare us dead at any moment, so stop everything before its
//     deadtime can end (the ack lease).
//  6. Both run a group (a healed split brain): its home keeps it. We
//     run it: keep it unless a reason to hand it over applies (standby,
//     the peer's takeover, a better uplink, auto_failback). The peer
//     holds it (starting, running or stopping): leave it. A group
//     stopping here finishes its stop before it is decided anew.
//  7. Nobody holds it: the side that starter picks announces its intent
//     (ClaimIntent) and starts only when the peer's newest claims
//     acknowledge a heartbeat that carried the intent and show the peer
//     neither holding nor intending the group. When both intend, the
//     home wins and the other withdraws.
//
// Why rule 7 never lets both start: say A starts on B's claim C_B, and B
// on A's claim C_A. C_B acknowledges A's intent heartbeat k_A, so B sent
// C_B after A sent k_A; C_B shows B not intending, so B sent it before its
// own intent heartbeat k_B. Likewise A sent C_A after B sent k_B and
// before k_A. Then A sent k_A before C_B, before k_B, before C_A, before
// k_A: impossible. It needs claims taken newest by the sender's own
// numbering (not by arrival), and an intent held without a break from its
// first heartbeat to the start.

// PingUnknown is a ping score not known yet: the first round has not
// ended.
const PingUnknown = -1

// TwoNodeView is what one side knows when it decides: one snapshot, taken
// once per pass of the node's loop.
type TwoNodeView struct {
	Me, Peer string
	// Ready is false until initdead has passed or the peer was heard.
	Ready bool
	// PeerAlive is the heartbeat layer's word: up on at least one link.
	PeerAlive bool
	// PeerClaims is the peer's newest claims of its current run; nil when
	// not heard in this run, or when they cannot be compared (PeerAlien).
	PeerClaims *Claims
	// PeerAlien: the peer is alive and says something, but its claims
	// cannot be compared with ours (its haresources differ, or its
	// version speaks another claims format).
	PeerAlien bool
	// PeerHeartbeat3: the peer runs Linux-HA Heartbeat 3 (a migration):
	// it may hold every group, hears nothing of ours and carries no
	// claims.
	PeerHeartbeat3 bool
	// Acked: the peer's claims acknowledge a heartbeat of ours recent
	// enough that the peer cannot have declared us dead (see
	// Timing.AckLease).
	Acked bool
	// PeerSilent: nothing came from the peer since the heartbeats that
	// brought its newest acknowledgement of ours (a peer that is alive
	// but no longer hears us goes on sending, acknowledging nothing
	// newer; one that crashed or cannot reach us sends nothing).
	PeerSilent bool
	// IntentAcked[i]: the peer's newest claims acknowledge a heartbeat of
	// ours that announced our intent for group i (sent after the intent
	// began, which has lasted since).
	IntentAcked []bool
	Mine        []Claim
	Homes       []string // home node per group
	// AutoFailback is on, off or legacy (legacy behaves as on).
	AutoFailback string
	// PingConfigured is true when ha.cf has ping or ping_group lines; then
	// a side whose ping score is 0 has lost its uplink.
	PingConfigured bool
	MyPing         int // PingUnknown until the first round ended
	MyRequest      RequestKind
	MyScope        Scope
	// AwayFromHome[i] is true when this side runs group i, whose home is
	// the peer, only because the peer could not run it when it started here
	// (not because of a request): auto_failback sends such a group home
	// when the home can run it again.
	AwayFromHome []bool
}

// Decision is what one side does with one group: Run is true to start
// it (when stopped here) or keep it (when held here), false to stop it;
// Intend announces, while it is stopped here, that this side means to
// start it.
type Decision struct {
	Run, Intend bool
}

// Covers reports whether a request of scope by node covers a group whose
// home is home.
func Covers(scope Scope, node, home string) bool {
	switch scope {
	case ScopeAll, "":
		return true
	case ScopeLocal:
		return home == node
	case ScopeForeign, ScopeFailback:
		return home != node
	}
	return false
}

func (v *TwoNodeView) peerClaim(i int) Claim {
	if v.PeerClaims == nil || i >= len(v.PeerClaims.Groups) {
		return Claim{}
	}
	return v.PeerClaims.Groups[i]
}

func (v *TwoNodeView) myClaim(i int) Claim {
	if i >= len(v.Mine) {
		return Claim{}
	}
	return v.Mine[i]
}

// peerPing is the peer's score, PingUnknown until its first round ended.
func (v *TwoNodeView) peerPing() int {
	if v.PeerClaims == nil || v.PeerClaims.Flags&FlagPingUnknown != 0 {
		return PingUnknown
	}
	return int(v.PeerClaims.Ping)
}

func (v *TwoNodeView) pingKnown() bool {
	return !v.PingConfigured || (v.MyPing != PingUnknown && v.peerPing() != PingUnknown)
}

func (v *TwoNodeView) peerRequest(i int, kind RequestKind) bool {
	return v.PeerClaims != nil && v.PeerClaims.Request == kind && Covers(v.PeerClaims.Scope, v.Peer, v.Homes[i])
}

func (v *TwoNodeView) myRequest(i int, kind RequestKind) bool {
	return v.MyRequest == kind && Covers(v.MyScope, v.Me, v.Homes[i])
}

// peerEligible: the peer could run group i (it is alive, did not fail it,
// has not asked to give it away, and its uplink is known to be up).
func (v *TwoNodeView) peerEligible(i int) bool {
	return v.PeerAlive && v.PeerClaims != nil && v.PeerClaims.Flags&FlagLeaving == 0 &&
		v.peerClaim(i).State != ClaimFailed && !v.peerRequest(i, RequestStandby) &&
		(!v.PingConfigured || v.peerPing() > 0)
}

// active: starting or running here (a stopping group finishes its stop
// before it is decided anew, so that it never restarts without a
// handshake).
func active(s ClaimState) bool { return s == ClaimStarting || s == ClaimRunning }

// Decide says what this side does with group i now.
func (v *TwoNodeView) Decide(i int) Decision {
	if !v.Ready {
		return Decision{}
	}
	mine := v.myClaim(i)
	iHold := active(mine.State)
	if mine.State == ClaimFailed || mine.State == ClaimStopping {
		return Decision{}
	}
	if v.PingConfigured && v.MyPing == 0 {
		return Decision{} // no uplink: serving from here helps nobody
	}
	if !v.PeerAlive {
		// Dead on every link for deadtime (or never heard within
		// initdead): the survivor takes over, as Heartbeat does.
		if v.PingConfigured && v.MyPing == PingUnknown {
			return Decision{Run: iHold}
		}
		return Decision{Run: true}
	}
	if v.PeerHeartbeat3 {
		// Heartbeat holds or takes every group it is named in and
		// cannot hear us: run nothing while it lives. It gives the
		// groups up when it shuts down (shutdone: the peer leaves) or
		// dies.
		return Decision{}
	}
	if v.PeerAlien || v.PeerClaims == nil {
		// It might hold any group: start nothing, keep what runs here.
		return Decision{Run: iHold}
	}
	if !v.Acked {
		if v.PeerSilent {
			// Silent since its last acknowledgement: crashed, or cut
			// off both ways. The lease has ended (the gate darkens
			// the VIPs); what runs here stays until the peer is heard
			// again or declared dead, so that a peer's crash does not
			// restart the survivor's groups. Cut off both ways, a
			// peer that declares us dead runs our groups too: the
			// split brain of two nodes that hear nothing of each
			// other.
			return Decision{Run: iHold}
		}
		// It hears us no more: it may declare us dead before we hear
		// from it again. Stop before its deadtime can end.
		return Decision{}
	}
	peer := v.peerClaim(i)
	switch {
	case active(peer.State) && iHold:
		// Both run it (a healed split brain): the home keeps it.
		return Decision{Run: v.Me == v.Homes[i]}
	case iHold:
		// The peer may be stopping a copy (its restart sweep): ours stays.
		return Decision{Run: !v.shouldRelease(i)}
	case peer.State.Holds():
		return Decision{} // running, starting or stopping there
	}
	if v.starter(i) != v.Me {
		return Decision{}
	}
	if peer.State == ClaimIntent {
		if v.Homes[i] == v.Peer {
			return Decision{} // both intend: the home wins
		}
		return Decision{Intend: true} // we are home: wait for it to withdraw
	}
	if i < len(v.IntentAcked) && v.IntentAcked[i] {
		return Decision{Run: true}
	}
	return Decision{Intend: true}
}

// Want says whether this side should run group i now.
func (v *TwoNodeView) Want(i int) bool { return v.Decide(i).Run }

// shouldRelease: reasons to hand a held group to an eligible peer.
func (v *TwoNodeView) shouldRelease(i int) bool {
	if !v.peerEligible(i) {
		return false
	}
	switch {
	case v.myRequest(i, RequestStandby):
		return true
	case v.peerRequest(i, RequestTakeover) && !v.myRequest(i, RequestTakeover):
		return true // both asked to take it: the holder keeps it
	case v.PingConfigured && v.MyPing != PingUnknown && v.peerPing() > v.MyPing && !v.myRequest(i, RequestTakeover):
		return true // what ipfail did: the side with the better uplink serves
	case v.failback() && v.Homes[i] == v.Peer && i < len(v.AwayFromHome) && v.AwayFromHome[i] &&
		!v.myRequest(i, RequestTakeover) && (!v.PingConfigured || (v.MyPing != PingUnknown && v.peerPing() >= v.MyPing)):
		return true
	}
	return false
}

func (v *TwoNodeView) failback() bool { return v.AutoFailback == "on" || v.AutoFailback == "legacy" }

// StartsAway reports, for a group this side is about to start, whether it
// goes away from its home only because the home cannot run it (so that
// auto_failback will send it back).
func (v *TwoNodeView) StartsAway(i int) bool {
	leaving := v.PeerClaims != nil && v.PeerClaims.Flags&FlagLeaving != 0
	return v.Homes[i] == v.Peer && (leaving || !v.peerRequest(i, RequestStandby)) && !v.myRequest(i, RequestTakeover)
}

// starter picks who starts a group nobody holds; both sides compute the
// same answer from the same claims, and nobody ("") while a ping score is
// still unknown.
func (v *TwoNodeView) starter(i int) string {
	if !v.pingKnown() {
		return ""
	}
	meOK := v.myClaim(i).State != ClaimFailed && !v.myRequest(i, RequestStandby)
	peerOK := v.peerEligible(i)
	switch {
	case meOK && !peerOK:
		return v.Me
	case peerOK && !meOK:
		return v.Peer
	case !meOK && !peerOK:
		return ""
	}
	if v.myRequest(i, RequestTakeover) {
		return v.Me
	}
	if v.peerRequest(i, RequestTakeover) {
		return v.Peer
	}
	if v.PingConfigured && v.MyPing != v.peerPing() {
		if v.MyPing > v.peerPing() {
			return v.Me
		}
		return v.Peer
	}
	if v.Homes[i] == v.Peer {
		return v.Peer
	}
	return v.Me
}

// RequestDone reports whether this side's pending request is fulfilled
// (every covered group runs where asked), and whether it cannot be
// (standby with no eligible peer).
func (v *TwoNodeView) RequestDone() (done bool, impossible bool) {
	switch v.MyRequest {
	case RequestStandby:
		for i := range v.Homes {
			if !Covers(v.MyScope, v.Me, v.Homes[i]) {
				continue
			}
			if !v.myClaim(i).State.Holds() {
				// Not here; done once the peer runs it or nobody could.
				if v.peerEligible(i) && v.peerClaim(i).State != ClaimRunning {
					return false, false
				}
				continue
			}
			if !v.peerEligible(i) {
				if v.PeerAlive && v.PingConfigured && v.peerPing() == PingUnknown {
					return false, false // its first ping round will tell
				}
				return false, true
			}
			return false, false
		}
		return true, false
	case RequestTakeover:
		for i := range v.Homes {
			if Covers(v.MyScope, v.Me, v.Homes[i]) && v.myClaim(i).State != ClaimRunning {
				if v.myClaim(i).State == ClaimFailed {
					return false, true
				}
				return false, false
			}
		}
		return true, false
	}
	return true, false
}
