package ldirector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"hbgo/conf"
	"hbgo/ldirector/alert"
	"hbgo/lvs"
)

// Options are what a Director needs besides its configuration.
type Options struct {
	// Table is the IPVS table the Director programs.
	Table lvs.Table
	// Logger receives the operator's log lines ("Added real server: ...");
	// nil logs to slog.Default().
	Logger *slog.Logger
	// Hostname is this node's name, for checks that log in with it.
	Hostname string
	// DryRun, when not nil, receives every table change as the ipvsadm
	// command that makes it, one a line: "TIMESTAMP -a -t ...".
	DryRun io.Writer
	// Now is the clock of log and status times; nil is time.Now.
	Now func() time.Time
	// OnCheck, when set, hears each check's result for each service of
	// the server checked (the daemon's metrics); it must not block.
	OnCheck func(svc lvs.ServiceKey, real netip.AddrPort, took time.Duration, err error)
}

// ErrRunning is returned by a second Run of the same Director.
var ErrRunning = errors.New("ldirector: already running")

// ErrStopped is returned by Reload after Run has returned.
var ErrStopped = errors.New("ldirector: stopped")

// batchWindow is how long results that change the table are gathered
// before one pass applies them all: a mass failure is one Diff and one
// Apply per window, not one per server.
const batchWindow = 20 * time.Millisecond

// retryDelay is the pause before a pass that failed to apply is retried.
const retryDelay = time.Second

// Director checks real servers and keeps the IPVS table in line with the
// results, as ldirectord does.
type Director struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	alert *alert.Alerter

	mu      sync.Mutex // guards what Status reads and the fields below
	m       *model
	running bool
	stopped bool
	reload  chan reloadReq
	done    chan struct{} // closed when Run returns
	// table is what the last passes left in the table, by service.
	table map[lvs.ServiceKey]map[netip.AddrPort]lvs.Dest
	// stats count the engine's work, for tests and benchmarks.
	stats   passStats
	limiter logLimiter // for lines logged under mu
}

type reloadReq struct {
	cfg  *conf.LdirectordConfig
	done chan error
}

// passStats are counters of the engine's work, read by benchmarks.
type passStats struct {
	passes  int
	changes int
	checks  int
	workers int
}

// New makes a Director for cfg. It checks nothing and touches no table
// until Run.
func New(cfg *conf.LdirectordConfig, opts Options) (*Director, error) {
	if cfg == nil {
		return nil, errors.New("ldirector: no configuration")
	}
	if opts.Table == nil {
		return nil, errors.New("ldirector: no IPVS table")
	}
	d := &Director{opts: opts, log: opts.Logger, now: opts.Now, reload: make(chan reloadReq), done: make(chan struct{})}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.opts.Hostname == "" {
		d.opts.Hostname, _ = os.Hostname()
	}
	m, warns := buildModel(cfg, d.opts.Hostname)
	for _, w := range warns {
		d.log.Warn(w)
	}
	d.m = m
	d.table = map[lvs.ServiceKey]map[netip.AddrPort]lvs.Dest{}
	d.alert = alert.New(cfg, alert.Options{Hostname: d.opts.Hostname, Logger: d.log, Now: d.now})
	return d, nil
}

// Reload applies a new configuration by difference: services and servers
// that did not change keep their state and their place in the table,
// and nothing is written that is already so.
func (d *Director) Reload(cfg *conf.LdirectordConfig) error {
	if cfg == nil {
		return errors.New("ldirector: reload: no configuration")
	}
	d.mu.Lock()
	switch {
	case d.stopped:
		d.mu.Unlock()
		return ErrStopped
	case !d.running:
		m, warns := buildModel(cfg, d.opts.Hostname)
		d.m = m
		d.alert.SetConfig(cfg)
		d.mu.Unlock()
		for _, w := range warns {
			d.log.Warn(w)
		}
		return nil
	}
	d.mu.Unlock()
	req := reloadReq{cfg: cfg, done: make(chan error, 1)}
	select {
	case d.reload <- req:
	case <-d.done:
		return ErrStopped
	}
	select {
	case err := <-req.done:
		return err
	case <-d.done:
		return ErrStopped
	}
}

// VirtualStatus is the state of one virtual service.
type VirtualStatus struct {
	ID      string // tcp:192.0.2.1:80, fwm:5
	Service lvs.ServiceKey
	Reals   []RealStatus
	// Fallback is the fallback server, nil when there is none.
	Fallback *RealStatus
	// InFallback is true while no real server is up and the fallback
	// (if any) serves.
	InFallback bool
}

// RealStatus is the state of one real server of one virtual service.
type RealStatus struct {
	Addr   netip.AddrPort
	Method lvs.Method
	// Weight is the configured weight; CurrentWeight the weight in the
	// table, -1 when the server is not in it.
	Weight        int
	CurrentWeight int
	Healthy       bool
	Maintenance   bool
	Failures      int // failed checks in a row
	// LastCheck, LastResult and LastLatency describe the last check:
	// when it ended, "" for success or why it failed, how long it took.
	LastCheck   time.Time
	LastResult  string
	LastLatency time.Duration
}

// Status reports every virtual service's servers as the Director sees
// them.
func (d *Director) Status() []VirtualStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]VirtualStatus, 0, len(d.m.virtuals))
	for _, v := range d.m.virtuals {
		in := d.table[v.svc.ServiceKey]
		cur := func(a netip.AddrPort) int {
			if dd, ok := in[a]; ok {
				return dd.Weight
			}
			return -1
		}
		vs := VirtualStatus{ID: v.id, Service: v.svc.ServiceKey, InFallback: !v.anyUp()}
		for _, mb := range v.members {
			vs.Reals = append(vs.Reals, RealStatus{
				Addr: mb.dest.Addr, Method: mb.dest.Method, Weight: mb.dest.Weight,
				CurrentWeight: cur(mb.dest.Addr), Healthy: mb.up, Maintenance: mb.maint,
				Failures: mb.failcount, LastCheck: mb.lastTime, LastResult: mb.lastErr,
				LastLatency: mb.lastLatency,
			})
		}
		if v.fallback != nil {
			vs.Fallback = &RealStatus{
				Addr: v.fallback.Addr, Method: v.fallback.Method, Weight: v.fallback.Weight,
				CurrentWeight: cur(v.fallback.Addr), Healthy: true,
			}
		}
		out = append(out, vs)
	}
	return out
}

func (v *virtual) anyUp() bool {
	for _, mb := range v.members {
		if mb.up {
			return true
		}
	}
	return false
}

// logf logs an operator line at info level.
func (d *Director) logf(format string, args ...any) {
	d.log.Info(fmt.Sprintf(format, args...))
}

func (d *Director) debugf(format string, args ...any) {
	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		d.log.Debug(fmt.Sprintf(format, args...))
	}
}
