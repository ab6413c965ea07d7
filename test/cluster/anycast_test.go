//go:build linux

package cluster

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bgptest "hbgo/test/bgp"
	"hbgo/test/netns"
	"hbgo/test/peers"
)

// TestClusterAnycastBGP: three directors run one anycast group
// (BGPaddr::VIP) and announce it to a router running FRR; the router's
// kernel holds the VIP with every director as a next hop (ECMP).
// hb_standby on one director withdraws it there and hb_takeover brings it
// back; a graceful stop withdraws it before the daemon goes; a director
// that loses power is dropped when the router's hold time (3 s) ends,
// and the last director keeps announcing without a quorum.
func TestClusterAnycastBGP(t *testing.T) {
	l := newAnycastLab(t, 3)
	c, r, client, vip, addr, all := l.c, l.r, l.client, l.vip, l.addr, l.all
	web := l.web

	if out, _ := c.Command("n2", "status"); !strings.Contains(out, "Established") || !strings.Contains(out, "Announced: "+vip.String()) {
		t.Errorf("hbgo status on n2 does not show its BGP session established and the VIP announced:\n%s", out)
	}

	// New flows (a new source port each) spread over the three.
	spread := map[string]int{}
	for i := 0; i < 300; i++ {
		if who, err := askVIP(client, vip.Addr(), i); err == nil {
			spread[who]++
		}
	}
	t.Logf("300 new flows through the router: %v", spread)
	for _, n := range []string{"n1", "n2", "n3"} {
		if spread[n] < 50 {
			t.Errorf("%s answered %d of 300 new flows, want at least 50 (ECMP over three): %v", n, spread[n], spread)
		}
	}
	// The real server goes down: every director withdraws the VIP; it
	// comes back: every director announces it again.
	t3 := time.Now()
	web.Close()
	took := r.WaitNextHops(vip, nil, 20*time.Second).Sub(t3)
	t.Logf("the real server went down: the VIP withdrawn by every director %v later", took.Round(time.Millisecond))
	t3 = time.Now()
	web = startListener(t, l.rs, ":80")
	took = r.WaitNextHops(vip, all, 20*time.Second).Sub(t3)
	t.Logf("the real server came back: the VIP announced by every director %v later", took.Round(time.Millisecond))
	defer web.Close()

	fl := startFlows(client, vip.Addr())
	defer fl.stop()
	for _, n := range []string{"n1", "n2", "n3"} {
		out, _ := c.Members[n].Host.Run("ip", "-o", "addr", "show", "dev", "lo")
		if !strings.Contains(out, vip.String()) {
			t.Errorf("%s: the anycast VIP is not on lo:\n%s", n, out)
		}
	}

	// hb_standby withdraws it on n2 (and the command returns once it has),
	// hb_takeover announces it again.
	t0 := time.Now()
	if out, code := c.Command("n2", "hb_standby"); code != 0 {
		t.Fatalf("hb_standby on n2: exit %d\n%s", code, out)
	}
	took = r.WaitNextHops(vip, []netip.Addr{addr["n1"], addr["n3"]}, 10*time.Second).Sub(t0)
	t.Logf("hb_standby on n2: the router dropped its next hop %v after the command began", took.Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	if f := fl.take(); f.failed > 0 || f.per["n2"] > 0 && f.lastFrom["n2"].After(t0.Add(took)) {
		t.Errorf("flows during and after hb_standby on n2: %+v", f)
	} else {
		t.Logf("flows through hb_standby on n2: %d, none failed", f.total)
	}
	if out, _ := c.Command("n2", "status"); !strings.Contains(out, "BGPaddr") || !strings.Contains(out, "Announced: none") {
		t.Errorf("hbgo status on n2 after hb_standby does not list the anycast group, or does not say nothing is announced:\n%s", out)
	}
	if out, code := c.Command("n2", "hb_takeover"); code != 0 {
		t.Fatalf("hb_takeover on n2: exit %d\n%s", code, out)
	}
	r.WaitNextHops(vip, all, 20*time.Second)
	fl.take()

	// A graceful stop withdraws first: no flow fails.
	t1 := time.Now()
	c.Signal("n3", syscall.SIGTERM)
	took = r.WaitNextHops(vip, []netip.Addr{addr["n1"], addr["n2"]}, 20*time.Second).Sub(t1)
	t.Logf("SIGTERM on n3: the router dropped its next hop %v after the signal", took.Round(time.Millisecond))
	if err := c.WaitExit("n3", 30*time.Second); err != nil {
		t.Errorf("n3 after SIGTERM: %v", err)
	}
	if f := fl.take(); f.failed > 0 {
		t.Errorf("flows through n3's graceful stop: %+v", f)
	} else {
		t.Logf("flows through n3's graceful stop: %d, none failed", f.total)
	}

	// n3 comes back and gets its share of new flows.
	t4 := time.Now()
	c.Start("n3")
	took = r.WaitNextHops(vip, all, 60*time.Second).Sub(t4)
	time.Sleep(300 * time.Millisecond)
	fl.take()
	time.Sleep(3 * time.Second)
	f := fl.take()
	t.Logf("n3 started again: announced %v later; then %d new flows: %v", took.Round(time.Millisecond), f.total, f.per)
	if f.failed > 0 || f.per["n3"] < f.total/6 {
		t.Errorf("flows after n3 came back: %+v, want n3 to get a share and none to fail", f)
	}

	// A power loss: the router drops n1 when its hold time ends.
	t2 := time.Now()
	c.PowerOff("n1")
	took = r.WaitNextHops(vip, []netip.Addr{addr["n2"], addr["n3"]}, 15*time.Second).Sub(t2)
	t.Logf("n1 powered off: the router dropped its next hop %v later (hold time 3s)", took.Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	f = fl.take()
	if f.failed > 0 && f.lastFail.Sub(t2) > took+200*time.Millisecond {
		t.Errorf("a flow failed %v after n1's power-off, after the router had dropped it: %+v", f.lastFail.Sub(t2), f)
	}
	t.Logf("flows through n1's power-off: %d, %d failed (those the router still sent to n1), the last %v after it", f.total, f.failed, f.lastFail.Sub(t2).Round(time.Millisecond))
	// n3 loses power too: n2, alone of three and without a quorum, goes
	// on announcing: behind ECMP a director serves correctly whoever
	// else is up.
	c.PowerOff("n3")
	r.WaitNextHops(vip, []netip.Addr{addr["n2"]}, 15*time.Second)
	time.Sleep(500 * time.Millisecond)
	fl.take()
	time.Sleep(500 * time.Millisecond)
	if f := fl.take(); f.failed > 0 || f.per["n2"] != f.total || f.total == 0 {
		t.Errorf("flows with n2 alone: %+v", f)
	}
}

// anycastLab is n directors announcing one anycast VIP to FRR, a client
// behind the router, and one real server for the VIP's ldirector.
type anycastLab struct {
	c      *Cluster
	r      *bgptest.Router
	client *netns.Host
	rs     *netns.Host
	web    net.Listener
	vip    netip.Prefix
	addr   map[string]netip.Addr
	names  []string
	all    []netip.Addr
}

func newAnycastLab(t testing.TB, n int) *anycastLab {
	bgptest.RequireFRR(t)
	l := &anycastLab{vip: netip.MustParsePrefix("10.99.0.100/32"), addr: map[string]netip.Addr{}}
	var neigh []bgptest.RouterNeighbor
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		l.names = append(l.names, name)
		l.addr[name] = netip.MustParseAddr(fmt.Sprintf("10.81.0.%d", i))
		l.all = append(l.all, l.addr[name])
		neigh = append(neigh, bgptest.RouterNeighbor{Addr: l.addr[name], AS: 65001})
	}
	vip := l.vip
	c := New(t, Spec{
		Directors:   l.names,
		Links:       1,
		Router:      true,
		Extra:       "bgp_as 65001\nbgp_neighbor " + RouterAddr + " 65000 hold 3\n",
		Haresources: "n1 BGPaddr::" + vip.String() + " ldirectord::ldirectord.cf\n",
		// The VIP's web service and its one real server: while no real
		// server is up, every director withdraws the VIP.
		Files: map[string]string{"ldirectord.cf": "checkinterval = 200ms\nchecktimeout = 1s\nquiescent = no\n" +
			"virtual = " + vip.Addr().String() + ":80\n\tscheduler = mh\n\treal = 10.81.0.50:80 gate\n\tchecktype = connect\n"},
	})
	l.c = c
	l.r = bgptest.StartRouter(t, c.Lab.Host("router"), bgptest.RouterConfig{
		AS: 65000, RouterID: netip.MustParseAddr(RouterAddr), HoldTime: 3 * time.Second, Neighbors: neigh,
	})
	// A client behind the router; each director answers on the VIP
	// (UDP echo, "SEQ NAME") and routes the client's subnet back through
	// the router.
	cseg, err := c.Lab.AddSegment("clients", netip.MustParsePrefix("10.88.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Lab.Host("router").Attach(cseg, "eth1", netip.MustParsePrefix("10.88.0.254/24")); err != nil {
		t.Fatal(err)
	}
	if l.client, err = c.Lab.AddHost("client"); err != nil {
		t.Fatal(err)
	}
	if err := l.client.Attach(cseg, "eth0", netip.MustParsePrefix("10.88.0.1/24")); err != nil {
		t.Fatal(err)
	}
	if out, err := l.client.Run("ip", "route", "add", "default", "via", "10.88.0.254"); err != nil {
		t.Fatalf("client route: %v %s", err, out)
	}
	if l.rs, err = c.Lab.AddHost("rs"); err != nil {
		t.Fatal(err)
	}
	if err := l.rs.Attach(c.Lab.Segment("hb0"), "eth0", netip.MustParsePrefix("10.81.0.50/24")); err != nil {
		t.Fatal(err)
	}
	l.web = startListener(t, l.rs, ":80")
	for _, n := range l.names {
		h := c.Members[n].Host
		if out, err := h.Run("ip", "route", "add", "10.88.0.0/24", "via", RouterAddr); err != nil {
			t.Fatalf("%s route: %v %s", n, err, out)
		}
		if err := peers.StartEcho(h, n); err != nil {
			t.Fatal(err)
		}
	}
	c.StartAll()
	l.r.WaitNextHops(vip, l.all, 60*time.Second)
	return l
}

// askVIP sends one request to the VIP's echo from a new socket (a new
// source port, so a new flow for the router's layer-4 hash) and returns
// the name of the director that answered.
func askVIP(client *netns.Host, vip netip.Addr, seq int) (string, error) {
	var conn *net.UDPConn
	if err := client.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	}); err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.WriteToUDPAddrPort([]byte(fmt.Sprint(seq)), netip.AddrPortFrom(vip, peers.EchoPort)); err != nil {
		return "", err
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 64)
	n, _, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return "", err
	}
	_, who, _ := strings.Cut(string(buf[:n]), " ")
	return who, nil
}

// flows asks the VIP from a new flow every 5 ms in the background.
type flows struct {
	mu   sync.Mutex
	cur  flowCount
	done chan struct{}
	wg   sync.WaitGroup
}

type flowCount struct {
	total, failed int
	per           map[string]int
	lastFrom      map[string]time.Time
	lastFail      time.Time
}

func startFlows(client *netns.Host, vip netip.Addr) *flows {
	f := &flows{done: make(chan struct{}), cur: flowCount{per: map[string]int{}, lastFrom: map[string]time.Time{}}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-f.done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			at := time.Now()
			who, err := askVIP(client, vip, i)
			f.mu.Lock()
			f.cur.total++
			if err != nil {
				f.cur.failed++
				f.cur.lastFail = at
			} else {
				f.cur.per[who]++
				f.cur.lastFrom[who] = at
			}
			f.mu.Unlock()
		}
	}()
	return f
}

// take returns the counts since the last take and starts new ones.
func (f *flows) take() flowCount {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cur
	f.cur = flowCount{per: map[string]int{}, lastFrom: map[string]time.Time{}}
	return c
}

func (f *flows) stop() {
	close(f.done)
	f.wg.Wait()
}

// startListener accepts TCP connections on addr in host h (a real server
// for the ldirector's connect checks) until it is closed.
func startListener(t testing.TB, h *netns.Host, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := h.Do(func() (err error) {
		l, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l
}
