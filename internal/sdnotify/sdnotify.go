// Package sdnotify owns the daemon's side of systemd's notify protocol:
// READY=1 once the node has joined and its groups are settled, STATUS=
// lines, WATCHDOG=1 while the node's decision loop runs, STOPPING=1 when
// it is told to stop. Without NOTIFY_SOCKET it does nothing.
package sdnotify

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"hbgo/crm"
)

// Node is what the notifier watches; *crm.Node satisfies it.
type Node interface {
	// Settled: joined, and no group on the way (see crm.Node.Settled).
	Settled() bool
	// LastPass is when the node's decision loop last ran.
	LastPass() time.Time
	Status(ctx context.Context) (*crm.Status, error)
}

// Options tune the notifier; the daemon fills them from ha.cf.
type Options struct {
	Name   string // this node, for logs
	Logger *slog.Logger
	// Keepalive paces the readiness and status checks (every keepalive/2,
	// between 50ms and 1s).
	Keepalive time.Duration
	// Stale is how old the loop's last pass may be for the watchdog to be
	// fed (the daemon uses deadtime): a loop that hangs longer stops the
	// pings, and systemd restarts the daemon after WatchdogSec.
	Stale time.Duration
}

// Notifier speaks to systemd for one daemon.
type Notifier struct {
	opt      Options
	watchdog time.Duration // WATCHDOG_USEC; 0 when off
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
	stopped  atomic.Bool
	ready    bool
}

// Enabled reports whether systemd listens (NOTIFY_SOCKET is set).
func Enabled() bool { return os.Getenv("NOTIFY_SOCKET") != "" }

// Start begins notifying, when NOTIFY_SOCKET is set: readiness, status
// and watchdog pings from its own goroutine, and STOPPING=1 as soon as the
// process receives SIGTERM or SIGINT (it listens beside the daemon's own
// handler). Close ends it.
func Start(ctx context.Context, n Node, opt Options) *Notifier {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	s := &Notifier{opt: opt, done: make(chan struct{})}
	if !Enabled() {
		close(s.done)
		return s
	}
	// The watchdog variables are cleared so that the resource scripts'
	// children do not think systemd watches them; NOTIFY_SOCKET stays
	// (the library reads it on every send), and the unit's
	// NotifyAccess=main makes systemd ignore anyone else's messages.
	wd, err := daemon.SdWatchdogEnabled(true)
	if err != nil {
		s.log(slog.LevelWarn, fmt.Sprintf("systemd watchdog settings ignored: %v", err))
	}
	s.watchdog = wd
	ctx, s.cancel = context.WithCancel(ctx)
	go s.run(ctx, n)
	return s
}

func (s *Notifier) log(level slog.Level, msg string) {
	s.opt.Logger.Log(context.Background(), level, msg, "node", s.opt.Name)
}

func (s *Notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		s.log(slog.LevelDebug, fmt.Sprintf("systemd notify %q: %v", state, err))
	}
}

// Stopping tells systemd the daemon is stopping (once).
func (s *Notifier) Stopping() {
	if !Enabled() {
		return
	}
	s.stopOnce.Do(func() { s.stopped.Store(true); s.send("STOPPING=1\nSTATUS=Stopping: giving groups away") })
}

// Close stops the pings and says STOPPING=1 if nothing has said it yet.
func (s *Notifier) Close() {
	if s.cancel == nil {
		return
	}
	s.Stopping()
	s.cancel()
	<-s.done
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(hi, d))
}

func (s *Notifier) run(ctx context.Context, n Node) {
	defer close(s.done)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	check := time.NewTicker(clamp(s.opt.Keepalive/2, 50*time.Millisecond, time.Second))
	defer check.Stop()
	var feed <-chan time.Time
	if s.watchdog > 0 {
		t := time.NewTicker(s.watchdog / 2)
		defer t.Stop()
		feed = t.C
		s.log(slog.LevelInfo, fmt.Sprintf("systemd watchdog every %v (WatchdogSec %v)", s.watchdog/2, s.watchdog))
	}
	stale := s.opt.Stale
	if stale <= 0 {
		stale = 10 * time.Second
	}
	var settledSince time.Time
	var lastStatus string
	var lastStatusAt time.Time
	starving := false
	s.send("STATUS=Joining the cluster")
	for {
		select {
		case <-ctx.Done():
			return
		case <-sigs:
			s.Stopping()
		case <-feed:
			age := time.Since(n.LastPass())
			if age <= stale {
				s.send("WATCHDOG=1")
				if starving {
					starving = false
					s.log(slog.LevelInfo, "Main loop running again: feeding the systemd watchdog")
				}
			} else if !starving {
				starving = true
				s.log(slog.LevelError, fmt.Sprintf("Main loop silent for %v: not feeding the systemd watchdog", age.Round(time.Millisecond)))
			}
		case <-check.C:
			if s.stopped.Load() {
				continue
			}
			if !s.ready {
				// Settled for a whole keepalive (two loop passes), so
				// that a decision the loop has not made yet is not taken
				// for a settled group.
				if !n.Settled() {
					settledSince = time.Time{}
					continue
				}
				if settledSince.IsZero() {
					settledSince = time.Now()
				}
				if time.Since(settledSince) < s.opt.Keepalive {
					continue
				}
			}
			if !s.ready || time.Since(lastStatusAt) >= time.Second {
				lastStatusAt = time.Now()
				st := s.statusLine(ctx, n)
				if !s.ready {
					s.ready = true
					lastStatus = st
					s.send("READY=1\nSTATUS=" + st)
					s.log(slog.LevelInfo, "Told systemd: ready ("+st+")")
					// Ready: the status line is checked once a second,
					// no more (an idle daemon wakes for nothing else).
					check.Reset(time.Second)
				} else if st != lastStatus {
					lastStatus = st
					s.send("STATUS=" + st)
				}
			}
		}
	}
}

// statusLine sums the node up for systemctl status: what runs here, what
// runs elsewhere, which peers are dead.
func (s *Notifier) statusLine(ctx context.Context, n Node) string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := n.Status(ctx)
	if err != nil || st == nil {
		return "Running"
	}
	var here, away, down []string
	for _, g := range st.Groups {
		switch g.Owner {
		case st.Node:
			here = append(here, g.Name)
		case "":
			down = append(down, g.Name)
		default:
			away = append(away, g.Name+"@"+g.Owner)
		}
	}
	var dead []string
	for _, nd := range st.Nodes {
		if nd.Type != "ping" && nd.Name != st.Node && nd.Status == "dead" {
			dead = append(dead, nd.Name)
		}
	}
	sort.Strings(dead)
	parts := []string{fmt.Sprintf("%s %s (%s)", st.Role, st.Node, st.Mode)}
	add := func(label string, l []string) {
		if len(l) > 0 {
			parts = append(parts, label+" "+strings.Join(l, " "))
		}
	}
	add("running:", here)
	add("elsewhere:", away)
	add("stopped:", down)
	add("dead peers:", dead)
	return strings.Join(parts, "; ")
}
