package ipvsvm

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"hbgo/lvs"
	"hbgo/resources"
	"hbgo/test/netns"
)

// director is a lab with a client, two directors and two sets of real
// servers:
//
//	front 192.0.2.0/24: client .1, dir .2 (VIP .100), dir2 .3,
//	                    g1..g3 .11-.13 (direct routing: VIP on lo)
//	back  10.0.0.0/24:  dir .1, dir2 .2, n1..n3 .11-.13 (NAT: default
//	                    route via dir)
//
// The real servers answer each line with their name, on port 80 (n*)
// and 81 (g*).
type director struct {
	lab              *netns.Lab
	client, dir, dr2 *netns.Host
	nat, gate        []*netns.Host
	k, k2            *lvs.Kernel
}

var (
	vip     = netip.MustParseAddr("192.0.2.100")
	natVIP  = netip.AddrPortFrom(vip, 80)
	gateVIP = netip.AddrPortFrom(vip, 81)
)

func newDirector(t *testing.T) *director {
	t.Helper()
	lab := netns.NewT(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	front, err := lab.AddSegment("front", netip.MustParsePrefix("192.0.2.0/24"))
	must(err)
	back, err := lab.AddSegment("back", netip.MustParsePrefix("10.0.0.0/24"))
	must(err)
	host := func(name string) *netns.Host {
		h, err := lab.AddHost(name)
		must(err)
		return h
	}
	d := &director{lab: lab, client: host("client"), dir: host("dir"), dr2: host("dir2")}
	must(d.client.Attach(front, "eth0", front.Addr(1)))
	must(d.dir.Attach(front, "eth0", front.Addr(2)))
	must(d.dir.Attach(back, "eth1", back.Addr(1)))
	must(d.dr2.Attach(front, "eth0", front.Addr(3)))
	must(d.dr2.Attach(back, "eth1", back.Addr(2)))
	addAddr(t, d.dir, "eth0", netip.PrefixFrom(vip, 32))
	sysctl(t, d.dir, "net.ipv4.ip_forward", "1")
	for i := 1; i <= 3; i++ {
		n := host(fmt.Sprintf("n%d", i))
		must(n.Attach(back, "eth0", back.Addr(10+i)))
		defaultRoute(t, n, back.Addr(1).Addr())
		serve(t, n, 80)
		d.nat = append(d.nat, n)

		g := host(fmt.Sprintf("g%d", i))
		must(g.Attach(front, "eth0", front.Addr(10+i)))
		sysctl(t, g, "net.ipv4.conf.all.arp_ignore", "1")
		sysctl(t, g, "net.ipv4.conf.all.arp_announce", "2")
		addAddr(t, g, "lo", netip.PrefixFrom(vip, 32))
		serve(t, g, 81)
		d.gate = append(d.gate, g)
	}
	d.k = openTable(t, d.dir)
	d.k2 = openTable(t, d.dr2)
	return d
}

// natEntry is the NAT service with the given weights of n1..n3 (a
// negative weight leaves the server out).
func natEntry(sched string, weights ...int) lvs.Entry {
	e := lvs.Entry{Service: lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: natVIP}, Scheduler: sched}}
	for i, w := range weights {
		if w >= 0 {
			e.Dests = append(e.Dests, lvs.Dest{Addr: netip.MustParseAddrPort(fmt.Sprintf("10.0.0.%d:80", 11+i)), Method: lvs.Masq, Weight: w})
		}
	}
	return e
}

func gateEntry(sched string, weights ...int) lvs.Entry {
	e := lvs.Entry{Service: lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: gateVIP}, Scheduler: sched}}
	for i, w := range weights {
		if w >= 0 {
			e.Dests = append(e.Dests, lvs.Dest{Addr: netip.MustParseAddrPort(fmt.Sprintf("192.0.2.%d:81", 11+i)), Method: lvs.Gate, Weight: w})
		}
	}
	return e
}

var ownAll = func(lvs.ServiceKey) bool { return true }

// sync programs the director's table to want and returns the calls made.
func (d *director) sync(t *testing.T, want ...lvs.Entry) []string {
	t.Helper()
	rec := &recorder{Table: d.k}
	have, err := d.k.List(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := lvs.Apply(bg, rec, lvs.Diff(have, want, ownAll)); err != nil {
		t.Fatal(err)
	}
	return rec.ops
}

// spread opens n connections one after the other and counts who answered.
func (d *director) spread(t *testing.T, addr netip.AddrPort, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		got[who(t, d.client, addr)]++
	}
	return got
}

// TestInVMTraffic sends real client connections through the director.
func TestInVMTraffic(t *testing.T) {
	inVM(t)
	d := newDirector(t)

	for _, tc := range []struct {
		name string
		e    lvs.Entry
		n    int
		want string
	}{
		{"nat rr", natEntry("rr", 1, 1, 1), 30, "map[n1:10 n2:10 n3:10]"},
		{"nat wrr", natEntry("wrr", 1, 2, 3), 60, "map[n1:10 n2:20 n3:30]"},
		{"gate rr", gateEntry("rr", 1, 1, 1), 30, "map[g1:10 g2:10 g3:10]"},
		{"gate wrr", gateEntry("wrr", 3, 0, 1), 40, "map[g1:30 g3:10]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.sync(t, tc.e)
			if got := fmt.Sprint(d.spread(t, tc.e.Addr, tc.n)); got != tc.want {
				t.Errorf("%d connections went to %s, want %s", tc.n, got, tc.want)
			}
		})
	}

	t.Run("weight 0 takes no new connections, keeps old ones", func(t *testing.T) {
		d.sync(t, natEntry("rr", 1, 1, 1))
		held := map[string]*conn{}
		for i := 0; i < 3; i++ {
			c := dial(t, d.client, natVIP)
			name, err := c.ask()
			if err != nil {
				t.Fatal(err)
			}
			held[name] = c
		}
		if len(held) != 3 {
			t.Fatalf("three connections by rr reached %v", held)
		}
		if ops := d.sync(t, natEntry("rr", 1, 1, 0)); fmt.Sprint(ops) != "[-e TCP 192.0.2.100:80 10.0.0.13:80]" {
			t.Errorf("quiescing n3 made %v", ops)
		}
		if got := fmt.Sprint(d.spread(t, natVIP, 20)); got != "map[n1:10 n2:10]" {
			t.Errorf("new connections after weight 0: %s", got)
		}
		for name, c := range held {
			if got, err := c.ask(); got != name || err != nil {
				t.Errorf("connection held to %s answers %q, %v", name, got, err)
			}
		}
	})

	t.Run("reload leaves the other servers' connections alone", func(t *testing.T) {
		d.sync(t, natEntry("rr", 1, 1, 1))
		if err := d.k.Zero(bg, nil); err != nil {
			t.Fatal(err)
		}
		held := map[string]*conn{}
		for i := 0; i < 3; i++ {
			c := dial(t, d.client, natVIP)
			name, err := c.ask()
			if err != nil {
				t.Fatal(err)
			}
			held[name] = c
		}
		before := d.destStats(t, natVIP)
		for _, step := range []struct {
			want lvs.Entry
			ops  string
		}{
			{natEntry("rr", 1, 4, 1), "[-e TCP 192.0.2.100:80 10.0.0.12:80]"},
			{natEntry("rr", 1, -1, 1), "[-d TCP 192.0.2.100:80 10.0.0.12:80]"},
		} {
			if ops := d.sync(t, step.want); fmt.Sprint(ops) != step.ops {
				t.Errorf("reload made %v, want %s", ops, step.ops)
			}
			for _, name := range []string{"n1", "n3"} {
				if got, err := held[name].ask(); got != name || err != nil {
					t.Errorf("after %s: connection to %s answers %q, %v", step.ops, name, got, err)
				}
			}
		}
		for a, st := range before {
			if st.InPPS == 0 || st.InBPS == 0 {
				t.Errorf("%s: no rate estimated 2.5 s after traffic: %+v", a, st.Counters)
			}
		}
		after := d.destStats(t, natVIP)
		for _, a := range []string{"10.0.0.11:80", "10.0.0.13:80"} {
			b, f := before[a], after[a]
			if b.ActiveConns != 1 || f.ActiveConns != 1 || b.Conns == 0 || f.Conns != b.Conns || f.InPkts <= b.InPkts {
				t.Errorf("%s: before the reloads %+v, after %+v; want one active connection throughout, the same connection count, more packets after",
					a, b, f)
			}
		}
		// Zeroing: the kernel subtracts what its estimator last summed,
		// so the counters read zero once it caught up with the traffic.
		if err := d.k.Zero(bg, nil); err != nil {
			t.Fatal(err)
		}
		ss, err := d.k.Stats(bg)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			for _, ds := range s.Dests {
				if ds.Conns != 0 || ds.InPkts != 0 || ds.InBytes != 0 {
					t.Errorf("%s after zeroing: %+v", ds.Addr, ds.Counters)
				}
			}
		}
	})

	t.Run("sync daemon and LVSSyncDaemonSwap", func(t *testing.T) {
		want := natEntry("rr", 1, 1, 1)
		d.sync(t, want)
		// The standby is warm: same table.
		if err := lvs.Apply(bg, d.k2, lvs.Diff(nil, []lvs.Entry{want}, nil)); err != nil {
			t.Fatal(err)
		}
		opts := resources.LVSSyncOptions{Interface: "eth1", SyncID: 9}
		opts.Daemons = d.k
		active := resources.NewLVSSync("LVSSyncDaemonSwap::master", lvs.SyncMaster, resources.Env{LVSSync: opts})
		opts.Daemons = d.k2
		standby := resources.NewLVSSync("LVSSyncDaemonSwap::master", lvs.SyncMaster, resources.Env{LVSSync: opts})
		if err := standby.Stop(bg); err != nil { // what a standby's chain does
			t.Fatal(err)
		}
		if err := active.Start(bg); err != nil {
			t.Fatal(err)
		}
		checkDaemons(t, d.k, "master sync daemon (mcast=eth1, syncid=9)")
		checkDaemons(t, d.k2, "backup sync daemon (mcast=eth1, syncid=9)")
		for _, a := range []resources.Agent{active, standby} {
			st, err := a.Status(bg)
			want := map[resources.Agent]resources.State{active: resources.Running, standby: resources.Stopped}[a]
			if st != want || err != nil {
				t.Errorf("status %v, %v; want %v", st, err, want)
			}
		}

		c := dial(t, d.client, natVIP)
		for i := 0; i < 5; i++ {
			if _, err := c.ask(); err != nil {
				t.Fatal(err)
			}
		}
		port := c.c.LocalAddr().(*net.TCPAddr).Port
		needle := fmt.Sprintf("TCP C0000201 %04X C0000264 0050", port)
		var table string
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			table = readProc(t, d.dr2, "ip_vs_conn")
			if strings.Contains(table, needle) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !strings.Contains(table, needle) {
			t.Errorf("the backup's connection table lacks %q after 20s:\n%s\nmaster's:\n%s", needle, table, readProc(t, d.dir, "ip_vs_conn"))
		}

		// Switchover: the active gives the group away, the standby takes it.
		if err := active.Stop(bg); err != nil {
			t.Fatal(err)
		}
		if err := standby.Start(bg); err != nil {
			t.Fatal(err)
		}
		checkDaemons(t, d.k, "backup sync daemon (mcast=eth1, syncid=9)")
		checkDaemons(t, d.k2, "master sync daemon (mcast=eth1, syncid=9)")
		// And back, quickly, twice: the kernel must answer every time.
		for i := 0; i < 2; i++ {
			for _, step := range []func() error{
				func() error { return standby.Stop(bg) }, func() error { return active.Start(bg) },
				func() error { return active.Stop(bg) }, func() error { return standby.Start(bg) },
			} {
				if err := step(); err != nil {
					t.Fatal(err)
				}
			}
		}
		checkDaemons(t, d.k, "backup sync daemon (mcast=eth1, syncid=9)")
		checkDaemons(t, d.k2, "master sync daemon (mcast=eth1, syncid=9)")
	})
}

// destStats returns the counters of the servers of a service by address,
// after the kernel's two-second refresh.
func (d *director) destStats(t *testing.T, addr netip.AddrPort) map[string]lvs.DestStats {
	t.Helper()
	time.Sleep(2500 * time.Millisecond)
	ss, err := d.k.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]lvs.DestStats{}
	for _, s := range ss {
		if s.Addr == addr {
			for _, ds := range s.Dests {
				out[ds.Addr.String()] = ds
			}
		}
	}
	return out
}

func checkDaemons(t *testing.T, k *lvs.Kernel, want string) {
	t.Helper()
	ds, err := k.ListSyncDaemons(bg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.String())
	}
	if strings.Join(got, "; ") != want {
		t.Errorf("sync daemons %q, want %q", strings.Join(got, "; "), want)
	}
}
