package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hbgo/conf"
	"hbgo/ldirector"
	"hbgo/lvs"
)

// Environment of the ldirectord command. The run directory and the
// memory table exist for tests and for trying configurations; the
// daemon variable marks the background process start forks.
const (
	envLdRunDir     = "HBGO_LDIRECTORD_RUN_DIR" // default /run
	envLdTable      = "HBGO_LDIRECTORD_TABLE"   // "memory": no kernel (tests only)
	envLdDaemon     = "HBGO_LDIRECTORD_DAEMON"  // set in the forked daemon
	ldDefaultRunDir = "/run"
	ldStopWait      = 60 * time.Second
)

const ldUsage = `usage: ldirectord [-d] [CONFIG] start|stop|restart|try-restart|reload|force-reload|status
       hbgo ldirectord --dry-run [-d] [CONFIG]
CONFIG is a path, or a name looked up in /etc/ha.d and /etc/ha.d/conf
(default ldirectord.cf). -d stays in the foreground with debug logs.
--dry-run checks the real servers of CONFIG against an in-memory table
and prints every change as the ipvsadm command that would make it.
`

// Exit codes of ldirectord, as ldirectord's (but bad usage: 2, not 255).
const (
	ldOK         exitStatus = 0 // done; status: running
	ldFailed     exitStatus = 1 // config file not found; reload while stopped; a stale pid file; start or stop failed
	ldBadConfig  exitStatus = 2 // the configuration has errors (start, restart, reload, --dry-run)
	ldBadUsage   exitStatus = 2 // bad arguments
	ldNotRunning exitStatus = 3 // status: stopped
)

// ldOptions are ldirectord's flags.
type ldOptions struct {
	debug, dryRun bool
}

// ldirectordFlags is ldirectord's flag set; -d and --debug are one flag,
// --dry-run and -n another.
func ldirectordFlags(stderr io.Writer) (*flag.FlagSet, *ldOptions) {
	o := &ldOptions{}
	fs := flag.NewFlagSet("ldirectord", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.debug, "d", false, "stay in the foreground with debug logs")
	fs.BoolVar(&o.debug, "debug", false, "the same as -d")
	fs.BoolVar(&o.dryRun, "dry-run", false, "check CONFIG against an in-memory table and print ipvsadm commands")
	fs.BoolVar(&o.dryRun, "n", false, "the same as --dry-run")
	fs.Usage = func() {}
	return fs, o
}

// ldirectordMain implements ldirectord's command line.
func ldirectordMain(args []string, stdout, stderr io.Writer) int {
	fs, o := ldirectordFlags(stderr)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, ldUsage)
		return ldOK
	}
	if err != nil {
		fmt.Fprint(stderr, ldUsage)
		return ldBadUsage
	}
	debug, dryRun := o.debug, o.dryRun
	config, cfgName, cmd := "ldirectord.cf", "ldirectord", ""
	switch {
	case dryRun && len(pos) <= 1:
		if len(pos) == 1 {
			config, cfgName = pos[0], filepath.Base(pos[0])
		}
	case !dryRun && len(pos) == 1:
		cmd = pos[0]
	case !dryRun && len(pos) == 2:
		config, cfgName, cmd = pos[0], filepath.Base(pos[0]), pos[1]
	default:
		fmt.Fprint(stderr, ldUsage)
		return ldBadUsage
	}
	switch cmd {
	case "", "start", "stop", "restart", "try-restart", "reload", "force-reload", "status":
	default:
		fmt.Fprint(stderr, ldUsage)
		return ldBadUsage
	}
	path, err := ldFindConfig(config)
	if err != nil {
		fmt.Fprintf(stderr, "ldirectord: %v\n", err)
		return ldFailed
	}
	lc := &ldCommand{config: path, cfgName: cfgName, debug: debug, stdout: stdout, stderr: stderr}
	lc.runDir = os.Getenv(envLdRunDir)
	if lc.runDir == "" {
		lc.runDir = ldDefaultRunDir
	}
	lc.pidFile = filepath.Join(lc.runDir, "ldirectord."+cfgName+".pid")
	if dryRun {
		return lc.dryRun()
	}
	if name := os.Getenv(envLdDaemon); name != "" && cmd == "start" {
		os.Unsetenv(envLdDaemon)
		lc.cfgName = name
		lc.pidFile = filepath.Join(lc.runDir, "ldirectord."+name+".pid")
		return lc.daemon()
	}
	return lc.control(cmd)
}

// ldFindConfig looks a configuration up as ldirectord does: a relative
// name in the configuration directory, then its conf subdirectory, then
// as given.
func ldFindConfig(name string) (string, error) {
	if !filepath.IsAbs(name) {
		for _, dir := range []string{conf.DefaultDir, filepath.Join(conf.DefaultDir, "conf")} {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	if st, err := os.Stat(name); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("Config file %s not found", name)
	}
	return filepath.Abs(name)
}

type ldCommand struct {
	config, cfgName string
	runDir, pidFile string
	debug           bool
	stdout, stderr  io.Writer
}

// load parses the configuration, printing every problem; nil when it has
// errors.
func (lc *ldCommand) load() *conf.LdirectordConfig {
	data, err := os.ReadFile(lc.config)
	if err != nil {
		fmt.Fprintf(lc.stderr, "ldirectord: %v\n", err)
		return nil
	}
	var ds conf.Diags
	cfg := conf.ParseLdirectord(lc.config, data, &ds)
	for _, d := range ds {
		fmt.Fprintln(lc.stderr, d.String())
	}
	if ds.HasErrors() {
		return nil
	}
	return cfg
}

// running returns the pid of the daemon named by the pid file, 0 when
// none runs, and whether a pid file was found.
func (lc *ldCommand) running() (pid int, file bool) {
	b, err := os.ReadFile(lc.pidFile)
	if err != nil {
		return 0, false
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, true
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !strings.Contains(string(cmdline), "ldirectord") {
		return 0, true
	}
	return pid, true
}

// control is the command an operator runs: it acts on the daemon through
// its pid file, with ldirectord's exit codes.
func (lc *ldCommand) control(cmd string) int {
	pid, file := lc.running()
	switch cmd {
	case "status":
		if pid != 0 {
			fmt.Fprintf(lc.stderr, "ldirectord for %s is running with pid: %d\n", lc.config, pid)
			return ldOK
		}
		code := ldNotRunning
		if file {
			fmt.Fprintf(lc.stderr, "ldirectord stale pid file %s for %s\n", lc.pidFile, lc.config)
			code = ldFailed
		}
		fmt.Fprintf(lc.stdout, "ldirectord is stopped for %s\n", lc.config)
		return code
	case "stop":
		if pid == 0 {
			return ldOK
		}
		return lc.stop(pid)
	case "reload", "force-reload":
		if pid == 0 {
			fmt.Fprintf(lc.stderr, "ldirectord is stopped for %s\n", lc.config)
			return ldFailed
		}
		if lc.load() == nil {
			fmt.Fprintf(lc.stderr, "ldirectord: %s has errors; not reloading\n", lc.config)
			return ldBadConfig
		}
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			fmt.Fprintf(lc.stderr, "ldirectord: reload pid %d: %v\n", pid, err)
			return ldFailed
		}
		return ldOK
	case "try-restart":
		if pid == 0 {
			return ldOK
		}
		fallthrough
	case "restart":
		if pid != 0 {
			// As ldirectord: a configuration with errors leaves the
			// running daemon alone.
			if lc.load() == nil {
				fmt.Fprintf(lc.stderr, "ldirectord: %s has errors; not restarting\n", lc.config)
				return ldBadConfig
			}
			if code := lc.stop(pid); code != ldOK {
				return code
			}
		}
		return lc.start()
	}
	// start
	if pid != 0 {
		return ldOK
	}
	if lc.debug {
		return lc.foreground()
	}
	return lc.start()
}

// stop sends TERM and waits until the daemon is gone.
func (lc *ldCommand) stop(pid int) int {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		fmt.Fprintf(lc.stderr, "ldirectord: stop pid %d: %v\n", pid, err)
		return ldFailed
	}
	deadline := time.Now().Add(ldStopWait)
	for time.Now().Before(deadline) {
		if p, _ := lc.running(); p != pid {
			return ldOK
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(lc.stderr, "ldirectord: pid %d still running %v after TERM\n", pid, ldStopWait)
	return ldFailed
}

// start checks the configuration and forks the daemon, which reports on
// a pipe once its pid file is written and its table is open.
func (lc *ldCommand) start() int {
	if lc.load() == nil {
		return ldBadConfig
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(lc.stderr, "ldirectord: %v\n", err)
		return ldFailed
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(lc.stderr, "ldirectord: %v\n", err)
		return ldFailed
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(lc.stderr, "ldirectord: %v\n", err)
		return ldFailed
	}
	defer null.Close()
	c := &exec.Cmd{
		Path:        exe,
		Args:        []string{"ldirectord", lc.config, "start"},
		Env:         append(os.Environ(), envLdDaemon+"="+lc.cfgName),
		Dir:         "/",
		Stdin:       null,
		Stdout:      null,
		Stderr:      null,
		ExtraFiles:  []*os.File{w},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := c.Start(); err != nil {
		w.Close()
		fmt.Fprintf(lc.stderr, "ldirectord: start the daemon: %v\n", err)
		return ldFailed
	}
	w.Close()
	// The daemon writes "ok" or why it failed, then closes the pipe.
	msg, _ := io.ReadAll(bufio.NewReader(io.LimitReader(r, 64<<10)))
	if strings.TrimSpace(string(msg)) == "ok" {
		_ = c.Process.Release()
		return ldOK
	}
	_ = c.Wait()
	if len(msg) == 0 {
		msg = []byte("the daemon exited before it was ready\n")
	}
	fmt.Fprintf(lc.stderr, "ldirectord: %s", msg)
	return ldFailed
}

// ldTable opens the table the daemon programs.
func ldTable() (lvs.Table, func(), error) {
	if os.Getenv(envLdTable) == "memory" {
		return lvs.NewMemory(), func() {}, nil
	}
	k, err := openKernelTable(slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	return k, func() { k.Close() }, nil
}

// daemon is the background process: pid file, log, table, Director.
func (lc *ldCommand) daemon() int {
	ready := os.NewFile(3, "ready")
	fail := func(format string, args ...any) int {
		if ready != nil {
			fmt.Fprintf(ready, format+"\n", args...)
			ready.Close()
		}
		return ldFailed
	}
	cfg := lc.load()
	if cfg == nil {
		return fail("%s has errors", lc.config)
	}
	if err := os.WriteFile(lc.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fail("Can not open %s: %v", lc.pidFile, err)
	}
	defer os.Remove(lc.pidFile)
	logger, closeLog := ldLogger(cfg, lc.cfgName, false, lc.debug, os.Stderr)
	defer closeLog()
	logger.Info(fmt.Sprintf("Starting Linux Director %s as daemon", version))
	return lc.serve(cfg, logger, func() {
		if ready != nil {
			fmt.Fprintln(ready, "ok")
			ready.Close()
			ready = nil
		}
	}, fail)
}

// foreground is `ldirectord -d ... start`: no fork, no pid file, debug
// logs on stderr, as ldirectord -d.
func (lc *ldCommand) foreground() int {
	cfg := lc.load()
	if cfg == nil {
		return ldBadConfig
	}
	logger, closeLog := ldLogger(cfg, lc.cfgName, true, true, lc.stderr)
	defer closeLog()
	logger.Info(fmt.Sprintf("Starting Linux Director %s with pid: %d", version, os.Getpid()))
	return lc.serve(cfg, logger, func() {}, func(format string, args ...any) int {
		fmt.Fprintf(lc.stderr, "ldirectord: "+format+"\n", args...)
		return ldFailed
	})
}

// serve runs the Director until TERM or INT, reloading on HUP.
func (lc *ldCommand) serve(cfg *conf.LdirectordConfig, logger *slog.Logger, ready func(), fail func(string, ...any) int) int {
	table, closeTable, err := ldTable()
	if err != nil {
		logger.Error(fmt.Sprintf("open the IPVS table: %v", err))
		return fail("open the IPVS table: %v", err)
	}
	defer closeTable()
	host, _ := os.Hostname()
	d, err := ldirector.New(cfg, ldirector.Options{Table: table, Logger: logger, Hostname: host})
	if err != nil {
		return fail("%v", err)
	}
	return lc.runDirector(d, logger, func() {
		ready()
		lc.children(logger, "start", ldExecs(cfg))
	}, append([]string{}, ldExecs(cfg)...))
}

// ldExecs lists the configurations a configuration's execute lines start.
func ldExecs(cfg *conf.LdirectordConfig) []string {
	var out []string
	for _, e := range cfg.Execute {
		out = append(out, e.Config)
	}
	return out
}

// children runs `ldirectord CHILD cmd` for each configuration of an
// execute line, as ldirectord's ld_cmd_children; "reload_or_start"
// reloads and starts the child if that fails.
func (lc *ldCommand) children(logger *slog.Logger, cmd string, configs []string) {
	exe, err := os.Executable()
	if err != nil {
		logger.Error(fmt.Sprintf("execute: %v", err))
		return
	}
	run := func(child, cmd string) error {
		ctx, cancel := context.WithTimeout(context.Background(), ldStopWait+30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, exe, child, cmd)
		c.Args[0] = "ldirectord"
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("system(ldirectord %s %s) failed: %v: %s", child, cmd, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	for _, child := range configs {
		var err error
		if cmd == "reload_or_start" {
			if run(child, "reload") != nil {
				err = run(child, "start")
			}
		} else {
			err = run(child, cmd)
		}
		if err != nil {
			logger.Error(err.Error())
		}
	}
}

// runDirector runs d until a signal ends it. execs are the configurations
// of execute lines the process started; nil when it starts none (the dry
// run).
func (lc *ldCommand) runDirector(d *ldirector.Director, logger *slog.Logger, ready func(), execs []string) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	ready()
	var sig os.Signal
	for {
		select {
		case err := <-done:
			if err != nil {
				logger.Error(err.Error())
				return ldFailed
			}
			logger.Info(fmt.Sprintf("Linux Director Daemon terminated on signal: %s", ldSigName(sig)))
			return ldOK
		case s := <-sigs:
			if s == syscall.SIGHUP {
				logger.Info("Reloading Linux Director Daemon config on signal")
				if cfg := lc.reloadConfig(logger); cfg != nil {
					if execs != nil {
						next := ldExecs(cfg)
						var stop, keep, start []string
						for _, c := range execs {
							if slices.Contains(next, c) {
								keep = append(keep, c)
							} else {
								stop = append(stop, c)
							}
						}
						for _, c := range next {
							if !slices.Contains(execs, c) {
								start = append(start, c)
							}
						}
						lc.children(logger, "stop", stop)
						lc.children(logger, "reload_or_start", keep)
						lc.children(logger, "start", start)
						execs = next
					}
					if err := d.Reload(cfg); err != nil && !errors.Is(err, ldirector.ErrStopped) {
						logger.Error(err.Error())
					}
				}
				continue
			}
			sig = s
			lc.children(logger, "stop", execs)
			cancel()
		}
	}
}

// reloadConfig reads the configuration again; nil (and logged problems)
// when it has errors.
func (lc *ldCommand) reloadConfig(logger *slog.Logger) *conf.LdirectordConfig {
	data, err := os.ReadFile(lc.config)
	if err != nil {
		logger.Error(err.Error())
		return nil
	}
	var ds conf.Diags
	cfg := conf.ParseLdirectord(lc.config, data, &ds)
	for _, x := range ds {
		if x.Severity == conf.Error {
			logger.Error(x.String())
		}
	}
	if ds.HasErrors() {
		logger.Error(fmt.Sprintf("%s has errors; keeping the running configuration", lc.config))
		return nil
	}
	return cfg
}

func ldSigName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGQUIT:
		return "QUIT"
	}
	if s == nil {
		return "none"
	}
	return s.String()
}

// dryRun runs the checks against an in-memory table in the foreground
// and prints every change as an ipvsadm command, until interrupted.
func (lc *ldCommand) dryRun() int {
	cfg := lc.load()
	if cfg == nil {
		return ldBadConfig
	}
	logger, closeLog := ldLogger(cfg, lc.cfgName, true, lc.debug, lc.stderr)
	defer closeLog()
	host, _ := os.Hostname()
	d, err := ldirector.New(cfg, ldirector.Options{Table: lvs.NewMemory(), Logger: logger, Hostname: host, DryRun: lc.stdout})
	if err != nil {
		fmt.Fprintf(lc.stderr, "ldirectord: %v\n", err)
		return ldFailed
	}
	return lc.runDirector(d, logger, func() {}, nil)
}
