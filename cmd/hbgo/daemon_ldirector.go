package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"hbgo/conf"
	"hbgo/internal/normalprio"
	"hbgo/ldirector"
	"hbgo/lvs"
)

// warmLdirectors runs, on a director, the ldirector of every
// ldirectord.cf that a haresources ldirectord resource names, from the
// daemon's start to its stop, whether or not this node owns the group:
// the checks and the IPVS table are warm when a takeover comes, and only
// the VIP moves (the ldirectord agent only checks that its ldirector
// runs).
type warmLdirectors struct {
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	runs    map[string]*warmRun // by the config's file as conf read it
	dir     string
	closers []func() // the ldirectord-style logs
}

type warmRun struct {
	d   *ldirector.Director
	err error // why it does not run; nil while it runs
}

// ldirectorConfigs are the ldirectord.cf files haresources names, as
// their names resolve to files conf read.
func ldirectorConfigs(cfg *conf.Config, dir string) map[string]*conf.LdirectordConfig {
	out := map[string]*conf.LdirectordConfig{}
	if cfg.Resources == nil {
		return out
	}
	for _, g := range cfg.Resources.Groups {
		for _, r := range g.Resources {
			if r.Name != conf.AgentLdirectord {
				continue
			}
			name := conf.DefaultLdirectordConfig
			if len(r.Args) > 0 && r.Args[0] != "" {
				name = r.Args[0]
			}
			add(cfg, dir, name, out)
		}
	}
	return out
}

// add puts the configuration name and those its execute lines name
// (ldirectord starts an ldirector for each) into out.
func add(cfg *conf.Config, dir, name string, out map[string]*conf.LdirectordConfig) {
	lc := findLdirectorConfig(cfg, dir, name)
	if lc == nil || out[lc.File] != nil {
		return
	}
	out[lc.File] = lc
	for _, e := range lc.Execute {
		add(cfg, dir, e.Config, out)
	}
}

func findLdirectorConfig(cfg *conf.Config, dir, name string) *conf.LdirectordConfig {
	for _, lc := range cfg.Ldirectord {
		if inDir(dir, lc.File) == inDir(dir, name) {
			return lc
		}
	}
	return nil
}

// inDir is the clean path of a file named relative to dir, or absolute.
func inDir(dir, name string) string {
	if !filepath.IsAbs(name) {
		name = filepath.Join(dir, name)
	}
	return filepath.Clean(name)
}

// openTable is the kernel's IPVS table, or, where the kernel has none, an
// in-memory table whose changes are logged as ipvsadm commands (the
// ldirector then runs as with --dry-run, and says so).
func openTable(log *slog.Logger) (lvs.Table, io.Writer) {
	k, err := openKernelTable(log)
	if err == nil {
		return k, nil
	}
	log.Error(fmt.Sprintf("IPVS is not available (%v): the ldirector checks real servers against an in-memory table and logs each change as the ipvsadm command it would run; nothing is balanced on this node", err))
	return lvs.NewMemory(), &logLines{log: log}
}

// logLines writes each line it gets to the log.
type logLines struct{ log *slog.Logger }

func (l *logLines) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l.log.Info("ipvsadm (dry run) " + line)
	}
	return len(p), nil
}

// startWarmLdirectors starts every ldirector of the node's haresources;
// onCheck hears every check (the metrics).
func startWarmLdirectors(cfg *conf.Config, dir, node string, log *slog.Logger, onCheck func(svc lvs.ServiceKey, real netip.AddrPort, took time.Duration, err error)) *warmLdirectors {
	w := &warmLdirectors{log: log, runs: map[string]*warmRun{}, dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	configs := ldirectorConfigs(cfg, dir)
	if len(configs) == 0 {
		return w
	}
	table, dry := openTable(log)
	for file, lc := range configs {
		logger := log.With("ldirector", filepath.Base(file))
		if lc.LogFileLine != 0 {
			// The file's logfile gets the ldirector's lines as
			// ldirectord writes them, beside the daemon's log.
			own := *lc
			own.Supervised = false
			ldl, closeLog := ldLogger(&own, filepath.Base(file), false, false, nil)
			w.closers = append(w.closers, closeLog)
			logger = slog.New(slog.NewMultiHandler(logger.Handler(), ldl.Handler()))
		}
		d, err := ldirector.New(lc, ldirector.Options{Table: table, Logger: logger, Hostname: node, DryRun: dry, OnCheck: onCheck})
		run := &warmRun{d: d, err: err}
		w.runs[file] = run
		if err != nil {
			log.Error(fmt.Sprintf("ldirector %s cannot start: %v", file, err))
			continue
		}
		log.Info(fmt.Sprintf("ldirector %s started (warm standby: it runs whether or not this node holds the VIP)", file))
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			err := d.Run(ctx)
			if ctx.Err() == nil {
				if err == nil {
					err = errors.New("stopped")
				}
				log.Error(fmt.Sprintf("ldirector %s stopped: %v", file, err))
				w.mu.Lock()
				run.err = err
				w.mu.Unlock()
			}
		}()
	}
	return w
}

// Running is resources.Env.Ldirector: nil when the ldirector of config
// runs.
func (w *warmLdirectors) Running(config string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for f, r := range w.runs {
		if inDir(w.dir, f) == inDir(w.dir, config) {
			return r.err
		}
	}
	return fmt.Errorf("no ldirector for %s", config)
}

// Reload hands each ldirector its configuration as read again.
func (w *warmLdirectors) Reload(cfg *conf.Config) {
	configs := ldirectorConfigs(cfg, w.dir)
	w.mu.Lock()
	defer w.mu.Unlock()
	for file, r := range w.runs {
		lc, ok := configs[file]
		if !ok || r.err != nil {
			continue
		}
		if err := r.d.Reload(lc); err != nil {
			w.log.Warn(fmt.Sprintf("ldirector %s: reload refused: %v", file, err))
		}
	}
}

// Stop stops every ldirector (each applies its cleanstop).
func (w *warmLdirectors) Stop() {
	w.cancel()
	w.wg.Wait()
	for _, c := range w.closers {
		c()
	}
}

// openKernelTable opens this namespace's IPVS table, loading ip_vs with
// modprobe first when it will not open (ldirectord's first ipvsadm call
// had the kernel load it).
func openKernelTable(log *slog.Logger) (*lvs.Kernel, error) {
	k, err := lvs.OpenKernel("")
	if err == nil {
		return k, nil
	}
	if out, merr := normalprio.Command(nil, "modprobe", "ip_vs").CombinedOutput(); merr != nil {
		log.Debug(fmt.Sprintf("modprobe ip_vs: %v %s", merr, strings.TrimSpace(string(out))))
		return nil, err
	}
	return lvs.OpenKernel("")
}

// Serves is resources.Env.VIPServed: whether a running ldirector has a
// virtual service on vip (known), and whether one of those has a real
// server up or a fallback to send its clients to (served).
func (w *warmLdirectors) Serves(vip netip.Addr) (served, known bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.runs {
		if r.err != nil || r.d == nil {
			continue
		}
		for _, v := range r.d.Status() {
			if v.Service.Addr.Addr().Unmap() != vip {
				continue
			}
			known = true
			if v.Fallback != nil {
				served = true
			}
			for _, rs := range v.Reals {
				served = served || rs.Healthy
			}
		}
	}
	return served, known
}
