//go:build linux

package bgptest

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"hbgo/bgp"
	"hbgo/test/netns"
)

const (
	routerAS   = 64512
	directorAS = 64513
	holdTime   = 3 * time.Second // the smallest both FRR and GoBGP accept
	// callBound is what each call of a cut director is given, and must
	// keep.
	callBound = 2 * time.Second
	// stopBound is the longest a graceful Stop may take to reach the
	// router's kernel.
	stopBound = time.Second
)

var (
	labNet    = netip.MustParsePrefix("192.0.2.0/24")
	vip       = netip.MustParsePrefix("203.0.113.10/32")
	vip2      = netip.MustParsePrefix("203.0.113.11/32")
	community = bgp.Community(directorAS<<16 | 100)
)

// TestNetnsFRRECMP: a router namespace runs FRR with multipath; three
// director namespaces each run a Speaker announcing the same VIP/32. The
// router's kernel has the VIP with three next hops; a director's Stop
// takes its next hop away at once; a director whose link goes down (a
// power-off) loses its next hop after the hold time; every call on the
// cut director returns within its bound. Times are measured and logged.
func TestNetnsFRRECMP(t *testing.T) {
	lab := netns.NewT(t)
	RequireFRR(t)
	lan, err := lab.AddSegment("lan", labNet)
	if err != nil {
		t.Fatal(err)
	}
	rh, err := lab.AddHost("router")
	if err != nil {
		t.Fatal(err)
	}
	if err := rh.Attach(lan, "eth0", lan.Addr(1)); err != nil {
		t.Fatal(err)
	}
	routerAddr := lan.Addr(1).Addr()
	names := []string{"d1", "d2", "d3"}
	// d3 signs its session with TCP MD5.
	passwords := map[string]string{"d3": "lab-md5-secret"}
	var hosts []*netns.Host
	var rcfg = RouterConfig{AS: routerAS, RouterID: routerAddr, HoldTime: holdTime}
	for i, name := range names {
		h, err := lab.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Attach(lan, "eth0", lan.Addr(11+i)); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
		rcfg.Neighbors = append(rcfg.Neighbors, RouterNeighbor{Addr: lan.Addr(11 + i).Addr(), AS: directorAS, Password: passwords[name]})
	}
	router := StartRouter(t, rh, rcfg)
	if out, err := rh.Run("sysctl", "-n", "net.ipv4.fib_multipath_hash_policy"); err != nil || strings.TrimSpace(out) != "1" {
		t.Fatalf("router: fib_multipath_hash_policy is %q (%v), want 1", out, err)
	}

	dirs := map[string]*director{}
	for i, name := range names {
		dirs[name] = startDirector(t, hosts[i], bgp.Config{
			Node: name, LocalAS: directorAS, RouterID: lan.Addr(11 + i).Addr(),
			Neighbors:   []bgp.Neighbor{{Addr: routerAddr, PeerAS: routerAS, HoldTime: holdTime, Password: passwords[name]}},
			Communities: []bgp.Community{community},
		})
	}
	for _, name := range names {
		waitEstablished(t, dirs[name], 30*time.Second)
	}

	// Announce on all three: three next hops.
	start := time.Now()
	for _, name := range names {
		dirs[name].must("announce", vip)
	}
	all := []netip.Addr{dirs["d1"].addr, dirs["d2"].addr, dirs["d3"].addr}
	at := router.WaitNextHops(vip, all, 10*time.Second)
	t.Logf("router installed %v via %v %v after the announcements", vip, all, at.Sub(start).Round(time.Millisecond))
	paths, err := router.Paths(vip)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Fatalf("bgpd has %d paths for %v, want 3: %+v", len(paths), vip, paths)
	}
	for _, p := range paths {
		if !p.Multipath || !strings.Contains(p.Communities, community.String()) {
			t.Errorf("bgpd path %+v: want multipath with community %v", p, community)
		}
	}
	for _, name := range names {
		checkSession(t, dirs[name], 1)
		n, err := router.Neighbor(dirs[name].addr)
		if err != nil {
			t.Fatal(err)
		}
		if n.State != "Established" || n.PrefixesRcv != 1 || n.HoldTimeMs != int(holdTime/time.Millisecond) {
			t.Errorf("bgpd's session with %s: %+v, want Established, 1 prefix, hold %v", name, n, holdTime)
		}
	}

	// A graceful Stop: withdraw, then Cease. Measured from the call to
	// the router's kernel route.
	start = time.Now()
	r := dirs["d1"].must("stop", netip.Prefix{})
	took := router.WaitNextHops(vip, all[1:], 10*time.Second).Sub(start)
	t.Logf("d1 Stop returned in %v; the router's kernel dropped d1's next hop %v after the call", r.Took.Round(time.Millisecond), took.Round(time.Millisecond))
	if took > stopBound {
		t.Errorf("d1's graceful stop took %v to reach the router's kernel, bound %v", took, stopBound)
	}
	if n, err := router.Neighbor(dirs["d1"].addr); err != nil || n.State == "Established" {
		t.Errorf("bgpd's session with d1 after its Stop: %+v, %v", n, err)
	}

	// d2's link goes down, as when it loses power: the router hears
	// nothing more and must wait for the hold time.
	d2 := dirs["d2"]
	cut := time.Now()
	if err := d2.host.LinkDown("eth0"); err != nil {
		t.Fatal(err)
	}
	// Every call on the cut director keeps its bound, while it still
	// believes its session is up.
	for _, c := range []struct {
		op     string
		prefix netip.Prefix
	}{{"sessions", netip.Prefix{}}, {"announce", vip2}, {"withdraw", vip2}, {"stop", netip.Prefix{}}} {
		r := d2.do(c.op, c.prefix, callBound)
		t.Logf("d2 (cut) %s: %q in %v", c.op, r.Err, r.Took.Round(time.Microsecond))
		if r.Took > callBound+200*time.Millisecond {
			t.Errorf("d2 (cut) %s took %v, bound %v", c.op, r.Took, callBound)
		}
	}
	if since := time.Since(cut); since > holdTime/2 {
		t.Fatalf("the calls on d2 took %v since the cut: too long to measure the hold time", since)
	}
	took = router.WaitNextHops(vip, all[2:], holdTime+5*time.Second).Sub(cut)
	t.Logf("d2 cut (link down): the router's kernel dropped d2's next hop %v after the cut (hold time %v)", took.Round(time.Millisecond), holdTime)
	if took < holdTime-time.Second || took > holdTime+2*time.Second {
		t.Errorf("d2's next hop went %v after the cut, want within the hold time %v (minus one keepalive, plus 2s)", took, holdTime)
	}
	if n, err := router.Neighbor(d2.addr); err != nil || n.State == "Established" {
		t.Errorf("bgpd's session with d2 after the cut: %+v, %v", n, err)
	} else {
		t.Logf("bgpd's session with d2: %s, last reset: %s", n.State, n.LastReset)
	}

	// d3 is unmoved: its session Established, one prefix sent. Its Stop
	// leaves the VIP with no route.
	checkSession(t, dirs["d3"], 1)
	start = time.Now()
	dirs["d3"].must("stop", netip.Prefix{})
	took = router.WaitNextHops(vip, nil, 10*time.Second).Sub(start)
	t.Logf("d3 Stop: the router has no route to %v %v after the call", vip, took.Round(time.Millisecond))
	if took > stopBound {
		t.Errorf("d3's graceful stop took %v to reach the router's kernel, bound %v", took, stopBound)
	}
}

// waitEstablished waits until the director's only session is Established.
func waitEstablished(t *testing.T, d *director, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last response
	for time.Now().Before(deadline) {
		last = d.must("sessions", netip.Prefix{})
		if len(last.Sessions) == 1 && last.Sessions[0].State == bgp.StateEstablished {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: session not Established within %v: %+v", d.name, timeout, last.Sessions)
}

// checkSession checks what Sessions reports of the director's session.
func checkSession(t *testing.T, d *director, sent uint64) {
	t.Helper()
	r := d.must("sessions", netip.Prefix{})
	if len(r.Sessions) != 1 {
		t.Fatalf("%s: %d sessions, want 1", d.name, len(r.Sessions))
	}
	s := r.Sessions[0]
	t.Logf("%s: Sessions() = %+v", d.name, s)
	if s.State != bgp.StateEstablished || s.Sent != sent || s.HoldTime != holdTime || s.PeerAS != routerAS {
		t.Errorf("%s: session %+v: want Established, %d sent, hold %v, AS %d", d.name, s, sent, holdTime, routerAS)
	}
}
