package peers

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hbgo/test/netns"
)

// The pair's addresses: directors .1 and .2, the client .200, the VIP .100.
var (
	lanNet = netip.MustParsePrefix("10.90.0.0/24")
	// VIP is the virtual IP every peer moves, with its prefix length.
	VIP = netip.MustParsePrefix("10.90.0.100/24")
)

// Iface is the directors' and the client's interface on the segment.
const Iface = "eth0"

// Node is one director of a pair.
type Node struct {
	Name string
	Host *netns.Host
	// Dir holds the node's files: configs, the dir bound over /run, logs.
	Dir  string
	proc *netns.Proc
	log  *os.File
	// mark is the length of the node's log when it was last started.
	mark int
}

// Pair is two directors running a peer, and a client probing the VIP.
type Pair struct {
	TB     testing.TB
	Lab    *netns.Lab
	Client *netns.Host
	Probe  *Probe
	// ARP watches who answers ARP for the VIP (see ARPWatch).
	ARP   *ARPWatch
	Nodes []*Node
	// Kind is "keepalived" or "heartbeat".
	Kind  string
	start func(*Node) error
}

// newPair builds the lab: one segment, two directors, a client probing
// the VIP and an ARP watcher (see Client). Daemons are not started.
func newPair(tb testing.TB, kind string, names []string, start func(*Node) error) *Pair {
	tb.Helper()
	p := &Pair{TB: tb, Lab: netns.NewT(tb), Kind: kind, start: start}
	seg, err := p.Lab.AddSegment("lan", lanNet)
	if err != nil {
		tb.Fatal(err)
	}
	root := tb.TempDir()
	var hosts []*netns.Host
	for i, name := range names {
		h, err := p.Lab.AddHost(name)
		if err != nil {
			tb.Fatal(err)
		}
		if err := h.Attach(seg, Iface, seg.Addr(i+1)); err != nil {
			tb.Fatal(err)
		}
		n := &Node{Name: name, Host: h, Dir: filepath.Join(root, name)}
		if err := os.MkdirAll(filepath.Join(n.Dir, "run"), 0o755); err != nil {
			tb.Fatal(err)
		}
		p.Nodes = append(p.Nodes, n)
		hosts = append(hosts, h)
	}
	cl, err := StartClient(p.Lab, seg, seg.Addr(200), Iface, hosts, VIP.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	p.Client, p.Probe, p.ARP = cl.Host, cl.Probe(VIP.Addr()), cl.ARP
	tb.Cleanup(func() {
		cl.Close()
		if tb.Failed() {
			p.dumpLogs()
		}
		for _, n := range p.Nodes {
			p.kill(n)
		}
	})
	return p
}

// Node returns the node of that name.
func (p *Pair) Node(name string) *Node {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n
		}
	}
	p.TB.Fatalf("peers: no node %q", name)
	return nil
}

// Other is the director that is not name.
func (p *Pair) Other(name string) string {
	for _, n := range p.Nodes {
		if n.Name != name {
			return n.Name
		}
	}
	return ""
}

// Start starts the peer daemon on a node, with an empty /run.
func (p *Pair) Start(name string) {
	p.TB.Helper()
	n := p.Node(name)
	// A booting machine has an empty /run (pid files of a killed daemon
	// would stop the new one).
	run := filepath.Join(n.Dir, "run")
	if err := os.RemoveAll(run); err != nil {
		p.TB.Fatal(err)
	}
	if err := os.MkdirAll(run, 0o755); err != nil {
		p.TB.Fatal(err)
	}
	n.mark = len(p.Log(name))
	if err := p.start(n); err != nil {
		p.TB.Fatal(err)
	}
}

// StartAll starts every node.
func (p *Pair) StartAll() {
	p.TB.Helper()
	for _, n := range p.Nodes {
		p.Start(n.Name)
	}
}

// Crash is a power loss: the node's link goes down, then every process of
// its namespace is killed with -9 (in that order, so nothing a dying
// process's kernel sends reaches the others).
func (p *Pair) Crash(name string) {
	n := p.Node(name)
	if err := n.Host.LinkDown(Iface); err != nil {
		p.TB.Fatal(err)
	}
	p.kill(n)
}

// KillDaemon kills every process of a node's namespace with -9 while the
// machine stays up: its link stays up and, since nothing is left to
// remove it, the VIP stays on its interface (Revive removes it, as an
// operator's cleanup would, before Start).
func (p *Pair) KillDaemon(name string) {
	p.kill(p.Node(name))
}

// Revive brings a crashed node back as a rebooted machine would come: no
// VIP on its interface, link up, no daemon (Start it).
func (p *Pair) Revive(name string) {
	n := p.Node(name)
	_, _ = n.Host.Run("ip", "addr", "del", VIP.String(), "dev", Iface)
	if err := n.Host.LinkUp(Iface); err != nil {
		p.TB.Fatal(err)
	}
}

func (p *Pair) kill(n *Node) {
	if n.proc != nil && !n.proc.Exited() {
		_ = n.proc.Kill()
	}
	_ = n.Host.KillAll()
	if n.log != nil {
		n.log.Close()
		n.log = nil
	}
}

// launch starts, in the node's lab namespace and in a fresh mount and UTS
// namespace, a shell that binds each dir of binds (source in n.Dir →
// target) and n.Dir/run over /run, sets the host name to the node's name
// and runs script. Output goes to n.Dir/daemon.log.
func launch(n *Node, binds [][2]string, script string) error {
	var sh strings.Builder
	sh.WriteString("set -e\n")
	for _, b := range append(binds, [2]string{"run", "/run"}) {
		fmt.Fprintf(&sh, "mount --bind %s %s\n", shq(filepath.Join(n.Dir, b[0])), shq(b[1]))
	}
	fmt.Fprintf(&sh, "hostname %s\n", shq(n.Name))
	sh.WriteString(script)
	path := filepath.Join(n.Dir, "launch.sh")
	if err := os.WriteFile(path, []byte(sh.String()), 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(n.Dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := n.Host.Command("unshare", "--mount", "--uts", "--propagation", "private", "sh", path)
	cmd.Stdout, cmd.Stderr = log, log
	proc, err := n.Host.Start(cmd)
	if err != nil {
		log.Close()
		return err
	}
	n.proc, n.log = proc, log
	return nil
}

// Exec runs a command inside a running node's namespaces (network, mount,
// UTS), as an operator on that machine would, and returns its combined
// output, exit code and how long it took.
func (p *Pair) Exec(name string, bound time.Duration, args ...string) (string, int, time.Duration) {
	n := p.Node(name)
	if n.proc == nil || n.proc.Exited() {
		return "node not running", -1, 0
	}
	full := append([]string{"-t", fmt.Sprint(n.proc.PID()), "-n", "-m", "-u", "--"}, args...)
	cmd := exec.Command("nsenter", full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err.Error(), -1, 0
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(bound):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
		out.WriteString(fmt.Sprintf("\n(killed after %v)", bound))
	}
	took := time.Since(start)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return out.String(), code, took
}

func (p *Pair) dumpLogs() {
	for _, n := range p.Nodes {
		for _, f := range []string{"daemon.log", "ha-log", "hbgo.log"} {
			b, err := os.ReadFile(filepath.Join(n.Dir, f))
			if err != nil {
				continue
			}
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			p.TB.Logf("--- %s %s (last %d lines)\n%s", n.Name, f, len(lines), strings.Join(lines, "\n"))
		}
	}
	p.TB.Logf("--- probe: last answer %s", p.Probe.lastString())
}

// Log returns a node's daemon log (for Heartbeat, its ha-log).
func (p *Pair) Log(name string) string {
	n := p.Node(name)
	f := "daemon.log"
	if p.Kind == "heartbeat" {
		f = "ha-log"
	}
	b, _ := os.ReadFile(filepath.Join(n.Dir, f))
	return string(b)
}

// LogSinceStart is what a node's log gained since its last Start.
func (p *Pair) LogSinceStart(name string) string {
	l := p.Log(name)
	if m := p.Node(name).mark; m <= len(l) {
		return l[m:]
	}
	return l
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
