package resources

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// ICMPv6 neighbour discovery numbers (RFC 4861).
const (
	icmpv6NeighborSolicitation  = 135
	icmpv6NeighborAdvertisement = 136
	ndOptTargetLinkLayer        = 2
	ndFlagOverride              = 0x20 // in the first byte of the flags word
	protoICMPv6                 = 58
)

var (
	ip6AllNodes  = netip.MustParseAddr("ff02::1")
	ethAllNodes6 = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
)

// unsolicitedNA builds an unsolicited neighbour advertisement for ip from
// mac as RFC 4861 7.2.6 describes it: to all nodes (ff02::1), hop limit
// 255, the override flag set so that neighbours replace the link-layer
// address they cached, and the target link-layer address option. Its
// source is ip itself, as Heartbeat's IPv6addr sent it.
func unsolicitedNA(mac net.HardwareAddr, ip netip.Addr) []byte {
	const icmpLen = 24 + 8 // header, flags, target; one option
	b := make([]byte, 14+40+icmpLen)
	copy(b[0:6], ethAllNodes6)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], etherTypeIPv6)

	h := b[14:54]
	h[0] = 6 << 4
	binary.BigEndian.PutUint16(h[4:6], icmpLen)
	h[6] = protoICMPv6
	h[7] = 255
	src, dst := ip.As16(), ip6AllNodes.As16()
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])

	m := b[54:]
	m[0] = icmpv6NeighborAdvertisement
	m[4] = ndFlagOverride
	copy(m[8:24], src[:])
	m[24] = ndOptTargetLinkLayer
	m[25] = 1 // in units of 8 bytes
	copy(m[26:32], mac)
	binary.BigEndian.PutUint16(m[2:4], icmpv6Checksum(src, dst, m))
	return b
}

// icmpv6Checksum is the Internet checksum of an ICMPv6 message with the
// IPv6 pseudo-header (RFC 8200 8.1); the message's own checksum field
// must be zero.
func icmpv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:4], uint32(len(msg)))
	l[7] = protoICMPv6
	add(l[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// naPacket is a neighbour advertisement in an Ethernet frame, taken
// apart.
type naPacket struct {
	EthDst, EthSrc net.HardwareAddr
	Src, Dst       netip.Addr
	HopLimit       int
	Override       bool
	Solicited      bool
	Target         netip.Addr
	TargetMAC      net.HardwareAddr // nil without the option
	ChecksumOK     bool
}

// parseNA takes an Ethernet frame carrying an ICMPv6 neighbour
// advertisement (with no extension headers) apart; ok is false for
// anything else.
func parseNA(b []byte) (p naPacket, ok bool) {
	if len(b) < 14+40+24 || binary.BigEndian.Uint16(b[12:14]) != etherTypeIPv6 {
		return p, false
	}
	h := b[14:54]
	if h[0]>>4 != 6 || h[6] != protoICMPv6 {
		return p, false
	}
	plen := int(binary.BigEndian.Uint16(h[4:6]))
	if plen < 24 || len(b) < 54+plen {
		return p, false
	}
	m := b[54 : 54+plen]
	if m[0] != icmpv6NeighborAdvertisement || m[1] != 0 {
		return p, false
	}
	p.EthDst = net.HardwareAddr(append([]byte(nil), b[0:6]...))
	p.EthSrc = net.HardwareAddr(append([]byte(nil), b[6:12]...))
	src, dst := [16]byte(h[8:24]), [16]byte(h[24:40])
	p.Src, p.Dst = netip.AddrFrom16(src), netip.AddrFrom16(dst)
	p.HopLimit = int(h[7])
	p.Solicited = m[4]&0x40 != 0
	p.Override = m[4]&ndFlagOverride != 0
	p.Target = netip.AddrFrom16([16]byte(m[8:24]))
	c := append([]byte(nil), m...)
	sum := binary.BigEndian.Uint16(c[2:4])
	c[2], c[3] = 0, 0
	p.ChecksumOK = icmpv6Checksum(src, dst, c) == sum
	for opts := m[24:]; len(opts) >= 8; {
		n := int(opts[1]) * 8
		if n == 0 || n > len(opts) {
			break
		}
		if opts[0] == ndOptTargetLinkLayer && n >= 8 {
			p.TargetMAC = net.HardwareAddr(append([]byte(nil), opts[2:8]...))
		}
		opts = opts[n:]
	}
	return p, true
}
