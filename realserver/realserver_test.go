package realserver

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// memSys is a System in memory, for the bookkeeping; the namespace test
// runs the real one.
type memSys struct {
	sysctl map[string]string
	addrs  []Addr
	ops    []string
}

func newMemSys() *memSys {
	m := &memSys{sysctl: map[string]string{}}
	for _, s := range Sysctls {
		m.sysctl[s.Key] = "0"
	}
	m.addrs = []Addr{{Prefix: netip.MustParsePrefix("127.0.0.1/8"), Label: "lo"}}
	return m
}

func (m *memSys) ReadSysctl(k string) (string, error) { return m.sysctl[k], nil }
func (m *memSys) WriteSysctl(k, v string) error {
	m.sysctl[k] = v
	m.ops = append(m.ops, "sysctl "+k+"="+v)
	return nil
}
func (m *memSys) LoAddrs() ([]Addr, error) { return slices.Clone(m.addrs), nil }
func (m *memSys) AddLo(a Addr) error {
	m.addrs = append(m.addrs, a)
	m.ops = append(m.ops, fmt.Sprintf("add %s %s", a.Prefix, a.Label))
	return nil
}
func (m *memSys) DelLo(p netip.Prefix) error {
	m.addrs = slices.DeleteFunc(m.addrs, func(a Addr) bool { return a.Prefix == p })
	m.ops = append(m.ops, "del "+p.String())
	return nil
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// Start twice changes things once; stop restores the values found before
// the first start and removes only the VIPs start added.
func TestStartStopBookkeeping(t *testing.T) {
	m := newMemSys()
	m.sysctl["net/ipv4/conf/all/arp_announce"] = "1"
	m.addrs = append(m.addrs, Addr{Prefix: netip.MustParsePrefix("192.0.2.9/32"), Label: "lo:0"})
	h := &Helper{Sys: m, StateFile: filepath.Join(t.TempDir(), "state")}
	vips := addrs("192.0.2.10", "192.0.2.9", "2001:db8::10")
	if err := h.Start(vips); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"sysctl net/ipv4/conf/lo/arp_ignore=1", "sysctl net/ipv4/conf/lo/arp_announce=2",
		"sysctl net/ipv4/conf/all/arp_ignore=1", "sysctl net/ipv4/conf/all/arp_announce=2",
		"add 192.0.2.10/32 lo:1", "add 2001:db8::10/128 ",
	}
	if !slices.Equal(m.ops, want) {
		t.Fatalf("first start:\n got %q\nwant %q", m.ops, want)
	}
	m.ops = nil
	if err := h.Start(vips); err != nil || len(m.ops) != 0 {
		t.Fatalf("second start changed %q (%v)", m.ops, err)
	}
	// A VIP removed behind its back is added again, and recorded once.
	m.DelLo(netip.MustParsePrefix("192.0.2.10/32"))
	m.ops = nil
	if err := h.Start(vips); err != nil || !slices.Equal(m.ops, []string{"add 192.0.2.10/32 lo:1"}) {
		t.Fatalf("start after a VIP went: %q (%v)", m.ops, err)
	}
	if st, _ := h.Load(); len(st.Added) != 2 {
		t.Errorf("state after re-adding: %v", st.Added)
	}
	m.ops = nil
	r, err := h.Status(vips)
	if err != nil || !r.OK() {
		t.Fatalf("status after start: %+v %v", r, err)
	}
	// Stopping one VIP keeps the sysctls for the other.
	if err := h.Stop(addrs("192.0.2.10")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.ops, []string{"del 192.0.2.10/32"}) {
		t.Fatalf("partial stop: %q", m.ops)
	}
	m.ops = nil
	if err := h.Stop(nil); err != nil {
		t.Fatal(err)
	}
	want = []string{"del 2001:db8::10/128",
		"sysctl net/ipv4/conf/lo/arp_ignore=0", "sysctl net/ipv4/conf/lo/arp_announce=0",
		"sysctl net/ipv4/conf/all/arp_ignore=0", "sysctl net/ipv4/conf/all/arp_announce=1"}
	if !slices.Equal(m.ops, want) {
		t.Fatalf("stop:\n got %q\nwant %q", m.ops, want)
	}
	if _, ok := onLo(m.addrs, netip.MustParseAddr("192.0.2.9")); !ok {
		t.Error("stop removed a VIP that was there before start")
	}
	if _, err := os.Stat(h.StateFile); !os.IsNotExist(err) {
		t.Errorf("state file left after a full stop: %v", err)
	}
	m.ops = nil
	if err := h.Stop(nil); err != nil || len(m.ops) != 0 {
		t.Errorf("stop when stopped: %q %v", m.ops, err)
	}
	r, _ = h.Status(vips)
	if r.OK() {
		t.Error("status OK after stop")
	}
}

// A start that fails part way is undone by stop.
func TestStartFailureUndone(t *testing.T) {
	m := newMemSys()
	f := &failAdd{memSys: m}
	h := &Helper{Sys: f, StateFile: filepath.Join(t.TempDir(), "state")}
	if err := h.Start(addrs("192.0.2.10", "192.0.2.11")); err == nil || !strings.Contains(err.Error(), "192.0.2.11") {
		t.Fatalf("start: %v", err)
	}
	if err := h.Stop(nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range Sysctls {
		if m.sysctl[s.Key] != "0" {
			t.Errorf("%s = %s after stop", s.Key, m.sysctl[s.Key])
		}
	}
	if len(m.addrs) != 1 {
		t.Errorf("lo after stop: %v", m.addrs)
	}
}

type failAdd struct{ *memSys }

func (f *failAdd) AddLo(a Addr) error {
	if a.Prefix.Addr() == netip.MustParseAddr("192.0.2.11") {
		return fmt.Errorf("refused")
	}
	return f.memSys.AddLo(a)
}

func TestParseVIPs(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
		err  string
	}{
		{in: []string{"10.0.0.100"}, want: "[10.0.0.100]"},
		{in: []string{"10.0.0.100/32", "2001:db8::1/128", "10.0.0.100"}, want: "[10.0.0.100 2001:db8::1]"},
		{in: []string{"10.0.0.100/24"}, err: "not /24"},
		{in: []string{"vip"}, err: "not an IP address"},
		{in: []string{"127.0.0.2"}, err: "cannot be"},
		{in: nil, err: "no VIP"},
	} {
		got, err := ParseVIPs(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestBadStateFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state")
	os.WriteFile(p, []byte("{garbage"), 0o644)
	h := &Helper{Sys: newMemSys(), StateFile: p}
	if err := h.Start(addrs("192.0.2.1")); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("start over a broken state file: %v", err)
	}
}
