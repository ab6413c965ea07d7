package main

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildHbgo builds the binary once for the tests that run it, with a link
// beside it for every name it answers to (ldirectord, hb_standby, ...).
var buildHbgo = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hbgo-ldtest-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hbgo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	for name := range aliases {
		if err := os.Symlink("hbgo", filepath.Join(dir, name)); err != nil {
			return "", err
		}
	}
	return bin, nil
})

func hbgoBin(t *testing.T) string {
	t.Helper()
	bin, err := buildHbgo()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// ldListener is a real server on a loopback address.
func ldListener(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln
}

// ldFarm starts two real servers on one free port of 127.78.N.1 and .2.
func ldFarm(t *testing.T, n int) (port uint16, a, b net.Listener) {
	t.Helper()
	for i := 0; i < 20; i++ {
		a0, err := net.Listen("tcp", fmt.Sprintf("127.78.%d.1:0", n))
		if err != nil {
			t.Fatal(err)
		}
		port = netip.MustParseAddrPort(a0.Addr().String()).Port()
		a0.Close()
		l2, err := net.Listen("tcp", fmt.Sprintf("127.78.%d.2:%d", n, port))
		if err != nil {
			continue
		}
		l2.Close()
		return port, ldListener(t, fmt.Sprintf("127.78.%d.1:%d", n, port)), ldListener(t, fmt.Sprintf("127.78.%d.2:%d", n, port))
	}
	t.Fatal("no free port")
	return
}

var dryLineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (.*)$`)

func TestLdirectordDryRun(t *testing.T) {
	bin := hbgoBin(t)
	port, _, b := ldFarm(t, 1)
	cfgFile := filepath.Join(t.TempDir(), "web.cf")
	vip := fmt.Sprintf("10.254.0.1:%d", port)
	cfg := fmt.Sprintf("checkinterval = 200ms\nchecktimeout = 1s\nlogfile = \"local0\"\nvirtual = %s\n\treal = 127.78.1.1 gate\n\treal = 127.78.1.2 gate 2\n\tchecktype = connect\n\tfallback = 127.0.0.1\n", vip)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "ldirectord", "--dry-run", cfgFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("output ended; want %q; stderr:\n%s", w, stderr.String())
				}
				m := dryLineRE.FindStringSubmatch(l)
				if m == nil || m[1] != w {
					t.Fatalf("got line %q, want TIMESTAMP %s", l, w)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no line; want %q; stderr:\n%s", w, stderr.String())
			}
		}
	}
	svc := "-t " + vip
	expect("-A "+svc+" -s wrr",
		"-a "+svc+fmt.Sprintf(" -r 127.78.1.1:%d -g -w 1", port),
		"-a "+svc+fmt.Sprintf(" -r 127.78.1.2:%d -g -w 2", port))
	b.Close()
	expect("-d " + svc + fmt.Sprintf(" -r 127.78.1.2:%d", port))
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	expect("-D " + svc)
	if err := cmd.Wait(); err != nil {
		t.Errorf("dry run exit: %v; stderr:\n%s", err, stderr.String())
	}
	for _, w := range []string{
		fmt.Sprintf("Added real server: 127.78.1.1:%d (%s) (Weight set to 1)", port, vip),
		fmt.Sprintf("Deleted real server: 127.78.1.2:%d (%s)", port, vip),
		"Linux Director Daemon terminated on signal: INT",
	} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
}

func TestLdirectordDryRunBadConfig(t *testing.T) {
	bin := hbgoBin(t)
	cfgFile := filepath.Join(t.TempDir(), "bad.cf")
	if err := os.WriteFile(cfgFile, []byte("checkinterval = 1\nvirtual = 10.0.0.1:80\n\treal = 10.0.0.2:80 gait\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "ldirectord", "--dry-run", cfgFile).CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), cfgFile+":3:") {
		t.Errorf("bad config: exit %d, output %q; want 2 and the file:line", code, out)
	}
}

// TestLdirectordDaemon runs start, status, reload and stop through the
// ldirectord link with a pid file in a temporary run directory. There is
// no IPVS in this kernel, so the daemon uses the in-memory table
// (HBGO_LDIRECTORD_TABLE=memory, for tests); the kernel table is tested
// in the VM by the lvs package.
func TestLdirectordDaemon(t *testing.T) {
	bin := hbgoBin(t)
	link := filepath.Join(filepath.Dir(bin), "ldirectord")
	run := t.TempDir()
	port, _, _ := ldFarm(t, 2)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "farm.cf")
	logFile := filepath.Join(dir, "ld.log")
	cfg := func(reals string) string {
		return fmt.Sprintf("checkinterval = 200ms\nchecktimeout = 1s\nlogfile = \"%s\"\nvirtual = 10.254.0.2:%d\n%s\tchecktype = connect\n", logFile, port, reals)
	}
	if err := os.WriteFile(cfgFile, []byte(cfg("\treal = 127.78.2.1 gate\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	ld := func(args ...string) (int, string) {
		c := exec.Command(link, args...)
		c.Env = append(os.Environ(), envLdRunDir+"="+run, envLdTable+"=memory")
		out, err := c.CombinedOutput()
		return exitCode(err), string(out)
	}
	pidFile := filepath.Join(run, "ldirectord.farm.cf.pid")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	if code, out := ld(cfgFile, "status"); code != 3 || !strings.Contains(out, "ldirectord is stopped for "+cfgFile) {
		t.Errorf("status before start: exit %d %q, want 3", code, out)
	}
	if code, out := ld(cfgFile, "reload"); code != 1 {
		t.Errorf("reload before start: exit %d %q, want 1", code, out)
	}
	if code, out := ld(cfgFile, "start"); code != 0 {
		t.Fatalf("start: exit %d %q", code, out)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("no pid file after start: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if code, out := ld(cfgFile, "status"); code != 0 || !strings.Contains(out, fmt.Sprintf("is running with pid: %d", pid)) {
		t.Errorf("status: exit %d %q", code, out)
	}
	if code, _ := ld(cfgFile, "start"); code != 0 {
		t.Errorf("second start: exit %d, want 0 (already running)", code)
	}
	waitLog := func(sub string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if b, _ := os.ReadFile(logFile); strings.Contains(string(b), sub) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		b, _ := os.ReadFile(logFile)
		t.Fatalf("log lacks %q:\n%s", sub, b)
	}
	waitLog(fmt.Sprintf("Added real server: 127.78.2.1:%d", port))
	// Log lines carry ldirectord's prefix.
	if b, _ := os.ReadFile(logFile); !regexp.MustCompile(`(?m)^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\|farm\.cf\|` + strconv.Itoa(pid) + `\] Added real server`).Match(b) {
		t.Errorf("log line format:\n%s", b)
	}
	if err := os.WriteFile(cfgFile, []byte(cfg("\treal = 127.78.2.1 gate\n\treal = 127.78.2.2 gate\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := ld(cfgFile, "reload"); code != 0 {
		t.Errorf("reload: exit %d %q", code, out)
	}
	waitLog("Reloading Linux Director Daemon config on signal")
	waitLog(fmt.Sprintf("Added real server: 127.78.2.2:%d", port))
	// A restart with a configuration that has errors keeps the running
	// daemon, as ldirectord does.
	good, _ := os.ReadFile(cfgFile)
	if err := os.WriteFile(cfgFile, []byte("virtual = nonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"restart", "try-restart"} {
		if code, out := ld(cfgFile, cmd); code != 2 || !strings.Contains(out, "not restarting") {
			t.Errorf("%s with errors: exit %d %q, want 2", cmd, code, out)
		}
		if code, out := ld(cfgFile, "status"); code != 0 || !strings.Contains(out, fmt.Sprintf("is running with pid: %d", pid)) {
			t.Errorf("status after %s with errors: exit %d %q, want the same daemon running", cmd, code, out)
		}
	}
	if err := os.WriteFile(cfgFile, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := ld(cfgFile, "stop"); code != 0 {
		t.Errorf("stop: exit %d %q", code, out)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file after stop: %v", err)
	}
	// Gone, or a zombie its new parent has not reaped yet.
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); len(b) > 0 {
		t.Errorf("pid %d still alive after stop: %q", pid, b)
	}
	waitLog("Purged virtual server (stop)")
	waitLog("Linux Director Daemon terminated on signal: TERM")
	if code, _ := ld(cfgFile, "stop"); code != 0 {
		t.Errorf("stop when stopped: exit %d, want 0", code)
	}
	// A stale pid file.
	if err := os.WriteFile(pidFile, []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := ld(cfgFile, "status"); code != 1 || !strings.Contains(out, "stale pid file") {
		t.Errorf("status with a stale pid file: exit %d %q, want 1", code, out)
	}
	os.Remove(pidFile)
	if code, out := ld(cfgFile, "frobnicate"); code != 2 || !strings.Contains(out, "usage") {
		t.Errorf("unknown command: exit %d %q", code, out)
	}
}

// TestLdirectordExecute: an execute line starts another configuration's
// ldirectord with this one and stops it with it.
func TestLdirectordExecute(t *testing.T) {
	bin := hbgoBin(t)
	link := filepath.Join(filepath.Dir(bin), "ldirectord")
	run := t.TempDir()
	dir := t.TempDir()
	port, _, _ := ldFarm(t, 3)
	child := filepath.Join(dir, "child.cf")
	parent := filepath.Join(dir, "parent.cf")
	body := fmt.Sprintf("checkinterval = 200ms\nlogfile = \"%s/ld.log\"\nvirtual = 10.254.0.3:%d\n\treal = 127.78.3.1 gate\n\tchecktype = connect\n", dir, port)
	if err := os.WriteFile(child, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(parent, []byte("execute = "+child+"\n"+strings.Replace(body, "10.254.0.3", "10.254.0.4", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ld := func(args ...string) (int, string) {
		c := exec.Command(link, args...)
		c.Env = append(os.Environ(), envLdRunDir+"="+run, envLdTable+"=memory")
		out, err := c.CombinedOutput()
		return exitCode(err), string(out)
	}
	t.Cleanup(func() {
		for _, n := range []string{"parent.cf", "child.cf"} {
			if b, err := os.ReadFile(filepath.Join(run, "ldirectord."+n+".pid")); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	})
	if code, out := ld(parent, "start"); code != 0 {
		t.Fatalf("start: exit %d %q", code, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := ld(child, "status"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the execute line's ldirectord did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, out := ld(parent, "stop"); code != 0 {
		t.Fatalf("stop: exit %d %q", code, out)
	}
	if code, out := ld(child, "status"); code != 3 {
		t.Errorf("child after the parent stopped: exit %d %q, want 3 (stopped)", code, out)
	}
}

// TestLdirectordForeground: -d runs in the foreground with its log on
// the terminal and ends on TERM; start refuses a configuration with
// errors, naming file and line.
func TestLdirectordForeground(t *testing.T) {
	bin := hbgoBin(t)
	link := filepath.Join(filepath.Dir(bin), "ldirectord")
	port, _, _ := ldFarm(t, 4)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "fg.cf")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("checkinterval = 200ms\nvirtual = 10.254.0.5:%d\n\treal = 127.78.4.1 gate\n\tchecktype = connect\n", port)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(link, "-d", cfgFile, "start")
	c.Env = append(os.Environ(), envLdRunDir+"="+dir, envLdTable+"=memory")
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill() })
	sc := bufio.NewScanner(stderr)
	want := fmt.Sprintf("Added real server: 127.78.4.1:%d (10.254.0.5:%d) (Weight set to 1)", port, port)
	var seen []string
	found := make(chan bool, 1)
	go func() {
		for sc.Scan() {
			seen = append(seen, sc.Text())
			if sc.Text() == want {
				found <- true
			}
		}
		close(found)
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("-d ended without %q", want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no %q on stderr", want)
	}
	if _, err := os.Stat(filepath.Join(dir, "ldirectord.fg.cf.pid")); !os.IsNotExist(err) {
		t.Errorf("-d wrote a pid file (%v); ldirectord -d does not", err)
	}
	c.Process.Signal(syscall.SIGTERM)
	for range found {
	}
	if err := c.Wait(); err != nil {
		t.Errorf("-d after TERM: %v\n%s", err, strings.Join(seen, "\n"))
	}
	if !slices.Contains(seen, "Linux Director Daemon terminated on signal: TERM") {
		t.Errorf("no termination line:\n%s", strings.Join(seen, "\n"))
	}

	bad := filepath.Join(dir, "bad.cf")
	if err := os.WriteFile(bad, []byte("checkinterval = 1\nvirtual = 10.0.0.1:80\n\tscheduler = wrrr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, bad, "start")
	cmd.Env = c.Env
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), bad+":3:") {
		t.Errorf("start with errors: exit %d %q, want 2 and file:line", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "ldirectord.bad.cf.pid")); !os.IsNotExist(err) {
		t.Errorf("a refused start left a pid file")
	}
}
