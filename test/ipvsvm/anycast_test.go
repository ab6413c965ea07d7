package ipvsvm

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

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
// anycastVM is the lab of the anycast tests in the VM: a client, three
// directors with the VIP on lo and the same mh table, three real servers
// (direct routing), and a fourth real server g4 in no table yet.
type anycastVM struct {
	client *netns.Host
	dirs   []*netns.Host
	tables []*lvs.Kernel
	entry  lvs.Entry
	svc    netip.AddrPort
	via    func(d *netns.Host)
}

func newAnycastVM(t *testing.T) *anycastVM {
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
	var tables []*lvs.Kernel
	for i := 1; i <= 3; i++ {
		d := host(fmt.Sprintf("d%d", i), 1+i)
		sysctl(t, d, "net.ipv4.conf.all.arp_ignore", "1")
		sysctl(t, d, "net.ipv4.conf.all.arp_announce", "2")
		addAddr(t, d, "lo", netip.PrefixFrom(vipAddr, 32))
		k := openTable(t, d)
		have, err := k.List(bg)
		must(err)
		must(lvs.Apply(bg, k, lvs.Diff(have, []lvs.Entry{e}, ownAll)))
		tables = append(tables, k)
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

	g4 := host("g4", 14)
	sysctl(t, g4, "net.ipv4.conf.all.arp_ignore", "1")
	sysctl(t, g4, "net.ipv4.conf.all.arp_announce", "2")
	addAddr(t, g4, "lo", netip.PrefixFrom(vipAddr, 32))
	serve(t, g4, 81)
	return &anycastVM{client: client, dirs: dirs, tables: tables, entry: e, svc: svc, via: via}
}

func TestInVMAnycastMH(t *testing.T) {
	inVM(t)
	v := newAnycastVM(t)
	client, dirs, svc, via := v.client, v.dirs, v.svc, v.via
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
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

// TestInVMAnycastSync: the same directors also run the IPVS sync daemons
// in both roles (LVSSyncDaemonSwap::both). A real server is added to the
// other directors' tables, so that mh alone now sends some flows
// elsewhere: the connections d1 synced to d2 go on through d2 all the
// same, while d3, which runs no sync daemon, breaks some of them (the
// control).
func TestInVMAnycastSync(t *testing.T) {
	inVM(t)
	v := newAnycastVM(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range v.dirs[:2] {
		a := resources.NewLVSSyncBoth("LVSSyncDaemonSwap::both", resources.Env{LVSSync: resources.LVSSyncOptions{Interface: "eth0", SyncID: 9, Daemons: v.tables[i]}})
		must(a.Start(bg))
		t.Cleanup(func() { a.Stop(bg) })
		if st, err := a.Status(bg); st != resources.Running || err != nil {
			t.Fatalf("%s: sync daemons %v, %v", d.Name(), st, err)
		}
	}
	v.via(v.dirs[0])
	conns := make([]*conn, 60)
	names := make([]string, 60)
	for i := range conns {
		conns[i] = dial(t, v.client, v.svc)
		n, err := conns[i].ask()
		must(err)
		names[i] = n
	}
	// The sync daemon sends a connection once it has seen a few of its
	// packets; a second question adds them, and a moment lets them go.
	for i, c := range conns {
		if n, err := c.ask(); err != nil || n != names[i] {
			t.Fatalf("connection %d: %q, %v", i, n, err)
		}
	}
	time.Sleep(2 * time.Second)

	// g4 joins the tables of d2 and d3: mh now picks it for some flows.
	withG4 := v.entry
	withG4.Dests = append(append([]lvs.Dest(nil), v.entry.Dests...), lvs.Dest{Addr: netip.MustParseAddrPort("192.0.2.14:81"), Method: lvs.Gate, Weight: 1})
	for _, k := range v.tables[1:] {
		have, err := k.List(bg)
		must(err)
		must(lvs.Apply(bg, k, lvs.Diff(have, []lvs.Entry{withG4}, ownAll)))
	}
	must(v.dirs[0].LinkDown("eth0"))
	v.via(v.dirs[1])
	survived := 0
	for i, c := range conns[:30] {
		if n, err := c.ask(); err == nil && n == names[i] {
			survived++
		} else {
			t.Errorf("connection %d to %s through d2 (synced): %q, %v", i, names[i], n, err)
		}
	}
	t.Logf("d1 lost, g4 added: %d of 30 synced connections went on through d2", survived)

	// Control: d3 has g4 too but no sync daemon. mh moves about a
	// quarter of the flows to g4, so of 60 some break (none at all would
	// come about once in tens of millions of runs).
	v.via(v.dirs[2])
	broken := 0
	for _, c := range conns {
		if _, err := c.ask(); err != nil {
			broken++
		}
	}
	t.Logf("through d3, with g4 and no sync daemon: %d of 60 connections broke", broken)
	if broken == 0 {
		t.Errorf("without sync, adding g4 broke none of 60 connections through d3: the test cannot tell")
	}
}
