package resources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
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

// DefaultBGPHealthEvery is how often a running anycast VIP asks whether
// its ldirectors still have a real server up for it.
const DefaultBGPHealthEvery = time.Second

func init() {
	Register(conf.AgentBGPaddr, newBGPaddr)
}

// BGPaddrAgent is the agent of a BGPaddr resource. While it runs, a
// watcher withdraws the route when no ldirector of this director has a
// real server up (or a fallback) for the VIP, and announces it again when
// one comes back: a director that could only drop its clients' flows
// takes itself out of the routers' ECMP.
type BGPaddrAgent struct {
	name   string
	prefix netip.Prefix
	env    Env

	mu     sync.Mutex
	watch  context.CancelFunc // the running watcher; nil when stopped
	done   chan struct{}
	unheld atomic.Bool // withdrawn by the watcher: no real server up
	logger *slog.Logger
}

var errNoSpeaker = errors.New("no BGP speaker: ha.cf sets no bgp_as and bgp_neighbor")

func newBGPaddr(r conf.Resource, env Env) (Agent, error) {
	p, err := conf.ParseBGPaddrArgs(r.Args)
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &BGPaddrAgent{name: ResourceName(r.Name, r.Args), prefix: p, env: env, logger: log}, nil
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
	if err := AnycastSysctls(); err != nil {
		a.logger.Warn(fmt.Sprintf("%s: %v: flows another director began may be dropped here", a.name, err))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.watch == nil {
		if a.served() {
			a.unheld.Store(false)
			if err := a.env.BGP.Announce(ctx, a.prefix); err != nil {
				return a.opErr("start", err)
			}
		} else {
			a.unheld.Store(true)
			a.logger.Warn(fmt.Sprintf("%s: no real server up for %s: not announced until one is", a.name, a.prefix.Addr()))
		}
		if a.env.VIPServed != nil {
			wctx, cancel := context.WithCancel(context.Background())
			a.watch, a.done = cancel, make(chan struct{})
			go a.watchHealth(wctx, a.done)
		} else {
			a.watch = func() {}
		}
	}
	return nil
}

// served: no ldirector knows the VIP, or one has a real server up.
func (a *BGPaddrAgent) served() bool {
	if a.env.VIPServed == nil {
		return true
	}
	served, known := a.env.VIPServed(a.prefix.Addr())
	return served || !known
}

// watchHealth announces and withdraws the route as the VIP's real
// servers come and go, until ctx ends.
func (a *BGPaddrAgent) watchHealth(ctx context.Context, done chan struct{}) {
	defer close(done)
	every := a.env.BGPHealthEvery
	if every == 0 {
		every = DefaultBGPHealthEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok := a.served()
		if ok == !a.unheld.Load() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		if ok {
			err = a.env.BGP.Announce(cctx, a.prefix)
			if err == nil {
				a.unheld.Store(false)
				a.logger.Info(fmt.Sprintf("%s: a real server is up for %s again: announced", a.name, a.prefix.Addr()))
			}
		} else {
			err = a.env.BGP.Withdraw(cctx, a.prefix)
			if err == nil {
				a.unheld.Store(true)
				a.logger.Warn(fmt.Sprintf("%s: no real server up for %s: withdrawn (the routers send its flows to the other directors)", a.name, a.prefix.Addr()))
			}
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			a.logger.Warn(fmt.Sprintf("%s: %v", a.name, err))
		}
	}
}

// Stop withdraws the route, waits the drain time, and takes the VIP off
// lo.
func (a *BGPaddrAgent) Stop(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	a.mu.Lock()
	if a.watch != nil {
		a.watch()
		if a.done != nil {
			<-a.done
		}
		a.watch, a.done = nil, nil
	}
	a.mu.Unlock()
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
	a.unheld.Store(false)
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
	if on && a.unheld.Load() {
		// Held, and withdrawn while no real server is up.
		return Running, nil
	}
	switch {
	case on && announced:
		return Running, nil
	case !on && !announced:
		return Stopped, nil
	}
	return Failed, nil
}
