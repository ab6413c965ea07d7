package resources

import (
	"context"

	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"hbgo/conf"
)

func init() {
	Register(conf.AgentSendArp, newSendArp)
}

// SendArpAgent is the agent of SendArp::ADDR/IFACE: it announces ADDR on
// IFACE with gratuitous ARP without adding the address, for an address
// that something else brings up (Heartbeat's SendArp resource). Start
// sends the burst, and the refreshes when arp_refresh is set; Stop stops
// them; Status is Running between the two.
type SendArpAgent struct {
	name  string
	addr  netip.Addr
	iface string
	env   Env
	log   *slog.Logger

	mu  sync.Mutex
	ann *announcer // nil when stopped
}

func newSendArp(r conf.Resource, env Env) (Agent, error) {
	s, err := conf.ParseSendArpArgs(r.Args)
	if err != nil {
		return nil, err
	}
	name := ResourceName(r.Name, r.Args)
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SendArpAgent{name: name, addr: s.Addr, iface: s.Iface, env: env, log: log.With("resource", name)}, nil
}

// Name is the resource as haresources writes it.
func (a *SendArpAgent) Name() string { return a.name }

func (a *SendArpAgent) opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Resource: a.name, Op: op, Err: err}
}

// Start sends the first round of gratuitous ARP and returns; the rest of
// the burst and the refreshes go on in the background. On a started
// resource it does nothing.
func (a *SendArpAgent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ann != nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return a.opErr("start", err)
	}
	ifi, err := net.InterfaceByName(a.iface)
	if err != nil {
		return a.opErr("start", fmt.Errorf("interface %s: %w", a.iface, err))
	}
	w, mac, err := openFrameWriter(ifi.Index)
	if err != nil {
		return a.opErr("start", err)
	}
	ann := newAnnouncer(w, [][]byte{garpFrame(arpRequest, mac, a.addr), garpFrame(arpReply, mac, a.addr)}, a.env.Announce, nil, a.log)
	if err := ann.Burst(); err != nil {
		_ = ann.Close()
		return a.opErr("start", fmt.Errorf("gratuitous ARP on %s: %w", a.iface, err))
	}
	a.ann = ann
	return nil
}

// Stop stops the burst and the refreshes.
func (a *SendArpAgent) Stop(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ann == nil {
		return nil
	}
	err := a.ann.Close()
	a.ann = nil
	return a.opErr("stop", err)
}

// Status is Running between Start and Stop, else Stopped.
func (a *SendArpAgent) Status(context.Context) (State, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ann != nil {
		return Running, nil
	}
	return Stopped, nil
}

// Announce sends the burst again if started.
func (a *SendArpAgent) Announce(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ann == nil {
		return nil
	}
	return a.opErr("announce", a.ann.Burst())
}

var _ Announcer = (*SendArpAgent)(nil)
var _ Announcer = (*VIPAgent)(nil)
