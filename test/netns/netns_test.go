//go:build linux

package netns

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Lab addresses come from the documentation ranges, so nothing here can be
// mistaken for a real network.
var (
	net0v4 = netip.MustParsePrefix("192.0.2.0/24")
	net0v6 = netip.MustParsePrefix("2001:db8:0:0::/64")
	net1v4 = netip.MustParsePrefix("198.51.100.0/24")
	net1v6 = netip.MustParsePrefix("2001:db8:0:1::/64")
)

const (
	reach   = 2 * time.Second        // a reply that should come
	silence = 300 * time.Millisecond // how long to wait for one that should not
)

// threeHosts builds a, b and c, each with eth0 on lan0 and eth1 on lan1,
// dual-stack, host i+1 taking address i+1 of every subnet.
func threeHosts(t testing.TB, l *Lab) (a, b, c *Host) {
	t.Helper()
	lan0, err := l.AddSegment("lan0", net0v4, net0v6)
	must(t, err)
	lan1, err := l.AddSegment("lan1", net1v4, net1v6)
	must(t, err)
	var hosts []*Host
	for i, name := range []string{"a", "b", "c"} {
		h, err := l.AddHost(name)
		must(t, err)
		must(t, h.Attach(lan0, "eth0", lan0.Addrs(i+1)...))
		must(t, h.Attach(lan1, "eth1", lan1.Addrs(i+1)...))
		hosts = append(hosts, h)
	}
	return hosts[0], hosts[1], hosts[2]
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// addrOf returns host's address of one family on ifname.
func addrOf(t testing.TB, h *Host, ifname string, v6 bool) netip.Addr {
	t.Helper()
	for _, p := range h.Addrs(ifname) {
		if p.Addr().Is6() == v6 {
			return p.Addr()
		}
	}
	t.Fatalf("%s has no %s address (v6=%v)", h.Name(), ifname, v6)
	return netip.Addr{}
}

// leftovers lists what `ip netns list` shows under prefix.
func leftovers(t testing.TB, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	var left []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			left = append(left, f[0])
		}
	}
	return left
}

// gone reports whether pid has exited (a zombie counts as gone).
func gone(pid int) bool { return !alive(pid) }

// threadsHome checks that every thread of the process is in the namespace
// of the main thread: the threads the lab borrowed went home or ended, and
// the main thread was never left in a lab namespace.
func threadsHome(t testing.TB) {
	t.Helper()
	home, err := os.Readlink("/proc/self/ns/net")
	must(t, err)
	if orig, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", origNS)); err == nil && orig != home {
		t.Errorf("main thread in %s, not %s where the process started", home, orig)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	must(t, err)
	for _, task := range tasks {
		if ns, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net"); err == nil && ns != home {
			t.Errorf("thread %s left in %s, not %s", task.Name(), ns, home)
		}
	}
}

func procState(pid int) string {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	if f := procStatFields(string(stat)); len(f) > 0 {
		return f[0]
	}
	return ""
}

func TestNetnsNamesAndChecks(t *testing.T) {
	l := NewT(t)
	if !prefixRE.MatchString(l.Prefix()) {
		t.Fatalf("prefix %q does not match %v", l.Prefix(), prefixRE)
	}
	seg, err := l.AddSegment("lan0", net0v4)
	must(t, err)
	h, err := l.AddHost("a")
	must(t, err)
	if h.NS() != l.Prefix()+"a" {
		t.Errorf("NS() = %q, want %q", h.NS(), l.Prefix()+"a")
	}
	must(t, h.Attach(seg, "eth0", seg.Addr(10)))
	if got := h.Addr("eth0"); got != netip.MustParsePrefix("192.0.2.10/24") {
		t.Errorf("Addr(eth0) = %v", got)
	}
	if len(h.MAC("eth0")) != 6 {
		t.Errorf("MAC(eth0) = %v", h.MAC("eth0"))
	}
	if got := leftovers(t, l.Prefix()); len(got) != 2 {
		t.Errorf("ip netns list shows %v, want the host and the switch", got)
	}
	for _, tc := range []struct {
		what string
		err  error
	}{
		{"duplicate host", func() error { _, err := l.AddHost("a"); return err }()},
		{"reserved host", func() error { _, err := l.AddHost(switchHost); return err }()},
		{"bad host name", func() error { _, err := l.AddHost("a/b"); return err }()},
		{"duplicate segment", func() error { _, err := l.AddSegment("lan0"); return err }()},
		{"long segment name", func() error { _, err := l.AddSegment("abcdefghijklm"); return err }()},
		{"duplicate interface", h.Attach(seg, "eth0")},
		{"long interface name", h.Attach(seg, "abcdefghijklmnop")},
		{"address off the segment", h.Attach(seg, "eth1", netip.MustParsePrefix("198.51.100.1/24"))},
		{"block unknown interface", h.Block("eth9")},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.what)
		} else {
			t.Logf("%s: %v", tc.what, tc.err)
		}
	}
	if got := h.Interfaces(); len(got) != 1 {
		t.Errorf("failed attaches left interfaces: %v", got)
	}
}

func TestNetnsSegmentAddr(t *testing.T) {
	s := &Segment{subnets: []netip.Prefix{net0v4, net0v6}}
	if got := s.Addr(2); got != netip.MustParsePrefix("192.0.2.2/24") {
		t.Errorf("Addr(2) = %v", got)
	}
	got := s.Addrs(200)
	if len(got) != 2 || got[1] != netip.MustParsePrefix("2001:db8::c8/64") {
		t.Errorf("Addrs(200) = %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Addr(256) of a /24 did not panic")
		}
	}()
	s.Addr(256)
}

func TestNetnsPing(t *testing.T) {
	l := NewT(t)
	a, b, c := threeHosts(t, l)
	hosts := []*Host{a, b, c}
	for _, from := range hosts {
		for _, to := range hosts {
			if from == to {
				continue
			}
			for _, ifname := range []string{"eth0", "eth1"} {
				for _, v6 := range []bool{false, true} {
					dst := addrOf(t, to, ifname, v6)
					if err := from.Ping(dst, reach); err != nil {
						t.Errorf("%s -> %s %s: %v", from.Name(), to.Name(), ifname, err)
					}
				}
			}
		}
	}
	if _, err := exec.LookPath("ping"); err != nil {
		t.Logf("no ping command (make deps installs iputils-ping); Go pings only")
		return
	}
	for _, v6 := range []bool{false, true} {
		dst := addrOf(t, b, "eth1", v6).String()
		if out, err := a.Run("ping", "-c1", "-W1", dst); err != nil {
			t.Errorf("ping command: %v", err)
		} else if !strings.Contains(out, "1 received") {
			t.Errorf("ping command output: %s", out)
		}
	}
	t.Log("\n" + l.Describe())
}

func TestNetnsBlock(t *testing.T) {
	l := NewT(t)
	a, b, c := threeHosts(t, l)
	b0, b1 := addrOf(t, b, "eth0", false), addrOf(t, b, "eth1", false)
	b06 := addrOf(t, b, "eth0", true)

	must(t, a.Block("eth0"))
	if err := a.Ping(b0, silence); err == nil {
		t.Error("a -> b over blocked eth0 answered")
	}
	if err := a.Ping(b06, silence); err == nil {
		t.Error("a -> b over blocked eth0 (IPv6) answered")
	}
	if err := b.Ping(addrOf(t, a, "eth0", false), silence); err == nil {
		t.Error("b -> a over a's blocked eth0 answered")
	}
	if err := a.Ping(b1, reach); err != nil {
		t.Errorf("a -> b over eth1 with eth0 blocked: %v", err)
	}
	if err := c.Ping(b0, reach); err != nil {
		t.Errorf("c -> b over eth0 while only a's eth0 is blocked: %v", err)
	}
	if d := l.Describe(); !strings.Contains(d, "[blocked]") {
		t.Errorf("Describe does not show the block:\n%s", d)
	}
	must(t, a.Unblock("eth0"))
	if err := a.Ping(b0, reach); err != nil {
		t.Errorf("a -> b over eth0 after Unblock: %v", err)
	}

	must(t, a.Isolate())
	for _, dst := range []netip.Addr{b0, b1} {
		if err := a.Ping(dst, silence); err == nil {
			t.Errorf("isolated a reached %v", dst)
		}
	}
	if err := a.Ping(netip.MustParseAddr("127.0.0.1"), reach); err != nil {
		t.Errorf("isolated a lost loopback: %v", err)
	}
	if err := c.Ping(b1, reach); err != nil {
		t.Errorf("c -> b while a is isolated: %v", err)
	}
	must(t, a.Heal())
	for _, dst := range []netip.Addr{b0, b1} {
		if err := a.Ping(dst, reach); err != nil {
			t.Errorf("a -> %v after Heal: %v", dst, err)
		}
	}
}

func TestNetnsLinkDownUp(t *testing.T) {
	l := NewT(t)
	a, b, _ := threeHosts(t, l)
	must(t, a.LinkDown("eth0"))
	for _, v6 := range []bool{false, true} {
		if err := a.Ping(addrOf(t, b, "eth0", v6), silence); err == nil {
			t.Errorf("a -> b over downed eth0 answered (v6=%v)", v6)
		}
	}
	if d := l.Describe(); !strings.Contains(d, "[down]") || !strings.Contains(d, net0v6.Addr().Next().String()) {
		t.Errorf("Describe should show eth0 down with its IPv6 address kept:\n%s", d)
	}
	must(t, a.LinkUp("eth0"))
	for _, v6 := range []bool{false, true} {
		if err := a.Ping(addrOf(t, b, "eth0", v6), reach); err != nil {
			t.Errorf("a -> b over eth0 after LinkUp (v6=%v): %v", v6, err)
		}
	}
}

// TestNetnsDoUDP opens a socket in a and one in b through Do, then uses
// them from the test goroutine: they stay in their namespaces.
func TestNetnsDoUDP(t *testing.T) {
	l := NewT(t)
	a, b, _ := threeHosts(t, l)
	for _, v6 := range []bool{false, true} {
		bAddr := netip.AddrPortFrom(addrOf(t, b, "eth1", v6), 6940)
		var rx, tx *net.UDPConn
		must(t, b.Do(func() (err error) {
			rx, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(bAddr))
			return err
		}))
		defer rx.Close()
		must(t, a.Do(func() (err error) {
			tx, err = net.ListenUDP("udp", nil)
			return err
		}))
		defer tx.Close()

		if _, err := tx.WriteToUDPAddrPort([]byte("hello"), bAddr); err != nil {
			t.Fatalf("send: %v", err)
		}
		must(t, rx.SetReadDeadline(time.Now().Add(reach)))
		buf := make([]byte, 64)
		n, from, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("receive (v6=%v): %v", v6, err)
		}
		if want := addrOf(t, a, "eth1", v6); string(buf[:n]) != "hello" || from.Addr().Unmap() != want {
			t.Errorf("got %q from %v, want hello from %v", buf[:n], from, want)
		}
	}
	// The test's own namespace does not have b's address.
	if c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addrOf(t, b, "eth1", false), 6941))); err == nil {
		c.Close()
		t.Error("b's address is bindable outside b")
	}
}

// TestNetnsGo runs a UDP echo server on a thread that stays in b.
func TestNetnsGo(t *testing.T) {
	l := NewT(t)
	a, b, _ := threeHosts(t, l)
	bAddr := netip.AddrPortFrom(addrOf(t, b, "eth0", false), 6942)
	ready := make(chan error, 1)
	served := b.Go(func() error {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(bAddr))
		ready <- err
		if err != nil {
			return err
		}
		go func() { <-l.Done(); c.Close() }()
		buf := make([]byte, 64)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return nil // closed with the lab
			}
			_, _ = c.WriteToUDPAddrPort(buf[:n], from)
		}
	})
	must(t, <-ready)
	var c *net.UDPConn
	must(t, a.Do(func() (err error) {
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(bAddr))
		return err
	}))
	defer c.Close()
	if _, err := c.Write([]byte("echo")); err != nil {
		t.Fatal(err)
	}
	must(t, c.SetReadDeadline(time.Now().Add(reach)))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "echo" {
		t.Fatalf("echo: %q, %v", buf[:n], err)
	}
	must(t, l.Close())
	select {
	case err := <-served:
		must(t, err)
	case <-time.After(reach):
		t.Error("server did not return after Close")
	}
}

func TestNetnsDoPanicAndError(t *testing.T) {
	l := NewT(t)
	h, err := l.AddHost("a")
	must(t, err)
	sentinel := errors.New("sentinel")
	if err := h.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want the sentinel", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		_ = h.Do(func() error { panic("boom") })
	}()
	if err := h.Do(func() error { runtime.Goexit(); return nil }); err == nil {
		t.Error("Do hid a Goexit")
	}
	threadsHome(t)
	must(t, l.Close())
	if err := h.Do(func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
}

func TestNetnsRunError(t *testing.T) {
	l := NewT(t)
	h, err := l.AddHost("a")
	must(t, err)
	out, err := h.Run("sh", "-c", "echo oops; exit 3")
	if err == nil || !strings.Contains(err.Error(), "oops") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Run error = %v, want the output and exit status", err)
	}
	if !strings.Contains(out, "oops") {
		t.Errorf("Run output = %q", out)
	}
	out, err = h.Run("ip", "-br", "link")
	must(t, err)
	if !strings.Contains(out, "lo") || !strings.Contains(out, "UNKNOWN") {
		t.Errorf("lo is not up in the host: %s", out)
	}
}

// TestNetnsStartClose checks Close kills what Start started, and also a
// daemon that left its process group, and removes every namespace.
func TestNetnsStartClose(t *testing.T) {
	l := NewT(t)
	a, b, _ := threeHosts(t, l)
	p, err := a.Start(a.Command("sleep", "1000"))
	must(t, err)
	out, err := b.Run("sh", "-c", "setsid sleep 1000 >/dev/null 2>&1 < /dev/null & echo $!")
	must(t, err)
	stray, err := strconv.Atoi(strings.TrimSpace(out))
	must(t, err)
	time.Sleep(20 * time.Millisecond)
	if gone(p.PID()) || gone(stray) {
		t.Fatalf("sleeps did not start: pid %d %s, stray %d %s", p.PID(), procState(p.PID()), stray, procState(stray))
	}
	prefix := l.Prefix()
	start := time.Now()
	must(t, l.Close())
	t.Logf("Close with 3 hosts and 2 processes: %v", time.Since(start))
	if !p.Exited() || !gone(p.PID()) {
		t.Errorf("sleep %d survived Close (state %s)", p.PID(), procState(p.PID()))
	}
	if !gone(stray) {
		t.Errorf("stray sleep %d survived Close (state %s)", stray, procState(stray))
	}
	if left := leftovers(t, prefix); len(left) > 0 {
		t.Errorf("namespaces left after Close: %v", left)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	threadsHome(t)
	if _, err := a.Start(a.Command("true")); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
}

func TestNetnsFreezeKillAll(t *testing.T) {
	l := NewT(t)
	h, err := l.AddHost("a")
	must(t, err)
	p, err := h.Start(h.Command("sleep", "1000"))
	must(t, err)
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(reach)
		for procState(p.PID()) != want {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d state %q, want %q", p.PID(), procState(p.PID()), want)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitState("S")
	must(t, h.Freeze(p.PID()))
	waitState("T")
	must(t, h.Thaw(p.PID()))
	waitState("S")
	must(t, h.KillAll())
	if !p.Exited() {
		t.Error("KillAll returned before the process was reaped")
	}
	var ws syscall.WaitStatus
	if err := p.Wait(); err == nil {
		t.Error("killed sleep exited cleanly")
	} else if ee, ok := err.(*exec.ExitError); ok {
		ws = ee.Sys().(syscall.WaitStatus)
		if ws.Signal() != syscall.SIGKILL {
			t.Errorf("sleep ended by %v, want SIGKILL", ws.Signal())
		}
	}
}

// TestNetnsCloseAfterError closes a lab whose building failed midway.
func TestNetnsCloseAfterError(t *testing.T) {
	var prefix string
	t.Run("build fails", func(t *testing.T) {
		RequireRoot(t)
		l, err := New("induced error")
		must(t, err)
		prefix = l.Prefix()
		defer func() {
			must(t, l.Close())
		}()
		seg, err := l.AddSegment("lan0", net0v4)
		must(t, err)
		h, err := l.AddHost("a")
		must(t, err)
		must(t, h.Attach(seg, "eth0", seg.Addr(1)))
		_, err = h.Start(h.Command("sleep", "1000"))
		must(t, err)
		if err := h.Attach(seg, "eth0", seg.Addr(2)); err == nil {
			t.Fatal("second eth0 attached")
		}
		if _, err := l.AddHost("a"); err == nil {
			t.Fatal("second host a added")
		}
	})
	if left := leftovers(t, prefix); len(left) > 0 {
		t.Errorf("namespaces left after Close: %v", left)
	}
}

// TestNetnsCleanupOnFailure runs a test that builds a lab and then fails,
// panics or is interrupted, in a child process, and checks that nothing of
// its lab is left; a child killed outright leaves its lab to SweepStale.
func TestNetnsCleanupOnFailure(t *testing.T) {
	RequireRoot(t)
	for _, mode := range []string{"fatal", "panic", "sigint", "sigkill"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestNetnsHelperProcess$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "HBGO_NETNS_HELPER="+mode)
			cmd.Stderr = cmd.Stdout
			stdout, err := cmd.StdoutPipe()
			must(t, err)
			must(t, cmd.Start())
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			var prefix string
			var pid int
			var transcript []string
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				transcript = append(transcript, line)
				if _, err := fmt.Sscanf(line, "LAB %s %d", &prefix, &pid); err == nil {
					switch mode {
					case "sigint":
						must(t, cmd.Process.Signal(os.Interrupt))
					case "sigkill":
						must(t, cmd.Process.Kill())
					}
				}
			}
			err = cmd.Wait()
			if err == nil || prefix == "" {
				t.Fatalf("helper should fail after printing its lab; err %v, output:\n%s", err, strings.Join(transcript, "\n"))
			}
			if mode == "sigkill" {
				// Nothing ran in the child to clean up: the sweep must.
				if left := leftovers(t, prefix); len(left) != 4 {
					t.Errorf("SIGKILLed helper left %v, want 3 hosts and a switch", left)
				}
				removed, err := SweepStale()
				must(t, err)
				t.Logf("swept %v", removed)
			}
			if left := leftovers(t, prefix); len(left) > 0 {
				t.Errorf("namespaces left: %v\n%s", left, strings.Join(transcript, "\n"))
			}
			if !gone(pid) {
				t.Errorf("helper's sleep %d survived (state %s)", pid, procState(pid))
			}
		})
	}
}

// TestNetnsHelperProcess is the child of TestNetnsCleanupOnFailure.
func TestNetnsHelperProcess(t *testing.T) {
	mode := os.Getenv("HBGO_NETNS_HELPER")
	if mode == "" {
		t.Skip("runs only as the child of TestNetnsCleanupOnFailure")
	}
	l := NewT(t)
	a, _, _ := threeHosts(t, l)
	p, err := a.Start(a.Command("sleep", "1000"))
	must(t, err)
	fmt.Printf("LAB %s %d\n", l.Prefix(), p.PID())
	switch mode {
	case "fatal":
		t.Fatal("induced failure")
	case "panic":
		panic("induced panic")
	case "sigint", "sigkill":
		time.Sleep(30 * time.Second)
		t.Fatal("no signal came")
	}
}

// buildFour makes the lab size a failover test needs: two directors, a
// witness and a real server on two segments, dual-stack.
func buildFour(tb testing.TB, l *Lab) {
	lan0, err := l.AddSegment("lan0", net0v4, net0v6)
	must(tb, err)
	lan1, err := l.AddSegment("lan1", net1v4, net1v6)
	must(tb, err)
	for i, name := range []string{"n1", "n2", "w", "rs"} {
		h, err := l.AddHost(name)
		must(tb, err)
		must(tb, h.Attach(lan0, "eth0", lan0.Addrs(i+1)...))
		must(tb, h.Attach(lan1, "eth1", lan1.Addrs(i+1)...))
	}
}

func TestNetnsSpeed(t *testing.T) {
	RequireRoot(t)
	start := time.Now()
	l, err := New("speed")
	must(t, err)
	defer l.Close()
	buildFour(t, l)
	built := time.Since(start)
	// Usable at once: no DAD, no bridge learning delay.
	h := l.Host("n1")
	if err := h.Ping(addrOf(t, l.Host("rs"), "eth1", true), reach); err != nil {
		t.Errorf("first IPv6 ping: %v", err)
	}
	ready := time.Since(start)
	closeStart := time.Now()
	must(t, l.Close())
	t.Logf("4 hosts, 2 segments, 8 dual-stack links: built in %v, first IPv6 ping answered at %v, closed in %v",
		built.Round(time.Millisecond), ready.Round(time.Millisecond), time.Since(closeStart).Round(time.Millisecond))
	if built > 3*time.Second {
		t.Errorf("building took %v; it should be well under a second", built)
	}
}

func BenchmarkNetnsLab4(b *testing.B) {
	RequireRoot(b)
	for b.Loop() {
		l, err := New("bench")
		must(b, err)
		buildFour(b, l)
		must(b, l.Close())
	}
}
