package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pingResend is how often an unanswered echo request is sent again
// while the check's time lasts. ldirectord's Net::Ping sends one per
// attempt and waits the whole checktimeout; resending makes one lost
// packet no failure.
const pingResend = time.Second

// pingRaw lets tests take the unprivileged path as root.
var pingRaw = true

// ping sends ICMP echo requests to dst (IPv4 or IPv6) until one is
// answered or ctx ends. It opens a raw ICMP socket when it may (root or
// CAP_NET_RAW), else an unprivileged ping socket (Linux's
// net.ipv4.ping_group_range must admit the group).
func ping(ctx context.Context, dst netip.Addr) error {
	dst = dst.Unmap()
	target := "ping " + dst.String()
	if !dst.IsValid() {
		return fmt.Errorf("ping: no address")
	}
	raw, udp, any := "ip4:icmp", "udp4", "0.0.0.0"
	proto := 1
	var echo, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() {
		raw, udp, any = "ip6:ipv6-icmp", "udp6", "::"
		proto = 58
		echo, reply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	c, err := icmp.ListenPacket(raw, any)
	if err == nil && !pingRaw {
		c.Close()
		c, err = nil, errors.New("raw sockets turned off")
	}
	var to net.Addr = &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	if err != nil {
		var uerr error
		c, uerr = icmp.ListenPacket(udp, any)
		if uerr != nil {
			return fmt.Errorf("%s: cannot open an ICMP socket (raw: %v; unprivileged: %v)", target, err, uerr)
		}
		to = &net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	defer c.Close()
	release := guard(ctx, c)
	defer release()

	var tok [10]byte
	_, _ = rand.Read(tok[:])
	id := int(binary.BigEndian.Uint16(tok[8:]))
	token := tok[:8]
	deadline, hasDeadline := ctx.Deadline()
	buf := make([]byte, 1500)
	sent := 0
	for seq := 1; ; seq++ {
		b, err := (&icmp.Message{Type: echo, Body: &icmp.Echo{ID: id, Seq: seq, Data: token}}).Marshal(nil)
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		if _, err := c.WriteTo(b, to); err != nil {
			return fmt.Errorf("%s: %w", target, stageErr(ctx, "send echo request", err))
		}
		sent++
		next := time.Now().Add(pingResend)
		if hasDeadline && deadline.Before(next) {
			next = deadline
		}
		_ = c.SetReadDeadline(next)
		// A ctx cancelled before this point is seen here; one cancelled
		// after it expires the deadline just set (guard).
		if ctx.Err() != nil {
			return fmt.Errorf("%s: no echo reply to %d requests within the timeout", target, sent)
		}
		for {
			n, peer, err := c.ReadFrom(buf)
			if err != nil {
				ne, ok := err.(net.Error)
				if ok && ne.Timeout() && ctx.Err() == nil && (!hasDeadline || time.Now().Before(deadline)) {
					break // resend
				}
				if ctx.Err() != nil || (ok && ne.Timeout()) {
					return fmt.Errorf("%s: no echo reply to %d requests within the timeout", target, sent)
				}
				return fmt.Errorf("%s: %w", target, err)
			}
			m, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil || m.Type != reply {
				continue
			}
			e, ok := m.Body.(*icmp.Echo)
			if !ok || !bytes.Equal(e.Data, token) || !samePeer(peer, dst) {
				continue
			}
			if _, isUDP := to.(*net.UDPAddr); !isUDP && e.ID != id {
				continue
			}
			return nil
		}
	}
}

// samePeer tells whether a reply came from dst.
func samePeer(peer net.Addr, dst netip.Addr) bool {
	var ip net.IP
	switch p := peer.(type) {
	case *net.IPAddr:
		ip = p.IP
	case *net.UDPAddr:
		ip = p.IP
	default:
		return false
	}
	a, ok := netip.AddrFromSlice(ip)
	return ok && a.Unmap().WithZone("") == dst.WithZone("")
}
