//go:build linux

package realserver_test

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hbgo/test/cluster"
	"hbgo/test/netns"
)

// TestRealServerNetns runs `hbgo realserver` in a real server's namespace
// beside a director on one segment. Control: a VIP on lo without the
// sysctls is answered by ARP (the director learns the real server's MAC
// for it). With start: no ARP answer for the VIP, the real server's own
// address still answered; start twice changes nothing; stop restores the
// sysctls as they were and removes only the VIPs start added.
func TestRealServerNetns(t *testing.T) {
	lab := netns.NewT(t)
	bin := cluster.Binary(t)
	seg, err := lab.AddSegment("lan", netip.MustParsePrefix("10.90.0.0/24"), netip.MustParsePrefix("2001:db8:90::/64"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := lab.AddHost("dir")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := lab.AddHost("rs")
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Attach(seg, "eth0", seg.Addrs(1)...); err != nil {
		t.Fatal(err)
	}
	if err := rs.Attach(seg, "eth0", seg.Addrs(2)...); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "realserver.state")
	vip := netip.MustParseAddr("10.90.0.100")
	before := netip.MustParseAddr("10.90.0.200") // on lo before start: stop leaves it
	vip6 := netip.MustParseAddr("2001:db8:90::100")
	rsMAC := rs.MAC("eth0").String()

	run := func(h *netns.Host, args ...string) string {
		t.Helper()
		out, err := h.Run(args...)
		if err != nil {
			t.Fatalf("%s: %s: %v\n%s", h.Name(), strings.Join(args, " "), err, out)
		}
		return out
	}
	hbgo := func(args ...string) (string, int) {
		cmd := rs.Command(bin, append([]string{"realserver", "--state", state}, args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatalf("realserver %v: %v", args, err)
		}
		return string(out), 0
	}
	sysctl := func(key string) string {
		return strings.TrimSpace(run(rs, "cat", "/proc/sys/"+key))
	}
	// neigh says what the director learned for ip: a MAC, or "".
	neigh := func(ip netip.Addr) string {
		f := strings.Fields(run(dir, "ip", "neigh", "show", ip.String(), "dev", "eth0"))
		for i, w := range f {
			if w == "lladdr" && i+1 < len(f) {
				return f[i+1]
			}
		}
		return ""
	}
	flush := func() { run(dir, "ip", "neigh", "flush", "dev", "eth0") }

	// Control: the kernel's defaults answer ARP for an address on lo.
	run(rs, "ip", "addr", "add", vip.String()+"/32", "dev", "lo")
	if err := dir.Ping(vip, 3*time.Second); err != nil {
		t.Fatalf("control: VIP on lo without the sysctls not reachable: %v", err)
	}
	if got := neigh(vip); got != rsMAC {
		t.Fatalf("control: director's neighbour entry for the VIP %q, want the real server's %s", got, rsMAC)
	}
	run(rs, "ip", "addr", "del", vip.String()+"/32", "dev", "lo")
	flush()

	// Values that are not the defaults, so restoring is seen to be exact.
	run(rs, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/all/arp_announce; echo 0 > /proc/sys/net/ipv4/conf/lo/arp_ignore")
	run(rs, "ip", "addr", "add", before.String()+"/32", "dev", "lo", "label", "lo:0")
	saved := map[string]string{}
	for _, s := range []string{"net/ipv4/conf/lo/arp_ignore", "net/ipv4/conf/lo/arp_announce", "net/ipv4/conf/all/arp_ignore", "net/ipv4/conf/all/arp_announce"} {
		saved[s] = sysctl(s)
	}

	args := []string{"start", vip.String(), before.String() + "/32", vip6.String()}
	if out, code := hbgo(args...); code != 0 {
		t.Fatalf("start: exit %d\n%s", code, out)
	}
	if out, code := hbgo(args...); code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("second start: exit %d, changed:\n%s", code, out)
	}
	lo := run(rs, "ip", "addr", "show", "dev", "lo")
	for _, want := range []string{"inet 10.90.0.100/32 scope global lo:1", "inet 10.90.0.200/32 scope global lo:0", "inet6 2001:db8:90::100/128"} {
		if !strings.Contains(lo, want) {
			t.Errorf("lo after start lacks %q:\n%s", want, lo)
		}
	}
	for s, want := range map[string]string{"net/ipv4/conf/lo/arp_ignore": "1", "net/ipv4/conf/lo/arp_announce": "2", "net/ipv4/conf/all/arp_ignore": "1", "net/ipv4/conf/all/arp_announce": "2"} {
		if got := sysctl(s); got != want {
			t.Errorf("%s = %s after start, want %s", s, got, want)
		}
	}
	if out, code := hbgo("status", vip.String(), vip6.String()); code != 0 {
		t.Errorf("status after start: exit %d\n%s", code, out)
	}

	// The real server is silent for the VIP, and still answers for itself.
	if err := dir.Ping(vip, 2*time.Second); err == nil {
		t.Error("the VIP answered a ping from the director after start")
	}
	if got := neigh(vip); got != "" {
		t.Errorf("the real server answered ARP for the VIP after start: the director learned %s", got)
	}
	if err := dir.Ping(rs.Addr("eth0").Addr(), 3*time.Second); err != nil {
		t.Errorf("the real server's own address: %v", err)
	}
	if got := neigh(rs.Addr("eth0").Addr()); got != rsMAC {
		t.Errorf("director's entry for the real server's own address %q, want %s", got, rsMAC)
	}
	// The VIP is a local address still: the real server takes packets for
	// it (as the director forwards them in DR mode).
	if out := run(rs, "ip", "route", "get", vip.String()); !strings.HasPrefix(out, "local ") {
		t.Errorf("the VIP is not local on the real server: %s", out)
	}

	if out, code := hbgo("stop"); code != 0 {
		t.Fatalf("stop: exit %d\n%s", code, out)
	}
	for s, want := range saved {
		if got := sysctl(s); got != want {
			t.Errorf("%s = %s after stop, want %s as before start", s, got, want)
		}
	}
	lo = run(rs, "ip", "addr", "show", "dev", "lo")
	if strings.Contains(lo, vip.String()+"/") || strings.Contains(lo, vip6.String()+"/") {
		t.Errorf("stop left a VIP start added:\n%s", lo)
	}
	if !strings.Contains(lo, before.String()+"/32") {
		t.Errorf("stop removed the VIP that was there before start:\n%s", lo)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state file after stop: %v", err)
	}
	if out, code := hbgo("status", vip.String()); code != 3 {
		t.Errorf("status after stop: exit %d, want 3\n%s", code, out)
	}
	if out, code := hbgo("stop"); code != 0 {
		t.Errorf("stop when stopped: exit %d\n%s", code, out)
	}
}
