package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
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

// daemonMain implements `hbgo daemon` (and `heartbeat`): run this node.
func daemonMain(args []string, stdout, stderr io.Writer) int {
	// Signals are caught from the first instant: a SIGTERM that arrives
	// while the node starts (opening its placement log, sweeping its
	// groups) waits here and is handled as soon as it runs, instead of
	// killing the process by default with its groups half started.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("c", conf.DefaultDir, "configuration directory")
	node := fs.String("node", "", "this node's name (default: uname -n)")
	stateDir := fs.String("state-dir", defaultStateDir, "where raft and the generation are kept")
	runDir := fs.String("run-dir", defaultRunDir, "where the control socket and pid file live")
	debug := fs.Bool("d", false, "debug logging")
	stopTimeout := fs.Duration("stop-timeout", 60*time.Second, "how long SIGTERM waits for groups to move away")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "heartbeat: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, ds, err := conf.Load(*dir, conf.LoadOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "heartbeat: %v\n", err)
		return 2
	}
	if printDiags(ds, false, stderr) != 0 {
		fmt.Fprintln(stderr, "heartbeat: configuration has errors; not starting")
		return 1
	}
	if *node == "" {
		h, err := os.Hostname()
		if err != nil {
			fmt.Fprintf(stderr, "heartbeat: cannot read the host name: %v\n", err)
			return 2
		}
		*node = localNodeName(h, cfg.HA)
	}
	*node = strings.ToLower(*node)
	if !cfg.HA.IsNode(*node) && !cfg.HA.IsWitness(*node) {
		fmt.Fprintf(stderr, "heartbeat: node %s is neither a node nor a witness in %s; not starting\n", *node, cfg.HA.File)
		return 1
	}

	level := slog.LevelInfo
	if *debug || cfg.HA.Debug > 0 {
		level = slog.LevelDebug
	}
	logger, closeLog, err := openLog(cfg.HA, *node, level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "heartbeat: %v\n", err)
		return 1
	}
	defer closeLog()

	// The runtime's monitor thread naps a millisecond at a time, not
	// 20 µs (see package sysmon), and stays out of the realtime policy,
	// under which the kernel gives no timer slack.
	sysmonTID, err := sysmon.Calm()
	if err != nil {
		logger.Debug(fmt.Sprintf("runtime monitor thread left as it is: %v", err), "node", *node)
	}
	if cfg.HA.Realtime {
		prio := cfg.HA.Rtprio
		if prio == 0 {
			prio = 50 // halfway between SCHED_RR's 1 and 99, as Heartbeat
		}
		rtCtx, rtStop := context.WithCancel(context.Background())
		defer rtStop()
		if err := goRealtime(rtCtx, prio, sysmonTID, logger, *node); err != nil {
			logger.Warn(fmt.Sprintf("realtime on, but running at normal priority: %v", err), "node", *node)
		} else {
			logger.Info(fmt.Sprintf("Running at realtime priority %d (SCHED_RR; realtime on in ha.cf)", prio), "node", *node)
		}
	}
	for _, d := range []string{*stateDir, *runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintf(stderr, "heartbeat: %v\n", err)
			return 1
		}
	}
	if stop, err := startCPUProfile(*node); err != nil {
		logger.Warn(fmt.Sprintf("No CPU profile: %v", err), "node", *node)
	} else {
		defer stop()
	}
	pidFile := filepath.Join(*runDir, "heartbeat.pid")
	if err := writePidFile(pidFile); err != nil {
		fmt.Fprintf(stderr, "heartbeat: %v\n", err)
		return 1
	}
	defer os.Remove(pidFile)

	obs := newObserver(cfg, *node, logger)
	defer obs.stop()
	reloadLdirectors := func() {}
	env := resources.Env{ConfDir: *dir, Node: *node, Logger: logger,
		Announce: resources.AnnounceOptionsOf(cfg.HA),
		Mail:     resources.MailOptions{Server: cfg.HA.MailServer, From: cfg.HA.MailFrom},
		LVSSync:  resources.LVSSyncOptions{Interface: cfg.HA.LVSSyncInterface, SyncID: uint8(cfg.HA.LVSSyncID)},
	}
	if cfg.HA.IsNode(*node) {
		warm := startWarmLdirectors(cfg, *dir, *node, logger, obs.checkObserver())
		defer warm.Stop()
		env.Ldirector = warm.Running
		obs.warm = warm
		reloadLdirectors = func() {
			if c, ds, err := conf.Load(*dir, conf.LoadOptions{}); err == nil && !ds.HasErrors() {
				warm.Reload(c)
			}
		}
	}
	// The VIP agents renew their kernel lifetime and nftables gate from
	// the node's lease; a node alone holds its VIPs until it stops them.
	var leaser atomic.Pointer[crm.Node]
	leased := crm.ModeOf(cfg.HA) != crm.ModeSingle
	n, err := crm.StartNode(crm.NodeConfig{
		Name: *node, Config: cfg, StateDir: *stateDir, Version: version, Logger: logger,
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
		logger.Error(fmt.Sprintf("Cannot start: %v", err), "node", *node)
		fmt.Fprintf(stderr, "heartbeat: %v\n", err)
		return 1
	}
	leaser.Store(n)
	obs.start(n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := control.Serve(ctx, filepath.Join(*runDir, control.SocketName), obs.controller(n), control.ServerOptions{Logger: logger, Node: *node})
	if err != nil {
		logger.Error(fmt.Sprintf("Cannot open the control socket: %v", err), "node", *node)
		n.Stop(false, *stopTimeout)
		return 1
	}
	defer srv.Close()
	// systemd (Type=notify) and ha.cf's watchdog device are fed only while
	// the node's decision loop runs; a clean stop disarms both.
	sd := sdnotify.Start(ctx, n, sdnotify.Options{Name: *node, Logger: logger, Keepalive: cfg.HA.Keepalive, Stale: cfg.HA.Deadtime})
	defer sd.Close()
	dog := watchdog.Start(ctx, cfg.HA.Watchdog, n, watchdog.Options{Name: *node, Logger: logger, Keepalive: cfg.HA.Keepalive, Deadtime: cfg.HA.Deadtime})
	defer dog.Close()

	done := make(chan error, 1)
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				if err := n.Reload(ctx); err != nil {
					logger.Warn(fmt.Sprintf("Reload refused: %v", err), "node", *node)
					continue
				}
				reloadLdirectors()
				continue
			default:
				select {
				case <-done:
				default:
				}
				logger.Info(fmt.Sprintf("Received %v: giving groups away, then stopping (a second signal stops at once)", sig), "node", *node)
				go func() { done <- n.Stop(true, *stopTimeout) }()
				select {
				case err := <-done:
					return stopCode(err, logger, *node)
				case <-sigs:
					logger.Warn("Second signal: stopping without waiting", "node", *node)
					return stopCode(n.Stop(false, 10*time.Second), logger, *node)
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
		return 1
	}
	return 0
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
