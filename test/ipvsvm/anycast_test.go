package ipvsvm

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"

	"hbgo/lvs"
	"hbgo/resources"
	"hbgo/test/netns"
)

// TestInVMAnycastMH: three directors behind ECMP, as anycast groups run
// them (the VIP on lo, the same IPVS table with the mh scheduler, the
// sysctls BGPaddr sets), and three direct-routing real servers. The
// client's route to the VIP stands for the router's ECMP choice. Long-lived
// connections made through one director go on through another when the
// first is lost and the router sends their flows elsewhere: mh over the
// same table picks the same real server, and sloppy_tcp lets the second
// director take a flow it never saw open. Without sloppy_tcp they break,
// which shows the test can fail.
func TestInVMAnycastMH(t *testing.T) {
	inVM(t)
	lab := netns.NewT(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	front, err := lab.AddSegment("front", netip.MustParsePrefix("192.0.2.0/24"))
	must(err)
	host := func(name string, n int) *netns.Host {
		h, err := lab.AddHost(name)
		must(err)
		must(h.Attach(front, "eth0", front.Addr(n)))
		return h
	}
	vipAddr := netip.MustParseAddr("192.0.2.200")
	svc := netip.AddrPortFrom(vipAddr, 81)
	client := host("client", 1)
	e := lvs.Entry{Service: lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: svc}, Scheduler: "mh", SchedFlags: []string{"mh-port"}}}
	for i := 1; i <= 3; i++ {
		g := host(fmt.Sprintf("g%d", i), 10+i)
		sysctl(t, g, "net.ipv4.conf.all.arp_ignore", "1")
		sysctl(t, g, "net.ipv4.conf.all.arp_announce", "2")
		addAddr(t, g, "lo", netip.PrefixFrom(vipAddr, 32))
		serve(t, g, 81)
		e.Dests = append(e.Dests, lvs.Dest{Addr: netip.MustParseAddrPort(fmt.Sprintf("192.0.2.%d:81", 10+i)), Method: lvs.Gate, Weight: 1})
	}
	var dirs []*netns.Host
	for i := 1; i <= 3; i++ {
		d := host(fmt.Sprintf("d%d", i), 1+i)
		sysctl(t, d, "net.ipv4.conf.all.arp_ignore", "1")
		sysctl(t, d, "net.ipv4.conf.all.arp_announce", "2")
		addAddr(t, d, "lo", netip.PrefixFrom(vipAddr, 32))
		k := openTable(t, d)
		have, err := k.List(bg)
		must(err)
		must(lvs.Apply(bg, k, lvs.Diff(have, []lvs.Entry{e}, ownAll)))
		must(d.Do(resources.AnycastSysctls))
		var got []byte
		must(d.Do(func() (err error) {
			got, err = os.ReadFile("/proc/sys/net/ipv4/vs/sloppy_tcp")
			return err
		}))
		if string(got) != "1\n" {
			t.Fatalf("%s: sloppy_tcp %q after AnycastSysctls", d.Name(), got)
		}
		dirs = append(dirs, d)
	}
	via := func(d *netns.Host) {
		t.Helper()
		gw := front.Addr(2 + indexOf(dirs, d)).Addr()
		must(client.Do(func() error {
			return netlink.RouteReplace(&netlink.Route{Dst: &net.IPNet{IP: vipAddr.AsSlice(), Mask: net.CIDRMask(32, 32)}, Gw: gw.AsSlice()})
		}))
	}

	// Thirty connections through d1.
	via(dirs[0])
	conns := make([]*conn, 30)
	names := make([]string, 30)
	spread := map[string]int{}
	for i := range conns {
		conns[i] = dial(t, client, svc)
		n, err := conns[i].ask()
		must(err)
		names[i] = n
		spread[n]++
	}
	t.Logf("30 connections through d1: %v", spread)
	if len(spread) != 3 {
		t.Errorf("mh with mh-port sent 30 connections to %v, want all three real servers", spread)
	}

	// d1 is lost: the router sends its flows to d2.
	must(dirs[0].LinkDown("eth0"))
	via(dirs[1])
	survived := 0
	for i, c := range conns {
		if n, err := c.ask(); err == nil && n == names[i] {
			survived++
		} else {
			t.Errorf("connection %d to %s through d2: %q, %v", i, names[i], n, err)
		}
	}
	t.Logf("d1 lost: %d of 30 connections went on through d2", survived)

	// Control: d3 without sloppy_tcp drops what it did not see open.
	sysctl(t, dirs[2], "net.ipv4.vs.sloppy_tcp", "0")
	via(dirs[2])
	broken := 0
	for _, c := range conns[:3] {
		if _, err := c.ask(); err != nil {
			broken++
		}
	}
	t.Logf("d3 without sloppy_tcp: %d of 3 connections it never saw open broke", broken)
	if broken == 0 {
		t.Errorf("without sloppy_tcp on d3, all 3 connections d3 never saw open went on: the test cannot tell")
	}
}

func indexOf(hs []*netns.Host, h *netns.Host) int {
	for i, x := range hs {
		if x == h {
			return i
		}
	}
	return -1
}
