package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const supported = true

// netnsDir is where `ip netns` keeps the bind mounts that name namespaces.
const netnsDir = "/run/netns"

// origNS is the namespace the process started in, taken while init runs on
// the main thread, before anything can have moved a thread elsewhere.
var origNS = func() netns.NsHandle {
	h, err := netns.Get()
	if err != nil {
		return netns.None()
	}
	return h
}()

type labSys struct {
	swFD netns.NsHandle
	sw   *netlink.Handle
}

type segSys struct {
	brIndex int
}

type hostSys struct {
	fd  netns.NsHandle
	nl  *netlink.Handle
	ino uint64
}

// Sysctls applied in a fresh namespace before any interface exists, so
// every interface inherits them through "default".
var (
	hostSysctls = map[string]string{
		// No duplicate address detection: IPv6 addresses work at once.
		"net/ipv6/conf/all/accept_dad":     "0",
		"net/ipv6/conf/default/accept_dad": "0",
		// LinkDown must not flush IPv6 addresses, as it does not flush IPv4.
		"net/ipv6/conf/all/keep_addr_on_down":     "1",
		"net/ipv6/conf/default/keep_addr_on_down": "1",
	}
	// The switch only bridges frames; it has no IP life of its own.
	switchSysctls = map[string]string{
		"net/ipv6/conf/all/disable_ipv6":     "1",
		"net/ipv6/conf/default/disable_ipv6": "1",
	}
)

// New makes an empty lab: a unique prefix and the switch namespace that
// will hold the segments' bridges. name only labels the lab in logs. Labs
// whose owning process died without closing them are removed first (see
// SweepStale).
func New(name string) (*Lab, error) {
	if name == "" {
		name = "lab"
	}
	_, _ = SweepStale()
	prefix, err := newPrefix()
	if err != nil {
		return nil, err
	}
	l := &Lab{name: name, prefix: prefix, done: make(chan struct{}), labSys: labSys{swFD: netns.None()}}
	if err := writeOwnerMark(prefix, name); err != nil {
		return nil, err
	}
	register(l)
	fd, nl, err := createNS(l.SwitchNS(), switchSysctls)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("netns: lab %s: switch: %w", prefix, err), l.Close())
	}
	l.mu.Lock()
	l.swFD, l.sw = fd, nl
	l.mu.Unlock()
	return l, nil
}

// newPrefix draws a prefix no namespace uses yet.
func newPrefix() (string, error) {
	for range 16 {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("netns: random prefix: %w", err)
		}
		p := prefixBase + hex.EncodeToString(b[:]) + "-"
		taken, err := filepath.Glob(filepath.Join(netnsDir, p+"*"))
		if err != nil {
			return "", fmt.Errorf("netns: list namespaces: %w", err)
		}
		if _, err := os.Stat(filepath.Join(ownerDir, p)); len(taken) == 0 && errors.Is(err, os.ErrNotExist) {
			return p, nil
		}
	}
	return "", errors.New("netns: no free prefix after 16 draws")
}

// onThread runs fn on a goroutine locked to its OS thread and hands the
// thread back to the runtime only once it is home in its first namespace
// again. A thread that cannot go home stays locked and ends with the
// goroutine, except the main thread, which Go parks for good instead: so
// going home is the rule, not letting the thread die.
func onThread(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		home, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread() // nothing was changed
			fn()                     // fn fails to enter and says so
			return
		}
		defer home.Close()
		defer func() {
			if netns.Set(home) == nil {
				runtime.UnlockOSThread()
			}
		}()
		fn()
	}()
	<-done
}

// createNS makes a named namespace the way `ip netns add` does, applies the
// sysctls, brings lo up and returns a handle and a netlink socket in it.
func createNS(name string, sysctls map[string]string) (fd netns.NsHandle, nl *netlink.Handle, err error) {
	onThread(func() { fd, nl, err = createNSLocked(name, sysctls) })
	return fd, nl, err
}

func createNSLocked(name string, sysctls map[string]string) (fd netns.NsHandle, nl *netlink.Handle, err error) {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return netns.None(), nil, fmt.Errorf("create %s: %w", netnsDir, err)
	}
	path := filepath.Join(netnsDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return netns.None(), nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	f.Close()
	defer func() {
		if err != nil {
			_ = deleteNS(name)
		}
	}()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return netns.None(), nil, fmt.Errorf("namespace %s: unshare: %w", name, err)
	}
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		return netns.None(), nil, fmt.Errorf("namespace %s: bind mount: %w", name, err)
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return netns.None(), nil, fmt.Errorf("namespace %s: open: %w", name, err)
	}
	fail := func(e error) (netns.NsHandle, *netlink.Handle, error) {
		h.Close()
		return netns.None(), nil, e
	}
	for key, val := range sysctls {
		if err := os.WriteFile("/proc/sys/"+key, []byte(val), 0o644); err != nil {
			return fail(fmt.Errorf("namespace %s: sysctl %s: %w", name, strings.ReplaceAll(key, "/", "."), err))
		}
	}
	// The thread is inside the namespace, so the socket is too.
	nl, err = netlink.NewHandle()
	if err != nil {
		return fail(fmt.Errorf("namespace %s: netlink: %w", name, err))
	}
	lo, err := nl.LinkByName("lo")
	if err == nil {
		err = nl.LinkSetUp(lo)
	}
	if err != nil {
		nl.Close()
		return fail(fmt.Errorf("namespace %s: lo up: %w", name, err))
	}
	return h, nl, nil
}

// deleteNS removes a namespace's name the way `ip netns delete` does; the
// kernel frees it once nothing else holds it.
func deleteNS(name string) error {
	path := filepath.Join(netnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netns: delete namespace %s: unmount: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns: delete namespace %s: %w", name, err)
	}
	return nil
}

// nsInode is the inode that identifies a namespace in /proc/PID/ns/net.
func nsInode(fd netns.NsHandle) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Close kills every process the lab started (by process group, and any
// stray process left inside its namespaces), waits for them, and deletes
// every namespace, bridge and interface the lab made. It is idempotent and
// safe to call from several goroutines.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Lab) close() error {
	l.mu.Lock()
	l.closed = true
	close(l.done)
	hosts := append([]*Host(nil), l.hosts...)
	l.mu.Unlock()

	var errs []error
	for _, h := range hosts {
		if err := h.killAll(); err != nil {
			errs = append(errs, err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range hosts {
		if h.nl != nil {
			h.nl.Close()
		}
		h.fd.Close()
		if err := deleteNS(h.ns); err != nil {
			errs = append(errs, err)
		}
	}
	if l.sw != nil {
		l.sw.Close()
	}
	l.swFD.Close()
	if err := deleteNS(l.SwitchNS()); err != nil {
		errs = append(errs, err)
	}
	if err := removeOwnerMark(l.prefix); err != nil {
		errs = append(errs, err)
	}
	unregister(l)
	return errors.Join(errs...)
}

// AddSegment makes a segment: a bridge in the switch namespace. The subnets
// (IPv4, IPv6 or both) are what Segment.Addr hands out and what Attach
// checks addresses against; none is needed.
func (l *Lab) AddSegment(name string, subnets ...netip.Prefix) (*Segment, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkSegment(name, subnets); err != nil {
		return nil, err
	}
	s := &Segment{lab: l, name: name, bridge: "br-" + name}
	for _, p := range subnets {
		s.subnets = append(s.subnets, p.Masked())
	}
	off := false
	br := &netlink.Bridge{
		LinkAttrs: netlink.LinkAttrs{Name: s.bridge, Flags: net.FlagUp},
		// Without a querier, snooping would starve multicast heartbeats.
		MulticastSnooping: &off,
	}
	if err := l.sw.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("netns: segment %s: create bridge: %w", name, err)
	}
	link, err := l.sw.LinkByName(s.bridge)
	if err != nil {
		return nil, fmt.Errorf("netns: segment %s: find bridge: %w", name, err)
	}
	s.brIndex = link.Attrs().Index
	l.segments = append(l.segments, s)
	return s, nil
}

// AddHost makes a host: namespace PREFIX+name with lo up, IPv6 duplicate
// address detection off and IPv6 addresses kept across link down.
func (l *Lab) AddHost(name string) (*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkHostName(name); err != nil {
		return nil, err
	}
	h := &Host{lab: l, name: name, ns: l.prefix + name, procs: map[*Proc]struct{}{}}
	fd, nl, err := createNS(h.ns, hostSysctls)
	if err != nil {
		return nil, fmt.Errorf("netns: host %s: %w", name, err)
	}
	ino, err := nsInode(fd)
	if err != nil {
		nl.Close()
		fd.Close()
		return nil, errors.Join(fmt.Errorf("netns: host %s: stat namespace: %w", name, err), deleteNS(h.ns))
	}
	h.fd, h.nl, h.ino = fd, nl, ino
	l.hosts = append(l.hosts, h)
	return h, nil
}

// Attach wires the host to a segment: a veth pair whose end in the host is
// ifname, up, with addrs (IPv4 and IPv6 alike, usable at once), and whose
// other end is a port of the segment's bridge.
func (h *Host) Attach(seg *Segment, ifname string, addrs ...netip.Prefix) error {
	l := h.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := h.checkAttach(seg, ifname, addrs); err != nil {
		return err
	}
	f := &iface{name: ifname, seg: seg, port: fmt.Sprintf("p%d", l.nextPort), addrs: append([]netip.Prefix(nil), addrs...)}
	l.nextPort++
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: f.port, MasterIndex: seg.brIndex, Flags: net.FlagUp},
		PeerName:      ifname,
		PeerNamespace: netlink.NsFd(h.fd),
	}
	if err := l.sw.LinkAdd(veth); err != nil {
		return fmt.Errorf("netns: %s: attach %s to %s: create veth: %w", h.name, ifname, seg.name, err)
	}
	err := h.configure(f)
	if err == nil {
		var port netlink.Link
		if port, err = l.sw.LinkByName(f.port); err == nil {
			// For people reading `ip -n PREFIXsw link`.
			err = l.sw.LinkSetAlias(port, h.name+":"+ifname)
		}
	}
	if err != nil {
		if port, e := l.sw.LinkByName(f.port); e == nil {
			_ = l.sw.LinkDel(port) // takes the host end with it
		}
		return fmt.Errorf("netns: %s: attach %s to %s: %w", h.name, ifname, seg.name, err)
	}
	h.ifaces = append(h.ifaces, f)
	return nil
}

// configure gives the host end of a new veth its addresses and brings it up.
func (h *Host) configure(f *iface) error {
	link, err := h.nl.LinkByName(f.name)
	if err != nil {
		return fmt.Errorf("find %s: %w", f.name, err)
	}
	f.mac = link.Attrs().HardwareAddr
	for _, a := range f.addrs {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}}
		if a.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := h.nl.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add %v: %w", a, err)
		}
	}
	if err := h.nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("up %s: %w", f.name, err)
	}
	return nil
}

// liveAddrs lists the addresses the kernel has on ifname, link-local ones
// left out. The caller holds the lab's lock.
func (h *Host) liveAddrs(ifname string) ([]netip.Prefix, error) {
	link, err := h.nl.LinkByName(ifname)
	if err != nil {
		return nil, err
	}
	list, err := h.nl.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.IsLinkLocalUnicast() {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// Command prepares a command to run inside the host through
// `ip netns exec`, in a process group of its own and killed if this process
// dies. Run it as usual, or hand it to Start to have the lab track it.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// setLink brings an interface of the host down or up. IPv4 and IPv6
// addresses survive; routes through it come back with it.
func (h *Host) setLink(ifname string, up bool) error {
	l := h.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	verb := map[bool]string{true: "up", false: "down"}[up]
	link, err := h.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("netns: %s: link %s %s: %w", h.name, ifname, verb, err)
	}
	if up {
		err = h.nl.LinkSetUp(link)
	} else {
		err = h.nl.LinkSetDown(link)
	}
	if err != nil {
		return fmt.Errorf("netns: %s: link %s %s: %w", h.name, ifname, verb, err)
	}
	if f := h.iface(ifname); f != nil {
		f.down = !up
	}
	return nil
}

// LinkDown sets an interface of the host administratively down, as
// `ip link set IF down` would: the host sees it, and so does its peer.
func (h *Host) LinkDown(ifname string) error { return h.setLink(ifname, false) }

// LinkUp sets an interface of the host up again.
func (h *Host) LinkUp(ifname string) error { return h.setLink(ifname, true) }

// setPort sets the switch's end of an attached interface down or up.
func (h *Host) setPort(ifname string, up bool) error {
	l := h.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	verb := map[bool]string{true: "plug", false: "unplug"}[up]
	f := h.iface(ifname)
	if f == nil {
		return fmt.Errorf("netns: %s: %s %s: not an attached interface", h.name, verb, ifname)
	}
	port, err := l.sw.LinkByName(f.port)
	if err == nil {
		if up {
			err = l.sw.LinkSetUp(port)
		} else {
			err = l.sw.LinkSetDown(port)
		}
	}
	if err != nil {
		return fmt.Errorf("netns: %s: %s %s: %w", h.name, verb, ifname, err)
	}
	return nil
}

// Unplug takes the switch's end of an attached interface down, as a
// pulled cable or a dead switch port: the host's interface stays up but
// loses its carrier (`ip link` shows NO-CARRIER), and nothing passes.
func (h *Host) Unplug(ifname string) error { return h.setPort(ifname, false) }

// Plug brings the switch's end back: the carrier returns.
func (h *Host) Plug(ifname string) error { return h.setPort(ifname, true) }

// setBlocked takes an interface's switch port off its bridge or puts it
// back. Off the bridge, frames in either direction are lost in silence: the
// host keeps its carrier and addresses and its sends succeed, as behind a
// failed switch, and nothing is added to the host's own firewall or
// traffic control, which stay the product's to use.
func (h *Host) setBlocked(ifnames []string, blocked bool) error {
	l := h.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	verb := map[bool]string{true: "block", false: "unblock"}[blocked]
	var errs []error
	for _, name := range ifnames {
		f := h.iface(name)
		if f == nil {
			errs = append(errs, fmt.Errorf("netns: %s: %s %s: not an attached interface", h.name, verb, name))
			continue
		}
		if f.blocked == blocked {
			continue
		}
		port, err := l.sw.LinkByName(f.port)
		if err == nil {
			if blocked {
				err = l.sw.LinkSetNoMaster(port)
			} else {
				err = l.sw.LinkSetMasterByIndex(port, f.seg.brIndex)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("netns: %s: %s %s: %w", h.name, verb, name, err))
			continue
		}
		f.blocked = blocked
	}
	return errors.Join(errs...)
}

// Block drops all traffic into and out of an attached interface.
func (h *Host) Block(ifname string) error { return h.setBlocked([]string{ifname}, true) }

// Unblock lets traffic through an interface again.
func (h *Host) Unblock(ifname string) error { return h.setBlocked([]string{ifname}, false) }

// Isolate blocks every attached interface; loopback keeps working.
func (h *Host) Isolate() error { return h.setBlocked(h.Interfaces(), true) }

// Heal unblocks every attached interface.
func (h *Host) Heal() error { return h.setBlocked(h.Interfaces(), false) }

// Do runs fn on an OS thread switched into the host's namespace and waits
// for it. Sockets fn opens belong to the namespace for their whole life,
// whichever goroutine uses them later; goroutines fn starts do not run in
// the namespace. fn must not call t.FailNow (Fatal); a panic in fn is
// raised again in the caller.
func (h *Host) Do(fn func() error) error {
	var (
		err      error
		panicked = true
		value    any
	)
	onThread(func() {
		defer func() {
			if panicked {
				value = recover()
				if value == nil {
					err = fmt.Errorf("netns: %s: do: fn called runtime.Goexit (t.FailNow?)", h.name)
					panicked = false
				}
			}
		}()
		if err = h.enter(); err == nil {
			err = fn()
		}
		panicked = false
	})
	if panicked {
		panic(value)
	}
	return err
}

// Go runs fn on a goroutine whose OS thread stays in the host's namespace
// until fn returns; its result arrives on the channel. Use it for servers
// that open sockets over time; fn should return when the lab's Done channel
// closes. fn must not call runtime.Goexit.
func (h *Host) Go(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go onThread(func() {
		err := h.enter()
		if err == nil {
			err = fn()
		}
		ch <- err
	})
	return ch
}

// enter switches the calling, locked thread into the host's namespace.
func (h *Host) enter() error {
	h.lab.mu.RLock()
	defer h.lab.mu.RUnlock()
	if h.lab.closed {
		return ErrClosed
	}
	if err := netns.Set(h.fd); err != nil {
		return fmt.Errorf("netns: %s: enter namespace: %w", h.name, err)
	}
	return nil
}
