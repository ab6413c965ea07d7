//go:build linux

package bgptest

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"hbgo/bgp"
	"hbgo/test/netns"
)

const (
	// bfdBound is how soon the router must drop a cut director that runs
	// BFD (100 ms x 3 on both sides, so about 300 ms plus bgpd's and
	// zebra's work); generous for a loaded 2-core machine, and still well
	// under the 3 s hold time.
	bfdBound = 1500 * time.Millisecond
	// bfdInterval and bfdMultiplier are both sides' BFD timers.
	bfdInterval   = 100 * time.Millisecond
	bfdMultiplier = 3
)

// bfdLab is a router running FRR (zebra, bgpd, bfdd) and directors on one
// segment, each director running a Speaker with one session to the
// router, with BFD or without.
type bfdLab struct {
	router *Router
	dirs   map[string]*director
	addr   map[string]netip.Addr
}

// newBFDLab builds the lab on subnet (IPv4 or IPv6): the router is its
// first address, director i its 11+i-th; withBFD says which directors
// (and the router's side of their sessions) run BFD.
func newBFDLab(t *testing.T, subnet netip.Prefix, names []string, withBFD map[string]bool) *bfdLab {
	t.Helper()
	lab := netns.NewT(t)
	RequireFRR(t)
	lan, err := lab.AddSegment("lan", subnet)
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
	l := &bfdLab{dirs: map[string]*director{}, addr: map[string]netip.Addr{}}
	rcfg := RouterConfig{AS: routerAS, RouterID: netip.MustParseAddr("192.0.2.1"), HoldTime: holdTime,
		BFDInterval: bfdInterval, BFDMultiplier: bfdMultiplier}
	hosts := map[string]*netns.Host{}
	for i, name := range names {
		h, err := lab.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Attach(lan, "eth0", lan.Addr(11+i)); err != nil {
			t.Fatal(err)
		}
		hosts[name] = h
		l.addr[name] = lan.Addr(11 + i).Addr()
		rcfg.Neighbors = append(rcfg.Neighbors, RouterNeighbor{Addr: l.addr[name], AS: directorAS, BFD: withBFD[name]})
	}
	l.router = StartRouter(t, rh, rcfg)
	for i, name := range names {
		n := bgp.Neighbor{Addr: routerAddr, PeerAS: routerAS, HoldTime: holdTime}
		if withBFD[name] {
			n.BFD, n.BFDInterval, n.BFDMultiplier = true, bfdInterval, bfdMultiplier
		}
		l.dirs[name] = startDirector(t, hosts[name], bgp.Config{
			Node: name, LocalAS: directorAS, RouterID: netip.AddrFrom4([4]byte{192, 0, 2, byte(11 + i)}),
			Neighbors: []bgp.Neighbor{n},
		})
		// The director's own address on the lab, of the lab's family.
		l.dirs[name].addr = l.addr[name]
	}
	for _, name := range names {
		waitEstablished(t, l.dirs[name], 30*time.Second)
	}
	return l
}

// announceAll announces p on every director and waits for the router's
// kernel to have them all as next hops.
func (l *bfdLab) announceAll(t *testing.T, p netip.Prefix, names []string) []netip.Addr {
	t.Helper()
	var all []netip.Addr
	for _, name := range names {
		l.dirs[name].must("announce", p)
		all = append(all, l.addr[name])
	}
	start := time.Now()
	at := l.router.WaitNextHops(p, all, 20*time.Second)
	t.Logf("router installed %v via %v %v after the announcements", p, all, at.Sub(start).Round(time.Millisecond))
	return all
}

// waitBFD waits until the director reports its session's BFD state as
// want.
func waitBFD(t *testing.T, d *director, want bgp.BFDState, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last response
	for time.Now().Before(deadline) {
		last = d.must("sessions", netip.Prefix{})
		if len(last.Sessions) == 1 && last.Sessions[0].BFD == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: BFD not %q within %v: %+v", d.name, want, timeout, last.Sessions)
}

// goneTimes polls the router's kernel route for p every few milliseconds
// until none of watch is a next hop any more, or timeout, and returns
// when each went, measured from since (absent: still there).
func goneTimes(t *testing.T, r *Router, p netip.Prefix, watch []netip.Addr, since time.Time, timeout time.Duration) map[netip.Addr]time.Duration {
	t.Helper()
	gone := map[netip.Addr]time.Duration{}
	for time.Since(since) < timeout && len(gone) < len(watch) {
		hops, err := r.NextHops(p)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Since(since)
		for _, a := range watch {
			if _, ok := gone[a]; !ok && !slices.Contains(hops, a) {
				gone[a] = now
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return gone
}

// TestNetnsFRRBFD: two directors announce one VIP to FRR; d1's session
// runs BFD (bfdd on the router, GoBGP's on the director, 100 ms x 3 on
// both sides), d2's does not. Both lose their links at the same moment,
// as in a power cut: the router drops d1 within bfdBound, well under the
// 3 s hold time, and d2 only when the hold time ends (the control). d1's
// speaker also drops its session within bfdBound. When d1's link comes
// back, BFD and the session come up again and the router has d1's next
// hop back.
func TestNetnsFRRBFD(t *testing.T) {
	names := []string{"d1", "d2"}
	l := newBFDLab(t, labNet, names, map[string]bool{"d1": true})
	r, d1, d2 := l.router, l.dirs["d1"], l.dirs["d2"]
	l.announceAll(t, vip, names)

	peers := r.WaitBFDUp([]netip.Addr{l.addr["d1"]}, 20*time.Second)
	t.Logf("bfdd's sessions: %+v", peers)
	for _, p := range peers {
		if p.Peer == l.addr["d1"] && (p.Transmit != 100 || p.Receive != 100 || p.RemoteTrans != 100 || p.RemoteReceive != 100 || p.Multiplier != bfdMultiplier) {
			t.Errorf("bfdd's session with d1: %+v, want 100 ms both ways on both sides, multiplier %d", p, bfdMultiplier)
		}
		if p.Peer == l.addr["d2"] {
			t.Errorf("bfdd has a session with d2, which runs no BFD: %+v", p)
		}
	}
	waitBFD(t, d1, bgp.BFDUp, 10*time.Second)
	if s := d2.must("sessions", netip.Prefix{}).Sessions; len(s) != 1 || s[0].BFD != "" {
		t.Errorf("d2 (no BFD): sessions %+v, want no BFD state", s)
	}

	// Both links go down at once: a power cut of both directors.
	cut := time.Now()
	for _, d := range []*director{d1, d2} {
		if err := d.host.LinkDown("eth0"); err != nil {
			t.Fatal(err)
		}
	}
	// d1's speaker notices too: BFD hears the router no more.
	var d1Down time.Duration
	for time.Since(cut) < holdTime+2*time.Second {
		s := d1.must("sessions", netip.Prefix{}).Sessions
		if len(s) == 1 && s[0].State != bgp.StateEstablished {
			d1Down = time.Since(cut)
			t.Logf("d1 (cut): its session %s %v after the cut, BFD %s, last error %q", s[0].State, d1Down.Round(time.Millisecond), s[0].BFD, s[0].LastError)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	gone := goneTimes(t, r, vip, []netip.Addr{l.addr["d1"], l.addr["d2"]}, cut, holdTime+5*time.Second)
	g1, ok1 := gone[l.addr["d1"]]
	g2, ok2 := gone[l.addr["d2"]]
	t.Logf("both cut: the router's kernel dropped d1 (BFD) %v and d2 (no BFD) %v after the cut (hold time %v)", g1.Round(time.Millisecond), g2.Round(time.Millisecond), holdTime)
	switch {
	case !ok1:
		t.Errorf("d1 (BFD) still a next hop %v after the cut", holdTime+5*time.Second)
	case g1 > bfdBound:
		t.Errorf("d1 (BFD) dropped %v after the cut, want within %v", g1, bfdBound)
	}
	switch {
	case !ok2:
		t.Errorf("d2 (no BFD) still a next hop %v after the cut", holdTime+5*time.Second)
	case g2 < holdTime-time.Second:
		t.Errorf("d2 (no BFD) dropped %v after the cut, before its hold time could end (%v, less the keepalive interval)", g2, holdTime)
	}
	if d1Down == 0 || d1Down > bfdBound {
		t.Errorf("d1's speaker dropped its session %v after the cut, want within %v", d1Down, bfdBound)
	}
	if n, err := r.Neighbor(l.addr["d1"]); err == nil {
		t.Logf("bgpd's session with d1: %s, last reset: %s", n.State, n.LastReset)
	}

	// d1's link comes back: BFD up, the session again, the next hop back.
	back := time.Now()
	if err := d1.host.LinkUp("eth0"); err != nil {
		t.Fatal(err)
	}
	r.WaitNextHops(vip, []netip.Addr{l.addr["d1"]}, 30*time.Second)
	r.WaitBFDUp([]netip.Addr{l.addr["d1"]}, 10*time.Second)
	waitBFD(t, d1, bgp.BFDUp, 10*time.Second)
	t.Logf("d1's link up again: its next hop back %v later, BFD up", time.Since(back).Round(time.Millisecond))
}

// TestNetnsFRRIPv6: two directors keep IPv6 sessions with FRR over an
// IPv6-only segment and announce one VIP/128; the router's kernel has the
// VIP with both directors' addresses as next hops. d1's session runs BFD
// over IPv6: when its link goes down the router drops it within bfdBound.
// d2's graceful Stop then leaves the VIP with no route.
func TestNetnsFRRIPv6(t *testing.T) {
	names := []string{"d1", "d2"}
	l := newBFDLab(t, netip.MustParsePrefix("2001:db8:2::/64"), names, map[string]bool{"d1": true})
	r := l.router
	vip6 := netip.MustParsePrefix("2001:db8:100::10/128")
	all := l.announceAll(t, vip6, names)

	paths, err := r.Paths(vip6)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("bgpd has %d paths for %v, want 2: %+v", len(paths), vip6, paths)
	}
	for _, p := range paths {
		if !p.Multipath || !slices.Contains(all, p.NextHop) {
			t.Errorf("bgpd's path %+v: want multipath with a director's address as next hop", p)
		}
	}
	out, err := r.host.Run("ip", "-6", "route", "show", vip6.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the router's kernel: ip -6 route show %v:\n%s", vip6, out)
	for _, name := range names {
		checkSession(t, l.dirs[name], 1)
		n, err := r.Neighbor(l.addr[name])
		if err != nil {
			t.Fatal(err)
		}
		if n.State != "Established" || n.PrefixesRcv != 1 {
			t.Errorf("bgpd's session with %s: %+v, want Established, 1 prefix", name, n)
		}
	}
	r.WaitBFDUp([]netip.Addr{l.addr["d1"]}, 20*time.Second)
	waitBFD(t, l.dirs["d1"], bgp.BFDUp, 10*time.Second)

	cut := time.Now()
	if err := l.dirs["d1"].host.LinkDown("eth0"); err != nil {
		t.Fatal(err)
	}
	took := r.WaitNextHops(vip6, []netip.Addr{l.addr["d2"]}, holdTime+5*time.Second).Sub(cut)
	t.Logf("d1 cut (IPv6, BFD): the router's kernel dropped its next hop %v after the cut", took.Round(time.Millisecond))
	if took > bfdBound {
		t.Errorf("d1 (IPv6, BFD) dropped %v after the cut, want within %v", took, bfdBound)
	}

	start := time.Now()
	l.dirs["d2"].must("stop", netip.Prefix{})
	took = r.WaitNextHops(vip6, nil, 10*time.Second).Sub(start)
	t.Logf("d2 Stop: the router has no route to %v %v after the call", vip6, took.Round(time.Millisecond))
	if took > stopBound {
		t.Errorf("d2's graceful stop took %v to reach the router's kernel, bound %v", took, stopBound)
	}
}
