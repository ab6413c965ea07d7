package lvs

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"hbgo/conf"
)

var ctx = context.Background()

func key(proto Protocol, ap string) ServiceKey {
	return ServiceKey{Protocol: proto, Addr: netip.MustParseAddrPort(ap)}
}

func dest(ap string, m Method, w int) Dest {
	return Dest{Addr: netip.MustParseAddrPort(ap), Method: m, Weight: w}
}

func TestIpvsadm(t *testing.T) {
	web := Service{ServiceKey: key(TCP, "10.0.0.100:80"), Scheduler: "wrr"}
	v6 := Service{ServiceKey: key(TCP, "[2001:db8::100]:443"), Scheduler: "sh", SchedFlags: []string{"sh-port", "sh-fallback"}, Persistent: 600 * time.Second, Netmask: 64}
	fwm := Service{ServiceKey: ServiceKey{Protocol: FWM, FWMark: 5}, Scheduler: "rr"}
	for _, tc := range []struct {
		c    Change
		want string
	}{
		{Change{Op: AddService, Service: web}, "-A -t 10.0.0.100:80 -s wrr"},
		{Change{Op: AddService, Service: Service{ServiceKey: key(TCP, "10.0.0.100:80"), Scheduler: "rr", Persistent: 300 * time.Second, Netmask: 24}}, "-A -t 10.0.0.100:80 -s rr -p 300 -M 255.255.255.0"},
		{Change{Op: AddService, Service: Service{ServiceKey: key(UDP, "10.0.0.53:53"), OnePacket: true}}, "-A -u 10.0.0.53:53 -s wlc -o"},
		{Change{Op: AddService, Service: Service{ServiceKey: key(SCTP, "10.0.0.9:3868"), Scheduler: "mh", SchedFlags: []string{"flag-2"}}}, "-A --sctp-service 10.0.0.9:3868 -s mh -b mh-port"},
		{Change{Op: EditService, Service: v6}, "-E -t [2001:db8::100]:443 -s sh -b sh-fallback,sh-port -p 600 -M 64"},
		{Change{Op: DelService, Service: fwm}, "-D -f 5"},
		{Change{Op: AddService, Service: Service{ServiceKey: ServiceKey{Protocol: FWM, FWMark: 7, IPv6: true}, Scheduler: "lc"}}, "-A -f 7 -6 -s lc"},
		{Change{Op: AddDest, Service: web, Dest: dest("10.0.0.11:80", Gate, 1)}, "-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1"},
		{Change{Op: EditDest, Service: web, Dest: dest("10.0.0.12:8080", Masq, 0)}, "-e -t 10.0.0.100:80 -r 10.0.0.12:8080 -m -w 0"},
		{Change{Op: AddDest, Service: web, Dest: Dest{Addr: netip.MustParseAddrPort("10.0.0.13:80"), Method: Ipip, Weight: 5, UpperThreshold: 100, LowerThreshold: 50}}, "-a -t 10.0.0.100:80 -r 10.0.0.13:80 -i -w 5 -x 100 -y 50"},
		{Change{Op: DelDest, Service: web, Dest: dest("10.0.0.11:80", Gate, 1)}, "-d -t 10.0.0.100:80 -r 10.0.0.11:80"},
		{Change{Op: AddDest, Service: fwm, Dest: dest("10.0.0.14:0", "", 2)}, "-a -f 5 -r 10.0.0.14 -g -w 2"},
		{Change{Op: AddDest, Service: v6, Dest: dest("[2001:db8::11]:443", Masq, 3)}, "-a -t [2001:db8::100]:443 -r [2001:db8::11]:443 -m -w 3"},
		{Change{Op: AddDest, Service: Service{ServiceKey: ServiceKey{Protocol: FWM, FWMark: 7, IPv6: true}}, Dest: dest("[2001:db8::12]:0", Gate, 1)}, "-a -f 7 -6 -r 2001:db8::12 -g -w 1"},
	} {
		if got := tc.c.Ipvsadm(); got != tc.want {
			t.Errorf("%v: Ipvsadm() = %q, want %q", tc.c.Op, got, tc.want)
		}
	}
}

// render is changes as ipvsadm lines, one a line.
func render(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.Ipvsadm() + "\n")
	}
	return b.String()
}

func TestDiff(t *testing.T) {
	web := Service{ServiceKey: key(TCP, "10.0.0.100:80"), Scheduler: "wrr"}
	dns := Service{ServiceKey: key(UDP, "10.0.0.100:53"), Scheduler: "rr"}
	manual := Service{ServiceKey: key(TCP, "10.0.0.200:22"), Scheduler: "rr"}
	have := []Entry{
		{Service: web, Dests: []Dest{dest("10.0.0.11:80", Gate, 1), dest("10.0.0.12:80", Gate, 1), dest("10.0.0.13:80", Gate, 1)}},
		{Service: dns, Dests: []Dest{dest("10.0.0.21:53", Masq, 1)}},
		{Service: manual, Dests: []Dest{dest("10.0.0.31:22", Gate, 1)}},
	}
	ownsAll := func(ServiceKey) bool { return true }
	ownsNone := func(ServiceKey) bool { return false }
	for _, tc := range []struct {
		name  string
		want  []Entry
		owned func(ServiceKey) bool
		out   string
	}{
		{"same table, no change", have, ownsAll, ""},
		{"same table written differently", []Entry{
			{Service: Service{ServiceKey: ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("[::ffff:10.0.0.100]:80")}, Scheduler: "WRR", Netmask: 32}, Dests: []Dest{
				dest("10.0.0.13:80", "", 1), dest("10.0.0.11:80", "GATE", 1), dest("10.0.0.12:80", Gate, 1)}},
			have[1], have[2]}, ownsAll, ""},
		{"one weight", []Entry{
			{Service: web, Dests: []Dest{dest("10.0.0.11:80", Gate, 1), dest("10.0.0.12:80", Gate, 0), dest("10.0.0.13:80", Gate, 1)}},
			have[1], have[2]}, ownsAll,
			"-e -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 0\n"},
		{"replace the only server: add before delete", []Entry{
			have[0], {Service: dns, Dests: []Dest{dest("10.0.0.22:53", Masq, 1)}}, have[2]}, ownsAll,
			"-a -u 10.0.0.100:53 -r 10.0.0.22:53 -m -w 1\n-d -u 10.0.0.100:53 -r 10.0.0.21:53\n"},
		{"scheduler and persistence edited in place, method too", []Entry{
			{Service: Service{ServiceKey: web.ServiceKey, Scheduler: "lc", Persistent: 300 * time.Second}, Dests: []Dest{
				dest("10.0.0.11:80", Masq, 1), dest("10.0.0.12:80", Gate, 1), dest("10.0.0.13:80", Gate, 1)}},
			have[1], have[2]}, ownsAll,
			"-E -t 10.0.0.100:80 -s lc -p 300\n-e -t 10.0.0.100:80 -r 10.0.0.11:80 -m -w 1\n"},
		{"new service, servers after it; unowned left alone", []Entry{
			have[0], have[1], {Service: Service{ServiceKey: ServiceKey{Protocol: FWM, FWMark: 3}, Scheduler: "rr"}, Dests: []Dest{dest("10.0.0.41:0", Gate, 1)}}}, ownsNone,
			"-A -f 3 -s rr\n-a -f 3 -r 10.0.0.41 -g -w 1\n"},
		{"service gone, owned", []Entry{have[0], have[2]}, ownsAll, "-D -u 10.0.0.100:53\n"},
		{"direct routing and tunnelling keep the service's port, NAT may change it", []Entry{
			{Service: web, Dests: []Dest{dest("10.0.0.11:8080", Gate, 1), dest("10.0.0.12:8080", Ipip, 1), dest("10.0.0.13:80", Gate, 1), dest("10.0.0.14:8080", Masq, 1)}},
			have[1], have[2]}, ownsAll,
			"-a -t 10.0.0.100:80 -r 10.0.0.14:8080 -m -w 1\n-e -t 10.0.0.100:80 -r 10.0.0.12:80 -i -w 1\n"},
		{"service gone, nil owned owns nothing", []Entry{have[0], have[2]}, nil, ""},
		{"repeats count once", []Entry{have[0], have[1], have[2], {Service: web}}, ownsAll, ""},
		{"everything owned and unwanted", nil, func(k ServiceKey) bool { return k != manual.ServiceKey },
			"-D -t 10.0.0.100:80\n-D -u 10.0.0.100:53\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(Diff(have, tc.want, tc.owned))
			if got != tc.out {
				t.Errorf("Diff:\n%s\nwant:\n%s", got, tc.out)
			}
		})
	}
}

func TestMemoryErrors(t *testing.T) {
	m := NewMemory()
	web := Service{ServiceKey: key(TCP, "10.0.0.100:80"), Scheduler: "wrr"}
	v6 := Service{ServiceKey: key(TCP, "[2001:db8::1]:80"), Scheduler: "rr"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.AddService(ctx, web))
	must(m.AddService(ctx, v6))
	must(m.AddDest(ctx, web.ServiceKey, dest("10.0.0.11:80", Gate, 1)))
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"add existing service", m.AddService(ctx, web), ErrServiceExists},
		{"update missing service", m.UpdateService(ctx, Service{ServiceKey: key(TCP, "10.0.0.1:1")}), ErrNoService},
		{"delete missing service", m.DelService(ctx, key(UDP, "10.0.0.100:80")), ErrNoService},
		{"add existing server", m.AddDest(ctx, web.ServiceKey, dest("10.0.0.11:80", Masq, 3)), ErrDestExists},
		{"server of missing service", m.AddDest(ctx, key(TCP, "10.0.0.1:1"), dest("10.0.0.11:80", Gate, 1)), ErrNoService},
		{"update missing server", m.UpdateDest(ctx, web.ServiceKey, dest("10.0.0.12:80", Gate, 1)), ErrNoDest},
		{"delete missing server", m.DelDest(ctx, web.ServiceKey, netip.MustParseAddrPort("10.0.0.12:80")), ErrNoDest},
		{"unknown scheduler", m.AddService(ctx, Service{ServiceKey: key(TCP, "10.0.0.1:1"), Scheduler: "fastest"}), ErrInvalid},
		{"unknown flag", m.AddService(ctx, Service{ServiceKey: key(TCP, "10.0.0.1:1"), SchedFlags: []string{"sh-quick"}}), ErrInvalid},
		{"unknown protocol", m.AddService(ctx, Service{ServiceKey: key("icmp", "10.0.0.1:1")}), ErrInvalid},
		{"mark 0", m.AddService(ctx, Service{ServiceKey: ServiceKey{Protocol: FWM}}), ErrInvalid},
		{"v4 netmask /33", m.AddService(ctx, Service{ServiceKey: key(TCP, "10.0.0.1:1"), Netmask: 33}), ErrInvalid},
		{"weight above 65535", m.AddDest(ctx, web.ServiceKey, dest("10.0.0.13:80", Gate, 65536)), ErrInvalid},
		{"negative weight", m.AddDest(ctx, web.ServiceKey, dest("10.0.0.13:80", Gate, -1)), ErrInvalid},
		{"lower above upper", m.AddDest(ctx, web.ServiceKey, Dest{Addr: netip.MustParseAddrPort("10.0.0.13:80"), Weight: 1, UpperThreshold: 5, LowerThreshold: 6}), ErrInvalid},
		{"unknown method", m.AddDest(ctx, web.ServiceKey, dest("10.0.0.13:80", "nat", 1)), ErrInvalid},
		{"v4 server of v6 service by gate", m.AddDest(ctx, v6.ServiceKey, dest("10.0.0.13:80", Gate, 1)), ErrInvalid},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, tc.err, tc.want)
		} else if !strings.Contains(tc.err.Error(), "service") {
			t.Errorf("%s: error %q does not name the service", tc.name, tc.err)
		}
	}
	// Mixed families are allowed for tunnelling, as in the kernel.
	must(m.AddDest(ctx, v6.ServiceKey, dest("10.0.0.13:80", Ipip, 1)))
	got, err := m.List(ctx)
	must(err)
	want := []Entry{
		{Service: web.Normal(), Dests: []Dest{dest("10.0.0.11:80", Gate, 1)}},
		{Service: v6.Normal(), Dests: []Dest{dest("10.0.0.13:80", Ipip, 1)}},
	}
	SortEntries(want)
	if FormatEntries(got) != FormatEntries(want) {
		t.Errorf("List after refusals:\n%s\nwant\n%s", FormatEntries(got), FormatEntries(want))
	}
}

// counting wraps a table and counts its calls by operation.
type counting struct {
	Table
	calls map[string]int
}

func (c *counting) AddService(ctx context.Context, s Service) error {
	c.calls["AddService"]++
	return c.Table.AddService(ctx, s)
}
func (c *counting) UpdateService(ctx context.Context, s Service) error {
	c.calls["UpdateService"]++
	return c.Table.UpdateService(ctx, s)
}
func (c *counting) DelService(ctx context.Context, k ServiceKey) error {
	c.calls["DelService"]++
	return c.Table.DelService(ctx, k)
}
func (c *counting) AddDest(ctx context.Context, k ServiceKey, d Dest) error {
	c.calls["AddDest"]++
	return c.Table.AddDest(ctx, k, d)
}
func (c *counting) UpdateDest(ctx context.Context, k ServiceKey, d Dest) error {
	c.calls["UpdateDest"]++
	return c.Table.UpdateDest(ctx, k, d)
}
func (c *counting) DelDest(ctx context.Context, k ServiceKey, a netip.AddrPort) error {
	c.calls["DelDest"]++
	return c.Table.DelDest(ctx, k, a)
}

// TestApplyFailures: a failed service skips its servers, a failed server
// addition keeps the old servers, and every failure is reported.
func TestApplyFailures(t *testing.T) {
	m := NewMemory()
	web := Service{ServiceKey: key(TCP, "10.0.0.100:80"), Scheduler: "wrr"}
	if err := m.AddService(ctx, web); err != nil {
		t.Fatal(err)
	}
	if err := m.AddDest(ctx, web.ServiceKey, dest("10.0.0.11:80", Gate, 1)); err != nil {
		t.Fatal(err)
	}
	c := &counting{Table: m, calls: map[string]int{}}
	changes := []Change{
		{Op: AddService, Service: Service{ServiceKey: key(TCP, "10.0.0.101:80"), Scheduler: "bogus"}},
		{Op: AddDest, Service: Service{ServiceKey: key(TCP, "10.0.0.101:80")}, Dest: dest("10.0.0.11:80", Gate, 1)},
		{Op: AddDest, Service: web, Dest: dest("10.0.0.12:80", Gate, 70000)},
		{Op: DelDest, Service: web, Dest: dest("10.0.0.11:80", Gate, 1)},
		{Op: AddService, Service: Service{ServiceKey: key(TCP, "10.0.0.102:80"), Scheduler: "rr"}},
	}
	err := Apply(ctx, c, changes)
	var ce *ChangeError
	if !errors.As(err, &ce) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Apply error %v, want ChangeErrors wrapping ErrInvalid", err)
	}
	for _, want := range []string{"ipvsadm -A -t 10.0.0.101:80 -s bogus", "ipvsadm -a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 70000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Apply error %q lacks %q", err, want)
		}
	}
	if want := map[string]int{"AddService": 2, "AddDest": 1}; !reflect.DeepEqual(c.calls, want) {
		t.Errorf("calls %v, want %v", c.calls, want)
	}
	got, _ := m.List(ctx)
	if len(got) != 2 || len(got[0].Dests) != 1 {
		t.Errorf("table after failures: %+v", got)
	}
}

// TestApplyRandom: for random pairs of tables, applying the difference
// one change at a time reaches the wanted table (plus the unowned rest),
// touches only what differs, and never leaves a service that has servers
// before and after without one in between.
func TestApplyRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	scheds := []string{"rr", "wrr", "lc", "sh"}
	methods := []Method{Gate, Masq, Ipip}
	randTable := func() []Entry {
		var es []Entry
		for i := 0; i < 8; i++ {
			if rng.Intn(3) == 0 {
				continue
			}
			s := Service{ServiceKey: key(TCP, fmt.Sprintf("10.0.0.%d:80", 100+i)), Scheduler: scheds[rng.Intn(len(scheds))]}
			if i == 7 {
				s.ServiceKey = ServiceKey{Protocol: FWM, FWMark: 7}
			}
			if rng.Intn(4) == 0 {
				s.Persistent = time.Duration(rng.Intn(3)+1) * 100 * time.Second
			}
			e := Entry{Service: s}
			for j := 0; j < 6; j++ {
				if rng.Intn(2) == 0 {
					e.Dests = append(e.Dests, dest(fmt.Sprintf("10.0.1.%d:80", j), methods[rng.Intn(3)], rng.Intn(3)))
				}
			}
			es = append(es, e)
		}
		return es
	}
	owned := func(k ServiceKey) bool { return k.Protocol == TCP && k.Addr.Addr().As4()[3]%2 == 0 }
	for round := 0; round < 300; round++ {
		have, want := randTable(), randTable()
		m := NewMemory()
		if err := Apply(ctx, m, Diff(nil, have, nil)); err != nil {
			t.Fatal(err)
		}
		before, _ := m.List(ctx)
		after := map[ServiceKey]int{}
		for _, e := range want {
			after[e.ServiceKey.normal()] = len(e.Dests)
		}
		counts := map[ServiceKey]int{}
		for _, e := range before {
			counts[e.ServiceKey] = len(e.Dests)
		}
		changes := Diff(before, want, owned)
		for _, c := range changes {
			if err := Apply(ctx, m, []Change{c}); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			k := c.Service.ServiceKey.normal()
			switch c.Op {
			case AddDest:
				counts[k]++
			case DelDest:
				counts[k]--
				if counts[k] == 0 && after[k] > 0 {
					t.Fatalf("round %d: %s leaves %s without servers though it will have %d:\n%s", round, c.Ipvsadm(), k, after[k], render(changes))
				}
			}
		}
		got, _ := m.List(ctx)
		// The wanted table, plus what was there, unwanted and not owned.
		exp := NewMemory()
		if err := Apply(ctx, exp, Diff(nil, want, nil)); err != nil {
			t.Fatal(err)
		}
		for _, e := range before {
			if _, wanted := after[e.ServiceKey]; !wanted && !owned(e.ServiceKey) {
				if err := Apply(ctx, exp, Diff(nil, []Entry{e}, nil)); err != nil {
					t.Fatal(err)
				}
			}
		}
		expL, _ := exp.List(ctx)
		if FormatEntries(got) != FormatEntries(expL) {
			t.Fatalf("round %d: table after Apply\n%s\nwant\n%s", round, FormatEntries(got), FormatEntries(expL))
		}
		if again := Diff(got, want, owned); len(again) != 0 {
			t.Fatalf("round %d: second Diff not empty:\n%s", round, render(again))
		}
	}
}

func TestEntriesFromConfig(t *testing.T) {
	for name, line := range map[string]string{
		"webfarm": "-a -t 203.0.113.10:443 -r 10.1.0.13:8443 -m -w 4\n",
		"fwmark":  "-A -f 81 -6 -s wrr -p 1800 -M 64\n",
		"ipv6":    "-A -t [2001:db8:80::1]:80 -s mh -b mh-port\n",
	} {
		t.Run(name, func(t *testing.T) {
			file := "../conf/testdata/ldirectord/" + name + ".cf"
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var ds conf.Diags
			cfg := conf.ParseLdirectord(name+".cf", data, &ds)
			es, err := EntriesFromConfig(cfg)
			if err != nil {
				t.Logf("some sections not converted: %v", err)
			}
			if len(es) == 0 {
				t.Fatalf("no entries from %s", file)
			}
			m := NewMemory()
			if err := Apply(ctx, m, Diff(nil, es, nil)); err != nil {
				t.Fatalf("programming %s: %v", name, err)
			}
			got, _ := m.List(ctx)
			if again := Diff(got, es, nil); len(again) != 0 {
				t.Errorf("table differs from config after Apply:\n%s", render(again))
			}
			if all := render(Diff(nil, es, nil)); !strings.Contains(all, line) {
				t.Errorf("%s programs\n%s\nwithout %q", name, all, line)
			}
		})
	}
}

// TestMemoryExtras: counters, zeroing, timeouts and sync daemons of the
// memory table behave as the kernel's (which test/ipvsvm checks).
func TestMemoryExtras(t *testing.T) {
	m := NewMemory()
	web := Service{ServiceKey: key(TCP, "10.0.0.100:80"), Scheduler: "wrr"}
	if err := Apply(ctx, m, Diff(nil, []Entry{{Service: web, Dests: []Dest{dest("10.0.0.11:80", Gate, 1)}}}, nil)); err != nil {
		t.Fatal(err)
	}
	ss, err := m.Stats(ctx)
	if err != nil || len(ss) != 1 || ss[0].ServiceKey != web.ServiceKey || len(ss[0].Dests) != 1 || ss[0].Dests[0].Addr != netip.MustParseAddrPort("10.0.0.11:80") {
		t.Errorf("Stats() = %+v, %v", ss, err)
	}
	if err := m.Zero(ctx, nil); err != nil {
		t.Error(err)
	}
	if err := m.Zero(ctx, &ServiceKey{Protocol: UDP, Addr: netip.MustParseAddrPort("10.0.0.1:1")}); !errors.Is(err, ErrNoService) {
		t.Errorf("zero a missing service: %v", err)
	}
	if to, _ := m.Timeouts(ctx); to != (Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}) {
		t.Errorf("default timeouts %+v", to)
	}
	if err := m.SetTimeouts(ctx, Timeouts{TCP: 100 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if to, _ := m.Timeouts(ctx); to != (Timeouts{TCP: 100 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}) {
		t.Errorf("timeouts after setting tcp %+v", to)
	}
	d := SyncDaemon{State: SyncMaster, Interface: "eth1", SyncID: 3}
	if err := m.StartSyncDaemon(ctx, d); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"start a running master", m.StartSyncDaemon(ctx, d), ErrSyncRunning},
		{"stop a stopped backup", m.StopSyncDaemon(ctx, SyncBackup), ErrSyncNotRunning},
		{"start without interface", m.StartSyncDaemon(ctx, SyncDaemon{State: SyncBackup}), ErrInvalid},
		{"start of no role", m.StartSyncDaemon(ctx, SyncDaemon{State: "primary", Interface: "eth0"}), ErrInvalid},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if ds, _ := m.ListSyncDaemons(ctx); len(ds) != 1 || ds[0] != d {
		t.Errorf("daemons %v", ds)
	}
}
