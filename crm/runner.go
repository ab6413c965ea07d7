package crm

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Chain is a group's resources as the cluster drives them (resources.Chain
// satisfies it): Start starts them in order and rolls back on failure;
// Stop stops them in reverse and fails only if something is still running.
type Chain interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// runner drives one group's chain towards what the node wants, one
// operation at a time, and says what it does as a Claim.
type runner struct {
	name     string
	chain    Chain
	log      *slog.Logger
	node     string
	timeout  time.Duration
	onChange func()

	mu      sync.Mutex
	want    bool
	epoch   uint64
	claim   Claim
	tookAt  time.Time
	lastErr string
	swept   bool // the restart sweep is done (Settled waits for it)
	wake    chan struct{}
}

func newRunner(node, name string, chain Chain, timeout time.Duration, log *slog.Logger, onChange func()) *runner {
	return &runner{name: name, chain: chain, log: log, node: node, timeout: timeout, onChange: onChange, wake: make(chan struct{}, 1)}
}

// set says whether the group should run here, for epoch.
// The epoch only rises: it is the newest placement decision this node has
// seen for the group, and the claim carries it so the leader knows the
// node acted on that decision.
func (r *runner) set(want bool, epoch uint64) {
	r.mu.Lock()
	changed := r.want != want || epoch > r.epoch
	r.want = want
	if epoch > r.epoch {
		r.epoch = epoch
	}
	r.mu.Unlock()
	if changed {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// clearFailed forgets a failed start so the group may be tried here again.
func (r *runner) clearFailed() {
	r.mu.Lock()
	if r.claim.State == ClaimFailed {
		r.claim.State = ClaimStopped
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner) get() (Claim, time.Time, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.claim
	c.Epoch = r.epoch
	return c, r.tookAt, r.lastErr
}

func (r *runner) setClaim(s ClaimState) {
	r.mu.Lock()
	r.claim.State = s
	if s == ClaimStarting {
		r.tookAt = time.Now()
	}
	r.mu.Unlock()
	if r.onChange != nil {
		r.onChange()
	}
}

// preparer is a chain with resources that have an active state on a
// node that does not hold the group (resources.Chain: a backup sync
// daemon).
type preparer interface {
	Prepare(ctx context.Context) error
}

// sweeper is a chain that can find and stop what an earlier run of the
// daemon left running (resources.Chain).
type sweeper interface {
	Sweep(ctx context.Context, beforeStop func()) (found bool, err error)
}

// run is the runner's loop; it ends with ctx, stopping nothing (the node
// stops groups explicitly before it exits). It first sweeps what a former
// run left running, then prepares the group's standby state.
func (r *runner) run(ctx context.Context) {
	if sw, ok := r.chain.(sweeper); ok {
		r.sweep(ctx, sw)
	}
	r.mu.Lock()
	r.swept = true
	r.mu.Unlock()
	if p, ok := r.chain.(preparer); ok {
		pctx, cancel := context.WithTimeout(ctx, r.timeout)
		if err := p.Prepare(pctx); err != nil {
			r.log.Warn(fmt.Sprintf("Resource group %s: preparing the standby state failed: %v", r.name, err), "node", r.node, "group", r.name)
		}
		cancel()
	}
	for {
		r.mu.Lock()
		want, state := r.want, r.claim.State
		r.mu.Unlock()
		switch {
		case want && state == ClaimStopped:
			r.start(ctx)
			continue
		case !want && state.Holds():
			r.stop(ctx)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
	}
}

// sweep stops the group if anything of it runs here although this run of
// the daemon never started it: a daemon killed with -9 (or crashed) and
// started again must not keep a copy the cluster may have given to
// another node meanwhile. It claims "stopping" while it stops, so that no
// peer starts the group before the leftovers are gone, and retries until
// the stop succeeds, as stop does.
func (r *runner) sweep(ctx context.Context, sw sweeper) {
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, r.timeout)
		found, err := r.sweepOnce(sctx, sw)
		cancel()
		if err == nil {
			if found {
				r.log.Warn(fmt.Sprintf("Resource group %s was running here from a former run: stopped it", r.name), "node", r.node, "group", r.name)
				r.setClaim(ClaimStopped)
			}
			return
		}
		r.log.Error(fmt.Sprintf("CRITICAL: resource group %s: stopping what a former run left failed (attempt %d): %v", r.name, attempt, err), "node", r.node, "group", r.name)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt)*time.Second, 10*time.Second)):
		}
	}
}

// sweepOnce asks the chain whether anything runs; if so it claims
// "stopping" before stopping it.
func (r *runner) sweepOnce(ctx context.Context, sw sweeper) (bool, error) {
	return sw.Sweep(ctx, func() {
		r.mu.Lock()
		stopping := r.claim.State == ClaimStopping
		r.mu.Unlock()
		if !stopping {
			r.log.Warn(fmt.Sprintf("Resource group %s runs here, left by a former run: stopping it", r.name), "node", r.node, "group", r.name)
			r.setClaim(ClaimStopping)
		}
	})
}

func (r *runner) start(ctx context.Context) {
	r.setClaim(ClaimStarting)
	r.log.Info(fmt.Sprintf("Acquiring resource group: %s %s", r.node, r.name), "node", r.node, "group", r.name)
	sctx, cancel := context.WithTimeout(ctx, r.timeout)
	err := r.chain.Start(sctx)
	cancel()
	if err != nil {
		r.mu.Lock()
		r.lastErr = err.Error()
		r.mu.Unlock()
		r.log.Error(fmt.Sprintf("Resource group %s failed to start on %s: %v", r.name, r.node, err), "node", r.node, "group", r.name)
		r.setClaim(ClaimFailed)
		return
	}
	r.log.Info(fmt.Sprintf("Resource group %s running on %s", r.name, r.node), "node", r.node, "group", r.name)
	r.setClaim(ClaimRunning)
}

// stop stops the group and retries until it is stopped: a node must not
// say it released a group (its VIP) it still holds.
func (r *runner) stop(ctx context.Context) {
	r.setClaim(ClaimStopping)
	r.log.Info(fmt.Sprintf("Releasing resource group: %s %s", r.node, r.name), "node", r.node, "group", r.name)
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
		err := r.chain.Stop(sctx)
		cancel()
		if err == nil {
			break
		}
		r.mu.Lock()
		r.lastErr = err.Error()
		r.mu.Unlock()
		r.log.Error(fmt.Sprintf("CRITICAL: resource group %s failed to stop on %s (attempt %d): %v", r.name, r.node, attempt, err), "node", r.node, "group", r.name)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt)*time.Second, 10*time.Second)):
		}
	}
	r.log.Info(fmt.Sprintf("Resource group %s stopped on %s", r.name, r.node), "node", r.node, "group", r.name)
	r.setClaim(ClaimStopped)
}

// waitStopped asks the group to stop and waits until it no longer holds
// it here (shutdown, lease loss).
func (r *runner) waitStopped(ctx context.Context) error {
	r.set(false, 0)
	for {
		c, _, _ := r.get()
		if !c.State.Holds() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s still %s: %w", r.name, c.State, ErrTimeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// announcer is a chain whose resources can tell the network again where
// they are (resources.Chain: gratuitous ARP, neighbour advertisements).
type announcer interface {
	Announce(ctx context.Context) error
}

// announce re-announces the group if it runs here; it does not wait.
func (r *runner) announce(ctx context.Context) {
	an, ok := r.chain.(announcer)
	if !ok {
		return
	}
	r.mu.Lock()
	running := r.claim.State == ClaimRunning
	r.mu.Unlock()
	if !running {
		return
	}
	go func() {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := an.Announce(actx); err != nil {
			r.log.Warn(fmt.Sprintf("Resource group %s: announcing again failed: %v", r.name, err), "node", r.node, "group", r.name)
		}
	}()
}
