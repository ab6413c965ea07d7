package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"hbgo/conf"
	"hbgo/crm"
	"hbgo/crm/control"
	"hbgo/internal/sdnotify"
	"hbgo/internal/sysmon"
	"hbgo/resources"
	"hbgo/watchdog"
)

// Default directories, as Heartbeat's.
const (
	defaultStateDir = "/var/lib/heartbeat"
	defaultRunDir   = "/var/run/heartbeat"
)

// Exit codes of hbgo daemon (heartbeat).
const (
	daemonStopped exitStatus = 0 // stopped on SIGTERM or SIGINT, every group given away or stopped
	daemonFailed  exitStatus = 1 // refused to start, or stopped with errors
	daemonUsage   exitStatus = 2 // bad arguments, no configuration directory
)

// daemonOptions are the daemon's flags.
type daemonOptions struct {
	dir, node, stateDir, runDir string
	debug                       bool
	stopTimeout                 time.Duration
}

// daemonFlags is the daemon's flag set.
func daemonFlags(stderr io.Writer) (*flag.FlagSet, *daemonOptions) {
	o := &daemonOptions{}
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "c", conf.DefaultDir, "configuration directory")
	fs.StringVar(&o.node, "node", "", "this node's name (default: uname -n)")
	fs.StringVar(&o.stateDir, "state-dir", defaultStateDir, "where raft and the generation are kept")
	fs.StringVar(&o.runDir, "run-dir", defaultRunDir, "where the control socket and pid file live")
	fs.BoolVar(&o.debug, "d", false, "debug logging")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", 60*time.Second, "how long SIGTERM waits for groups to move away")
	return fs, o
}

// daemonGCPercent is the daemon's GOGC unless the environment sets one.
const daemonGCPercent = 50

// daemonMain implements `hbgo daemon` (and `heartbeat`): run this node.
func daemonMain(args []string, stdout, stderr io.Writer) int {
	// Signals are caught from the first instant: a SIGTERM that arrives
	// while the node starts (opening its placement log, sweeping its
	// groups) waits here and is handled as soon as it runs, instead of
	// killing the process by default with its groups half started.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	fs, o := daemonFlags(stderr)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return daemonStopped
	} else if err != nil {
		return daemonUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "heartbeat: unexpected argument %q\n", fs.Arg(0))
		return daemonUsage
	}
	cfg, ds, err := conf.Load(o.dir, conf.LoadOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "heartbeat: %v\n", err)
		return daemonUsage
	}
	if printDiags(ds, false, stderr) != checkClean {
		fmt.Fprintln(stderr, "heartbeat: configuration has errors; not starting")
		return daemonFailed
	}
	if o.node == "" {
		h, err := os.Hostname()
		if err != nil {
			fmt.Fprintf(stderr, "heartbeat: cannot read the host name: %v\n", err)
			return daemonFailed
		}
		o.node = localNodeName(h, cfg.HA)
	}
	o.node = strings.ToLower(o.node)
	if !cfg.HA.IsNode(o.node) && !cfg.HA.IsWitness(o.node) {
		fmt.Fprintf(stderr, "heartbeat: node %s is neither a node nor a witness in %s; not starting\n", o.node, cfg.HA.File)
		return daemonFailed
	}

	level := slog.LevelInfo
	if o.debug || cfg.HA.Debug > 0 {
		level = slog.LevelDebug
	}
	logger, closeLog, err := openLog(cfg.HA, o.node, level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "heartbeat: %v\n", err)
		return daemonFailed
	}
	defer closeLog()

	// With the runtime's default GOGC of 100 the heap grows to a 4 MB
	// floor before each collection; 50 halves the floor, for smaller and
	// more frequent collections (a fraction of a millisecond each). GOGC
	// in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
	// The runtime's monitor thread naps a millisecond at a time, not
	// 20 µs (see package sysmon), and stays out of the realtime policy,
	// under which the kernel gives no timer slack.
	sysmonTID, err := sysmon.Calm()
	if err != nil {
		logger.Debug(fmt.Sprintf("runtime monitor thread left as it is: %v", err), "node", o.node)
	}
	if cfg.HA.Realtime {
		prio := cfg.HA.Rtprio
		if prio == 0 {
			prio = 50 // halfway between SCHED_RR's 1 and 99, as Heartbeat
		}
		rtCtx, rtStop := context.WithCancel(context.Background())
		defer rtStop()
		if err := goRealtime(rtCtx, prio, sysmonTID, logger, o.node); err != nil {
			logger.Warn(fmt.Sprintf("realtime on, but running at normal priority: %v", err), "node", o.node)
		} else {
			logger.Info(fmt.Sprintf("Running at realtime priority %d (SCHED_RR; realtime on in ha.cf)", prio), "node", o.node)
		}
	}
	for _, d := range []string{o.stateDir, o.runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintf(stderr, "heartbeat: %v\n", err)
			return daemonFailed
		}
	}
	if stop, err := startCPUProfile(o.node); err != nil {
		logger.Warn(fmt.Sprintf("No CPU profile: %v", err), "node", o.node)
	} else {
		defer stop()
	}
	pidFile := filepath.Join(o.runDir, "heartbeat.pid")
	if err := writePidFile(pidFile); err != nil {
		fmt.Fprintf(stderr, "heartbeat: %v\n", err)
		return daemonFailed
	}
	defer os.Remove(pidFile)

	obs := newObserver(cfg, o.node, logger)
	defer obs.stop()
	reloadLdirectors := func() {}
	env := resources.Env{ConfDir: o.dir, Node: o.node, Logger: logger,
		Announce: resources.AnnounceOptionsOf(cfg.HA),
		Mail:     resources.MailOptions{Server: cfg.HA.MailServer, From: cfg.HA.MailFrom},
		LVSSync:  resources.LVSSyncOptions{Interface: cfg.HA.LVSSyncInterface, SyncID: uint8(cfg.HA.LVSSyncID)},
	}
	if cfg.HA.IsNode(o.node) {
		warm := startWarmLdirectors(cfg, o.dir, o.node, logger, obs.checkObserver())
		defer warm.Stop()
		env.Ldirector = warm.Running
		env.VIPServed = warm.Serves
		obs.warm = warm
		reloadLdirectors = func() {
			if c, ds, err := conf.Load(o.dir, conf.LoadOptions{}); err == nil && !ds.HasErrors() {
				warm.Reload(c)
			}
		}
	}
	if b := cfg.HA.BGP; b != nil && b.AS != 0 && cfg.HA.IsNode(o.node) {
		sp, err := startBGP(cfg.HA, o.node, o.debug || cfg.HA.Debug > 0, logger)
		if err != nil {
			logger.Error(fmt.Sprintf("Cannot start: %v", err), "node", o.node)
			fmt.Fprintf(stderr, "heartbeat: %v\n", err)
			return daemonFailed
		}
		// Runs after the node has stopped (and withdrawn its anycast
		// VIPs): whatever is left is withdrawn, then the sessions close.
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := sp.Stop(ctx); err != nil {
				logger.Warn(fmt.Sprintf("BGP speaker stop: %v", err), "node", o.node)
			}
		}()
		env.BGP = sp
		obs.bgp = sp
	}
	// The VIP agents renew their kernel lifetime and nftables gate from
	// the node's lease; a node alone holds its VIPs until it stops them.
	// A director scores the carrier of its VIPs' interfaces (crm's
	// carrierWatch); an interface not found now is not watched.
	var carrierDevs []string
	if cfg.HA.IsNode(o.node) && crm.ModeOf(cfg.HA) != crm.ModeSingle && cfg.Resources != nil {
		devs, unknown := resources.VIPDevices(cfg.Resources.Groups)
		for _, err := range unknown {
			logger.Warn(fmt.Sprintf("The carrier of a VIP's interface is not watched: %v", err), "node", o.node)
		}
		carrierDevs = devs
	}
	var leaser atomic.Pointer[crm.Node]
	leased := crm.ModeOf(cfg.HA) != crm.ModeSingle
	n, err := crm.StartNode(crm.NodeConfig{
		Name: o.node, Config: cfg, StateDir: o.stateDir, Version: version, Logger: logger, CarrierDevs: carrierDevs,
		NewChain: func(g conf.ResourceGroup) (crm.Chain, error) {
			genv := env
			if leased {
				genv.Lease = func() (time.Time, bool) {
					if ln := leaser.Load(); ln != nil {
						return ln.GroupLease(g.Name)
					}
					return time.Time{}, false
				}
				genv.LeaseResumed = func() <-chan struct{} {
					if ln := leaser.Load(); ln != nil {
						return ln.LeaseResumed()
					}
					return nil
				}
			}
			return resources.NewChain(g, genv, obs.chainOptions()...)
		},
	})
	if err != nil {
		logger.Error(fmt.Sprintf("Cannot start: %v", err), "node", o.node)
		fmt.Fprintf(stderr, "heartbeat: %v\n", err)
		return daemonFailed
	}
	leaser.Store(n)
	obs.start(n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := control.Serve(ctx, filepath.Join(o.runDir, control.SocketName), obs.controller(n), control.ServerOptions{Logger: logger, Node: o.node})
	if err != nil {
		logger.Error(fmt.Sprintf("Cannot open the control socket: %v", err), "node", o.node)
		n.Stop(false, o.stopTimeout)
		return daemonFailed
	}
	defer srv.Close()
	// systemd (Type=notify) and ha.cf's watchdog device are fed only while
	// the node's decision loop runs; a clean stop disarms both.
	sd := sdnotify.Start(ctx, n, sdnotify.Options{Name: o.node, Logger: logger, Keepalive: cfg.HA.Keepalive, Stale: cfg.HA.Deadtime})
	defer sd.Close()
	dog := watchdog.Start(ctx, cfg.HA.Watchdog, n, watchdog.Options{Name: o.node, Logger: logger, Keepalive: cfg.HA.Keepalive, Deadtime: cfg.HA.Deadtime})
	defer dog.Close()

	done := make(chan error, 1)
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				if err := n.Reload(ctx); err != nil {
					logger.Warn(fmt.Sprintf("Reload refused: %v", err), "node", o.node)
					continue
				}
				reloadLdirectors()
				continue
			default:
				select {
				case <-done:
				default:
				}
				logger.Info(fmt.Sprintf("Received %v: giving groups away, then stopping (a second signal stops at once)", sig), "node", o.node)
				go func() { done <- n.Stop(true, o.stopTimeout) }()
				select {
				case err := <-done:
					return stopCode(err, logger, o.node)
				case <-sigs:
					logger.Warn("Second signal: stopping without waiting", "node", o.node)
					return stopCode(n.Stop(false, 10*time.Second), logger, o.node)
				}
			}
		}
	}
}

// startCPUProfile writes a CPU profile of the daemon's whole run to the
// file HBGO_CPUPROFILE names (its "%n" replaced by the node's name), for
// the developers' idle and failover measurements; unset, it does nothing.
func startCPUProfile(node string) (stop func(), err error) {
	path := os.Getenv("HBGO_CPUPROFILE")
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(strings.ReplaceAll(path, "%n", node))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	stopTrace := func() {}
	if tp := os.Getenv("HBGO_TRACE"); tp != "" {
		// An execution trace beside it: which goroutine wakes, how often.
		tf, err := os.Create(strings.ReplaceAll(tp, "%n", node))
		if err == nil && trace.Start(tf) == nil {
			stopTrace = func() { trace.Stop(); tf.Close() }
		}
	}
	return func() { stopTrace(); pprof.StopCPUProfile(); f.Close() }, nil
}

func stopCode(err error, logger *slog.Logger, node string) int {
	if err != nil {
		logger.Error(fmt.Sprintf("Stopped with errors: %v", err), "node", node)
		return daemonFailed
	}
	return daemonStopped
}

// localNodeName is this node's name from its host name (uname -n): as
// Heartbeat, the whole name, lowercased, as ha.cf's node and witness
// names are. When only the name's first label is a member of ha.cf (a
// host that prints its FQDN, listed by its short name, as hbgo once
// required), that is taken.
func localNodeName(host string, ha *conf.HAConfig) string {
	full := strings.ToLower(host)
	short := strings.SplitN(full, ".", 2)[0]
	member := func(n string) bool { return ha.IsNode(n) || ha.IsWitness(n) }
	if !member(full) && member(short) {
		return short
	}
	return full
}

// writePidFile refuses to start when another live daemon holds the file.
// A pid that now belongs to another program (the daemon died and the pid
// was reused after a reboot) does not count.
func writePidFile(path string) error {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() {
			if syscall.Kill(pid, 0) == nil && sameProgram(pid) {
				return fmt.Errorf("already running as pid %d (%s)", pid, path)
			}
		}
	}
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// sameProgram reports whether process pid runs this program: its
// executable has this one's name (the file may have been replaced by an
// upgrade since it started). When that cannot be read it says yes, and the
// start is refused as before.
func sameProgram(pid int) bool {
	self, err := os.Executable()
	if err != nil {
		return true
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return true
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	return filepath.Base(exe) == filepath.Base(self)
}
