package crm

// Two-node mode: two directors and no witness. Each side decides alone,
// from what both sides say in their heartbeats (Claims), as Heartbeat did:
// the survivor takes every group when its peer has been dead on every link
// for deadtime; while both live, a group runs where exactly one rule below
// puts it, and nobody starts a group the other side still holds.

// TwoNodeView is what one side knows when it decides.
type TwoNodeView struct {
	Me, Peer string
	// Ready is false until initdead has passed or the peer was heard.
	Ready bool
	// PeerAlive is the heartbeat layer's word: up on at least one link.
	PeerAlive bool
	// Peer is the peer's latest claims; nil when never heard or when its
	// group list differs (then the peer's claims cannot be compared).
	PeerClaims *Claims
	Mine       []Claim
	Homes      []string // home node per group
	// AutoFailback is on, off or legacy (legacy behaves as on).
	AutoFailback string
	// PingConfigured is true when ha.cf has ping or ping_group lines; then
	// a side whose ping score is 0 has lost its uplink.
	PingConfigured bool
	MyPing         int
	MyRequest      RequestKind
	MyScope        Scope
	// AwayFromHome[i] is true when this side runs group i, whose home is
	// the peer, only because the peer could not run it when it started here
	// (not because of a request): auto_failback sends such a group home
	// when the home can run it again.
	AwayFromHome []bool
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

func (v *TwoNodeView) peerPing() int {
	if v.PeerClaims == nil {
		return 0
	}
	return int(v.PeerClaims.Ping)
}

func (v *TwoNodeView) peerRequest(i int, kind RequestKind) bool {
	return v.PeerClaims != nil && v.PeerClaims.Request == kind && Covers(v.PeerClaims.Scope, v.Peer, v.Homes[i])
}

func (v *TwoNodeView) myRequest(i int, kind RequestKind) bool {
	return v.MyRequest == kind && Covers(v.MyScope, v.Me, v.Homes[i])
}

// peerEligible: the peer could run group i (it is alive, did not fail it,
// and has not asked to give it away).
func (v *TwoNodeView) peerEligible(i int) bool {
	return v.PeerAlive && v.PeerClaims != nil && v.PeerClaims.Flags&FlagLeaving == 0 &&
		v.peerClaim(i).State != ClaimFailed && !v.peerRequest(i, RequestStandby) &&
		(!v.PingConfigured || v.peerPing() > 0)
}

// Want says whether this side should run group i now.
func (v *TwoNodeView) Want(i int) bool {
	if !v.Ready {
		return false
	}
	mine := v.myClaim(i)
	if mine.State == ClaimFailed {
		return false
	}
	if v.PingConfigured && v.MyPing == 0 {
		return false // no uplink: serving from here helps nobody
	}
	if !v.PeerAlive || v.PeerClaims == nil {
		// Dead on every link for deadtime (or never heard within
		// initdead): the survivor takes over, as Heartbeat does.
		return true
	}
	peer := v.peerClaim(i)
	iHold := mine.State.Holds()
	switch {
	case peer.State.Holds() && iHold:
		// Both hold it (a healed split brain): the home keeps it.
		return v.Me == v.Homes[i]
	case peer.State.Holds():
		return false
	case iHold:
		return !v.shouldRelease(i)
	}
	return v.starter(i) == v.Me
}

// shouldRelease: reasons to hand a held group to an eligible peer.
func (v *TwoNodeView) shouldRelease(i int) bool {
	if !v.peerEligible(i) {
		return false
	}
	switch {
	case v.myRequest(i, RequestStandby):
		return true
	case v.peerRequest(i, RequestTakeover):
		return true
	case v.PingConfigured && v.peerPing() > v.MyPing:
		return true // what ipfail did: the side with the better uplink serves
	case v.failback() && v.Homes[i] == v.Peer && i < len(v.AwayFromHome) && v.AwayFromHome[i] &&
		!v.myRequest(i, RequestTakeover) && (!v.PingConfigured || v.peerPing() >= v.MyPing):
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
// same answer from the same claims.
func (v *TwoNodeView) starter(i int) string {
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
