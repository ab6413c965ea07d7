//go:build linux

package bgptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hbgo/test/netns"
	"hbgo/test/peers"
)

// FRR's daemons and shell as Debian's frr package installs them.
const (
	ZebraBin = "/usr/lib/frr/zebra"
	BgpdBin  = "/usr/lib/frr/bgpd"
	BfddBin  = "/usr/lib/frr/bfdd"
	VtyshBin = "/usr/bin/vtysh"
)

// Packages is what RequireFRR hands to peers.Ensure.
var Packages = []string{ZebraBin + ":frr", BgpdBin + ":frr", BfddBin + ":frr", VtyshBin + ":frr"}

const (
	startWait = 20 * time.Second // for a daemon to answer on its vty
	stopWait  = 5 * time.Second  // for a daemon to end after SIGTERM
	vtyshWait = 10 * time.Second // for one vtysh command
)

// RequireFRR installs FRR with apt-get when it is missing (services kept
// from starting). When that cannot be done the test is skipped with the
// reason, or fails under CI (CI=true), where nothing may skip.
func RequireFRR(t testing.TB) {
	t.Helper()
	if err := peers.Ensure(Packages...); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("bgptest: FRR is needed and could not be installed: %v", err)
		}
		t.Skipf("bgptest: FRR is needed and could not be installed: %v", err)
	}
}

// TB is what StartRouter needs of a test (testing.TB has it; so does a
// demo's narrator).
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

// RouterConfig is the router's side of the BGP sessions.
type RouterConfig struct {
	AS       uint32
	RouterID netip.Addr
	// Neighbors are the directors, each with its AS and an optional MD5
	// password.
	Neighbors []RouterNeighbor
	// HoldTime is FRR's hold time for every session, whole seconds, 3 at
	// least; zero means 3 s. Keepalives go every third of it.
	HoldTime time.Duration
	// MaximumPaths is how many equal paths FRR installs for a prefix;
	// zero means 8.
	MaximumPaths int
	// BFDInterval and BFDMultiplier are the router's BFD timers (its
	// transmit and receive intervals, its detection multiplier) for the
	// neighbours with BFD; zero means 100 ms and 3.
	BFDInterval   time.Duration
	BFDMultiplier int
}

// RouterNeighbor is one director as the router knows it.
type RouterNeighbor struct {
	Addr     netip.Addr
	AS       uint32
	Password string
	// BFD runs a BFD session with the director (bfdd is started when any
	// neighbour has one) and lets it end the BGP session.
	BFD bool
}

// bfdProfile names the bfdd profile of the neighbours with BFD.
const bfdProfile = "hbgo"

// wantsBFD reports whether any neighbour has BFD.
func (c RouterConfig) wantsBFD() bool {
	for _, n := range c.Neighbors {
		if n.BFD {
			return true
		}
	}
	return false
}

// Router is FRR's zebra and bgpd running in one host of a lab, with their
// configuration, pid files, vty sockets and logs in a directory of their
// own.
type Router struct {
	t     TB
	host  *netns.Host
	dir   string
	zebra *netns.Proc
	bgpd  *netns.Proc
	bfdd  *netns.Proc     // nil when no neighbour has BFD
	nl    *netlink.Handle // opened inside the host
}

// StartRouter configures the host as a router (forwarding on, layer-4 ECMP
// hashing with fib_multipath_hash_policy=1) and starts zebra and bgpd in
// it, and bfdd when a neighbour has BFD. They are stopped, and their logs
// shown if the test failed, when the test ends.
func StartRouter(t TB, host *netns.Host, cfg RouterConfig) *Router {
	t.Helper()
	r := &Router{t: t, host: host, dir: frrDir(t)}
	t.Cleanup(r.stop)
	for _, kv := range []string{"net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.conf.all.forwarding=1"} {
		if out, err := host.Run("sysctl", "-w", kv); err != nil {
			t.Fatalf("bgptest: %s: %v: %s", host.Name(), err, out)
		}
	}
	if err := host.Do(func() (err error) {
		r.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	}); err != nil {
		t.Fatalf("bgptest: %s: netlink: %v", host.Name(), err)
	}
	for name, text := range map[string]string{
		"zebra.conf": "hostname " + host.Name() + "\n",
		"bgpd.conf":  bgpdConf(host.Name(), cfg),
		"bfdd.conf":  bfddConf(host.Name(), cfg),
		"vtysh.conf": "", // vtysh reads its own from the same directory
	} {
		if err := os.WriteFile(r.path(name), []byte(text), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(r.path(name), frrUID, frrGID); err != nil {
			t.Fatal(err)
		}
	}
	r.zebra = r.daemon(ZebraBin, "zebra")
	r.waitVty("zebra", "show version")
	if cfg.wantsBFD() {
		// bgpd asks bfdd for its sessions through zebra; bfdd's control
		// socket for other clients goes in the router's directory too.
		r.bfdd = r.daemon(BfddBin, "bfdd", "--bfdctl", r.path("bfdd.sock"))
		r.waitVty("bfdd", "show bfd peers json")
	}
	r.bgpd = r.daemon(BgpdBin, "bgpd", "-p", "179")
	r.waitVty("bgpd", "show bgp summary json")
	return r
}

// bgpdConf writes bgpd's configuration: the directors as neighbours with
// the short timers, multipath for ECMP.
func bgpdConf(name string, cfg RouterConfig) string {
	hold := int(cfg.HoldTime / time.Second)
	if hold == 0 {
		hold = 3
	}
	keepalive := max(hold/3, 1)
	paths := cfg.MaximumPaths
	if paths == 0 {
		paths = 8
	}
	var b strings.Builder
	fmt.Fprintf(&b, "hostname %s\n!\nrouter bgp %d\n", name, cfg.AS)
	fmt.Fprintf(&b, " bgp router-id %v\n", cfg.RouterID)
	// Lab sessions carry no policy: accept and send what comes.
	b.WriteString(" no bgp ebgp-requires-policy\n")
	b.WriteString(" no bgp default ipv4-unicast\n")
	fmt.Fprintf(&b, " timers bgp %d %d\n", keepalive, hold)
	for _, n := range cfg.Neighbors {
		fmt.Fprintf(&b, " neighbor %v remote-as %d\n", n.Addr, n.AS)
		fmt.Fprintf(&b, " neighbor %v timers %d %d\n", n.Addr, keepalive, hold)
		fmt.Fprintf(&b, " neighbor %v timers connect 1\n", n.Addr)
		if n.Password != "" {
			fmt.Fprintf(&b, " neighbor %v password %s\n", n.Addr, n.Password)
		}
		if n.BFD {
			fmt.Fprintf(&b, " neighbor %v bfd profile %s\n", n.Addr, bfdProfile)
		}
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		fmt.Fprintf(&b, " address-family %s unicast\n", fam)
		fmt.Fprintf(&b, "  maximum-paths %d\n", paths)
		fmt.Fprintf(&b, "  maximum-paths ibgp %d\n", paths)
		for _, n := range cfg.Neighbors {
			if n.Addr.Is4() == (fam == "ipv4") {
				fmt.Fprintf(&b, "  neighbor %v activate\n", n.Addr)
			}
		}
		b.WriteString(" exit-address-family\n")
	}
	b.WriteString("!\n")
	return b.String()
}

// bfddConf writes bfdd's configuration: one profile with the BFD timers,
// which bgpd's neighbours with BFD name.
func bfddConf(name string, cfg RouterConfig) string {
	every := cfg.BFDInterval
	if every == 0 {
		every = 100 * time.Millisecond
	}
	mult := cfg.BFDMultiplier
	if mult == 0 {
		mult = 3
	}
	ms := every.Milliseconds()
	return fmt.Sprintf("hostname %s\n!\nbfd\n profile %s\n  detect-multiplier %d\n  transmit-interval %d\n  receive-interval %d\n !\n!\n",
		name, bfdProfile, mult, ms, ms)
}

func (r *Router) path(name string) string { return filepath.Join(r.dir, name) }

// frrUser runs the daemons: the package makes it, a member of the group
// (frrvty) that FRR was built to require of vty users, which root is not.
const frrUser = "frr"

var frrUID, frrGID int

// frrDir makes a directory the daemons can write in, removed when the
// test ends; t.TempDir's parents are closed to other users.
func frrDir(t TB) string {
	t.Helper()
	u, err := user.Lookup(frrUser)
	if err == nil {
		frrUID, err = strconv.Atoi(u.Uid)
	}
	if err == nil {
		frrGID, err = strconv.Atoi(u.Gid)
	}
	if err != nil {
		t.Fatalf("bgptest: user %s (made by the frr package): %v", frrUser, err)
	}
	dir, err := os.MkdirTemp("", "hbgo-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chown(dir, frrUID, frrGID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

// daemon starts one FRR daemon in the host, in the foreground, logging to
// NAME.log in the router's directory.
func (r *Router) daemon(bin, name string, extra ...string) *netns.Proc {
	r.t.Helper()
	log, err := os.Create(r.path(name + ".log"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer log.Close()
	args := append([]string{
		"-f", r.path(name + ".conf"),
		"-i", r.path(name + ".pid"),
		"-z", r.path("zserv.api"),
		"--vty_socket", r.dir,
		"-P", "0", // no vty over TCP
		"-u", frrUser, "-g", frrUser,
		"--log", "stdout", "--log-level", "info",
	}, extra...)
	cmd := r.host.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	p, err := r.host.Start(cmd)
	if err != nil {
		r.t.Fatalf("bgptest: %s: %v", name, err)
	}
	return p
}

// waitVty waits until the daemon answers cmd on its vty socket.
func (r *Router) waitVty(daemon, cmd string) {
	r.t.Helper()
	deadline := time.Now().Add(startWait)
	var err error
	for time.Now().Before(deadline) {
		if _, err = r.vtysh(daemon, cmd); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("bgptest: %s does not answer within %v: %v\n%s", daemon, startWait, err, r.logs())
}

// Vtysh runs one command on the router's daemons and returns its output.
func (r *Router) Vtysh(cmd string) (string, error) { return r.vtysh("", cmd) }

func (r *Router) vtysh(daemon, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), vtyshWait)
	defer cancel()
	args := []string{"--vty_socket", r.dir, "--config_dir", r.dir}
	if daemon != "" {
		args = append(args, "-d", daemon)
	}
	// vtysh talks to the daemons over unix sockets: no need to enter the
	// namespace.
	c := exec.CommandContext(ctx, VtyshBin, append(args, "-c", cmd)...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("vtysh -c %q: %w: %s", cmd, err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// NextHops returns the gateways the router's kernel has for p in its main
// table, sorted; none when it has no route for p.
func (r *Router) NextHops(p netip.Prefix) ([]netip.Addr, error) {
	family := netlink.FAMILY_V4
	if p.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	dst := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	routes, err := r.nl.RouteListFiltered(family, &netlink.Route{Dst: dst, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("bgptest: %s: routes to %v: %w", r.host.Name(), p, err)
	}
	var out []netip.Addr
	add := func(ip net.IP) {
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	for _, rt := range routes {
		if rt.Gw != nil {
			add(rt.Gw)
		}
		for _, nh := range rt.MultiPath {
			add(nh.Gw)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out, nil
}

// WaitNextHops polls the kernel's route for p every few milliseconds until
// its next hops are exactly want (none: no route), and returns when it saw
// them; it fails the test after timeout.
func (r *Router) WaitNextHops(p netip.Prefix, want []netip.Addr, timeout time.Duration) time.Time {
	r.t.Helper()
	want = append([]netip.Addr(nil), want...)
	sort.Slice(want, func(i, j int) bool { return want[i].Less(want[j]) })
	start := time.Now()
	var got []netip.Addr
	var err error
	for {
		got, err = r.NextHops(p)
		if err == nil && equalAddrs(got, want) {
			return time.Now()
		}
		if time.Since(start) > timeout {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	fam := "ipv4"
	if p.Addr().Is6() {
		fam = "ipv6"
	}
	bgp, _ := r.Vtysh("show bgp " + fam + " unicast " + p.String())
	r.t.Fatalf("bgptest: %s: next hops of %v are %v (%v), want %v within %v\n%s", r.host.Name(), p, got, err, want, timeout, bgp)
	return time.Time{}
}

func equalAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Neighbor is what bgpd says of one session.
type Neighbor struct {
	State       string `json:"bgpState"`
	HoldTimeMs  int    `json:"bgpTimerHoldTimeMsecs"`
	LastReset   string `json:"lastResetDueTo"`
	PrefixesRcv int    // IPv4 and IPv6 unicast prefixes accepted from it
}

// Neighbor asks bgpd about the session with addr.
func (r *Router) Neighbor(addr netip.Addr) (Neighbor, error) {
	out, err := r.Vtysh("show bgp neighbors " + addr.String() + " json")
	if err != nil {
		return Neighbor{}, err
	}
	var m map[string]struct {
		Neighbor
		AddressFamilyInfo map[string]struct {
			AcceptedPrefixCounter int `json:"acceptedPrefixCounter"`
		} `json:"addressFamilyInfo"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return Neighbor{}, fmt.Errorf("bgptest: show bgp neighbors: %w: %s", err, out)
	}
	n, ok := m[addr.String()]
	if !ok {
		return Neighbor{}, fmt.Errorf("bgptest: bgpd has no neighbour %v: %s", addr, out)
	}
	for _, af := range n.AddressFamilyInfo {
		n.Neighbor.PrefixesRcv += af.AcceptedPrefixCounter
	}
	return n.Neighbor, nil
}

// Path is one path bgpd holds for a prefix.
type Path struct {
	NextHop     netip.Addr
	Communities string // as bgpd writes them, "64513:100 no-export"
	Multipath   bool   // installed as one of several equal paths
	Best        bool
}

// Paths asks bgpd for every path it holds for p.
func (r *Router) Paths(p netip.Prefix) ([]Path, error) {
	fam := "ipv4"
	if p.Addr().Is6() {
		fam = "ipv6"
	}
	out, err := r.Vtysh(fmt.Sprintf("show bgp %s unicast %v json", fam, p))
	if err != nil {
		return nil, err
	}
	var doc struct {
		Paths []struct {
			Community struct {
				String string `json:"string"`
			} `json:"community"`
			Multipath bool `json:"multipath"`
			BestPath  struct {
				Overall bool `json:"overall"`
			} `json:"bestpath"`
			Nexthops []struct {
				IP string `json:"ip"`
			} `json:"nexthops"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("bgptest: show bgp %v: %w: %s", p, err, out)
	}
	var paths []Path
	for _, q := range doc.Paths {
		path := Path{Communities: q.Community.String, Multipath: q.Multipath, Best: q.BestPath.Overall}
		if len(q.Nexthops) > 0 {
			path.NextHop, _ = netip.ParseAddr(q.Nexthops[0].IP)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// BFDPeer is what bfdd says of one BFD session.
type BFDPeer struct {
	Peer       netip.Addr `json:"-"`
	Status     string     `json:"status"` // up, down, init, shutdown
	Multiplier int        `json:"detect-multiplier"`
	// The intervals in force, in milliseconds.
	Receive       int `json:"receive-interval"`
	Transmit      int `json:"transmit-interval"`
	RemoteReceive int `json:"remote-receive-interval"`
	RemoteTrans   int `json:"remote-transmit-interval"`
}

// BFDPeers asks bfdd for its sessions.
func (r *Router) BFDPeers() ([]BFDPeer, error) {
	out, err := r.Vtysh("show bfd peers json")
	if err != nil {
		return nil, err
	}
	var peers []struct {
		BFDPeer
		Peer string `json:"peer"`
	}
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		return nil, fmt.Errorf("bgptest: show bfd peers: %w: %s", err, out)
	}
	var list []BFDPeer
	for _, p := range peers {
		p.BFDPeer.Peer, _ = netip.ParseAddr(p.Peer)
		list = append(list, p.BFDPeer)
	}
	return list, nil
}

// WaitBFDUp waits until bfdd has an up session with every one of addrs.
func (r *Router) WaitBFDUp(addrs []netip.Addr, timeout time.Duration) []BFDPeer {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	var list []BFDPeer
	var err error
	for {
		list, err = r.BFDPeers()
		up := 0
		for _, a := range addrs {
			for _, p := range list {
				if p.Peer == a && p.Status == "up" {
					up++
				}
			}
		}
		if err == nil && up == len(addrs) {
			return list
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("bgptest: %s: BFD sessions with %v not all up within %v: %+v %v", r.host.Name(), addrs, timeout, list, err)
	return nil
}

// stop ends bgpd, then zebra, with SIGTERM and then SIGKILL, and shows
// their logs when the test failed.
func (r *Router) stop() {
	for _, p := range []*netns.Proc{r.bgpd, r.bfdd, r.zebra} {
		if p == nil {
			continue
		}
		_ = p.Signal(syscall.SIGTERM)
		select {
		case <-p.Done():
		case <-time.After(stopWait):
			if err := p.Kill(); err != nil {
				r.t.Errorf("bgptest: %v", err)
			}
		}
	}
	if r.nl != nil {
		r.nl.Close()
	}
	if r.t.Failed() {
		r.t.Logf("bgptest: FRR logs of %s:\n%s", r.host.Name(), r.logs())
	}
}

// logs returns the daemons' logs, the last lines of each.
func (r *Router) logs() string {
	var b strings.Builder
	for _, name := range []string{"zebra", "bgpd", "bfdd"} {
		data, err := os.ReadFile(r.path(name + ".log"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(&b, "%s.log: %v\n", name, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		fmt.Fprintf(&b, "--- %s.log\n%s\n", name, strings.Join(lines, "\n"))
	}
	return b.String()
}
