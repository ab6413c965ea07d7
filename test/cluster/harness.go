package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hbgo/test/netns"
	"hbgo/test/ptypair"
)

// Spec describes a cluster to build.
type Spec struct {
	Directors []string
	Witnesses []string
	// Timing is ha.cf's timing lines; default keepalive 100ms, deadtime
	// 500ms, initdead 2s.
	Timing string
	// Extra ha.cf lines (auto_failback, ping, ...).
	Extra string
	// Groups: haresources lines without the resources, "HOME NAME": each
	// group is one test resource named NAME.
	Groups []string
	// Haresources, when set, is written as haresources instead of the
	// lines Groups makes (groups of built-in agents, such as a VIP).
	Haresources string
	// Files are more files of every node's ha.d: name -> content (an
	// ldirectord.cf, say).
	Files map[string]string
	// Links is the number of heartbeat segments (1 or 2; default 2).
	Links int
	// Serial adds a null-modem cable (a paced pty pair at 19200 baud)
	// between the first two directors.
	Serial bool
	// Cable is the serial cable when Serial is set.
	Cable     *ptypair.Cable
	serialDev map[string]string

	// Router adds a host "router" on the first segment that directors can
	// use as a ping node (ha.cf: ping ROUTER, see RouterAddr).
	Router bool

	// ExtraGroups are more groups ("HOME NAME", as Groups) in one node's
	// haresources only: node -> lines. It makes the nodes' haresources
	// differ, as an operator's edit copied to one director would.
	ExtraGroups map[string][]string
	// StopDelay makes the test resource take this long to stop: it sleeps
	// before it writes STOP, still running (status says so) meanwhile.
	StopDelay time.Duration
	// DaemonArgs are more arguments of every director's and witness's
	// `hbgo daemon` (--stop-timeout 1s, say).
	DaemonArgs []string
}

// RouterAddr is the address of Spec.Router's host.
const RouterAddr = "10.81.0.254"

// Member is one node: its host, files and daemon.
type Member struct {
	Name     string
	Host     *netns.Host
	ConfDir  string
	StateDir string
	RunDir   string
	proc     *netns.Proc
	out      *os.File
}

// TB is what the harness needs of a test: *testing.T and *testing.B
// satisfy it, and so does the demo's narrator.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
	TempDir() string
	Cleanup(func())
	Failed() bool
}

// Cluster is a running set of hbgo daemons in network namespaces.
type Cluster struct {
	T       TB
	Lab     *netns.Lab
	Bin     string
	Root    string
	LogPath string // the resource log every test resource appends to
	Spec    Spec
	Members map[string]*Member
	order   []string

	mu       sync.Mutex
	frozen   []Window
	frozenAt map[string]time.Time
	killedAt map[string]time.Time // daemons killed alone, not yet restarted
}

// FreezeGrace is how long after a thaw a frozen owner may still run a
// group it lost: the time to notice its lapsed lease and stop.
const FreezeGrace = 2 * time.Second

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Binary builds hbgo once per test process.
func Binary(t TB) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hbgo-bin-")
		if err != nil {
			buildErr = err
			return
		}
		root, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "hbgo")
		// hbgo-bgp, the BGP speaker the daemon starts beside itself.
		for _, b := range [][2]string{{builtBin, "./cmd/hbgo"}, {builtBin + "-bgp", "./cmd/hbgo-bgp"}} {
			cmd := exec.Command("go", "build", "-o", b[0], b[1])
			cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
			if b[1] == "./cmd/hbgo" {
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build: %v\n%s", err, out)
				return
			}
		}
		for _, l := range linkNames {
			if err := os.Symlink("hbgo", filepath.Join(dir, l)); err != nil {
				buildErr = err
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// resourceScript is the test resource: it records START and STOP with the
// node, the group and the time in ns, keeps its state in a file, and
// answers status as LSB says. The state file exists from before START to
// after STOP, so a crash at any point leaves it for recordCrash.
const resourceScript = `#!/bin/sh
# testres GROUP start|stop|status
G="$1"; ST="%[1]s/$G.running"
case "$2" in
start)
	[ -e "$ST" ] && exit 0
	touch "$ST"
	echo "START %[2]s $G $(date +%%s%%N)" >> "%[3]s"
	exit 0;;
stop)
	[ -e "$ST" ] || exit 0
	%[4]s
	echo "STOP %[2]s $G $(date +%%s%%N)" >> "%[3]s"
	rm -f "$ST"
	exit 0;;
status)
	[ -e "$ST" ] && { echo running; exit 0; }
	echo stopped; exit 3;;
esac
exit 2
`

// New builds the lab and writes every node's files; Start starts daemons.
func New(t TB, spec Spec) *Cluster {
	t.Helper()
	var lab *netns.Lab
	if tb, ok := t.(testing.TB); ok {
		lab = netns.NewT(tb)
	} else {
		var err error
		if lab, err = netns.New("demo"); err != nil {
			t.Fatal(err)
		}
		lab.CleanupOnSignal(os.Interrupt)
		t.Cleanup(func() { lab.Close() })
	}
	if spec.Links == 0 {
		spec.Links = 2
	}
	if spec.Timing == "" {
		spec.Timing = "keepalive 100ms\nwarntime 300ms\ndeadtime 500ms\ninitdead 2\n"
		if spec.Serial {
			// Over the cable alone, a two-node director must see its
			// heartbeats acknowledged within its ack lease (0.9 deadtime):
			// two paced frames each way, a keepalive of wait and the
			// machine's own delays take more than 450 ms (docs/heartbeat.md).
			spec.Timing = "keepalive 100ms\nwarntime 500ms\ndeadtime 1s\ninitdead 2\n"
		}
	}
	if spec.Serial {
		tb, ok := t.(testing.TB)
		if !ok {
			t.Fatal("a serial cable needs a test")
		}
		cable := ptypair.New(tb, 19200)
		spec.serialDev = map[string]string{spec.Directors[0]: cable.A, spec.Directors[1]: cable.B}
		spec.Cable = cable
	}
	c := &Cluster{T: t, Lab: lab, Bin: Binary(t), Root: t.TempDir(), Spec: spec, Members: map[string]*Member{}}
	spec = c.Spec
	c.LogPath = filepath.Join(c.Root, "resources.log")
	if err := os.WriteFile(c.LogPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var segs []*netns.Segment
	for i := 0; i < spec.Links; i++ {
		s, err := c.Lab.AddSegment(fmt.Sprintf("hb%d", i), netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/24", 81+i)))
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, s)
	}
	names := append(append([]string(nil), spec.Directors...), spec.Witnesses...)
	c.order = names
	var media []string
	for i := range segs {
		media = append(media, fmt.Sprintf("eth%d", i))
	}
	hacf := spec.Timing + "udpport 694\nbcast " + strings.Join(media, " ") + "\nnode " + strings.Join(spec.Directors, " ") + "\n"
	if len(spec.Witnesses) > 0 {
		hacf += "witness " + strings.Join(spec.Witnesses, " ") + "\n"
	}
	if !strings.Contains(spec.Extra, "auto_failback") {
		hacf += "auto_failback on\n"
	}
	hacf += spec.Extra
	var hares strings.Builder
	for _, g := range spec.Groups {
		f := strings.Fields(g)
		fmt.Fprintf(&hares, "%s testres::%s\n", f[0], f[1])
	}
	if spec.Haresources != "" {
		hares.Reset()
		hares.WriteString(spec.Haresources)
	}
	if spec.Router {
		h, err := c.Lab.AddHost("router")
		if err == nil {
			err = h.Attach(segs[0], "eth0", netip.MustParsePrefix(RouterAddr+"/24"))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range names {
		h, err := c.Lab.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		for j, s := range segs {
			if err := h.Attach(s, fmt.Sprintf("eth%d", j), s.Addr(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		m := &Member{Name: name, Host: h,
			ConfDir:  filepath.Join(c.Root, name, "ha.d"),
			StateDir: filepath.Join(c.Root, name, "state"),
			RunDir:   filepath.Join(c.Root, name, "run")}
		rsc := filepath.Join(m.ConfDir, "resource.d")
		resState := filepath.Join(c.Root, name, "res")
		for _, d := range []string{rsc, m.StateDir, m.RunDir, resState} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		write := func(p, s string, mode os.FileMode) {
			if err := os.WriteFile(p, []byte(s), mode); err != nil {
				t.Fatal(err)
			}
		}
		own := hacf
		if dev, ok := spec.serialDev[name]; ok {
			own += "baud 19200\nserial " + dev + "\n"
		}
		write(filepath.Join(m.ConfDir, "ha.cf"), own, 0o644)
		write(filepath.Join(m.ConfDir, "authkeys"), "auth 1\n1 sha1 cluster-test-secret\n", 0o600)
		own = hares.String()
		for _, g := range spec.ExtraGroups[name] {
			f := strings.Fields(g)
			own += fmt.Sprintf("%s testres::%s\n", f[0], f[1])
		}
		write(filepath.Join(m.ConfDir, "haresources"), own, 0o644)
		for f, content := range spec.Files {
			write(filepath.Join(m.ConfDir, f), content, 0o644)
		}
		stopDelay := ":"
		if spec.StopDelay > 0 {
			stopDelay = fmt.Sprintf("sleep %.3f", spec.StopDelay.Seconds())
		}
		write(filepath.Join(rsc, "testres"), fmt.Sprintf(resourceScript, resState, name, c.LogPath, stopDelay), 0o755)
		c.Members[name] = m
	}
	t.Cleanup(func() {
		if !t.Failed() {
			// Every scenario ends with the invariant checked over its whole log.
			if err := CheckNoOverlapExcept(c.Records(), c.Frozen(), FreezeGrace); err != nil {
				t.Errorf("invariant broken: %v", err)
			}
		}
		if t.Failed() {
			c.dumpLogs()
		}
		for _, m := range c.Members {
			c.kill(m)
		}
	})
	return c
}

// Start starts a node's daemon.
func (c *Cluster) Start(name string) {
	c.T.Helper()
	m := c.Members[name]
	if m.proc != nil && !m.proc.Exited() {
		c.T.Fatalf("%s already running", name)
	}
	out, err := os.OpenFile(filepath.Join(c.Root, name, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.T.Fatal(err)
	}
	args := append([]string{"daemon", "-c", m.ConfDir, "--node", name, "--state-dir", m.StateDir, "--run-dir", m.RunDir}, c.Spec.DaemonArgs...)
	cmd := m.Host.Command(c.Bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := m.Host.Start(cmd)
	if err != nil {
		c.T.Fatal(err)
	}
	m.proc, m.out = p, out
	// A daemon killed alone (KillDaemon) could stop nothing until now.
	c.mu.Lock()
	if at, ok := c.killedAt[name]; ok {
		c.frozen = append(c.frozen, Window{name, at, time.Now()})
		delete(c.killedAt, name)
	}
	c.mu.Unlock()
}

// KillDaemon kills a node's daemon alone with SIGKILL, as an OOM kill or
// an operator's kill -9 would: the machine, its links and the resources
// the daemon started stay (a test resource keeps its state file and logs
// no STOP). Until Start runs the daemon again nothing can stop those
// resources, so the span from the kill to the restart counts as a Window
// (see CheckNoOverlapExcept); the restarted daemon then has FreezeGrace
// to stop what it no longer owns. It returns the time of the kill.
func (c *Cluster) KillDaemon(name string) time.Time {
	c.T.Helper()
	m := c.Members[name]
	if m.proc == nil || m.proc.Exited() {
		c.T.Fatalf("%s: no daemon to kill", name)
	}
	if err := m.proc.Signal(syscall.SIGKILL); err != nil {
		c.T.Fatalf("%s: kill -9: %v", name, err)
	}
	now := time.Now()
	select {
	case <-m.proc.Done():
	case <-time.After(5 * time.Second):
		c.T.Fatalf("%s: daemon still there 5s after kill -9", name)
	}
	if m.out != nil {
		m.out.Close()
		m.out = nil
	}
	c.mu.Lock()
	if c.killedAt == nil {
		c.killedAt = map[string]time.Time{}
	}
	c.killedAt[name] = now
	c.mu.Unlock()
	return now
}

// StartAll starts every node.
func (c *Cluster) StartAll() {
	for _, n := range c.order {
		c.Start(n)
	}
}

// Crash kills every process of the node's namespace with -9 and takes its
// links down, as a machine that lost power; the test resources it ran stop
// with it (a STOP record at the crash time).
// PowerOff is a crash as a power loss: the node's links go down first,
// then its processes are killed, so the kernel's FIN and RST for its TCP
// connections never reach the peers (a machine that lost power sends
// none).
func (c *Cluster) PowerOff(name string) {
	m := c.Members[name]
	for _, l := range m.Host.Interfaces() {
		m.Host.LinkDown(l)
	}
	c.kill(m)
	c.recordCrash(name)
}

// RaftLeader is the placement log's leader as node's `hbgo status --json`
// tells it ("" when it knows none or cannot say).
func (c *Cluster) RaftLeader(node string) string {
	out, code := c.Command(node, "status", "--json")
	if code != 0 {
		return ""
	}
	var st struct {
		Raft struct {
			Leader string `json:"leader"`
		} `json:"raft"`
	}
	if json.Unmarshal([]byte(out), &st) != nil {
		return ""
	}
	return st.Raft.Leader
}

func (c *Cluster) Crash(name string) {
	m := c.Members[name]
	c.kill(m)
	for _, l := range m.Host.Interfaces() {
		m.Host.LinkDown(l)
	}
	c.recordCrash(name)
}

// Revive brings a crashed node's links up again (start its daemon with Start).
func (c *Cluster) Revive(name string) {
	m := c.Members[name]
	for _, l := range m.Host.Interfaces() {
		m.Host.LinkUp(l)
	}
}

func (c *Cluster) kill(m *Member) {
	if m.proc != nil && !m.proc.Exited() {
		m.proc.Kill()
		m.proc.Wait()
	}
	m.Host.KillAll()
	if m.out != nil {
		m.out.Close()
		m.out = nil
	}
}

// recordCrash writes STOP for what a crashed node ran, at the crash.
func (c *Cluster) recordCrash(name string) {
	dir := filepath.Join(c.Root, name, "res")
	ents, _ := os.ReadDir(dir)
	f, err := os.OpenFile(c.LogPath, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.T.Fatal(err)
	}
	defer f.Close()
	for _, e := range ents {
		g := strings.TrimSuffix(e.Name(), ".running")
		fmt.Fprintf(f, "STOP %s %s %d\n", name, g, time.Now().UnixNano())
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// Signal sends a signal to a node's daemon.
func (c *Cluster) Signal(name string, sig syscall.Signal) {
	m := c.Members[name]
	if m.proc == nil {
		c.T.Fatalf("%s not started", name)
	}
	if err := m.proc.Signal(sig); err != nil {
		c.T.Fatal(err)
	}
}

// WaitExit waits for a node's daemon to exit.
func (c *Cluster) WaitExit(name string, bound time.Duration) error {
	m := c.Members[name]
	select {
	case <-m.proc.Done():
		return m.proc.Wait()
	case <-time.After(bound):
		return fmt.Errorf("%s did not exit within %v", name, bound)
	}
}

// linkNames are the operator commands, made as links beside the binary.
var linkNames = []string{"heartbeat", "hb_standby", "hb_takeover", "cl_status", "hb_serialtest", "ldirectord"}

// Command runs an operator command (hb_standby, cl_status, ...) through
// its link, or an hbgo subcommand, in a node's namespace with its run dir;
// it returns the combined output and exit code.
func (c *Cluster) Command(name string, prog string, args ...string) (string, int) {
	m := c.Members[name]
	bin, full := c.Bin, append([]string{prog, "--run-dir", m.RunDir}, args...)
	for _, l := range linkNames {
		if l == prog {
			bin, full = filepath.Join(filepath.Dir(c.Bin), l), full[1:]
		}
	}
	cmd := m.Host.Command(bin, full...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return b.String(), code
}

// Records reads the resource log.
func (c *Cluster) Records() []Record {
	f, err := os.Open(c.LogPath)
	if err != nil {
		c.T.Fatal(err)
	}
	defer f.Close()
	recs, err := ParseLog(f)
	if err != nil {
		c.T.Fatal(err)
	}
	return recs
}

// CheckInvariant fails the test if any group ever ran on two nodes at once
// (frozen daemons excused, see CheckNoOverlapExcept).
func (c *Cluster) CheckInvariant() {
	c.T.Helper()
	if err := CheckNoOverlapExcept(c.Records(), c.Frozen(), FreezeGrace); err != nil {
		c.T.Fatalf("invariant broken: %v", err)
	}
}

// Owner returns who runs group now (from the resource log), or "" when
// nobody does; it fails the test when several do.
func (c *Cluster) Owner(group string) string {
	c.T.Helper()
	on := Running(c.Records())[group]
	switch len(on) {
	case 0:
		return ""
	case 1:
		return on[0]
	}
	sort.Strings(on)
	c.T.Fatalf("group %s runs on %v at once", group, on)
	return ""
}

// WaitOwner2 waits until group runs on node, tolerating a moment where it
// also still runs elsewhere (a frozen old owner cannot stop it).
func (c *Cluster) WaitOwner2(group, node string, bound time.Duration) time.Duration {
	c.T.Helper()
	start := time.Now()
	for time.Since(start) < bound {
		for _, n := range Running(c.Records())[group] {
			if n == node {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.T.Fatalf("group %s not running on %s after %v", group, node, bound)
	return 0
}

// WaitOwner waits until group runs on node (and only there).
func (c *Cluster) WaitOwner(group, node string, bound time.Duration) time.Duration {
	c.T.Helper()
	start := time.Now()
	var on []string
	for time.Since(start) < bound {
		on = Running(c.Records())[group]
		if len(on) == 1 && on[0] == node {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.T.Fatalf("group %s not running on %s alone after %v (runs on %v)", group, node, bound, on)
	return 0
}

// dumpLines is how much of each daemon's log a failed test prints.
const dumpLines = 1500

func (c *Cluster) dumpLogs() {
	// A daemon still running is asked for its goroutines (SIGQUIT: the Go
	// runtime prints them and exits): a stuck loop shows where it stands.
	var quit []*Member
	for _, n := range c.order {
		if m := c.Members[n]; m.proc != nil && !m.proc.Exited() && m.proc.Signal(syscall.SIGQUIT) == nil {
			quit = append(quit, m)
		}
	}
	for _, m := range quit {
		select {
		case <-m.proc.Done():
		case <-time.After(2 * time.Second):
		}
	}
	for _, n := range c.order {
		b, _ := os.ReadFile(filepath.Join(c.Root, n, "daemon.log"))
		log, dump, _ := strings.Cut(string(b), "SIGQUIT: quit")
		if dump != "" {
			c.T.Logf("--- %s goroutines in hbgo code\n%s", n, hbgoGoroutines(dump))
		}
		b = []byte(log)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		// Enough to cover a soak's first faults: a failure is often
		// about one of them (80 lines began near the end).
		if len(lines) > dumpLines {
			lines = lines[len(lines)-dumpLines:]
		}
		c.T.Logf("--- %s daemon log (last %d lines)\n%s", n, len(lines), strings.Join(lines, "\n"))
	}
	b, _ := os.ReadFile(c.LogPath)
	c.T.Logf("--- resource log\n%s", b)
}

// hbgoGoroutines keeps, of a Go goroutine dump, the goroutines with a
// frame in hbgo's own packages.
func hbgoGoroutines(dump string) string {
	var out []string
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && strings.Contains(g, "hbgo/") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// Cut drops all traffic between nodes a and b, both ways (broadcasts
// included), with nftables rules in both namespaces; their other paths
// stay.
func (c *Cluster) Cut(a, b string) {
	c.T.Helper()
	c.cutOne(a, b)
	c.cutOne(b, a)
}

// Mend removes a Cut.
func (c *Cluster) Mend(a, b string) {
	c.T.Helper()
	c.mendOne(a, b)
	c.mendOne(b, a)
}

// cutOne drops, in a's namespace, everything from and to b's addresses.
func (c *Cluster) cutOne(a, b string) {
	ma, mb := c.Members[a], c.Members[b]
	var addrs []string
	for _, l := range mb.Host.Interfaces() {
		addrs = append(addrs, mb.Host.Addr(l).Addr().String())
	}
	set := strings.Join(addrs, ", ")
	rules := fmt.Sprintf(`table inet hbgo_cut_%[1]s {
	chain in { type filter hook input priority 0; ip saddr { %[2]s } drop; }
	chain out { type filter hook output priority 0; ip daddr { %[2]s } drop; }
}
`, b, set)
	cmd := ma.Host.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.T.Fatalf("nft in %s: %v\n%s", a, err, out)
	}
}

func (c *Cluster) mendOne(a, b string) {
	if out, err := c.Members[a].Host.Run("nft", "delete", "table", "inet", "hbgo_cut_"+b); err != nil {
		c.T.Fatalf("nft in %s: %v\n%s", a, err, out)
	}
}

// Freeze stops a node's daemon with SIGSTOP; Thaw continues it. The
// returned window is for CheckNoOverlapExcept.
func (c *Cluster) Freeze(name string) time.Time {
	c.T.Helper()
	m := c.Members[name]
	if err := m.Host.Freeze(m.proc.PID()); err != nil {
		c.T.Fatal(err)
	}
	now := time.Now()
	c.mu.Lock()
	if c.frozenAt == nil {
		c.frozenAt = map[string]time.Time{}
	}
	c.frozenAt[name] = now
	c.mu.Unlock()
	return now
}

// Frozen lists the windows during which daemons were frozen, or killed
// alone and not yet restarted (KillDaemon).
func (c *Cluster) Frozen() []Window {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]Window(nil), c.frozen...)
	for n, at := range c.frozenAt {
		out = append(out, Window{n, at, time.Now()})
	}
	for n, at := range c.killedAt {
		out = append(out, Window{n, at, time.Now()})
	}
	return out
}

// Thaw continues a frozen daemon.
func (c *Cluster) Thaw(name string) time.Time {
	c.T.Helper()
	m := c.Members[name]
	if err := m.Host.Thaw(m.proc.PID()); err != nil {
		c.T.Fatal(err)
	}
	now := time.Now()
	c.mu.Lock()
	c.frozen = append(c.frozen, Window{name, c.frozenAt[name], now})
	delete(c.frozenAt, name)
	c.mu.Unlock()
	return now
}

// Running reports whether a node's daemon runs.
func (c *Cluster) Running(name string) bool {
	m := c.Members[name]
	return m.proc != nil && !m.proc.Exited()
}

// BlockAddr drops, in a node's namespace, all traffic to and from one
// address (its path to a ping node, say); UnblockAddr removes the rule.
func (c *Cluster) BlockAddr(node, addr string) {
	c.T.Helper()
	rules := fmt.Sprintf(`table inet hbgo_block {
	chain in { type filter hook input priority 0; ip saddr %[1]s drop; }
	chain out { type filter hook output priority 0; ip daddr %[1]s drop; }
}
`, addr)
	cmd := c.Members[node].Host.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.T.Fatalf("nft in %s: %v\n%s", node, err, out)
	}
}

// UnblockAddr removes BlockAddr's rules.
func (c *Cluster) UnblockAddr(node string) {
	c.T.Helper()
	if out, err := c.Members[node].Host.Run("nft", "delete", "table", "inet", "hbgo_block"); err != nil {
		c.T.Fatalf("nft in %s: %v\n%s", node, err, out)
	}
}

// OneWay drops every packet from node from at node to (broadcasts
// included), with an nftables rule in to's namespace; to's packets still
// reach from. The rule sits at the receiver because heartbeats are
// broadcast: the sender cannot tell, by address, one receiver's copy from
// another's. MendOneWay removes it.
func (c *Cluster) OneWay(from, to string) {
	c.T.Helper()
	mf := c.Members[from]
	var addrs []string
	for _, l := range mf.Host.Interfaces() {
		addrs = append(addrs, mf.Host.Addr(l).Addr().String())
	}
	rules := fmt.Sprintf(`table inet hbgo_oneway_%[1]s {
	chain in { type filter hook input priority 0; ip saddr { %[2]s } drop; }
}
`, from, strings.Join(addrs, ", "))
	cmd := c.Members[to].Host.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.T.Fatalf("nft in %s: %v\n%s", to, err, out)
	}
}

// MendOneWay removes a OneWay.
func (c *Cluster) MendOneWay(from, to string) {
	c.T.Helper()
	if out, err := c.Members[to].Host.Run("nft", "delete", "table", "inet", "hbgo_oneway_"+from); err != nil {
		c.T.Fatalf("nft in %s: %v\n%s", to, err, out)
	}
}

// WaitRecord waits until the resource log has a record op (START or
// STOP) of node and group written after since, and returns its time; zero
// when none came within bound.
func (c *Cluster) WaitRecord(op, node, group string, since time.Time, bound time.Duration) time.Time {
	c.T.Helper()
	for deadline := time.Now().Add(bound); ; time.Sleep(20 * time.Millisecond) {
		for _, r := range c.Records() {
			if r.Op == op && r.Node == node && r.Group == group && r.At.After(since) {
				return r.At
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}
		}
	}
}

// DaemonLog is what a node's daemon wrote to its log so far.
func (c *Cluster) DaemonLog(name string) string {
	b, _ := os.ReadFile(filepath.Join(c.Root, name, "daemon.log"))
	return string(b)
}

// PID is the PID of a node's running daemon, or 0 when it does not run.
func (c *Cluster) PID(name string) int {
	m := c.Members[name]
	if m == nil || m.proc == nil || m.proc.Exited() {
		return 0
	}
	return m.proc.PID()
}
