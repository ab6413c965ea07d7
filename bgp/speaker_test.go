package bgp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

var (
	loopback = netip.MustParseAddr("127.0.0.1")
	vip      = netip.MustParsePrefix("203.0.113.10/32")
	vip2     = netip.MustParsePrefix("203.0.113.11/32")
)

// testLogger writes the speaker's lines to the test's log.
func testLogger(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("speaker", name)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// freePort returns a TCP port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pair starts a "router" speaker listening on a free port and a
// "director" speaker that dials it at dial (the router's port, or a relay's
// in front of it), both on loopback, with password for TCP MD5 if not
// empty.
func pair(t *testing.T, routerPort int, dial func(routerPort int) int, password string) (router, director *Speaker) {
	return pairOn(t, loopback, routerPort, dial, password)
}

// pairOn is pair on the loopback address lo (127.0.0.1 or ::1).
func pairOn(t *testing.T, lo netip.Addr, routerPort int, dial func(routerPort int) int, password string) (router, director *Speaker) {
	t.Helper()
	ctx := context.Background()
	var err error
	router, err = Start(ctx, Config{
		LocalAS: 64512, RouterID: netip.MustParseAddr("192.0.2.1"), ListenPort: routerPort,
		Neighbors:    []Neighbor{{Addr: lo, PeerAS: 64513, Passive: true, Password: password}},
		AcceptRoutes: true,
		Logger:       testLogger(t, "router"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = router.Stop(context.Background()) })
	director, err = Start(ctx, Config{
		Node: "d1", LocalAS: 64513, RouterID: netip.MustParseAddr("192.0.2.11"),
		Neighbors:   []Neighbor{{Addr: lo, PeerAS: 64512, Port: uint16(dial(routerPort)), Password: password}},
		Communities: []Community{64513<<16 | 100},
		Logger:      testLogger(t, "director"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = director.Stop(context.Background()) })
	return router, director
}

// waitSession waits until s's only session satisfies ok.
func waitSession(t *testing.T, s *Speaker, what string, ok func(SessionStatus) bool) SessionStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last []SessionStatus
	for time.Now().Before(deadline) {
		st, err := s.Sessions(context.Background())
		if err != nil {
			t.Fatalf("Sessions: %v", err)
		}
		if len(st) != 1 {
			t.Fatalf("Sessions: %d sessions, want 1", len(st))
		}
		if ok(st[0]) {
			return st[0]
		}
		last = st
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no session %s within 15s; last %+v", what, last)
	return SessionStatus{}
}

func established(st SessionStatus) bool { return st.State == StateEstablished }

// TestSpeakerLoopback runs two speakers against each other on loopback:
// the session comes up with MD5 and the proposed hold time, an announced
// VIP reaches the other side, Withdraw and Stop take it away, and every
// call is idempotent.
func TestSpeakerLoopback(t *testing.T) {
	router, director := pair(t, freePort(t), func(p int) int { return p }, "lab-secret")
	ctx := context.Background()
	st := waitSession(t, director, "established", established)
	if st.HoldTime != DefaultHoldTime || st.PeerAS != 64512 || st.Neighbor != loopback {
		t.Errorf("director's session %+v: want hold %v, AS 64512, neighbour %v", st, DefaultHoldTime, loopback)
	}
	waitSession(t, router, "established", established)

	for range 2 { // the second does nothing
		if err := director.Announce(ctx, vip); err != nil {
			t.Fatal(err)
		}
	}
	waitSession(t, router, "with 1 prefix accepted", func(s SessionStatus) bool { return s.Accepted == 1 })
	waitSession(t, director, "with 1 prefix sent", func(s SessionStatus) bool { return s.Sent == 1 })
	if got := director.Announced(); len(got) != 1 || got[0] != vip {
		t.Errorf("Announced() = %v, want [%v]", got, vip)
	}
	// The router's routes reach the director, which keeps none of them.
	if err := router.Announce(ctx, netip.MustParsePrefix("198.51.100.1/32")); err != nil {
		t.Fatal(err)
	}
	st = waitSession(t, director, "with 1 prefix received", func(s SessionStatus) bool { return s.Received == 1 })
	if st.Accepted != 0 {
		t.Errorf("director accepted %d routes of the router, want none: %+v", st.Accepted, st)
	}
	if got := ribPrefixes(t, director); len(got) != 1 || got[0] != vip.String() {
		t.Errorf("director's RIB has %v, want its own %v only", got, vip)
	}
	if got := ribPrefixes(t, router); len(got) != 2 {
		t.Errorf("router's RIB has %v, want its own and the director's", got)
	}

	for range 2 {
		if err := director.Withdraw(ctx, vip); err != nil {
			t.Fatal(err)
		}
	}
	waitSession(t, router, "with no prefix", func(s SessionStatus) bool { return s.Accepted == 0 })
	if err := director.Withdraw(ctx, vip2); err != nil {
		t.Errorf("Withdraw of a prefix never announced: %v", err)
	}

	for _, p := range []netip.Prefix{vip, vip2} {
		if err := director.Announce(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	waitSession(t, router, "with 2 prefixes", func(s SessionStatus) bool { return s.Accepted == 2 })
	if err := director.Announce(ctx, netip.MustParsePrefix("203.0.113.0/24")); !errors.Is(err, ErrNotHost) {
		t.Errorf("Announce of a /24: %v, want ErrNotHost", err)
	}
	if err := director.Announce(ctx, netip.MustParsePrefix("2001:db8::10/128")); !errors.Is(err, ErrNoNeighbor) {
		t.Errorf("Announce of an IPv6 VIP without IPv6 neighbour: %v, want ErrNoNeighbor", err)
	}

	start := time.Now()
	if err := director.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %v", time.Since(start))
	waitSession(t, router, "down with nothing accepted", func(s SessionStatus) bool {
		return s.State != StateEstablished && s.Accepted == 0
	})
	if err := director.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := director.Announce(ctx, vip); !errors.Is(err, ErrStopped) {
		t.Errorf("Announce after Stop: %v, want ErrStopped", err)
	}
	if err := director.Withdraw(ctx, vip); !errors.Is(err, ErrStopped) {
		t.Errorf("Withdraw after Stop: %v, want ErrStopped", err)
	}
	if _, err := director.Sessions(ctx); !errors.Is(err, ErrStopped) {
		t.Errorf("Sessions after Stop: %v, want ErrStopped", err)
	}
}

// ribPrefixes lists the IPv4 prefixes in s's RIB (GoBGP's global table).
func ribPrefixes(t *testing.T, s *Speaker) []string {
	t.Helper()
	var out []string
	err := s.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: gobgp.RF_IPv4_UC},
		func(prefix gobgp.NLRI, _ []*apiutil.Path) { out = append(out, prefix.String()) })
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestSpeakerLoopbackIPv6: an IPv6 session carries a /128 (next hop self
// in MP_REACH_NLRI) and refuses a /32, which has no IPv4 neighbour.
func TestSpeakerLoopbackIPv6(t *testing.T) {
	lo := netip.IPv6Loopback()
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	router, director := pairOn(t, lo, port, func(p int) int { return p }, "")
	ctx := context.Background()
	waitSession(t, director, "established", established)
	v6 := netip.MustParsePrefix("2001:db8::10/128")
	if err := director.Announce(ctx, v6); err != nil {
		t.Fatal(err)
	}
	waitSession(t, router, "with the /128", func(s SessionStatus) bool { return s.Accepted == 1 })
	if err := director.Announce(ctx, vip); !errors.Is(err, ErrNoNeighbor) {
		t.Errorf("Announce of an IPv4 VIP without IPv4 neighbour: %v, want ErrNoNeighbor", err)
	}
	if err := director.Withdraw(ctx, v6); err != nil {
		t.Fatal(err)
	}
	waitSession(t, router, "with nothing", func(s SessionStatus) bool { return s.Accepted == 0 })
}

// TestSpeakerLostPeer puts a relay between the speakers and then freezes
// it: both directions stop, the connections stay open, as with a router
// that lost power behind a switch. Every call of the director returns
// within its bound, and the router declares the session dead after the
// hold time.
func TestSpeakerLostPeer(t *testing.T) {
	r := newRelay(t)
	router, director := pair(t, freePort(t), r.to, "") // a relay cannot sign for MD5
	ctx := context.Background()
	waitSession(t, director, "established", established)
	if err := director.Announce(ctx, vip); err != nil {
		t.Fatal(err)
	}
	waitSession(t, router, "with the VIP", func(s SessionStatus) bool { return s.Accepted == 1 })

	r.freeze()
	frozen := time.Now()
	const bound = 2 * time.Second
	check := func(what string, f func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		start := time.Now()
		err := f(ctx)
		took := time.Since(start)
		t.Logf("%s on a lost peer: %v in %v", what, err, took)
		if took > bound+500*time.Millisecond {
			t.Errorf("%s took %v, bound %v", what, took, bound)
		}
	}
	// All within the hold time: the director still thinks the session
	// is up.
	check("Announce", func(ctx context.Context) error { return director.Announce(ctx, vip2) })
	check("Withdraw", func(ctx context.Context) error { return director.Withdraw(ctx, vip2) })
	check("Sessions", func(ctx context.Context) error { _, err := director.Sessions(ctx); return err })
	if since := time.Since(frozen); since > DefaultHoldTime-500*time.Millisecond {
		t.Fatalf("the calls took %v, too close to the hold time to test Stop on an established session", since)
	}
	check("Stop", func(ctx context.Context) error { return director.Stop(ctx) })

	st := waitSession(t, router, "down after the hold time", func(s SessionStatus) bool { return s.State != StateEstablished })
	gone := time.Since(frozen)
	t.Logf("router declared the frozen session dead after %v (hold time %v): %s", gone, DefaultHoldTime, st.LastError)
	if gone < DefaultHoldTime-time.Second || gone > DefaultHoldTime+2*time.Second {
		t.Errorf("router declared the session dead after %v, want about the hold time %v", gone, DefaultHoldTime)
	}
	if st.Accepted != 0 {
		t.Errorf("router still accepts %d prefixes of a dead session", st.Accepted)
	}
	if !strings.Contains(st.LastError, "hold") {
		t.Errorf("router's session went down for %q, want the hold timer", st.LastError)
	}
}

// TestCallBounded: a call into GoBGP that never returns gives ErrTimeout
// at the context's deadline, and the default bound applies without one.
func TestCallBounded(t *testing.T) {
	s := &Speaker{cfg: Config{CallTimeout: 200 * time.Millisecond}}
	block := make(chan struct{})
	defer close(block)
	hang := func() error { <-block; return nil }

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.call(ctx, "hang", hang); !errors.Is(err, ErrTimeout) {
		t.Errorf("call with a deadline: %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("call with a 100ms deadline took %v", took)
	}

	start = time.Now()
	bctx, bcancel := s.bound(context.Background())
	defer bcancel()
	if err := s.call(bctx, "hang", hang); !errors.Is(err, ErrTimeout) {
		t.Errorf("call without a deadline: %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > time.Second {
		t.Errorf("call bounded by CallTimeout 200ms took %v", took)
	}
}

// relay forwards TCP connections from a port of its own to the router's
// port until frozen; frozen, it neither forwards nor closes anything.
type relay struct {
	t  *testing.T
	l  net.Listener
	fz chan struct{}
}

func newRelay(t *testing.T) *relay {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{t: t, l: l, fz: make(chan struct{})}
	t.Cleanup(func() { l.Close() })
	return r
}

func (r *relay) freeze() { close(r.fz) }

// to starts forwarding to routerPort and returns the relay's port.
func (r *relay) to(routerPort int) int {
	var conns []net.Conn
	var mu sync.Mutex
	r.t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			in, err := r.l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(routerPort)))
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			go r.pipe(in, out)
			go r.pipe(out, in)
		}
	}()
	return r.l.Addr().(*net.TCPAddr).Port
}

// pipe copies until frozen, then holds the connection open and silent.
func (r *relay) pipe(dst, src net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		select {
		case <-r.fz:
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
