package crm

import (
	"fmt"
	"strings"
	"testing"
)

// side is one director in the two-node simulation.
type side struct {
	name    string
	alive   bool
	claims  []Claim
	request RequestKind
	scope   Scope
	ping    int
	away    []bool
}

// sim runs both sides' decisions in lock step, claims propagating at once,
// and checks after every step that no group is held on both sides.
type sim struct {
	t        *testing.T
	a, b     *side
	homes    []string
	failback string
	pinged   bool
	linked   bool // heartbeats flow between the sides
}

func newSim(t *testing.T, failback string) *sim {
	homes := []string{"A", "B"}
	mk := func(n string) *side {
		return &side{name: n, alive: true, claims: make([]Claim, 2), ping: 1, away: make([]bool, 2)}
	}
	return &sim{t: t, a: mk("A"), b: mk("B"), homes: homes, failback: failback, linked: true}
}

func (s *sim) view(me, peer *side) *TwoNodeView {
	v := &TwoNodeView{
		Me: me.name, Peer: peer.name, Ready: true,
		PeerAlive: s.linked && peer.alive, Mine: me.claims, Homes: s.homes,
		AutoFailback: s.failback, PingConfigured: s.pinged, MyPing: me.ping,
		MyRequest: me.request, MyScope: me.scope, AwayFromHome: me.away,
	}
	if v.PeerAlive {
		v.PeerClaims = &Claims{Ping: uint8(peer.ping), Request: peer.request, Scope: peer.scope, Groups: peer.claims}
	}
	return v
}

// step moves each live side one state towards what it wants.
func (s *sim) step() {
	for _, pair := range [][2]*side{{s.a, s.b}, {s.b, s.a}} {
		me, peer := pair[0], pair[1]
		if !me.alive {
			continue
		}
		v := s.view(me, peer)
		next := append([]Claim(nil), me.claims...)
		for i := range s.homes {
			want := v.Want(i)
			switch st := me.claims[i].State; {
			case want && (st == ClaimStopped):
				if s.linked && peer.alive && peer.claims[i].State.Holds() {
					s.t.Fatalf("%s starts group %d that %s holds: %s", me.name, i, peer.name, s)
				}
				next[i].State = ClaimStarting
				me.away[i] = v.StartsAway(i)
			case want && st == ClaimStarting:
				next[i].State = ClaimRunning
			case !want && (st == ClaimRunning || st == ClaimStarting):
				next[i].State = ClaimStopping
			case !want && st == ClaimStopping:
				next[i].State = ClaimStopped
			}
		}
		me.claims = next
		if me.request != RequestNone {
			if done, _ := s.view(me, peer).RequestDone(); done {
				me.request, me.scope = RequestNone, ""
			}
		}
	}
}

func (s *sim) settle() {
	for i := 0; i < 20; i++ {
		s.step()
	}
}

func (s *sim) String() string {
	f := func(x *side) string {
		var p []string
		for _, c := range x.claims {
			p = append(p, c.State.String())
		}
		return fmt.Sprintf("%s[%s]", x.name, strings.Join(p, ","))
	}
	return f(s.a) + " " + f(s.b)
}

func (s *sim) expect(want string) {
	s.t.Helper()
	s.settle()
	if got := s.String(); got != want {
		s.t.Fatalf("got %s, want %s", got, want)
	}
}

func TestTwoNodeStartAtHomes(t *testing.T) {
	s := newSim(t, "on")
	s.expect("A[running,stopped] B[stopped,running]")
}

func TestTwoNodeFailoverAndFailback(t *testing.T) {
	for _, fb := range []string{"on", "legacy", "off"} {
		t.Run(fb, func(t *testing.T) {
			s := newSim(t, fb)
			s.settle()
			s.a.alive = false
			s.a.claims = make([]Claim, 2)
			s.expect("A[stopped,stopped] B[running,running]")
			s.a.alive = true
			if fb == "off" {
				s.expect("A[stopped,stopped] B[running,running]")
			} else {
				s.expect("A[running,stopped] B[stopped,running]")
			}
		})
	}
}

func TestTwoNodeStandbyAndTakeover(t *testing.T) {
	s := newSim(t, "on")
	s.settle()
	s.a.request, s.a.scope = RequestStandby, ScopeAll
	s.expect("A[stopped,stopped] B[running,running]")
	if s.a.request != RequestNone {
		t.Fatal("standby request not cleared when done")
	}
	// No failback: A did not come back, it asked.
	s.expect("A[stopped,stopped] B[running,running]")
	s.a.request, s.a.scope = RequestTakeover, ScopeLocal
	s.expect("A[running,stopped] B[stopped,running]")
	s.a.request, s.a.scope = RequestTakeover, ScopeForeign
	s.expect("A[running,running] B[stopped,stopped]")
	s.b.request, s.b.scope = RequestTakeover, ScopeAll
	s.expect("A[stopped,stopped] B[running,running]")
}

func TestTwoNodeStandbyWithoutPeerIsImpossible(t *testing.T) {
	s := newSim(t, "on")
	s.settle()
	s.b.alive = false
	s.b.claims = make([]Claim, 2)
	s.settle()
	s.a.request, s.a.scope = RequestStandby, ScopeAll
	s.settle()
	done, impossible := s.view(s.a, s.b).RequestDone()
	if done || !impossible {
		t.Fatalf("standby with a dead peer: done=%v impossible=%v", done, impossible)
	}
	if got := s.String(); got != "A[running,running] B[stopped,stopped]" {
		t.Fatalf("standby without a peer gave groups away: %s", got)
	}
}

func TestTwoNodePingScores(t *testing.T) {
	s := newSim(t, "on")
	s.pinged = true
	s.settle()
	s.a.ping = 0 // A lost its uplink
	s.expect("A[stopped,stopped] B[running,running]")
	s.a.ping = 1
	s.expect("A[running,stopped] B[stopped,running]")
	// Equal scores never move groups; a lower score does.
	s.b.ping = 2
	s.expect("A[stopped,stopped] B[running,running]")
}

func TestTwoNodeFailedStart(t *testing.T) {
	s := newSim(t, "on")
	s.a.claims[0].State = ClaimFailed
	s.expect("A[failed,stopped] B[running,running]")
}

func TestTwoNodeSplitBrainHeals(t *testing.T) {
	s := newSim(t, "on")
	s.settle()
	s.linked = false
	s.expect("A[running,running] B[running,running]") // documented risk
	s.linked = true
	s.expect("A[running,stopped] B[stopped,running]")
}

func TestClaimsRoundTrip(t *testing.T) {
	c := &Claims{Layout: 0xdeadbeef, Flags: FlagRaftState, Ping: 3, Request: RequestStandby, Scope: ScopeForeign, ReqID: 77, Commit: 12345, Nonce: 9, Acks: []uint32{0, 7, 1 << 31},
		Groups: []Claim{{ClaimRunning, 5}, {ClaimFailed, 1 << 40}}}
	b := c.Encode(nil)
	d, err := DecodeClaims(b)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*d) != fmt.Sprint(*c) {
		t.Fatalf("round trip: %+v != %+v", d, c)
	}
	for i := 0; i < len(b); i++ {
		DecodeClaims(b[:i]) // must not panic
	}
}

func FuzzDecodeClaims(f *testing.F) {
	f.Add((&Claims{Groups: []Claim{{ClaimRunning, 1}}}).Encode(nil))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeClaims(b)
		if err != nil {
			return
		}
		if string(c.Encode(nil)) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
