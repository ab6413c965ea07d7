// Package bgp owns the director's BGP speaker: the sessions to the site's
// routers and the VIPs announced on them, spoken by GoBGP as a library.
package bgp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

const (
	// MinHoldTime is the smallest hold time BGP allows other than zero
	// (RFC 4271, 4.2); zero, which turns keepalives off, is refused here,
	// since a director that cannot be declared dead must not announce.
	MinHoldTime = 3 * time.Second
	// DefaultHoldTime is proposed when a neighbour sets none. The session
	// runs with the smaller of both sides' proposals, so the minimum here
	// lets the router withdraw a silent director within 3 s unless the
	// router itself asks for longer.
	DefaultHoldTime = MinHoldTime
	// maxHoldTime is the largest hold time the OPEN message carries.
	maxHoldTime = 65535 * time.Second
	// DefaultCallTimeout bounds every call whose context has no deadline.
	DefaultCallTimeout = 5 * time.Second
	// maxPasswordLen is the kernel's limit for a TCP MD5 key
	// (TCP_MD5SIG_MAXKEYLEN).
	maxPasswordLen = 80
	// connectRetry is how often, in seconds, a neighbour that cannot be
	// reached is dialled again; GoBGP's smallest interval. Its default
	// (120 s) would leave a router that came back without this director's
	// routes for two minutes.
	connectRetry = 2
	// DefaultBFDInterval is the BFD interval of a neighbour that sets
	// none: this speaker sends a control packet that often and asks the
	// router for one as often.
	DefaultBFDInterval = 100 * time.Millisecond
	// DefaultBFDMultiplier is how many intervals without a packet declare
	// the other side dead when a neighbour sets none.
	DefaultBFDMultiplier = 3
	// MinBFDInterval and MaxBFDInterval bound a BFD interval (FRR's range:
	// 10 ms to 60 s).
	MinBFDInterval = 10 * time.Millisecond
	MaxBFDInterval = 60 * time.Second
	// MinBFDMultiplier and MaxBFDMultiplier bound the detection
	// multiplier (one byte on the wire; 1 would end a session on one lost
	// packet).
	MinBFDMultiplier = 2
	MaxBFDMultiplier = 255
)

// Config is what a Speaker is started with.
type Config struct {
	// Node names this director in log lines (the "node" attribute); may be
	// empty.
	Node string
	// LocalAS is this director's autonomous system number (4 bytes).
	LocalAS uint32
	// RouterID is this speaker's BGP identifier, an IPv4 address.
	RouterID netip.Addr
	// ListenPort is the TCP port to accept sessions on. Zero or less: do
	// not listen; the speaker dials its neighbours and nothing else.
	ListenPort int
	// Neighbors are the routers to keep sessions with.
	Neighbors []Neighbor
	// Communities are attached to every announced prefix.
	Communities []Community
	// AcceptRoutes keeps the routes neighbours send. Off, the import
	// policy rejects them all: a director announces, it does not route by
	// BGP. (They are still received and counted; a router should send a
	// director nothing.)
	AcceptRoutes bool
	// CallTimeout bounds a call whose context has no deadline; zero means
	// DefaultCallTimeout.
	CallTimeout time.Duration
	// Logger receives the speaker's lines; nil logs to slog.Default().
	Logger *slog.Logger
}

// Neighbor is one router the speaker keeps a session with. A neighbour
// carries the prefixes of its own address family: an IPv4 neighbour the
// /32s, an IPv6 neighbour the /128s.
type Neighbor struct {
	// Addr is the router's address.
	Addr netip.Addr
	// PeerAS is the router's autonomous system number; equal to LocalAS
	// makes an iBGP session.
	PeerAS uint32
	// HoldTime is proposed in whole seconds, at least MinHoldTime; zero
	// means DefaultHoldTime. Keepalives go every third of it.
	HoldTime time.Duration
	// Password turns on TCP MD5 signatures (RFC 2385) with this key.
	Password string
	// Port is the router's BGP port; zero means 179.
	Port uint16
	// LocalAddr is the source address of the session; zero lets the
	// kernel choose. It is also the next hop the router sees.
	LocalAddr netip.Addr
	// Passive waits for the router to connect instead of dialling it; it
	// needs a ListenPort.
	Passive bool
	// BFD runs a single-hop BFD session (RFC 5880, 5881) with the router
	// beside the BGP session: when either side stops hearing the other's
	// control packets for BFDMultiplier intervals, the BGP session is
	// torn down at once instead of after the hold time. The router must
	// run BFD too (FRR: bfdd and neighbor ADDR bfd).
	BFD bool
	// BFDInterval is how often a control packet is sent, and asked of the
	// router; zero means DefaultBFDInterval.
	BFDInterval time.Duration
	// BFDMultiplier is how many intervals without a packet declare the
	// other side dead; zero means DefaultBFDMultiplier.
	BFDMultiplier int
}

// bfdInterval is the BFD interval in force.
func (n Neighbor) bfdInterval() time.Duration {
	if n.BFDInterval == 0 {
		return DefaultBFDInterval
	}
	return n.BFDInterval
}

// bfdMultiplier is the detection multiplier in force.
func (n Neighbor) bfdMultiplier() int {
	if n.BFDMultiplier == 0 {
		return DefaultBFDMultiplier
	}
	return n.BFDMultiplier
}

// holdSeconds is the hold time to propose, in seconds.
func (n Neighbor) holdSeconds() uint64 {
	if n.HoldTime == 0 {
		return uint64(DefaultHoldTime / time.Second)
	}
	return uint64(n.HoldTime / time.Second)
}

// Community is a standard BGP community (RFC 1997): ASN:VALUE in 32 bits.
type Community uint32

// ParseCommunity reads ASN:VALUE (each 0-65535) or a well-known name such
// as no-export or no-advertise.
func ParseCommunity(s string) (Community, error) {
	if asn, val, ok := strings.Cut(s, ":"); ok {
		hi, err1 := strconv.ParseUint(asn, 10, 16)
		lo, err2 := strconv.ParseUint(val, 10, 16)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("community %q: want ASN:VALUE, each 0-65535", s)
		}
		return Community(hi<<16 | lo), nil
	}
	if wk, ok := bgp.WellKnownCommunityValueMap[strings.ToLower(s)]; ok {
		return Community(wk), nil
	}
	return 0, fmt.Errorf("community %q: want ASN:VALUE or a well-known name (no-export, no-advertise, ...)", s)
}

// String is the community as ParseCommunity reads it: a name for the
// well-known ones of the reserved range 65535:x, ASN:VALUE otherwise.
func (c Community) String() string {
	if name, ok := bgp.WellKnownCommunityNameMap[bgp.WellKnownCommunity(c)]; ok && c>>16 == 0xffff {
		return name
	}
	return fmt.Sprintf("%d:%d", uint32(c)>>16, uint32(c)&0xffff)
}

// Validate reports every problem of the configuration at once, joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.LocalAS == 0 {
		bad("local AS must not be 0")
	}
	if !c.RouterID.Is4() || c.RouterID.IsUnspecified() {
		bad("router id %v: want an IPv4 address other than 0.0.0.0", c.RouterID)
	}
	if c.ListenPort > 65535 {
		bad("listen port %d: want at most 65535 (0 or less: do not listen)", c.ListenPort)
	}
	if c.CallTimeout < 0 {
		bad("call timeout %v: must not be negative", c.CallTimeout)
	}
	if len(c.Neighbors) == 0 {
		bad("no neighbour: the speaker would announce to nobody")
	}
	seen := map[netip.Addr]bool{}
	for _, n := range c.Neighbors {
		if !n.Addr.IsValid() || n.Addr.IsUnspecified() || n.Addr.Is4In6() || n.Addr.Zone() != "" {
			bad("neighbour %v: want an IPv4 or IPv6 address", n.Addr)
			continue
		}
		if seen[n.Addr] {
			bad("neighbour %v listed twice", n.Addr)
		}
		seen[n.Addr] = true
		if n.PeerAS == 0 {
			bad("neighbour %v: peer AS must not be 0", n.Addr)
		}
		switch {
		case n.HoldTime == 0:
		case n.HoldTime < MinHoldTime || n.HoldTime > maxHoldTime:
			bad("neighbour %v: hold time %v: want %v to %v", n.Addr, n.HoldTime, MinHoldTime, maxHoldTime)
		case n.HoldTime%time.Second != 0:
			bad("neighbour %v: hold time %v: BGP counts it in whole seconds", n.Addr, n.HoldTime)
		}
		if len(n.Password) > maxPasswordLen {
			bad("neighbour %v: password of %d bytes: TCP MD5 keys have at most %d", n.Addr, len(n.Password), maxPasswordLen)
		}
		if n.LocalAddr.IsValid() && n.LocalAddr.Is4() != n.Addr.Is4() {
			bad("neighbour %v: local address %v is of the other family", n.Addr, n.LocalAddr)
		}
		switch {
		case n.BFDInterval == 0:
		case n.BFDInterval < MinBFDInterval || n.BFDInterval > MaxBFDInterval:
			bad("neighbour %v: BFD interval %v: want %v to %v", n.Addr, n.BFDInterval, MinBFDInterval, MaxBFDInterval)
		case n.BFDInterval%time.Microsecond != 0:
			bad("neighbour %v: BFD interval %v: BFD counts it in whole microseconds", n.Addr, n.BFDInterval)
		}
		if n.BFDMultiplier != 0 && (n.BFDMultiplier < MinBFDMultiplier || n.BFDMultiplier > MaxBFDMultiplier) {
			bad("neighbour %v: BFD multiplier %d: want %d to %d", n.Addr, n.BFDMultiplier, MinBFDMultiplier, MaxBFDMultiplier)
		}
		if (n.BFDInterval != 0 || n.BFDMultiplier != 0) && !n.BFD {
			bad("neighbour %v: BFD interval or multiplier set, but BFD is off", n.Addr)
		}
		if n.Passive && c.ListenPort <= 0 {
			bad("neighbour %v: passive, but the speaker does not listen (listen port %d)", n.Addr, c.ListenPort)
		}
	}
	return errors.Join(errs...)
}

// hostPrefix checks that p is a single address, /32 or /128, and returns
// it masked.
func hostPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "" || p.Bits() != p.Addr().BitLen() {
		return netip.Prefix{}, fmt.Errorf("%w: %v", ErrNotHost, p)
	}
	return p.Masked(), nil
}
