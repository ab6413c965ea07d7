package ldbench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"hbgo/test/netns"
	"hbgo/test/peers"
)

// Settings of every ldirectord.cf the benchmarks write.
const (
	CheckInterval = time.Second
	CheckTimeout  = 3 * time.Second
	// PerVirtual is how many real servers each virtual service gets.
	PerVirtual = 1000
)

// Config is an ldirectord.cf for the first n real servers of a farm, in
// virtual services of PerVirtual servers each (10.93.0.1:80, .2, ...):
// connect checks every second, 3 s timeout, failed servers removed
// (quiescent = no). logfile is where a checker that writes a log file
// writes it.
func Config(n int, logfile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "checktimeout = %d\ncheckinterval = %d\nquiescent = no\nautoreload = no\nlogfile = %q\n",
		int(CheckTimeout/time.Second), int(CheckInterval/time.Second), logfile)
	for i := range n {
		if i%PerVirtual == 0 {
			fmt.Fprintf(&b, "\nvirtual = %s:%d\n\tprotocol = tcp\n\tscheduler = wrr\n\tchecktype = connect\n", VirtualAddr(i/PerVirtual), RealPort)
		}
		fmt.Fprintf(&b, "\treal = %s:%d gate\n", RealAddr(i), RealPort)
	}
	return b.String()
}

// VirtualAddr is the address of virtual service k (0-based).
func VirtualAddr(k int) netip.Addr {
	b := VirtualBase.As4()
	b[3] += byte(k)
	return netip.AddrFrom4(b)
}

// ServiceOf is the service (as Call.Service names it) real server i is in.
func ServiceOf(i int) string {
	return fmt.Sprintf("tcp %s:%d", VirtualAddr(i/PerVirtual), RealPort)
}

// Checker is a health checker under test, running in the lab's checker
// host, whose table changes arrive as Calls.
type Checker interface {
	// Name is "ldirectord" or "hbgo".
	Name() string
	// PID is the checker's process, whose CPU and memory are measured.
	PID() int
	// Calls returns every table change (and listing) so far, in order.
	Calls() ([]Call, error)
	// Exited reports whether the checker has died, with its log's tail.
	Exited() (bool, string)
	Stop()
}

// ldirectordChecker is Debian's ldirectord with the stand-in ipvsadm.
type ldirectordChecker struct {
	ld    *peers.Ldirectord
	calls string
	start func() (*peers.Ldirectord, error)
	state string

	mu   sync.Mutex
	off  int64
	part string
	seen []Call
}

// StartLdirectord starts ldirectord on host with Config(n), ipvsadm being
// the stand-in at standin.
func StartLdirectord(host *netns.Host, dir, standin string, n int) (Checker, error) {
	if err := peers.EnsureLdirectord(); err != nil {
		return nil, err
	}
	state := filepath.Join(dir, "ipvsadm-state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, err
	}
	start := func() (*peers.Ldirectord, error) {
		return peers.StartLdirectord(host, dir, peers.LdirectordSpec{
			Config:  Config(n, filepath.Join(dir, "ldirectord.log")),
			Ipvsadm: standin,
			Env:     []string{"HBGO_IPVSADM_DIR=" + state},
		})
	}
	ld, err := start()
	if err != nil {
		return nil, err
	}
	return &ldirectordChecker{ld: ld, calls: filepath.Join(state, "calls.log"), start: start, state: state}, nil
}

// RestartWarm kills ldirectord, writes the stand-in's table with every
// real server of Config(n) but the last, and starts ldirectord again.
func (c *ldirectordChecker) RestartWarm(n int) (time.Time, error) {
	if err := c.ld.Stop(); err != nil {
		return time.Time{}, err
	}
	if err := WriteStandInTable(c.state, n-1, n); err != nil {
		return time.Time{}, err
	}
	t1 := time.Now()
	ld, err := c.start()
	if err != nil {
		return t1, err
	}
	c.ld = ld
	return t1, nil
}

// WriteStandInTable writes the stand-in ipvsadm's table file in dir: the
// virtual services of Config(total), holding its first n real servers
// (weight 1, gate). The format is the stand-in's (command ipvsadm):
// "S PROTO ADDR SCHED PERSISTENT NETMASK|-" then "R ADDR FWD WEIGHT
// UPPER LOWER" for each of its real servers.
func WriteStandInTable(dir string, n, total int) error {
	var b strings.Builder
	for i := range total {
		if i%PerVirtual == 0 {
			fmt.Fprintf(&b, "S TCP %s:%d wrr 0 -\n", VirtualAddr(i/PerVirtual), RealPort)
		}
		if i < n {
			fmt.Fprintf(&b, "R %s:%d Route 1 0 0\n", RealAddr(i), RealPort)
		}
	}
	return os.WriteFile(filepath.Join(dir, "table"), []byte(b.String()), 0o644)
}

func (c *ldirectordChecker) Name() string { return "ldirectord" }
func (c *ldirectordChecker) PID() int     { return c.ld.PID() }
func (c *ldirectordChecker) Stop()        { _ = c.ld.Stop() }
func (c *ldirectordChecker) Exited() (bool, string) {
	return c.ld.Exited(), c.ld.LogTail(20)
}

// Calls reads what the stand-in logged since the last read and returns
// everything so far.
func (c *ldirectordChecker) Calls() ([]Call, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := os.Open(c.calls)
	if errors.Is(err, os.ErrNotExist) {
		return c.seen, nil
	}
	if err != nil {
		return c.seen, err
	}
	defer f.Close()
	if _, err := f.Seek(c.off, io.SeekStart); err != nil {
		return c.seen, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return c.seen, err
	}
	c.off += int64(len(b))
	text := c.part + string(b)
	lines := strings.Split(text, "\n")
	c.part = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		if l == "" {
			continue
		}
		call, err := ParseCall(l)
		if err != nil {
			return c.seen, fmt.Errorf("%s: %w", c.calls, err)
		}
		c.seen = append(c.seen, call)
	}
	return c.seen, nil
}

// hbgoChecker is `hbgo ldirectord --dry-run CONFIG`: the ipvsadm lines it
// prints are stamped as they are read.
type hbgoChecker struct {
	proc *netns.Proc
	dir  string

	mu    sync.Mutex
	seen  []Call
	other []string // lines that are no command, for the log tail
}

// HbgoCommand builds what runs hbgo's ldirector in dry-run mode: the hbgo
// binary's `ldirectord --dry-run` when this build has it, else the engine
// alone (command hbgold). It returns the command line less the config,
// and which of the two it is.
func HbgoCommand(dir string) (argv []string, what string, err error) {
	bin, err := Build(dir, "./cmd/hbgo", "hbgo")
	if err != nil {
		return nil, "", err
	}
	out, _ := exec.Command(bin, "ldirectord", "--dry-run", filepath.Join(dir, "no-such.cf")).CombinedOutput()
	if !strings.Contains(string(out), "not in this build") && !strings.Contains(string(out), "unknown") {
		return []string{bin, "ldirectord", "--dry-run"}, "hbgo ldirectord --dry-run", nil
	}
	eng, err := Build(dir, "./test/ldbench/hbgold", "hbgold")
	if err != nil {
		return nil, "", err
	}
	return []string{eng}, "ldirector engine (hbgold)", nil
}

// StartHbgo runs argv (from HbgoCommand) with Config(n) on host.
func StartHbgo(host *netns.Host, dir string, argv []string, n int) (Checker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "ldirectord.cf")
	if err := os.WriteFile(cfg, []byte(Config(n, filepath.Join(dir, "ldirectord.log"))), 0o644); err != nil {
		return nil, err
	}
	errLog, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, err
	}
	cmd := host.Command(argv[0], append(argv[1:len(argv):len(argv)], cfg)...)
	cmd.Stderr = errLog
	out, err := cmd.StdoutPipe()
	if err != nil {
		errLog.Close()
		return nil, err
	}
	proc, err := host.Start(cmd)
	if err != nil {
		errLog.Close()
		return nil, err
	}
	c := &hbgoChecker{proc: proc, dir: dir}
	go func() {
		defer errLog.Close()
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			at := time.Now()
			call := ParseCommand(at, sc.Text())
			c.mu.Lock()
			if call.Op != 0 {
				c.seen = append(c.seen, call)
			} else if len(c.other) < 1000 {
				c.other = append(c.other, sc.Text())
			}
			c.mu.Unlock()
		}
	}()
	return c, nil
}

func (c *hbgoChecker) Name() string { return "hbgo" }
func (c *hbgoChecker) PID() int     { return c.proc.PID() }
func (c *hbgoChecker) Stop()        { _ = c.proc.Kill() }
func (c *hbgoChecker) Calls() ([]Call, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen, nil
}
func (c *hbgoChecker) Exited() (bool, string) {
	b, _ := os.ReadFile(filepath.Join(c.dir, "stderr.log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	c.mu.Lock()
	other := strings.Join(c.other[max(0, len(c.other)-5):], "\n")
	c.mu.Unlock()
	return c.proc.Exited(), strings.Join(lines, "\n") + "\n" + other
}

// moduleRoot is the directory of the hbgo module (for go build).
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("ldbench: cannot locate the module")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file))), nil
}

// Build builds a package of the module (such as "./cmd/hbgo" or
// "./test/ldbench/ipvsadm") into dir and returns the program's path.
func Build(dir, pkg, name string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("ldbench: go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// Usage is a process's CPU time (user + system) and memory.
type Usage struct {
	At  time.Time
	CPU time.Duration
	RSS int64 // bytes, VmRSS
	HWM int64 // bytes, VmHWM (peak RSS)
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times (100 on
// Linux's every architecture that hbgo runs on).
const clockTick = 100

// ReadUsage reads /proc/PID/stat and /proc/PID/status.
func ReadUsage(pid int) (Usage, error) {
	u := Usage{At: time.Now()}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return u, err
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return u, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	// After the name: state is field 3 of proc(5), utime 14, stime 15.
	fs := strings.Fields(s[i+1:])
	if len(fs) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fs))
	}
	ut, err1 := strconv.ParseInt(fs[11], 10, 64)
	st, err2 := strconv.ParseInt(fs[12], 10, 64)
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, fs[11], fs[12])
	}
	u.CPU = time.Duration(ut+st) * time.Second / clockTick
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return u, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		if k == "VmRSS" {
			u.RSS = kb << 10
		} else {
			u.HWM = kb << 10
		}
	}
	return u, nil
}
