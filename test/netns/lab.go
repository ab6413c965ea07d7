// Package netns builds throwaway labs of hosts on one Linux machine, each host a network namespace wired to bridged segments, for integration tests and demos.
package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Sentinel errors callers may branch on.
var (
	// ErrUnsupported is returned on systems without network namespaces.
	ErrUnsupported = errors.New("netns: network namespace labs need Linux")
	// ErrClosed is returned by every operation on a lab after Close.
	ErrClosed = errors.New("netns: lab is closed")
)

const (
	// prefixBase starts every namespace name a lab makes; the full prefix
	// adds six random hex digits and a dash.
	prefixBase = "hbt"
	// switchHost is the host-name suffix of the namespace holding the
	// bridges, so no host may take it.
	switchHost = "sw"
	// maxIfName is IFNAMSIZ less the terminating NUL.
	maxIfName = 15
)

var (
	hostNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)
	segNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,11}$`)
	prefixRE   = regexp.MustCompile(`^` + prefixBase + `[0-9a-f]{6}-$`)
)

// Lab is a set of hosts and segments whose namespaces share one unique
// prefix; Close removes all of it.
type Lab struct {
	name   string
	prefix string
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error

	mu       sync.RWMutex
	closed   bool
	hosts    []*Host
	segments []*Segment
	nextPort int
	labSys
}

// Segment is one layer-2 network: a bridge in the lab's switch namespace.
type Segment struct {
	lab     *Lab
	name    string
	bridge  string
	subnets []netip.Prefix
	segSys
}

// Host is one network namespace of a lab, with lo up and the interfaces
// attached to segments.
type Host struct {
	lab    *Lab
	name   string
	ns     string
	ifaces []*iface
	procs  map[*Proc]struct{}
	hostSys
}

// iface is the lab's record of one attached interface.
type iface struct {
	name    string
	seg     *Segment
	port    string // the veth end on the segment's bridge
	addrs   []netip.Prefix
	mac     net.HardwareAddr
	blocked bool
	down    bool
}

// Proc is a long-running process started in a host with Host.Start; the lab
// waits for it, so callers use Wait or Done instead of Cmd.Wait.
type Proc struct {
	Cmd  *exec.Cmd
	host *Host
	done chan struct{}
	err  error
}

// NewT makes a lab for a test and removes it when the test ends, passed,
// failed or panicked; a Ctrl-C (SIGINT) of the test binary removes it too.
// It skips (or fails under CI) without root or the ip command.
func NewT(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	l, err := New(t.Name())
	if err != nil {
		t.Fatalf("netns: new lab: %v", err)
	}
	catchSignals(os.Interrupt)
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netns: close lab %s: %v", l.prefix, err)
		}
	})
	return l
}

// RequireRoot skips the test unless it runs as root on Linux with the ip
// command at hand. Under CI (CI=true) it fails instead, since CI is root and
// nothing may skip there.
func RequireRoot(t testing.TB) {
	t.Helper()
	stop := t.Skipf
	if os.Getenv("CI") == "true" {
		stop = t.Fatalf
	}
	if !supported {
		stop("netns: %v", ErrUnsupported)
		return
	}
	if os.Geteuid() != 0 {
		stop("netns: test needs root (euid %d) to make network namespaces", os.Geteuid())
		return
	}
	if _, err := exec.LookPath("ip"); err != nil {
		stop("netns: test needs the ip command (iproute2): %v", err)
	}
}

// Name is the name given to New (the test name for NewT).
func (l *Lab) Name() string { return l.name }

// Prefix starts the name of every namespace of the lab, as "hbt1a2b3c-".
func (l *Lab) Prefix() string { return l.prefix }

// SwitchNS is the namespace holding the segments' bridges.
func (l *Lab) SwitchNS() string { return l.prefix + switchHost }

// Done is closed when Close begins; goroutines started with Host.Go should
// return when it is.
func (l *Lab) Done() <-chan struct{} { return l.done }

// Host returns the host of that name, or nil.
func (l *Lab) Host(name string) *Host {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, h := range l.hosts {
		if h.name == name {
			return h
		}
	}
	return nil
}

// Hosts returns the hosts in the order they were added.
func (l *Lab) Hosts() []*Host {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]*Host(nil), l.hosts...)
}

// Segment returns the segment of that name, or nil.
func (l *Lab) Segment(name string) *Segment {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.segments {
		if s.name == name {
			return s
		}
	}
	return nil
}

// checkHostName reports why name cannot name a host of l, if it cannot.
// The caller holds l.mu.
func (l *Lab) checkHostName(name string) error {
	if l.closed {
		return ErrClosed
	}
	if !hostNameRE.MatchString(name) {
		return fmt.Errorf("netns: host name %q: want 1-32 of [A-Za-z0-9_.-], starting with a letter or digit", name)
	}
	if name == switchHost {
		return fmt.Errorf("netns: host name %q is reserved for the lab's switch", name)
	}
	for _, h := range l.hosts {
		if h.name == name {
			return fmt.Errorf("netns: host %q already exists in lab %s", name, l.prefix)
		}
	}
	return nil
}

// checkSegment reports why a segment cannot be added, if it cannot. The
// caller holds l.mu.
func (l *Lab) checkSegment(name string, subnets []netip.Prefix) error {
	if l.closed {
		return ErrClosed
	}
	if !segNameRE.MatchString(name) {
		return fmt.Errorf("netns: segment name %q: want 1-12 of [A-Za-z0-9_-], starting with a letter or digit", name)
	}
	for _, s := range l.segments {
		if s.name == name {
			return fmt.Errorf("netns: segment %q already exists in lab %s", name, l.prefix)
		}
	}
	for _, p := range subnets {
		if !p.IsValid() {
			return fmt.Errorf("netns: segment %q: invalid subnet %v", name, p)
		}
	}
	return nil
}

// Name is the segment's name.
func (s *Segment) Name() string { return s.name }

// Bridge is the name of the segment's bridge inside the switch namespace.
func (s *Segment) Bridge() string { return s.bridge }

// Subnets are the subnets given to AddSegment, masked.
func (s *Segment) Subnets() []netip.Prefix { return append([]netip.Prefix(nil), s.subnets...) }

// Addr returns the n-th address of the segment's first subnet with that
// subnet's length: Addr(1) of 192.0.2.0/24 is 192.0.2.1/24. It panics when
// the segment has no subnet or n falls outside it.
func (s *Segment) Addr(n int) netip.Prefix {
	if len(s.subnets) == 0 {
		panic(fmt.Sprintf("netns: segment %s has no subnet", s.name))
	}
	return nthAddr(s.subnets[0], n)
}

// Addrs returns the n-th address of every subnet of the segment, so a
// dual-stack interface is Attach(seg, "eth0", seg.Addrs(1)...).
func (s *Segment) Addrs(n int) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(s.subnets))
	for _, p := range s.subnets {
		out = append(out, nthAddr(p, n))
	}
	return out
}

// nthAddr adds n to the network address of p, panicking outside p.
func nthAddr(p netip.Prefix, n int) netip.Prefix {
	if n < 0 {
		panic(fmt.Sprintf("netns: address %d of %v: negative", n, p))
	}
	b := p.Addr().AsSlice()
	carry := uint64(n)
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		sum := uint64(b[i]) + carry&0xff
		b[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	a, _ := netip.AddrFromSlice(b)
	if carry > 0 || !p.Contains(a) {
		panic(fmt.Sprintf("netns: address %d of %v: outside the subnet", n, p))
	}
	return netip.PrefixFrom(a, p.Bits())
}

// checkAttach reports why ifname with addrs cannot be attached to seg, if it
// cannot. The caller holds the lab's lock.
func (h *Host) checkAttach(seg *Segment, ifname string, addrs []netip.Prefix) error {
	if h.lab.closed {
		return ErrClosed
	}
	if seg == nil || seg.lab != h.lab {
		return fmt.Errorf("netns: %s: attach %s: segment is not of lab %s", h.name, ifname, h.lab.prefix)
	}
	if err := checkIfName(ifname); err != nil {
		return fmt.Errorf("netns: %s: attach: %w", h.name, err)
	}
	if h.iface(ifname) != nil {
		return fmt.Errorf("netns: %s: attach %s: interface exists", h.name, ifname)
	}
	for _, a := range addrs {
		if !a.IsValid() {
			return fmt.Errorf("netns: %s: attach %s: invalid address %v", h.name, ifname, a)
		}
		if !seg.fits(a.Addr()) {
			return fmt.Errorf("netns: %s: attach %s: address %v is outside segment %s (%v)", h.name, ifname, a, seg.name, seg.subnets)
		}
	}
	return nil
}

// fits reports whether a lies in one of the segment's subnets of its
// family, or the segment has no subnet of that family.
func (s *Segment) fits(a netip.Addr) bool {
	family := false
	for _, p := range s.subnets {
		if p.Addr().Is4() == a.Is4() {
			family = true
			if p.Contains(a) {
				return true
			}
		}
	}
	return !family
}

func checkIfName(name string) error {
	switch {
	case name == "" || len(name) > maxIfName:
		return fmt.Errorf("interface name %q: want 1-%d bytes", name, maxIfName)
	case name == "lo" || name == "." || name == "..":
		return fmt.Errorf("interface name %q is reserved", name)
	case strings.ContainsAny(name, "/: \t\n"):
		return fmt.Errorf("interface name %q: no '/', ':' or spaces", name)
	}
	return nil
}

// Name is the host's name within the lab.
func (h *Host) Name() string { return h.name }

// NS is the name of the host's namespace, as `ip netns` shows it.
func (h *Host) NS() string { return h.ns }

// Lab is the lab the host belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// iface returns the record of an attached interface, or nil. The caller
// holds the lab's lock.
func (h *Host) iface(name string) *iface {
	for _, f := range h.ifaces {
		if f.name == name {
			return f
		}
	}
	return nil
}

// Interfaces returns the names of the attached interfaces in attach order.
func (h *Host) Interfaces() []string {
	h.lab.mu.RLock()
	defer h.lab.mu.RUnlock()
	out := make([]string, 0, len(h.ifaces))
	for _, f := range h.ifaces {
		out = append(out, f.name)
	}
	return out
}

// Addr returns the first address given to Attach for ifname, or the zero
// Prefix when there is none.
func (h *Host) Addr(ifname string) netip.Prefix {
	if a := h.Addrs(ifname); len(a) > 0 {
		return a[0]
	}
	return netip.Prefix{}
}

// Addrs returns the addresses given to Attach for ifname.
func (h *Host) Addrs(ifname string) []netip.Prefix {
	h.lab.mu.RLock()
	defer h.lab.mu.RUnlock()
	if f := h.iface(ifname); f != nil {
		return append([]netip.Prefix(nil), f.addrs...)
	}
	return nil
}

// MAC returns the hardware address of an attached interface, or nil.
func (h *Host) MAC(ifname string) net.HardwareAddr {
	h.lab.mu.RLock()
	defer h.lab.mu.RUnlock()
	if f := h.iface(ifname); f != nil {
		return append(net.HardwareAddr(nil), f.mac...)
	}
	return nil
}

// Segment returns the segment ifname is attached to, or nil.
func (h *Host) Segment(ifname string) *Segment {
	h.lab.mu.RLock()
	defer h.lab.mu.RUnlock()
	if f := h.iface(ifname); f != nil {
		return f.seg
	}
	return nil
}

// Run runs a command in the host and returns its combined output; the
// error carries the command, its exit status and the output.
func (h *Host) Run(args ...string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("netns: %s: run: no command", h.name)
	}
	out, err := h.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netns: %s: %s: %w: %s", h.name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Describe lists the lab's segments, hosts, interfaces and the addresses
// the kernel has on them, for logs.
func (l *Lab) Describe() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var b strings.Builder
	fmt.Fprintf(&b, "lab %s (%s)", l.prefix, l.name)
	if l.closed {
		b.WriteString(" closed")
	}
	b.WriteByte('\n')
	for _, s := range l.segments {
		fmt.Fprintf(&b, "  segment %s bridge %s", s.name, s.bridge)
		for _, p := range s.subnets {
			fmt.Fprintf(&b, " %v", p)
		}
		b.WriteByte('\n')
	}
	for _, h := range l.hosts {
		fmt.Fprintf(&b, "  host %s ns %s", h.name, h.ns)
		if n := len(h.procs); n > 0 {
			fmt.Fprintf(&b, " procs %d", n)
		}
		b.WriteByte('\n')
		for _, f := range h.ifaces {
			fmt.Fprintf(&b, "    %s on %s %v", f.name, f.seg.name, f.mac)
			addrs := f.addrs
			if !l.closed {
				if live, err := h.liveAddrs(f.name); err == nil {
					addrs = live
				}
			}
			for _, a := range addrs {
				fmt.Fprintf(&b, " %v", a)
			}
			if f.down {
				b.WriteString(" [down]")
			}
			if f.blocked {
				b.WriteString(" [blocked]")
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// PID is the process id, which is also its process group id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns what Cmd.Wait returned.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has exited and been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
