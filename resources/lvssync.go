package resources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"hbgo/conf"
	"hbgo/lvs"
)

// LVSSyncOptions say where LVSSyncDaemonSwap runs the IPVS
// connection-sync daemons.
type LVSSyncOptions struct {
	// Interface is the multicast interface of the daemons
	// (ipvsadm --mcast-interface); "" is eth0, ipvsadm's default, which
	// Heartbeat's script relied on.
	Interface string
	// SyncID is the daemons' sync id (ipvsadm --syncid); directors of
	// one pair share it, other pairs on the segment use others.
	SyncID uint8
	// Daemons is the IPVS table whose daemons are swapped; nil opens the
	// kernel's table of the daemon's own network namespace.
	Daemons lvs.SyncDaemons
	// Timeout bounds each call when the caller's context has no
	// deadline; 0 is 10s.
	Timeout time.Duration
}

func init() {
	Register(conf.AgentLVSSyncDaemonSwap, func(res conf.Resource, env Env) (Agent, error) {
		role, err := conf.ParseLVSSyncDaemonSwapArgs(res.Args)
		if err != nil {
			return nil, err
		}
		if role == "both" {
			return NewLVSSyncBoth(ResourceName(res.Name, res.Args), env), nil
		}
		return NewLVSSync(ResourceName(res.Name, res.Args), lvs.SyncState(role), env), nil
	})
}

// NewLVSSyncBoth makes the agent of LVSSyncDaemonSwap::both, for anycast
// groups, where every director is active at once: while the group runs,
// this director's master daemon sends its connections and its backup
// daemon takes the other directors', so that a flow the routers move here
// (a director lost) finds its connection, and its real server, even where
// mh alone would pick another (weights changed, a server added). Start
// starts both, stop stops both, status is Running with both, Stopped with
// neither, Failed with one.
func NewLVSSyncBoth(name string, env Env) *LVSSync {
	a := NewLVSSync(name, lvs.SyncMaster, env)
	a.both = true
	return a
}

// LVSSync is the agent of LVSSyncDaemonSwap::master and ::backup, as
// Heartbeat's script of that name: the argument is the role of this
// node's IPVS connection-sync daemon while it holds the group, the other
// role runs while it does not. So with ::master,
//
//   - start stops the backup daemon and starts the master: the active
//     director sends its connections to the standby;
//   - stop stops the master and starts the backup: the standby director
//     receives them, so a takeover finds them in its table;
//   - status is Running while the master daemon runs, Stopped otherwise.
//
// Each step is idempotent: a daemon already stopped or already running
// (with the same interface and sync id) is left as it is; one running
// with other settings is restarted. The kernel sometimes loses its reply
// when daemons start and stop in quick succession; a request that times
// out is checked against the daemons the kernel lists.
type LVSSync struct {
	name    string
	role    lvs.SyncState
	other   lvs.SyncState
	opts    LVSSyncOptions
	log     *slog.Logger
	mu      sync.Mutex
	daemons lvs.SyncDaemons
	both    bool // ::both: master and backup together (NewLVSSyncBoth)
}

// NewLVSSync makes the agent of one LVSSyncDaemonSwap resource; name is
// the resource as haresources writes it, role master or backup.
func NewLVSSync(name string, role lvs.SyncState, env Env) *LVSSync {
	a := &LVSSync{name: name, role: role, other: lvs.SyncBackup, opts: env.LVSSync, log: env.Logger, daemons: env.LVSSync.Daemons}
	if role == lvs.SyncBackup {
		a.other = lvs.SyncMaster
	}
	if a.opts.Interface == "" {
		a.opts.Interface = "eth0"
	}
	if a.opts.Timeout <= 0 {
		a.opts.Timeout = 10 * time.Second
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

func (a *LVSSync) Name() string { return a.name }

func (a *LVSSync) opErr(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, lvs.ErrTimeout) {
		err = fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return &OpError{Resource: a.name, Op: op, Err: err}
}

// table returns the daemons' controller, opening the kernel's on first use.
func (a *LVSSync) table() (lvs.SyncDaemons, error) {
	if a.daemons != nil {
		return a.daemons, nil
	}
	k, err := lvs.OpenKernel("")
	if err != nil {
		return nil, err
	}
	a.daemons = k
	return k, nil
}

func (a *LVSSync) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.opts.Timeout)
}

// Start stops the other role's daemon and starts this one's (::both:
// starts both).
func (a *LVSSync) Start(ctx context.Context) error {
	if a.both {
		if err := a.setBoth(ctx, true); err != nil {
			return a.opErr("start", err)
		}
		return nil
	}
	if err := a.swap(ctx, a.other, a.role); err != nil {
		return a.opErr("start", err)
	}
	return nil
}

// Stop stops this role's daemon and starts the other's (::both: stops
// both).
func (a *LVSSync) Stop(ctx context.Context) error {
	if a.both {
		if err := a.setBoth(ctx, false); err != nil {
			return a.opErr("stop", err)
		}
		return nil
	}
	if err := a.swap(ctx, a.role, a.other); err != nil {
		return a.opErr("stop", err)
	}
	return nil
}

// Status is Running while this role's daemon runs.
func (a *LVSSync) Status(ctx context.Context) (State, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := a.bound(ctx)
	defer cancel()
	t, err := a.table()
	if err != nil {
		return Unknown, a.opErr("status", err)
	}
	ds, err := t.ListSyncDaemons(ctx)
	if err != nil {
		return Unknown, a.opErr("status", err)
	}
	if a.both {
		n := 0
		for _, d := range ds {
			if d.State == lvs.SyncMaster || d.State == lvs.SyncBackup {
				n++
			}
		}
		switch n {
		case 0:
			return Stopped, nil
		case 2:
			return Running, nil
		}
		return Failed, nil
	}
	for _, d := range ds {
		if d.State == a.role {
			return Running, nil
		}
	}
	return Stopped, nil
}

// setBoth starts (on) or stops both roles' daemons; one already so is
// left alone, one running with other settings is restarted.
func (a *LVSSync) setBoth(ctx context.Context, on bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := a.bound(ctx)
	defer cancel()
	t, err := a.table()
	if err != nil {
		return err
	}
	running, err := t.ListSyncDaemons(ctx)
	if err != nil {
		return err
	}
	for _, role := range []lvs.SyncState{lvs.SyncMaster, lvs.SyncBackup} {
		want := lvs.SyncDaemon{State: role, Interface: a.opts.Interface, SyncID: a.opts.SyncID}
		var cur *lvs.SyncDaemon
		for i := range running {
			if running[i].State == role {
				cur = &running[i]
			}
		}
		if cur != nil && (!on || *cur != want) {
			if err := a.stopOne(ctx, t, role); err != nil {
				return err
			}
			cur = nil
		}
		if !on || cur != nil {
			continue
		}
		err := t.StartSyncDaemon(ctx, want)
		if errors.Is(err, lvs.ErrTimeout) && a.holds(ctx, t, role, true) {
			err = nil
		}
		if err != nil {
			return err
		}
		a.log.Info("LVSSyncDaemonSwap: started "+want.String(), "resource", a.name)
	}
	return nil
}

func (a *LVSSync) swap(ctx context.Context, stop, start lvs.SyncState) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := a.bound(ctx)
	defer cancel()
	t, err := a.table()
	if err != nil {
		return err
	}
	want := lvs.SyncDaemon{State: start, Interface: a.opts.Interface, SyncID: a.opts.SyncID}
	running, err := t.ListSyncDaemons(ctx)
	if err != nil {
		return err
	}
	var cur *lvs.SyncDaemon
	stopRunning := false
	for i, d := range running {
		switch d.State {
		case stop:
			stopRunning = true
		case start:
			cur = &running[i]
		}
	}
	if stopRunning {
		if err := a.stopOne(ctx, t, stop); err != nil {
			return err
		}
	}
	if cur != nil && *cur == want {
		return nil
	}
	if cur != nil {
		a.log.Info("LVSSyncDaemonSwap: restarting sync daemon with new settings", "resource", a.name, "was", cur.String(), "now", want.String())
		if err := a.stopOne(ctx, t, start); err != nil {
			return err
		}
	}
	err = t.StartSyncDaemon(ctx, want)
	if errors.Is(err, lvs.ErrTimeout) && a.holds(ctx, t, start, true) {
		err = nil
	}
	if err != nil {
		return err
	}
	a.log.Info("LVSSyncDaemonSwap: started "+want.String(), "resource", a.name)
	return nil
}

func (a *LVSSync) stopOne(ctx context.Context, t lvs.SyncDaemons, s lvs.SyncState) error {
	err := t.StopSyncDaemon(ctx, s)
	switch {
	case errors.Is(err, lvs.ErrSyncNotRunning):
		return nil
	case errors.Is(err, lvs.ErrTimeout) && a.holds(ctx, t, s, false):
		return nil
	case err != nil:
		return err
	}
	a.log.Info("LVSSyncDaemonSwap: stopped "+string(s)+" sync daemon", "resource", a.name)
	return nil
}

// holds reports whether the daemon of role s is running (running true)
// or not (false), as the kernel lists them after a request timed out.
func (a *LVSSync) holds(ctx context.Context, t lvs.SyncDaemons, s lvs.SyncState, running bool) bool {
	ds, err := t.ListSyncDaemons(ctx)
	if err != nil {
		return false
	}
	for _, d := range ds {
		if d.State == s {
			return running
		}
	}
	return !running
}

// Prepare starts the other role's daemon (the backup, for a master
// resource) when no sync daemon runs at all: a standby that never held
// the group receives the master's connections from the start. A daemon
// already running in either role is left as it is (a restarted owner
// keeps its master).
func (a *LVSSync) Prepare(ctx context.Context) error {
	if a.both {
		return nil // nothing runs while an anycast group does not
	}
	a.mu.Lock()
	bctx, cancel := a.bound(ctx)
	t, err := a.table()
	var running []lvs.SyncDaemon
	if err == nil {
		running, err = t.ListSyncDaemons(bctx)
	}
	cancel()
	a.mu.Unlock()
	if err != nil {
		return a.opErr("prepare", err)
	}
	if len(running) > 0 {
		return nil
	}
	if err := a.swap(ctx, a.role, a.other); err != nil {
		return a.opErr("prepare", err)
	}
	return nil
}
