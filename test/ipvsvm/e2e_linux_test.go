package ipvsvm

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"hbgo/lvs"
	"hbgo/test/netns"
	"hbgo/test/vm"
)

// e2eBinEnv names the path of the hbgo binary the host shipped into the
// machine for the story.
const e2eBinEnv = "HBGO_E2E_BIN"

// e2eBin is where the hbgo binary sits in the machine.
const e2eBin = "/hbgo/bin/hbgo"

// TestVMStory boots the machine with a static hbgo binary and runs the
// demo's story there (TestStoryInVM): the daemons program kernel IPVS,
// the client's requests go through it in direct routing, and an
// established connection survives a takeover through the sync daemon.
func TestVMStory(t *testing.T) {
	if vm.InVM() {
		t.Skip("outer half: runs on the host")
	}
	vm.SkipUnlessRunnable(t)
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "hbgo")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hbgo")
	build.Dir = strings.TrimSpace(string(root))
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static hbgo: %v\n%s", err, out)
	}
	o := vmOptions(t)
	if o.Files == nil {
		o.Files = map[string]string{}
	}
	o.Files[e2eBin] = bin
	// The VIP agent's lease gate: nf_tables with its inet and arp
	// families, sets, lookup and payload (all inside nf_tables.ko in
	// Debian's 6.1 kernel).
	o.Modules = append(o.Modules, "nf_tables")
	o.Env = append(o.Env, e2eBinEnv+"="+e2eBin)
	o.Memory = "1G"
	vm.RunGoTestsWith(t, ".", "^TestStoryInVM$", o)
}

// The story's site, as the demo's with its own addresses: the service LAN
// (client, real servers, VIP, the directors' eth0) and the heartbeat LAN
// (the directors' eth1, the witness).
var (
	storyVIP    = netip.MustParseAddr("10.81.0.100")
	storySvc    = netip.AddrPortFrom(storyVIP, 80)
	storyClient = netip.MustParseAddr("10.81.0.20")
)

// storyHACf is the demo's ha.cf but for its timing: the machine emulates
// one CPU without acceleration, where the demo's keepalive 100ms and
// deadtime 500ms let leases lapse while nothing failed (the group then
// moves back and forth, and each move restarts the sync daemons); at
// 250ms/2s raft's handshakes still timed out when the host was busy.
const storyHACf = `keepalive 500ms
warntime 2s
deadtime 4s
initdead 4
udpport 694
bcast eth1
node lvs1 lvs2
witness w1
auto_failback on
lvs_sync_interface eth0
lvs_syncid 7
`

const storyHaresources = "lvs1 IPaddr::10.81.0.100/24/eth0 LVSSyncDaemonSwap::master ldirectord::ldirectord.cf\n"

const storyLdirectord = `checktimeout=1
checkinterval=1
quiescent=no

virtual=10.81.0.100:80
	real=10.81.0.11:80 gate
	real=10.81.0.12:80 gate
	scheduler=rr
	protocol=tcp
	checktype=connect
`

// daemon is an hbgo daemon started in a host's namespace.
type daemon struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startIn starts bin with args inside host h: forked from a thread that
// is in h's namespace, the child is born there. It is killed (its group,
// by its id) when the test ends.
func startIn(t *testing.T, h *netns.Host, logPath, bin string, args ...string) *daemon {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := h.Do(cmd.Start); err != nil {
		t.Fatalf("%s: start %s: %v", h.Name(), bin, err)
	}
	d := &daemon{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		f.Close()
		close(d.done)
	}()
	t.Cleanup(func() { d.kill() })
	return d
}

// kill sends SIGKILL to the daemon's group, as a crash would end it, and
// waits until it is reaped.
func (d *daemon) kill() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
	}
}

// runIn runs bin with args inside host h and returns its output.
func runIn(h *netns.Host, bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	var out []byte
	err := h.Do(func() (err error) {
		out, err = cmd.CombinedOutput()
		return err
	})
	return string(out), err
}

// hasAddr reports whether an interface of h carries a.
func hasAddr(t *testing.T, h *netns.Host, a netip.Addr) bool {
	t.Helper()
	found := false
	err := h.Do(func() error {
		addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
		for _, x := range addrs {
			if ip, ok := netip.AddrFromSlice(x.IP); ok && ip.Unmap() == a {
				found = true
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s: list addresses: %v", h.Name(), err)
	}
	return found
}

// waitFor polls cond every 50ms until it holds or bound passes.
func waitFor(bound time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > bound {
			return time.Since(start), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// prober opens a new connection from the client to the service every
// 50ms, asks once with short deadlines, and keeps the times of answers.
type prober struct {
	mu   sync.Mutex
	ok   []time.Time
	by   map[string]int
	stop chan struct{}
	done chan struct{}
}

func startProber(h *netns.Host, addr netip.AddrPort) *prober {
	p := &prober{by: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var name string
			err := h.Do(func() error {
				c, err := net.DialTimeout("tcp", addr.String(), 300*time.Millisecond)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(300 * time.Millisecond))
				if _, err := fmt.Fprintln(c, "who"); err != nil {
					return err
				}
				buf := make([]byte, 64)
				n, err := c.Read(buf)
				name = strings.TrimSpace(string(buf[:n]))
				return err
			})
			if err == nil && name != "" {
				p.mu.Lock()
				p.ok = append(p.ok, time.Now())
				p.by[name]++
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *prober) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// answeredAfter reports whether an answer came after t.
func (p *prober) answeredAfter(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ok) > 0 && p.ok[len(p.ok)-1].After(t)
}

// gap is the longest time without an answer from the last answer
// before t to the last answer so far.
func (p *prober) gap(t time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	longest := time.Duration(-1)
	var prev time.Time
	for _, x := range p.ok {
		if !x.After(t) {
			prev = x
			continue
		}
		if !prev.IsZero() && x.Sub(prev) > longest {
			longest = x.Sub(prev)
		}
		prev = x
	}
	return longest
}

// inPkts is the kernel's count of packets in for one real server of the
// service, after its two-second refresh.
func inPkts(t *testing.T, k *lvs.Kernel, real netip.AddrPort) uint64 {
	t.Helper()
	time.Sleep(2500 * time.Millisecond)
	ss, err := k.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.Addr == storySvc {
			for _, ds := range s.Dests {
				if ds.Addr == real {
					return ds.InPkts
				}
			}
		}
	}
	t.Fatalf("no server %s of %s in the table", real, storySvc)
	return 0
}

// TestStoryInVM is the demo's story inside the machine: two directors and
// a witness run the hbgo daemon from haresources and ldirectord.cf, the
// directors program kernel IPVS (direct routing), the client's requests
// reach both real servers through it, and when the active director's
// daemon is killed a connection the client holds goes on through the
// standby, which had it from the sync daemon.
func TestStoryInVM(t *testing.T) {
	inVM(t)
	bin := os.Getenv(e2eBinEnv)
	if bin == "" {
		t.Fatalf("%s is not set: the host ships hbgo into the machine (TestVMStory)", e2eBinEnv)
	}
	lab := netns.NewT(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	lan, err := lab.AddSegment("lan", netip.MustParsePrefix("10.81.0.0/24"))
	must(err)
	hb, err := lab.AddSegment("hb", netip.MustParsePrefix("10.82.0.0/24"))
	must(err)
	host := func(name string) *netns.Host {
		h, err := lab.AddHost(name)
		must(err)
		return h
	}
	lvs1, lvs2, w1 := host("lvs1"), host("lvs2"), host("w1")
	for i, h := range []*netns.Host{lvs1, lvs2} {
		must(h.Attach(lan, "eth0", lan.Addr(i+1)))
		must(h.Attach(hb, "eth1", hb.Addr(i+1)))
	}
	must(w1.Attach(hb, "eth1", hb.Addr(3)))
	client := host("client")
	must(client.Attach(lan, "eth0", netip.PrefixFrom(storyClient, 24)))

	dir := t.TempDir()
	reals := map[string]netip.AddrPort{}
	for i, name := range []string{"rs1", "rs2"} {
		h := host(name)
		a := lan.Addr(11 + i)
		must(h.Attach(lan, "eth0", a))
		reals[name] = netip.AddrPortFrom(a.Addr(), 80)
		if out, err := runIn(h, bin, "realserver", "--state", filepath.Join(dir, name+".state"), "start", storyVIP.String()); err != nil {
			t.Fatalf("%s: hbgo realserver start %s: %v\n%s", name, storyVIP, err, out)
		}
		serve(t, h, 80)
	}

	// Every daemon starts at once: lvs1 takes its group, and lvs2, which
	// never held it, runs the backup sync daemon from the start (the
	// chain's Prepare).
	daemons := map[string]*daemon{}
	start := func(h *netns.Host) {
		n := h.Name()
		conf := filepath.Join(dir, n, "ha.d")
		must(os.MkdirAll(conf, 0o755))
		for f, text := range map[string]string{"ha.cf": storyHACf, "authkeys": "auth 1\n1 sha1 vm-story-secret\n",
			"haresources": storyHaresources, "ldirectord.cf": storyLdirectord} {
			mode := os.FileMode(0o644)
			if f == "authkeys" {
				mode = 0o600
			}
			must(os.WriteFile(filepath.Join(conf, f), []byte(text), mode))
		}
		daemons[n] = startIn(t, h, filepath.Join(dir, n, "daemon.log"), bin, "daemon", "-c", conf, "--node", n,
			"--state-dir", filepath.Join(dir, n, "state"), "--run-dir", filepath.Join(dir, n, "run"))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"lvs1", "lvs2", "w1"} {
				if d := daemons[n]; d != nil {
					b, _ := os.ReadFile(d.log)
					t.Logf("%s's daemon log:\n%s", n, b)
				}
			}
		}
	})
	start(w1)
	start(lvs2)
	start(lvs1)
	took, ok := waitFor(60*time.Second, func() bool { return hasAddr(t, lvs1, storyVIP) && !hasAddr(t, lvs2, storyVIP) })
	if !ok {
		t.Fatalf("the VIP %s is not on lvs1 alone within 60s of the start (lvs1 %v, lvs2 %v)", storyVIP,
			hasAddr(t, lvs1, storyVIP), hasAddr(t, lvs2, storyVIP))
	}
	t.Logf("the VIP %s came up on lvs1 %v after the daemons started", storyVIP, took.Round(time.Millisecond))

	// Both directors' ldirectors programmed their kernel (warm standby).
	wantSvc := "TCP 10.81.0.100:80 rr -> 10.81.0.11:80 Route 1 -> 10.81.0.12:80 Route 1"
	for _, h := range []*netns.Host{lvs1, lvs2} {
		var got string
		if _, ok := waitFor(60*time.Second, func() bool {
			m, err := parseProcIPVS(readProc(t, h, "ip_vs"))
			got = m["TCP 10.81.0.100:80"]
			return err == nil && got == wantSvc
		}); !ok {
			t.Fatalf("%s: /proc/net/ip_vs shows %q within 60s, want %q:\n%s", h.Name(), got, wantSvc, readProc(t, h, "ip_vs"))
		}
	}
	t.Logf("lvs1's /proc/net/ip_vs:\n%s", readProc(t, lvs1, "ip_vs"))
	k1, k2 := openTable(t, lvs1), openTable(t, lvs2)
	var d1, d2 []lvs.SyncDaemon
	if _, ok := waitFor(20*time.Second, func() bool {
		d1, _ = k1.ListSyncDaemons(bg)
		d2, _ = k2.ListSyncDaemons(bg)
		return fmt.Sprint(d1) == "[master sync daemon (mcast=eth0, syncid=7)]" &&
			fmt.Sprint(d2) == "[backup sync daemon (mcast=eth0, syncid=7)]"
	}); !ok {
		t.Fatalf("sync daemons: lvs1 %v, lvs2 %v; want lvs1 master, lvs2 backup on eth0 with syncid 7", d1, d2)
	}

	// New connections go through lvs1's IPVS to both real servers.
	var spread map[string]int
	for i := 0; i < 20; i++ {
		if spread == nil {
			spread = map[string]int{}
		}
		spread[who(t, client, storySvc)]++
	}
	if got := fmt.Sprint(spread); got != "map[rs1:10 rs2:10]" {
		t.Errorf("20 connections through the VIP went to %s, want map[rs1:10 rs2:10]", got)
	}

	// A connection the client holds, synced to the standby.
	held := dial(t, client, storySvc)
	var server string
	for i := 0; i < 5; i++ {
		name, err := held.ask()
		if err != nil {
			t.Fatal(err)
		}
		server = name
	}
	port := held.c.LocalAddr().(*net.TCPAddr).Port
	needle := fmt.Sprintf("TCP 0A510014 %04X 0A510064 0050", port)
	if _, ok := waitFor(20*time.Second, func() bool { return strings.Contains(readProc(t, lvs2, "ip_vs_conn"), needle) }); !ok {
		t.Fatalf("lvs2's connection table lacks the held connection %q after 20s:\n%s\nlvs1's:\n%s", needle,
			readProc(t, lvs2, "ip_vs_conn"), readProc(t, lvs1, "ip_vs_conn"))
	}
	for _, l := range strings.Split(readProc(t, lvs2, "ip_vs_conn"), "\n") {
		if strings.Contains(l, needle) {
			t.Logf("lvs2 has the held connection (to %s) from the sync daemon: %s", server, l)
		}
	}

	// The active director's daemon dies.
	p := startProber(client, storySvc)
	defer p.Stop()
	if _, ok := waitFor(10*time.Second, func() bool { return p.answeredAfter(time.Now().Add(-200 * time.Millisecond)) }); !ok {
		t.Fatal("the prober got no answer before the crash")
	}
	t0 := time.Now()
	daemons["lvs1"].kill()
	dark, ok := waitFor(20*time.Second, func() bool { return !hasAddr(t, lvs1, storyVIP) })
	if !ok {
		t.Fatalf("lvs1 still has the VIP 20s after its daemon was killed")
	}
	if _, ok := waitFor(20*time.Second, func() bool { return hasAddr(t, lvs2, storyVIP) }); !ok {
		t.Fatalf("lvs2 did not take the VIP within 20s of lvs1's crash")
	}
	if _, ok := waitFor(20*time.Second, func() bool { return p.answeredAfter(t0.Add(dark)) }); !ok {
		t.Fatalf("no new connection answered within 20s of lvs2 taking over")
	}
	time.Sleep(time.Second) // answers through lvs2 for a while
	gap := p.gap(t0)
	p.Stop()
	t.Logf("lvs1's daemon killed with SIGKILL: its VIP left its interface after %v (lease and address lifetime), lvs2 took it over; the client's longest wait for an answer on new connections: %v", dark.Round(time.Millisecond), gap.Round(time.Millisecond))
	if gap < 0 {
		t.Errorf("the prober has no answers on both sides of the crash")
	}
	if _, ok := waitFor(20*time.Second, func() bool {
		d2, _ = k2.ListSyncDaemons(bg)
		return fmt.Sprint(d2) == "[master sync daemon (mcast=eth0, syncid=7)]"
	}); !ok {
		t.Errorf("lvs2's sync daemons after the takeover: %v, want the master on eth0", d2)
	}

	// The held connection goes on, through lvs2 (lvs1's VIP is gone and
	// gated, so nothing else can take the client's packets).
	before := inPkts(t, k2, reals[server])
	survived := true
	for i := 0; i < 3; i++ {
		name, err := held.ask()
		if err != nil || name != server {
			survived = false
			t.Errorf("the held connection after the takeover answered %q, %v; want %s", name, err, server)
			break
		}
	}
	after := inPkts(t, k2, reals[server])
	if after < before+3 {
		t.Errorf("lvs2's IPVS counted %d packets in for %s before the held connection's three questions and %d after; want at least 3 more", before, server, after)
	}
	t.Logf("the established connection (to %s) survived the takeover: %v; lvs2's IPVS forwarded %d of its packets", server, survived, after-before)
}
