package resources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"hbgo/conf"
)

// Defaults of a chain's stop retries: the first retry waits
// DefaultStopBackoff, each next one twice as long. (Heartbeat retried a
// failed stop up to 10 times, a second apart, then rebooted the node.)
const (
	DefaultStopAttempts = 3
	DefaultStopBackoff  = time.Second
)

// Chain runs the resources of one haresources group in order: started
// left to right, stopped right to left. One operation runs at a time;
// the methods are safe for concurrent use and wait for each other.
//
// A failed start stops the whole group again, right to left (resources
// that never started are stopped too, which is a no-op for them unless
// something else started them), and returns a *StartError: the node does
// not hold any of a group it failed to start, so the group can be placed
// elsewhere.
//
// A failed stop is retried. When a resource still will not stop, Stop
// stops there and returns a *StopError listing what the node still
// holds: the resource that will not stop and every resource left of it,
// which it does not try to stop. Releasing the addresses left of a
// service that is still running would invite the peer to take the group
// while this node still runs part of it. The caller must not hand the
// group over while Stop fails.
type Chain struct {
	mu     sync.Mutex
	name   string
	agents []Agent
	log    *slog.Logger
	cfg    chainConfig
}

type chainConfig struct {
	stopAttempts int
	stopBackoff  time.Duration
	sleep        func(ctx context.Context, d time.Duration) error
	observer     Observer
}

// ChainOption tunes a Chain.
type ChainOption func(*chainConfig)

// WithStopRetry sets how many times a resource's stop is tried in all,
// and the wait before the first retry, doubled before each next one.
func WithStopRetry(attempts int, backoff time.Duration) ChainOption {
	return func(c *chainConfig) {
		c.stopAttempts = max(attempts, 1)
		c.stopBackoff = max(backoff, 0)
	}
}

// WithSleep replaces the wait between stop retries (for tests); sleep
// returns early with an error when ctx is done.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) ChainOption {
	return func(c *chainConfig) { c.sleep = sleep }
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewChain makes the agents of a group resolved by conf.ResolveResources.
// The error lists every resource that has no agent.
func NewChain(g conf.ResourceGroup, env Env, opts ...ChainOption) (*Chain, error) {
	agents := make([]Agent, 0, len(g.Resources))
	var errs []error
	for _, r := range g.Resources {
		a, err := New(r, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		agents = append(agents, a)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("group %s: %w", g.Name, errors.Join(errs...))
	}
	return NewChainOf(g.Name, agents, env.Logger, opts...), nil
}

// NewChainOf makes a chain of agents already made, named name.
func NewChainOf(name string, agents []Agent, logger *slog.Logger, opts ...ChainOption) *Chain {
	cfg := chainConfig{stopAttempts: DefaultStopAttempts, stopBackoff: DefaultStopBackoff, sleep: sleepCtx}
	for _, o := range opts {
		o(&cfg)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Chain{name: name, agents: append([]Agent(nil), agents...), log: logger, cfg: cfg}
}

// Name is the group's name: its first resource as written.
func (c *Chain) Name() string { return c.name }

// Resources are the names of the group's resources, left to right.
func (c *Chain) Resources() []string {
	names := make([]string, len(c.agents))
	for i, a := range c.agents {
		names[i] = a.Name()
	}
	return names
}

// StartError is a failed start of a group.
type StartError struct {
	Group    string
	Resource string // the resource that failed to start
	Err      error  // its error
	// RolledBack says the group was stopped again; if not, RollbackErr
	// (a *StopError) says what the node still holds.
	RolledBack  bool
	RollbackErr error
}

func (e *StartError) Error() string {
	s := "group " + e.Group + ": " + e.Err.Error()
	if e.RolledBack {
		return s + "; stopped the group again"
	}
	return s + "; then failed to stop the group again: " + e.RollbackErr.Error()
}

func (e *StartError) Unwrap() []error {
	if e.RollbackErr == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.RollbackErr}
}

// StopError is a stop of a group that left part of it held.
type StopError struct {
	Group    string
	Resource string // the resource that would not stop
	Attempts int    // how many times its stop was tried
	Err      error  // its last error
	// Held are the resources the node still holds, or does not know to
	// be stopped, left to right: Resource and all left of it.
	Held []string
}

func (e *StopError) Error() string {
	return fmt.Sprintf("group %s: %v (tried %d times); still held: %s",
		e.Group, e.Err, e.Attempts, strings.Join(e.Held, " "))
}

func (e *StopError) Unwrap() error { return e.Err }

// Start starts the group left to right; see Chain for what a failure
// does. The stop after a failed start runs even when ctx is done, bounded
// by the agents' own timeouts.
func (c *Chain) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log.Info("Acquiring resource group "+c.name+".", "group", c.name)
	for _, a := range c.agents {
		err := c.observe(a, "start", func() error { return a.Start(ctx) })
		if err == nil {
			continue
		}
		c.log.Error("Giving up resource group "+c.name+": "+a.Name()+" failed to start.",
			"group", c.name, "resource", a.Name(), "err", err)
		serr := &StartError{Group: c.name, Resource: a.Name(), Err: err}
		serr.RollbackErr = c.stopFrom(context.WithoutCancel(ctx), len(c.agents)-1)
		serr.RolledBack = serr.RollbackErr == nil
		return serr
	}
	c.log.Info("Resource group "+c.name+" started.", "group", c.name)
	return nil
}

// Stop stops the group right to left; see Chain for what a failure does.
// The error is a *StopError.
func (c *Chain) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log.Info("Releasing resource group "+c.name+".", "group", c.name)
	if err := c.stopFrom(ctx, len(c.agents)-1); err != nil {
		return err
	}
	c.log.Info("Resource group "+c.name+" stopped.", "group", c.name)
	return nil
}

// stopFrom stops agents last..0; it returns nil or a *StopError.
func (c *Chain) stopFrom(ctx context.Context, last int) error {
	for i := last; i >= 0; i-- {
		a := c.agents[i]
		attempts, err := c.stopOne(ctx, a)
		if err == nil {
			continue
		}
		held := c.Resources()[:i+1]
		c.log.Error("Resource group "+c.name+" is still held: "+a.Name()+" will not stop; "+
			"it must not move to another node.",
			"group", c.name, "resource", a.Name(), "held", strings.Join(held, " "), "err", err)
		return &StopError{Group: c.name, Resource: a.Name(), Attempts: attempts, Err: err, Held: held}
	}
	return nil
}

// stopOne stops a, retrying; it returns the number of tries.
func (c *Chain) stopOne(ctx context.Context, a Agent) (int, error) {
	wait := c.cfg.stopBackoff
	for attempt := 1; ; attempt++ {
		err := c.observe(a, "stop", func() error { return a.Stop(ctx) })
		if err == nil {
			if attempt > 1 {
				c.log.Warn(fmt.Sprintf("Resource %s stopped at attempt %d.", a.Name(), attempt),
					"group", c.name, "resource", a.Name())
			}
			return attempt, nil
		}
		if attempt >= c.cfg.stopAttempts || ctx.Err() != nil {
			return attempt, err
		}
		c.log.Error(fmt.Sprintf("Resource %s failed to stop (attempt %d of %d); retrying in %s.",
			a.Name(), attempt, c.cfg.stopAttempts, wait),
			"group", c.name, "resource", a.Name(), "err", err)
		if c.cfg.sleep(ctx, wait) != nil {
			return attempt, err
		}
		wait *= 2
	}
}

// ResourceStatus is the state of one resource of a group.
type ResourceStatus struct {
	Resource string
	State    State
	Err      error // why the state is Unknown
}

// GroupStatus is the state of a group on this node.
type GroupStatus struct {
	Group string
	// State is Running when every resource runs, Stopped when none does
	// and none failed, Unknown when a status could not be found out, and
	// Failed otherwise: the node holds part of the group, or a resource
	// failed; the group must be stopped before another node takes it.
	State     State
	Resources []ResourceStatus // left to right
}

// Status asks every resource for its state. The error joins the
// resources' errors; the GroupStatus is complete either way.
func (c *Chain) Status(ctx context.Context) (GroupStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gs := GroupStatus{Group: c.name, Resources: make([]ResourceStatus, len(c.agents))}
	count := map[State]int{}
	var errs []error
	for i, a := range c.agents {
		st, err := a.Status(ctx)
		if err != nil {
			st = Unknown
			errs = append(errs, err)
		}
		gs.Resources[i] = ResourceStatus{Resource: a.Name(), State: st, Err: err}
		count[st]++
	}
	n := len(c.agents)
	switch {
	case count[Running] == n:
		gs.State = Running
	case count[Stopped] == n:
		gs.State = Stopped
	case count[Unknown] > 0:
		gs.State = Unknown
	default:
		gs.State = Failed
	}
	if len(errs) > 0 {
		return gs, fmt.Errorf("group %s status: %w", c.name, errors.Join(errs...))
	}
	return gs, nil
}

// Sweep finds whether anything of the group runs here and, if so, calls
// beforeStop and stops the whole group (in reverse order; agents are
// idempotent). The daemon sweeps every group when it starts, before it
// joins: what runs here then was left by a former run (killed with -9,
// crashed), and the cluster may have given it to another node meanwhile.
// A status that cannot be found out counts as running.
func (c *Chain) Sweep(ctx context.Context, beforeStop func()) (found bool, err error) {
	gs, serr := c.Status(ctx)
	if serr == nil && gs.State == Stopped {
		return false, nil
	}
	if beforeStop != nil {
		beforeStop()
	}
	if err := c.Stop(ctx); err != nil {
		return true, err
	}
	return true, nil
}

// Announce asks every running resource of the group that announces
// itself (an Announcer) to do it again, left to right; it returns the
// agents' errors joined.
func (c *Chain) Announce(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, a := range c.agents {
		if an, ok := a.(Announcer); ok {
			if err := an.Announce(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Prepare asks every agent that is a Preparer to bring its resource to
// the state of a node that does not hold the group; it returns their
// errors joined.
func (c *Chain) Prepare(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, a := range c.agents {
		if p, ok := a.(Preparer); ok {
			if err := p.Prepare(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
