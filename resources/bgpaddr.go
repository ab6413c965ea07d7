package resources

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"hbgo/conf"
)

// BGPaddr::VIP[/32|/128] is an anycast VIP: while its group runs the VIP
// sits on lo and its host route is announced by the daemon's BGP speaker;
// the routers spread flows over every director announcing it. Start puts
// the address on lo, then announces; Stop withdraws, waits BGPDrain for
// the routers to converge (flows already sent here are still served),
// then takes the address off lo.

// DefaultBGPDrain is how long a withdrawn anycast VIP stays on lo.
const DefaultBGPDrain = 500 * time.Millisecond

func init() {
	Register(conf.AgentBGPaddr, newBGPaddr)
}

// BGPaddrAgent is the agent of a BGPaddr resource.
type BGPaddrAgent struct {
	name   string
	prefix netip.Prefix
	env    Env
}

var errNoSpeaker = errors.New("no BGP speaker: ha.cf sets no bgp_as and bgp_neighbor")

func newBGPaddr(r conf.Resource, env Env) (Agent, error) {
	p, err := conf.ParseBGPaddrArgs(r.Args)
	if err != nil {
		return nil, err
	}
	return &BGPaddrAgent{name: ResourceName(r.Name, r.Args), prefix: p, env: env}, nil
}

// Name is the resource as haresources writes it.
func (a *BGPaddrAgent) Name() string { return a.name }

func (a *BGPaddrAgent) opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Resource: a.name, Op: op, Err: err}
}

// Start puts the VIP on lo and announces it.
func (a *BGPaddrAgent) Start(ctx context.Context) error {
	if a.env.BGP == nil {
		return a.opErr("start", errNoSpeaker)
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	if err := loAddr(a.prefix, true); err != nil {
		return a.opErr("start", err)
	}
	return a.opErr("start", a.env.BGP.Announce(ctx, a.prefix))
}

// Stop withdraws the route, waits the drain time, and takes the VIP off
// lo.
func (a *BGPaddrAgent) Stop(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if a.env.BGP != nil && slices.Contains(a.env.BGP.Announced(), a.prefix) {
		if err := a.env.BGP.Withdraw(ctx, a.prefix); err != nil {
			return a.opErr("stop", err)
		}
		drain := a.env.BGPDrain
		if drain == 0 {
			drain = DefaultBGPDrain
		}
		select {
		case <-time.After(drain):
		case <-ctx.Done():
			return a.opErr("stop", ctxErr(ctx))
		}
	}
	return a.opErr("stop", loAddr(a.prefix, false))
}

// Status is Running when the VIP is on lo and announced, Stopped when
// neither, Failed when only one of the two.
func (a *BGPaddrAgent) Status(ctx context.Context) (State, error) {
	on, err := loHas(a.prefix)
	if err != nil {
		return Unknown, a.opErr("status", err)
	}
	announced := a.env.BGP != nil && slices.Contains(a.env.BGP.Announced(), a.prefix)
	switch {
	case on && announced:
		return Running, nil
	case !on && !announced:
		return Stopped, nil
	}
	return Failed, nil
}
