package netns

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Ping sends one ICMP echo request from the host to dst and waits up to
// timeout for the reply, with no ping command needed. Link-local IPv6
// addresses need a zone (fe80::1%eth0).
func (h *Host) Ping(dst netip.Addr, timeout time.Duration) error {
	dst = dst.Unmap()
	network, proto := "ip4:icmp", 1
	var typ, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() {
		network, proto = "ip6:ipv6-icmp", 58
		typ, reply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var c *icmp.PacketConn
	if err := h.Do(func() (err error) {
		c, err = icmp.ListenPacket(network, "")
		return err
	}); err != nil {
		return fmt.Errorf("netns: %s: ping %v: %w", h.name, dst, err)
	}
	defer c.Close()

	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id, seq := int(binary.BigEndian.Uint16(rnd[:2])), int(binary.BigEndian.Uint16(rnd[2:]))
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("hbgo netns ping")}}
	b, err := msg.Marshal(nil) // the kernel sums ICMPv6 itself
	if err != nil {
		return fmt.Errorf("netns: %s: ping %v: %w", h.name, dst, err)
	}
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("netns: %s: ping %v: %w", h.name, dst, err)
	}
	if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}); err != nil {
		return fmt.Errorf("netns: %s: ping %v: send: %w", h.name, dst, err)
	}
	buf := make([]byte, 1500)
	for {
		n, peer, err := c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("netns: %s: ping %v: no reply within %v", h.name, dst, timeout)
		}
		if err != nil {
			return fmt.Errorf("netns: %s: ping %v: receive: %w", h.name, dst, err)
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != reply {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		from, _ := netip.AddrFromSlice(peer.(*net.IPAddr).IP)
		if ok && echo.ID == id && echo.Seq == seq && from.Unmap() == dst.WithZone("") {
			return nil
		}
	}
}
