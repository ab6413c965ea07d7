package ldbench

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"hbgo/test/netns"
)

// dial connects from h to addr within bound; with read set it then sends
// a request and reads the answer's first line.
func dial(h *netns.Host, addr string, bound time.Duration, read bool) (string, error) {
	var line string
	err := h.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, bound)
		if err != nil {
			return err
		}
		defer c.Close()
		if !read {
			return nil
		}
		_ = c.SetDeadline(time.Now().Add(bound))
		if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
			return err
		}
		line, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
	return strings.TrimSpace(line), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestFarmStates(t *testing.T) {
	checker, farm := NewLab(t, 20)
	addr := func(i int) string { return farm.Addr(i).String() }

	for _, i := range []int{0, 19} {
		if line, err := dial(checker, addr(i), 5*time.Second, true); err != nil || line != "HTTP/1.0 200 OK" {
			t.Fatalf("server %d (%s) up: %q, %v", i, addr(i), line, err)
		}
	}
	if farm.Accepts(0) != 1 {
		t.Errorf("server 0 accepted %d connections, want 1", farm.Accepts(0))
	}

	if err := farm.Kill(3); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := dial(checker, addr(3), 5*time.Second, false)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("killed server 3: %v, want connection refused", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("killed server 3 refused after %v, want at once", took)
	}
	if _, err := dial(checker, addr(4), 5*time.Second, false); err != nil {
		t.Fatalf("server 4 beside a killed one: %v", err)
	}
	if err := farm.Revive(3); err != nil {
		t.Fatal(err)
	}
	if line, err := dial(checker, addr(3), 5*time.Second, true); err != nil || line != "HTTP/1.0 200 OK" {
		t.Fatalf("revived server 3: %q, %v", line, err)
	}

	if err := farm.Hang(5); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(checker, addr(5), 5*time.Second, false); err != nil {
		t.Fatalf("hung server 5 must accept: %v", err)
	}
	if _, err := dial(checker, addr(5), 500*time.Millisecond, true); !isTimeout(err) {
		t.Fatalf("hung server 5 answered: %v, want a timeout", err)
	}

	if err := farm.Freeze(6); err != nil {
		t.Fatal(err)
	}
	if farm.State(6) != Frozen {
		t.Errorf("server 6 is %v, want frozen", farm.State(6))
	}
	if _, err := dial(checker, addr(6), 700*time.Millisecond, false); !isTimeout(err) {
		t.Fatalf("frozen server 6: %v, want a connect timeout", err)
	}
	if err := farm.Revive(6, 5); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{5, 6} {
		if line, err := dial(checker, addr(i), 5*time.Second, true); err != nil || line != "HTTP/1.0 200 OK" {
			t.Fatalf("server %d after revive: %q, %v", i, line, err)
		}
	}

	if err := farm.KillAll(); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 7, 19} {
		if _, err := dial(checker, addr(i), 5*time.Second, false); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("server %d after KillAll: %v, want connection refused", i, err)
		}
	}
}

// ldirectord 4.12's patterns for `ipvsadm -L -n` (ld_read_ipvsadm) and
// `ipvsadm -L -n --thresholds`, in Go's syntax.
var (
	ldService   = regexp.MustCompile(`^(\w+)\s+(\d+\.\d+\.\d+\.\d+\:\d+|\[[0-9A-Fa-f:]+\]:\d+|\d+)( IPv6)?\s+(\w+)`)
	ldReal      = regexp.MustCompile(`^  ->\s+(\d+\.\d+\.\d+\.\d+\:\d+|\[[0-9A-Fa-f:]+\]:\d+)\s+(\w+)\s+(\d+)`)
	ldThreshold = regexp.MustCompile(`^  ->\s+(\d+\.\d+\.\d+\.\d+\:\d+|\[[0-9A-Fa-f:]+\]:\d+)\s+(\d+)\s+(\d+)\s+(\d+)`)
)

func TestStandInIpvsadm(t *testing.T) {
	dir := t.TempDir()
	bin, err := Build(dir, "./test/ldbench/ipvsadm", "ipvsadm")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HBGO_IPVSADM_DIR="+state)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	steps := []struct {
		args string
		code int
	}{
		{"-A -t 10.93.0.1:80 -s wrr", 0},
		{"-A -t 10.93.0.1:80 -s wrr", 1},
		{"-a -t 10.93.0.1:80 -x 0 -y 0 -r 10.91.0.1:80 -g -w 1", 0},
		{"-a -t 10.93.0.1:80 -r 10.91.0.2:80 -g -w 3", 0},
		{"-a -t 10.93.0.1:80 -r 10.91.0.2:80 -g -w 1", 1},
		{"-e -t 10.93.0.1:80 -r 10.91.0.2:80 -g -w 0", 0},
		{"-d -t 10.93.0.1:80 -r 10.91.0.1:80", 0},
		{"-d -t 10.93.0.1:80 -r 10.91.0.1:80", 1},
		{"-a -t 10.93.0.9:80 -r 10.91.0.1:80", 1},
		{"--bogus", 2},
	}
	for _, s := range steps {
		if out, code := run(strings.Fields(s.args)...); code != s.code {
			t.Fatalf("ipvsadm %s: exit %d, want %d\n%s", s.args, code, s.code, out)
		}
	}
	out, _ := run("-L", "-n")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 5 || !ldService.MatchString(lines[3]) {
		t.Fatalf("ipvsadm -L -n:\n%s", out)
	}
	m := ldReal.FindStringSubmatch(lines[4])
	if m == nil || m[1] != "10.91.0.2:80" || m[2] != "Route" || m[3] != "0" {
		t.Fatalf("ipvsadm -L -n: real line %q: %q", lines[4], m)
	}
	out, _ = run("-L", "-n", "--thresholds")
	lines = strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 5 || ldThreshold.FindStringSubmatch(lines[4]) == nil {
		t.Fatalf("ipvsadm -L -n --thresholds:\n%s", out)
	}

	calls, err := ReadCalls(filepath.Join(state, "calls.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != len(steps)+2 {
		t.Fatalf("%d calls logged, want %d", len(calls), len(steps)+2)
	}
	r := NewReplay()
	for i, c := range calls {
		if i > 0 && c.At.Before(calls[i-1].At) {
			t.Errorf("call %d logged at %v, before call %d", i, c.At, i-1)
		}
		if i < len(steps) && c.Code != steps[i].code {
			t.Errorf("call %d %q logged exit %d, want %d", i, c.Line, c.Code, steps[i].code)
		}
		r.Apply(c)
	}
	if !Adds(calls[2], farmAddr("10.91.0.1:80")) || !Removes(calls[5], farmAddr("10.91.0.2:80")) || !Removes(calls[6], farmAddr("10.91.0.1:80")) {
		t.Errorf("Adds/Removes misread the log: %+v", calls[2:7])
	}
	if r.Live != 0 || r.Serving("tcp 10.93.0.1:80", farmAddr("10.91.0.2:80")) {
		t.Errorf("replayed table: %d live, want 0 (10.91.0.2 quiescent)", r.Live)
	}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		line    string
		op      byte
		service string
		real    string
		weight  int
	}{
		{"-a -t 10.93.0.1:80 -x 0 -y 0 -r 10.91.0.1:80 -g -w 1", 'a', "tcp 10.93.0.1:80", "10.91.0.1:80", 1},
		{"ipvsadm -d -t 10.93.0.1:80 -r 10.91.0.1:80", 'd', "tcp 10.93.0.1:80", "10.91.0.1:80", -1},
		{"12:00:00.000 ipvsadm -e -u 10.93.0.1:53 -r 10.91.0.1:53 -m -w 0", 'e', "udp 10.93.0.1:53", "10.91.0.1:53", 0},
		{"-A -f 5 -s wrr -p 300", 'A', "fwm 5", "invalid AddrPort", -1},
		{"started, 3 services", 0, "", "invalid AddrPort", -1},
	} {
		c := ParseCommand(time.Time{}, tc.line)
		if c.Op != tc.op || c.Service != tc.service || c.Real.String() != tc.real || c.Weight != tc.weight {
			t.Errorf("ParseCommand(%q) = op %q service %q real %v weight %d", tc.line, c.Op, c.Service, c.Real, c.Weight)
		}
	}
	if _, err := ParseCall("notanumber 0 -L -n"); err == nil {
		t.Error("ParseCall accepted a bad time")
	}
}

func farmAddr(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
