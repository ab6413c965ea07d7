//go:build linux

package resources

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"hbgo/conf"
	"hbgo/test/netns"
)

var (
	testNet4 = netip.MustParsePrefix("192.0.2.0/24")
	testNet6 = netip.MustParsePrefix("2001:db8::/64")
)

// vipLab is a segment with directors d1 and d2 and a client c, dual
// stack, each on eth0.
type vipLab struct {
	lab        *netns.Lab
	seg        *netns.Segment
	d1, d2, cl *netns.Host
}

func newVIPLab(t testing.TB) *vipLab {
	t.Helper()
	lab := netns.NewT(t)
	seg, err := lab.AddSegment("lan", testNet4, testNet6)
	if err != nil {
		t.Fatal(err)
	}
	l := &vipLab{lab: lab, seg: seg}
	for i, p := range []**netns.Host{&l.d1, &l.d2, &l.cl} {
		name := []string{"d1", "d2", "c"}[i]
		h, err := lab.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Attach(seg, "eth0", seg.Addrs(i+1)...); err != nil {
			t.Fatal(err)
		}
		*p = h
	}
	return l
}

// newAgent makes the built-in agent of a resource written as in
// haresources.
func newAgent(t testing.TB, res string, env Env) Agent {
	t.Helper()
	name, arg, _ := strings.Cut(res, "::")
	a, err := New(conf.Resource{Name: name, Args: []string{arg}, Raw: res, Agent: builtinPrefix + name}, env)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// in runs an agent operation inside host h.
func in(t testing.TB, h *netns.Host, fn func(ctx context.Context) error) error {
	t.Helper()
	return h.Do(func() error { return fn(context.Background()) })
}

func status(t testing.TB, h *netns.Host, a Agent) State {
	t.Helper()
	var st State
	if err := h.Do(func() (err error) { st, err = a.Status(context.Background()); return err }); err != nil {
		t.Fatalf("%s status: %v", a.Name(), err)
	}
	return st
}

// addrLines are the lines of `ip -o addr show` in h that hold addr.
func addrLines(t testing.TB, h *netns.Host, addr string) []string {
	t.Helper()
	out, err := h.Run("ip", "-o", "addr", "show")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " "+addr+"/") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return lines
}

func TestVIPAgentsAddressNetns(t *testing.T) {
	l := newVIPLab(t)
	cases := []struct {
		res   string
		addr  string
		want  string // in the one `ip -o addr` line of the address
		label string // the label ends the address part of the line
	}{
		{"IPaddr::192.0.2.100", "192.0.2.100", "inet 192.0.2.100/24 brd 192.0.2.255 scope global secondary", "eth0:0"},
		{"IPaddr::192.0.2.201/25", "192.0.2.201", "inet 192.0.2.201/25 brd 192.0.2.255 scope global", "eth0:1"},
		{"IPaddr::192.0.2.102/24/eth0:web", "192.0.2.102", "inet 192.0.2.102/24 brd 192.0.2.255 scope global secondary", "eth0:web"},
		{"IPaddr2::192.0.2.103", "192.0.2.103", "inet 192.0.2.103/24 brd 192.0.2.255 scope global secondary", "eth0"},
		{"IPaddr2::192.0.2.104/24/eth0/192.0.2.250", "192.0.2.104", "inet 192.0.2.104/24 brd 192.0.2.250 scope global secondary", "eth0"},
		{"IPaddr2::192.0.2.105/32", "192.0.2.105", "inet 192.0.2.105/32 scope global", "eth0"},
		{"IPv6addr::2001:db8::100/64", "2001:db8::100", "inet6 2001:db8::100/64 scope global nodad", ""},
		{"IPv6addr::2001:db8::101", "2001:db8::101", "inet6 2001:db8::101/64 scope global nodad", ""},
	}
	var agents []Agent
	for _, c := range cases {
		a := newAgent(t, c.res, Env{})
		agents = append(agents, a)
		for range 2 { // the second start is a no-op
			if err := in(t, l.d1, a.Start); err != nil {
				t.Fatalf("%s: start: %v", c.res, err)
			}
		}
		lines := addrLines(t, l.d1, c.addr)
		if len(lines) != 1 {
			t.Fatalf("%s: want one line for %s in ip -o addr, got %q", c.res, c.addr, lines)
		}
		if !strings.Contains(lines[0], c.want) {
			t.Errorf("%s: ip -o addr: %q, want %q in it", c.res, lines[0], c.want)
		}
		if c.label != "" && !strings.Contains(lines[0], " "+c.label+"\\ ") {
			t.Errorf("%s: ip -o addr: %q, want label %s", c.res, lines[0], c.label)
		}
		if !strings.Contains(lines[0], "valid_lft forever") {
			t.Errorf("%s: without a lease the address is permanent: %q", c.res, lines[0])
		}
		if st := status(t, l.d1, a); st != Running {
			t.Errorf("%s: status %v, want running", c.res, st)
		}
	}
	for i, a := range agents {
		for range 2 {
			if err := in(t, l.d1, a.Stop); err != nil {
				t.Fatalf("%s: stop: %v", a.Name(), err)
			}
		}
		if lines := addrLines(t, l.d1, cases[i].addr); len(lines) != 0 {
			t.Errorf("%s: still there after stop: %q", a.Name(), lines)
		}
		if st := status(t, l.d1, a); st != Stopped {
			t.Errorf("%s: status %v after stop, want stopped", a.Name(), st)
		}
	}
}

// A second agent, as after a daemon restart, finds the address there:
// start is a no-op, stop removes it.
func TestVIPAgentAdoptsAddressNetns(t *testing.T) {
	l := newVIPLab(t)
	if _, err := l.d1.Run("ip", "addr", "add", "192.0.2.100/24", "dev", "eth0", "label", "eth0:7"); err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, "IPaddr::192.0.2.100", Env{})
	if st := status(t, l.d1, a); st != Running {
		t.Fatalf("status %v, want running", st)
	}
	if err := in(t, l.d1, a.Start); err != nil {
		t.Fatal(err)
	}
	if lines := addrLines(t, l.d1, "192.0.2.100"); len(lines) != 1 || !strings.Contains(lines[0], "eth0:7") {
		t.Fatalf("start changed what was there: %q", lines)
	}
	b := newAgent(t, "IPaddr::192.0.2.100", Env{})
	if err := in(t, l.d1, b.Stop); err != nil {
		t.Fatal(err)
	}
	if lines := addrLines(t, l.d1, "192.0.2.100"); len(lines) != 0 {
		t.Fatalf("still there after stop: %q", lines)
	}
}

func TestVIPAgentInterfaceFromRoutesNetns(t *testing.T) {
	lab := netns.NewT(t)
	lan, err := lab.AddSegment("lan", testNet4)
	if err != nil {
		t.Fatal(err)
	}
	other, err := lab.AddSegment("other", netip.MustParsePrefix("198.51.100.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := lab.AddHost("d")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Attach(lan, "eth0", lan.Addr(1)); err != nil {
		t.Fatal(err)
	}
	if err := d.Attach(other, "eth1", netip.MustParsePrefix("198.51.100.1/26")); err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, "IPaddr::198.51.100.20", Env{})
	if err := in(t, d, a.Start); err != nil {
		t.Fatal(err)
	}
	lines := addrLines(t, d, "198.51.100.20")
	if len(lines) != 1 || !strings.Contains(lines[0], "inet 198.51.100.20/26 brd 198.51.100.63 ") || !strings.Contains(lines[0], " eth1:0\\ ") {
		t.Fatalf("want 198.51.100.20/26 on eth1 as eth1:0, got %q", lines)
	}
	if err := in(t, d, a.Stop); err != nil {
		t.Fatal(err)
	}

	// No route holds it: the error names the resource and says what to
	// write.
	b := newAgent(t, "IPaddr::203.0.113.5", Env{})
	err = in(t, d, b.Start)
	var oe *OpError
	if !errors.As(err, &oe) || oe.Resource != "IPaddr::203.0.113.5" || oe.Op != "start" || !strings.Contains(err.Error(), "ADDR/PREFIX/IFACE") {
		t.Fatalf("start without a route: %v", err)
	}
	// An interface that does not exist.
	c := newAgent(t, "IPaddr2::192.0.2.50/24/eth9", Env{})
	if err := in(t, d, c.Start); err == nil || !strings.Contains(err.Error(), "eth9") {
		t.Fatalf("start on a missing interface: %v", err)
	}
	_ = time.Second
}
