//go:build linux

package cluster

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	bgptest "hbgo/test/bgp"
)

// TestClusterAnycastBGP: three directors run one anycast group
// (BGPaddr::VIP) and announce it to a router running FRR; the router's
// kernel holds the VIP with every director as a next hop (ECMP).
// hb_standby on one director withdraws it there and hb_takeover brings it
// back; a graceful stop withdraws it before the daemon goes; a director
// that loses power is dropped when the router's hold time (3 s) ends,
// and the last director keeps announcing without a quorum.
func TestClusterAnycastBGP(t *testing.T) {
	bgptest.RequireFRR(t)
	vip := netip.MustParsePrefix("10.99.0.100/32")
	c := New(t, Spec{
		Directors:   []string{"n1", "n2", "n3"},
		Links:       1,
		Router:      true,
		Extra:       "bgp_as 65001\nbgp_neighbor " + RouterAddr + " 65000 hold 3\n",
		Haresources: "n1 BGPaddr::" + vip.String() + "\n",
	})
	addr := map[string]netip.Addr{
		"n1": netip.MustParseAddr("10.81.0.1"), "n2": netip.MustParseAddr("10.81.0.2"), "n3": netip.MustParseAddr("10.81.0.3"),
	}
	r := bgptest.StartRouter(t, c.Lab.Host("router"), bgptest.RouterConfig{
		AS: 65000, RouterID: netip.MustParseAddr(RouterAddr), HoldTime: 3 * time.Second,
		Neighbors: []bgptest.RouterNeighbor{{Addr: addr["n1"], AS: 65001}, {Addr: addr["n2"], AS: 65001}, {Addr: addr["n3"], AS: 65001}},
	})
	c.StartAll()
	all := []netip.Addr{addr["n1"], addr["n2"], addr["n3"]}
	r.WaitNextHops(vip, all, 60*time.Second)
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
	took := r.WaitNextHops(vip, []netip.Addr{addr["n1"], addr["n3"]}, 10*time.Second).Sub(t0)
	t.Logf("hb_standby on n2: the router dropped its next hop %v after the command began", took.Round(time.Millisecond))
	if out, _ := c.Command("n2", "status"); !strings.Contains(out, "BGPaddr") {
		t.Errorf("hbgo status on n2 does not list the anycast group:\n%s", out)
	}
	if out, code := c.Command("n2", "hb_takeover"); code != 0 {
		t.Fatalf("hb_takeover on n2: exit %d\n%s", code, out)
	}
	r.WaitNextHops(vip, all, 20*time.Second)

	// A graceful stop withdraws first.
	t1 := time.Now()
	c.Signal("n3", syscall.SIGTERM)
	took = r.WaitNextHops(vip, []netip.Addr{addr["n1"], addr["n2"]}, 20*time.Second).Sub(t1)
	t.Logf("SIGTERM on n3: the router dropped its next hop %v after the signal", took.Round(time.Millisecond))
	if err := c.WaitExit("n3", 30*time.Second); err != nil {
		t.Errorf("n3 after SIGTERM: %v", err)
	}

	// A power loss: the router drops n1 when its hold time ends. n2, alone
	// of three and without a quorum, goes on announcing: behind ECMP a
	// director serves correctly whoever else is up.
	t2 := time.Now()
	c.PowerOff("n1")
	took = r.WaitNextHops(vip, []netip.Addr{addr["n2"]}, 15*time.Second).Sub(t2)
	t.Logf("n1 powered off: the router dropped its next hop %v later (hold time 3s)", took.Round(time.Millisecond))
}
