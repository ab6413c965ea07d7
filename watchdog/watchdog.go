// Package watchdog owns ha.cf's `watchdog` device: it arms the kernel's
// watchdog with a timeout near deadtime, writes to it on every keepalive
// while the node's decision loop runs, and disarms it on a clean stop with
// the magic close ('V' then close), so that only a hung or killed daemon
// gets the machine rebooted.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Node is what the feeder watches; *crm.Node satisfies it.
type Node interface {
	// LastPass is when the node's decision loop last ran.
	LastPass() time.Time
}

// Options come from ha.cf.
type Options struct {
	Name   string // this node, for logs
	Logger *slog.Logger
	// Keepalive is how often the device is written.
	Keepalive time.Duration
	// Deadtime bounds how old the loop's last pass may be for a write,
	// and sets the device's timeout (Timeout).
	Deadtime time.Duration
}

// Timeout is the timeout asked of the driver: deadtime in whole seconds
// (rounded up), at least 2s. A loop that hangs is noticed within deadtime
// and the machine reboots a timeout later. Heartbeat set no timeout and
// relied on the driver's (softdog: 60s).
func Timeout(deadtime time.Duration) time.Duration {
	s := math.Ceil(deadtime.Seconds())
	return time.Duration(max(2, s)) * time.Second
}

// Feeder feeds one watchdog device.
type Feeder struct {
	path   string
	opt    Options
	f      *os.File
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	writes atomic.Uint64
}

// keepByte is what a feed writes: anything but 'V' (which arms the magic
// close).
var keepByte = []byte{'.'}

// Open opens the device and asks for Timeout(opt.Deadtime). A file that is
// not a watchdog (the ioctl fails) is fed all the same, with a warning:
// the driver's own timeout, if any, applies.
func Open(path string, opt Options) (*Feeder, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("watchdog %s: %w", path, err)
	}
	w := &Feeder{path: path, opt: opt, f: f, done: make(chan struct{})}
	want := Timeout(opt.Deadtime)
	got, err := setTimeout(f, int(want/time.Second))
	switch {
	case err != nil:
		w.log(slog.LevelWarn, fmt.Sprintf("Watchdog %s: cannot set its timeout to %v (%v); the driver's own timeout applies", path, want, err))
	default:
		w.log(slog.LevelInfo, fmt.Sprintf("Watchdog %s armed: the kernel reboots this machine %ds after hbgo stops feeding it", path, got))
	}
	if err := w.Feed(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func (w *Feeder) log(level slog.Level, msg string) {
	w.opt.Logger.Log(context.Background(), level, msg, "node", w.opt.Name)
}

// Feed writes to the device once.
func (w *Feeder) Feed() error {
	if _, err := w.f.Write(keepByte); err != nil {
		return fmt.Errorf("watchdog %s: %w", w.path, err)
	}
	w.writes.Add(1)
	return nil
}

// Writes counts the feeds so far.
func (w *Feeder) Writes() uint64 { return w.writes.Load() }

// Start opens path (nothing when it is "") and feeds it every keepalive
// while n's loop passed within deadtime. A device that cannot be opened
// is logged and the daemon runs without it, as Heartbeat did. The result
// is nil-safe: Close on nil does nothing.
func Start(ctx context.Context, path string, n Node, opt Options) *Feeder {
	if path == "" {
		return nil
	}
	w, err := Open(path, opt)
	if err != nil {
		if opt.Logger == nil {
			opt.Logger = slog.Default()
		}
		opt.Logger.Error(fmt.Sprintf("Cannot open the watchdog: %v; running without it", err), "node", opt.Name)
		return nil
	}
	ctx, w.cancel = context.WithCancel(ctx)
	go w.run(ctx, n)
	return w
}

func (w *Feeder) run(ctx context.Context, n Node) {
	defer close(w.done)
	every := w.opt.Keepalive
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	starving := false
	var errs uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		age := time.Since(n.LastPass())
		if age > w.opt.Deadtime {
			if !starving {
				starving = true
				w.log(slog.LevelError, fmt.Sprintf("Main loop silent for %v: no longer feeding watchdog %s; the machine reboots unless it recovers", age.Round(time.Millisecond), w.path))
			}
			continue
		}
		if starving {
			starving = false
			w.log(slog.LevelWarn, fmt.Sprintf("Main loop running again: feeding watchdog %s", w.path))
		}
		if err := w.Feed(); err != nil {
			errs++
			if errs == 1 || errs%100 == 0 {
				w.log(slog.LevelError, fmt.Sprintf("%v (%d failed writes)", err, errs))
			}
		}
	}
}

// Close stops feeding and disarms the watchdog: 'V', then close. A driver
// built with nowayout ignores the 'V' and reboots after its timeout; that
// is the operator's choice (see docs/install.md).
func (w *Feeder) Close() error {
	if w == nil {
		return nil
	}
	var err error
	w.once.Do(func() {
		if w.cancel != nil {
			w.cancel()
			<-w.done
		}
		_, werr := w.f.Write([]byte{'V'})
		err = errors.Join(werr, w.f.Close())
		if err != nil {
			w.log(slog.LevelError, fmt.Sprintf("Watchdog %s: magic close: %v", w.path, err))
		} else {
			w.log(slog.LevelInfo, fmt.Sprintf("Watchdog %s disarmed", w.path))
		}
	})
	return err
}
