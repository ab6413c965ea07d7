package resources

import (
	"log/slog"
	"net/netip"
	"sync"

	"hbgo/conf"
)

func init() {
	Register(conf.AgentIPsrcaddr, newIPsrcaddr)
}

// IPsrcaddrAgent is the agent of IPsrcaddr::ADDR[/PREFIX]: it makes ADDR
// the preferred source address of the default route(s) of the main
// table, so that connections the node opens leave from the VIP, and puts
// back the source each route had on stop. ADDR must be on the host
// already (an IPaddr earlier in the group). PREFIX is accepted as
// Heartbeat's IPsrcaddr took it and not used.
type IPsrcaddrAgent struct {
	name string
	addr netip.Addr
	env  Env
	log  *slog.Logger

	mu   sync.Mutex
	prev map[srcRouteKey]netip.Addr // a default route's source before Start; invalid: none
}

func newIPsrcaddr(r conf.Resource, env Env) (Agent, error) {
	s, err := conf.ParseIPsrcaddrArgs(r.Args)
	if err != nil {
		return nil, err
	}
	name := ResourceName(r.Name, r.Args)
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &IPsrcaddrAgent{name: name, addr: s.Addr, env: env, log: log.With("resource", name)}, nil
}

// srcRouteKey tells the default routes of a table apart.
type srcRouteKey struct {
	gw       netip.Addr
	link     int
	priority int
}

// Name is the resource as haresources writes it.
func (a *IPsrcaddrAgent) Name() string { return a.name }

func (a *IPsrcaddrAgent) opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Resource: a.name, Op: op, Err: err}
}
