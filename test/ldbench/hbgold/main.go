// Command hbgold runs hbgo's ldirector engine on one ldirectord.cf with an
// in-memory IPVS table, printing every table change as an ipvsadm command
// (the engine's dry-run lines), until killed. The benchmarks use it where
// the hbgo binary has no `ldirectord --dry-run` yet; it is the engine the
// command runs, in a process of its own so its CPU and memory are its own.
package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"

	"hbgo/conf"
	"hbgo/ldirector"
	"hbgo/lvs"
)

// lineWriter flushes at every write, so each pass's lines leave at once.
type lineWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	if err == nil {
		err = l.w.Flush()
	}
	return n, err
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hbgold LDIRECTORD.CF")
		os.Exit(2)
	}
	file := os.Args[1]
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var ds conf.Diags
	cfg := conf.ParseLdirectord(file, data, &ds)
	if ds.HasErrors() {
		fmt.Fprint(os.Stderr, ds.String())
		os.Exit(1)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := ldirector.New(cfg, ldirector.Options{
		Table:  lvs.NewMemory(),
		Logger: log,
		DryRun: &lineWriter{w: bufio.NewWriterSize(os.Stdout, 1<<20)},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// HBGO_LDBENCH_CPUPROFILE names a file for a CPU profile of the run,
	// written when the run ends by SIGTERM or SIGINT.
	if path := os.Getenv("HBGO_LDBENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := d.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
