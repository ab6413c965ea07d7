package resources

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"hbgo/conf"
)

// DefaultVIPTimeout bounds each call of a VIP agent whose context has no
// deadline: adding an address and sending the first frame take
// milliseconds, so a call that takes this long is stuck.
const DefaultVIPTimeout = 10 * time.Second

func init() {
	Register(conf.AgentIPaddr, func(r conf.Resource, env Env) (Agent, error) { return newIPaddr(r, env, vipIPaddr) })
	Register(conf.AgentIPaddr2, func(r conf.Resource, env Env) (Agent, error) { return newIPaddr(r, env, vipIPaddr2) })
	Register(conf.AgentIPv6addr, newIPv6addr)
}

// vipKind tells the three address agents apart.
type vipKind int

const (
	vipIPaddr  vipKind = iota // IPv4, labelled IFACE:N
	vipIPaddr2                // IPv4, no label unless IFACE carries one
	vipIPv6addr
)

// VIPAgent is the agent of IPaddr, IPaddr2 and IPv6addr: one address on
// this node, announced when it comes up.
//
//	IPaddr::ADDR[/PREFIX[/IFACE[/BROADCAST]]]
//	IPaddr2::ADDR[/PREFIX[/IFACE[/BROADCAST]]]
//	IPv6addr::ADDR[/PREFIX[/IFACE]]
//
// Without IFACE the interface is the one whose connected route holds
// ADDR (the longest such prefix); without PREFIX the prefix is that
// route's, as Heartbeat's findif chose them. IPaddr labels the address
// IFACE:N, N the first number free on the interface, so ifconfig shows
// it as Heartbeat's IPaddr did; IPaddr2 labels it only when IFACE carries
// a label (eth0:vip). IPv4 broadcast is computed unless given. IPv6
// addresses are added without duplicate address detection (nodad), so
// they serve at once.
//
// With a lease (Env.Lease) the address carries a kernel lifetime and an
// nftables gate darkens it once the lease runs out, so a node whose
// daemon died loses the VIP without any process acting; see
// docs/resources.md.
type VIPAgent struct {
	name   string
	kind   vipKind
	addr   netip.Addr
	prefix int    // -1: from the route
	iface  string // "" or IFACE or IFACE:LABEL
	bcast  netip.Addr
	env    Env
	log    *slog.Logger

	mu  sync.Mutex
	run *vipRun // what Start set going; nil when stopped in this process
}

func newIPaddr(r conf.Resource, env Env, kind vipKind) (Agent, error) {
	s, err := conf.ParseIPaddrArgs(r.Args)
	if err != nil {
		return nil, err
	}
	return newVIPAgent(r, env, kind, s.Addr, s.Prefix, s.Iface, s.Broadcast), nil
}

func newIPv6addr(r conf.Resource, env Env) (Agent, error) {
	s, err := conf.ParseIPv6addrArgs(r.Args)
	if err != nil {
		return nil, err
	}
	return newVIPAgent(r, env, vipIPv6addr, s.Addr, s.Prefix, s.Iface, netip.Addr{}), nil
}

func newVIPAgent(r conf.Resource, env Env, kind vipKind, addr netip.Addr, prefix int, iface string, bcast netip.Addr) *VIPAgent {
	name := ResourceName(r.Name, r.Args)
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &VIPAgent{
		name: name, kind: kind, addr: addr, prefix: prefix, iface: iface, bcast: bcast,
		env: env, log: log.With("resource", name),
	}
}

// Name is the resource as haresources writes it.
func (a *VIPAgent) Name() string { return a.name }

// Addr is the address the agent holds.
func (a *VIPAgent) Addr() netip.Addr { return a.addr }

func (a *VIPAgent) opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Resource: a.name, Op: op, Err: err}
}

// bounded gives ctx the agent's default bound when it has none.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultVIPTimeout)
}

// ctxErr turns a done context into the contract's timeout error.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		if err == context.DeadlineExceeded {
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return err
	}
	return nil
}

// ifaceDevice is the device part of IFACE[:LABEL].
func ifaceDevice(iface string) string {
	dev, _, _ := strings.Cut(iface, ":")
	return dev
}

// broadcastOf is the broadcast address of p: every host bit set. A /31
// or /32 has none (RFC 3021).
func broadcastOf(p netip.Prefix) netip.Addr {
	if !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Addr{}
	}
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= math.MaxUint32 >> p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// freeLabel is the label IPaddr gives a new address on dev: dev:N with
// the lowest N no address of dev is labelled with.
func freeLabel(dev string, used []string) string {
	for n := 0; ; n++ {
		l := dev + ":" + strconv.Itoa(n)
		if !slices.Contains(used, l) {
			return l
		}
	}
}

// addrLifetime is the kernel lifetime, in whole seconds, of an address
// whose lease has left left: rounded up, and one second more, so that
// the address outlives the lease and the gate is what darkens it first.
func addrLifetime(left time.Duration) int {
	return int(math.Ceil(left.Seconds())) + 1
}

// renewEvery is how often a held VIP renews from its lease: a quarter of
// the lease left when it started, at most 100 ms, at least 10 ms.
func renewEvery(left time.Duration) time.Duration {
	return min(max(left/4, 10*time.Millisecond), 100*time.Millisecond)
}

// addrRenewBelow: the address lifetime is renewed once less than this
// is left of it.
const addrRenewBelow = 1500 * time.Millisecond
