//go:build linux

package heartbeat

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// udpLink is one UDP medium: a socket bound to the link's interface on
// udpport, sending to a broadcast address, a multicast group, or a list of
// unicast peers.
type udpLink struct {
	name  string
	conn  *net.UDPConn
	dests []netip.AddrPort

	raw syscall.RawConn
	sas []unix.Sockaddr // dests as socket addresses
}

// newUDPLink makes the link of conn, with its destinations' socket
// addresses made now: a zone is looked up in the namespace the link is
// opened in.
func newUDPLink(name string, conn *net.UDPConn, dests []netip.AddrPort) (*udpLink, error) {
	l := &udpLink{name: name, conn: conn, dests: dests}
	if err := l.resolve(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return l, nil
}

// listenOnDevice binds 0.0.0.0:port to one interface, so that several
// media on several interfaces share the port and each packet is known by
// the link it came in on.
func listenOnDevice(iface string, port int, broadcast bool) (*net.UDPConn, error) {
	return listenOnDeviceNet("udp4", iface, port, broadcast)
}

// listenOnDeviceNet is listenOnDevice for a network: "udp4", "udp6" (IPv6
// only) or "udp" (both families on one socket).
func listenOnDeviceNet(network, iface string, port int, broadcast bool) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			s := int(fd)
			if serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = unix.BindToDevice(s, iface); serr != nil {
				serr = fmt.Errorf("bind to device %s: %w", iface, serr)
				return
			}
			// Only the groups this socket joins, not every group of the host.
			if network != "udp6" {
				_ = unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
			}
			if network != "udp4" {
				_ = unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
			}
			// The kernel stamps each packet with its arrival: a packet
			// that waited in the socket's queue (the daemon frozen or
			// starved) counts from then, not from its reading.
			_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
			if broadcast {
				serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	host := "0.0.0.0"
	if network != "udp4" {
		host = "::"
	}
	pc, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// interfaceV4 returns the interface and its IPv4 addresses with prefixes.
func interfaceV4(name string) (*net.Interface, []netip.Prefix, error) {
	ifi, all, err := interfaceAddrs(name)
	var v4 []netip.Prefix
	for _, p := range all {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		}
	}
	return ifi, v4, err
}

// interfaceAddrs returns the interface and all its addresses with prefixes.
func interfaceAddrs(name string) (*net.Interface, []netip.Prefix, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, nil, fmt.Errorf("interface %s: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, nil, fmt.Errorf("interface %s: %w", name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ones, _ := ipn.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return ifi, out, nil
}

// broadcastOf is the directed broadcast address of p.
func broadcastOf(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(0xffffffff) >> p.Bits()
	if p.Bits() == 32 {
		host = 0
	}
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// OpenBcast opens a broadcast medium on iface: it sends to the directed
// broadcast address of the interface's first IPv4 address (or
// 255.255.255.255 when it has none) on port.
func OpenBcast(iface string, port int) (Link, error) {
	_, prefixes, err := interfaceV4(iface)
	if err != nil {
		return nil, err
	}
	dst := netip.AddrFrom4([4]byte{255, 255, 255, 255})
	if len(prefixes) > 0 {
		dst = broadcastOf(prefixes[0])
	}
	conn, err := listenOnDevice(iface, port, true)
	if err != nil {
		return nil, fmt.Errorf("bcast %s: %w", iface, err)
	}
	if len(prefixes) > 0 {
		// The kernel drops this host's own broadcasts, which come back
		// from the source address they go out with, before they wake the
		// daemon: half of what a two-node link hears at rest. A packet
		// from another host that sends as this node still comes (see
		// receive); so does one of ours from an address added later.
		if err := ipv4.NewPacketConn(conn).SetBPF(dropFrom4(prefixes[0].Addr())); err != nil {
			conn.Close()
			return nil, fmt.Errorf("bcast %s: own packets filter: %w", iface, err)
		}
	}
	return newUDPLink(iface, conn, []netip.AddrPort{netip.AddrPortFrom(dst, uint16(port))})
}

// skfNetOff is the kernel's SKF_NET_OFF: a socket filter's load at this
// offset plus n reads byte n of the network (IP) header.
const skfNetOff = -0x100000

// dropFrom4 is a socket filter that drops IPv4 packets whose source is
// own and takes every other.
func dropFrom4(own netip.Addr) []bpf.RawInstruction {
	a := own.As4()
	off := int32(skfNetOff + 12) // the IPv4 source address
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: uint32(off), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(a[:]), SkipFalse: 1},
		bpf.RetConstant{Val: 0},
		bpf.RetConstant{Val: 0xffffffff},
	})
	if err != nil {
		panic(err) // a constant program
	}
	return prog
}

// OpenMcast opens a multicast medium: it joins group on iface and sends
// there with the given TTL; loop makes this host hear its own packets.
func OpenMcast(iface string, group netip.Addr, port, ttl int, loop bool) (Link, error) {
	if !group.IsMulticast() {
		return nil, fmt.Errorf("mcast %s: %s is not a multicast group", iface, group)
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("mcast %s: %w", iface, err)
	}
	network := "udp4"
	if group.Is6() {
		network = "udp6"
	}
	conn, err := listenOnDeviceNet(network, iface, port, false)
	if err != nil {
		return nil, fmt.Errorf("mcast %s: %w", iface, err)
	}
	if group.Is4() {
		pc := ipv4.NewPacketConn(conn)
		err = errors.Join(
			pc.JoinGroup(ifi, &net.UDPAddr{IP: group.AsSlice()}),
			pc.SetMulticastInterface(ifi),
			pc.SetMulticastTTL(ttl),
			pc.SetMulticastLoopback(loop),
		)
	} else {
		pc := ipv6.NewPacketConn(conn)
		err = errors.Join(
			pc.JoinGroup(ifi, &net.UDPAddr{IP: group.AsSlice()}),
			pc.SetMulticastInterface(ifi),
			pc.SetMulticastHopLimit(ttl),
			pc.SetMulticastLoopback(loop),
		)
		group = group.WithZone(iface)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("mcast %s %s: %w", iface, group, err)
	}
	return newUDPLink(iface, conn, []netip.AddrPort{netip.AddrPortFrom(group, uint16(port))})
}

// OpenUcast opens a unicast medium on iface that sends to every peer
// address; addresses of this host are skipped, so one ha.cf serves every
// node, as in Heartbeat.
func OpenUcast(iface string, port int, peers []netip.Addr) (Link, error) {
	_, own, err := interfaceAddrs(iface)
	if err != nil {
		return nil, err
	}
	network := "udp4"
	for _, p := range peers {
		if p.Unmap().Is6() {
			network = "udp" // one socket for both families
		}
	}
	conn, err := listenOnDeviceNet(network, iface, port, false)
	if err != nil {
		return nil, fmt.Errorf("ucast %s: %w", iface, err)
	}
	var dests []netip.AddrPort
next:
	for _, p := range peers {
		for _, o := range own {
			if o.Addr().WithZone("") == p.Unmap().WithZone("") {
				continue next
			}
		}
		a := p.Unmap()
		if a.Is6() && a.IsLinkLocalUnicast() && a.Zone() == "" {
			a = a.WithZone(iface)
		}
		dests = append(dests, netip.AddrPortFrom(a, uint16(port)))
	}
	return newUDPLink(iface, conn, dests)
}

func (l *udpLink) Name() string { return l.name }

// sendsAtOnce: a UDP send never waits (a full socket buffer drops), so
// every UDP link is served by one sender.
func (l *udpLink) sendsAtOnce() {}

// Send never waits: a packet the socket has no room for is dropped
// (EAGAIN), as a full line drops one, so that one congested link does
// not hold up the heartbeats of the others, which share its sender.
func (l *udpLink) Send(pkt []byte) error {
	var errs []error
	for i, d := range l.dests {
		var serr error
		if err := l.raw.Write(func(fd uintptr) bool {
			serr = unix.Sendto(int(fd), pkt, unix.MSG_DONTWAIT, l.sas[i])
			return true // done, whatever came: never wait for room
		}); err != nil {
			serr = err
		}
		if serr != nil {
			errs = append(errs, fmt.Errorf("%s to %s: %w", l.name, d, serr))
		}
	}
	return errors.Join(errs...)
}

// resolve makes the socket addresses of the destinations, in the
// socket's family (an IPv4 destination of a dual-stack socket is mapped).
func (l *udpLink) resolve() error {
	rc, err := l.conn.SyscallConn()
	if err != nil {
		return err
	}
	l.raw = rc
	domain := unix.AF_INET
	if cerr := rc.Control(func(fd uintptr) { domain, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN) }); cerr != nil {
		return cerr
	}
	if err != nil {
		return err
	}
	l.sas = nil
	for _, d := range l.dests {
		a := d.Addr()
		if domain == unix.AF_INET {
			l.sas = append(l.sas, &unix.SockaddrInet4{Port: int(d.Port()), Addr: a.As4()})
			continue
		}
		sa := &unix.SockaddrInet6{Port: int(d.Port()), Addr: a.As16()}
		if z := a.Zone(); z != "" {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return err
			}
			sa.ZoneId = uint32(ifi.Index)
		}
		l.sas = append(l.sas, sa)
	}
	return nil
}

func (l *udpLink) Recv(buf []byte) (int, string, error) {
	n, from, _, err := l.RecvStamped(buf)
	return n, from, err
}

// RecvStamped implements StampedLink: the age is the time since the
// kernel received the packet (SO_TIMESTAMPNS), 0 when it gave no stamp.
func (l *udpLink) RecvStamped(buf []byte) (int, string, time.Duration, error) {
	var oob [64]byte
	for {
		n, oobn, _, from, err := l.conn.ReadMsgUDPAddrPort(buf, oob[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return 0, "", 0, ErrClosed
			}
			// ICMP errors surface as read errors on Linux; they say
			// nothing about our peers' liveness.
			if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
				continue
			}
			return 0, "", 0, err
		}
		return n, from.String(), stampAge(oob[:oobn], time.Now()), nil
	}
}

// stampAge reads the kernel's receive stamp (wall clock) from a socket's
// control messages and says how long before now it was; 0 without a
// stamp, and bounded to [0, 10s] so that a step of the wall clock cannot
// make a packet look older than a queue could have kept it.
func stampAge(oob []byte, now time.Time) time.Duration {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS || len(m.Data) < int(unsafe.Sizeof(unix.Timespec{})) {
			continue
		}
		ts := *(*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
		age := now.Round(0).Sub(time.Unix(ts.Unix()))
		return min(max(age, 0), 10*time.Second)
	}
	return 0
}

func (l *udpLink) Close() error { return l.conn.Close() }
