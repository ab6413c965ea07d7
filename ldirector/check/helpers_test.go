package check

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hbgo/internal/testsrv"
)

// The timeouts of the tests: a check given checkTimeout must end within
// slack of it, however the server misbehaves. Checks that should pass,
// or fail on an answer, get patientTimeout, generous for a loaded CI
// box; one that fails fast must do so within fastBound.
const (
	checkTimeout   = time.Second
	slack          = 3 * time.Second
	patientTimeout = 20 * time.Second
	fastBound      = 5 * time.Second
	startWait      = 60 * time.Second // a server's start-up, generous for a loaded CI box
)

// need returns the path of a tool, skipping the test without it (and
// failing under CI=true, where nothing may skip).
func need(t testing.TB, tool string, pkg string) string {
	t.Helper()
	for _, p := range []string{tool, "/usr/sbin/" + tool, "/sbin/" + tool} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	missing(t, tool+" not found (Debian package "+pkg+")")
	return ""
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true: a missing tool is a failure", why)
	}
	t.Skip(why)
}

// needRoot skips (fails under CI) unless the test runs as root.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "the test needs root")
	}
}

// freePort picks a loopback TCP port nobody listens on now.
func freePort(t testing.TB) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// loop is 127.0.0.1:port.
func loop(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
}

// refused is a loopback address where nothing listens.
func refused(t testing.TB) netip.AddrPort { return loop(freePort(t)) }

// silent is a loopback TCP address that accepts connections and never
// says a word; the connections close when the test ends.
func silent(t testing.TB) netip.AddrPort {
	t.Helper()
	return netip.MustParseAddrPort(testsrv.Silent(t, "127.0.0.1:0"))
}

// silentUDP is a loopback UDP socket that reads and never answers.
func silentUDP(t testing.TB) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return netip.MustParseAddrPort(c.LocalAddr().String())
}

// run runs a check with patientTimeout and says how long it took.
func run(s Spec) (error, time.Duration) { return runWithin(s, patientTimeout) }

// runWithin runs a check with a timeout and says how long it took.
func runWithin(s Spec, timeout time.Duration) (error, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := Run(ctx, s)
	return err, time.Since(start)
}

// wantUp fails unless the check passes.
func wantUp(t *testing.T, s Spec) {
	t.Helper()
	if err, _ := run(s); err != nil {
		t.Errorf("%s %s %s: %v; want healthy", s.Type, s.Service, s.Addr, err)
	}
}

// wantDown fails unless the check fails with an error that holds every
// one of words, within fastBound when fast is set.
func wantDown(t *testing.T, s Spec, fast bool, words ...string) error {
	t.Helper()
	err, took := run(s)
	if err == nil {
		t.Errorf("%s %s %s: healthy; want a failure with %q", s.Type, s.Service, s.Addr, words)
		return nil
	}
	t.Logf("%s %s: %v", s.Type, s.Service, err)
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s %s %s: error %q lacks %q", s.Type, s.Service, s.Addr, err, w)
		}
	}
	if fast && took >= fastBound {
		t.Errorf("%s %s %s: failed after %v (%v); want it within %v", s.Type, s.Service, s.Addr, took, err, fastBound)
	}
	return err
}

// wantTimeout fails unless the check fails at the timeout, within
// slack, and says so; it returns the error.
func wantTimeout(t *testing.T, s Spec) error {
	t.Helper()
	err, took := runWithin(s, checkTimeout)
	if err == nil {
		t.Errorf("%s %s %s against a silent server: healthy; want a timeout", s.Type, s.Service, s.Addr)
		return nil
	}
	if took < checkTimeout-100*time.Millisecond || took > checkTimeout+slack {
		t.Errorf("%s %s %s against a silent server: returned after %v (%v); want about %v", s.Type, s.Service, s.Addr, took, err, checkTimeout)
	}
	if !strings.Contains(err.Error(), "timeout") {
		t.Errorf("%s %s %s against a silent server: error %q does not say timeout", s.Type, s.Service, s.Addr, err)
	}
	return err
}

// proc is a server process the test started, stopped by its PID.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	out  *os.File
}

// start starts a server in the foreground with its output in dir/NAME.log.
func start(t testing.TB, dir string, cmd *exec.Cmd) *proc {
	t.Helper()
	out, err := os.Create(filepath.Join(dir, filepath.Base(cmd.Path)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// No Pdeathsig: it fires when the forking OS thread ends, and the
	// lab's namespace threads end while the server should live on.
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), out: out}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p
}

// stop ends the server and everything in its process group, by PID.
func (p *proc) stop() {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // what the group left behind
	p.out.Close()
}

// log is the server's output so far.
func (p *proc) log() string {
	b, _ := os.ReadFile(p.out.Name())
	return string(b)
}

// waitListen waits until addr accepts TCP connections or the process
// ends.
func (p *proc) waitListen(t testing.TB, addr netip.AddrPort) {
	t.Helper()
	deadline := time.Now().Add(startWait)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening on %s:\n%s", p.cmd.Path, addr, p.log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s does not listen on %s after %v:\n%s", p.cmd.Path, addr, startWait, p.log())
}

// exclusive lets the server tests run in parallel and a leak check run
// alone: each parallel test holds it for reading, a leak check for
// writing.
var exclusive sync.RWMutex

// parallel runs the test beside the other parallel ones.
func parallel(t *testing.T) {
	t.Parallel()
	exclusive.RLock()
	t.Cleanup(exclusive.RUnlock)
}

// noLeaks fails when goroutines started or files opened during fn
// outlive it (after a
// moment for the runtime's own to settle). It waits until no other
// parallel test runs, as their goroutines would count; the calling test
// must have called parallel.
func noLeaks(t *testing.T, fn func()) {
	t.Helper()
	exclusive.RUnlock()
	exclusive.Lock()
	defer func() {
		exclusive.Unlock()
		exclusive.RLock()
	}()
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return 0
		}
		return len(ents)
	}
	before, beforeFDs := runtime.NumGoroutine(), fds()
	fn()
	deadline := time.Now().Add(2 * time.Second)
	for (runtime.NumGoroutine() > before || fds() > beforeFDs) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf)
	}
	if n := fds(); n > beforeFDs {
		t.Errorf("%d open files before, %d after", beforeFDs, n)
	}
}

// waitLog waits until the server's output holds text.
func waitLog(t testing.TB, p *proc, text string) {
	t.Helper()
	deadline := time.Now().Add(startWait)
	for !strings.Contains(p.log(), text) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before saying %q:\n%s", p.cmd.Path, text, p.log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not say %q within %v:\n%s", p.cmd.Path, text, startWait, p.log())
		}
	}
}
