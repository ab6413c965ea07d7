//go:build linux

package ldirector

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hbgo/conf"
	"hbgo/lvs"
	"hbgo/test/netns"
)

// The benchmarks run the engine in a child process (this test binary,
// through TestMain) inside a lab namespace of their own, where the real
// servers are listeners on as many loopback addresses; the child reports
// its measurements as JSON.
const (
	envBenchServers = "HBGO_LDBENCH_SERVERS"
	envBenchOut     = "HBGO_LDBENCH_OUT"
)

type benchResult struct {
	Servers       int
	Workers       int
	FirstTableMS  float64 // start to every server in the table
	FirstPasses   int     // passes to get there
	DetectMeanMS  float64 // a server killed to its removal
	DetectMaxMS   float64
	DetectSamples int
	CPUPercent    float64 // of one core, steady state
	HeapMB        float64 // heap in use after GC, engine and listeners
	EngineHeapMB  float64 // less the heap before the engine started
	MassServers   int
	MassMS        float64 // kill MassServers at once to all removed
	MassPasses    int
	MassChanges   int
	ChecksPerSec  float64
}

func BenchmarkDetection(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run("servers="+strconv.Itoa(n), func(b *testing.B) {
			r := runBenchChild(b, n)
			b.ReportMetric(r.DetectMeanMS, "detect-ms")
			b.ReportMetric(r.DetectMaxMS, "detect-max-ms")
			b.ReportMetric(r.CPUPercent, "cpu-%")
			b.ReportMetric(r.HeapMB, "heap-MB")
			b.ReportMetric(r.EngineHeapMB, "engine-heap-MB")
			b.ReportMetric(r.FirstTableMS, "first-table-ms")
			b.ReportMetric(float64(r.FirstPasses), "first-table-passes")
			b.ReportMetric(r.ChecksPerSec, "checks/s")
			b.ReportMetric(float64(r.Workers), "workers")
			if r.MassServers > 0 {
				b.ReportMetric(float64(r.MassServers), "mass-servers")
				b.ReportMetric(r.MassMS, "mass-ms")
				b.ReportMetric(float64(r.MassPasses), "mass-passes")
			}
		})
	}
}

func runBenchChild(b *testing.B, n int) benchResult {
	b.Helper()
	lab := netns.NewT(b)
	h, err := lab.AddHost("farm")
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir() + "/result.json"
	cmd := h.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envBenchServers+"="+strconv.Itoa(n), envBenchOut+"="+out)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	for i := 0; i < b.N; i++ {
		if err := cmd.Run(); err != nil {
			b.Fatalf("child: %v\n%s", err, log.String())
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		b.Fatalf("no result: %v\n%s", err, log.String())
	}
	var r benchResult
	if err := json.Unmarshal(data, &r); err != nil {
		b.Fatal(err)
	}
	b.Logf("%+v", r)
	return r
}

// TestMain runs the measuring half of BenchmarkDetection when the
// benchmark starts this binary inside its namespace, and the tests
// otherwise.
func TestMain(m *testing.M) {
	if nStr := os.Getenv(envBenchServers); nStr != "" {
		os.Exit(benchChild(nStr))
	}
	os.Exit(m.Run())
}

func benchChild(nStr string) int {
	n, err := strconv.Atoi(nStr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r, err := measure(n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	data, _ := json.Marshal(r)
	if err := os.WriteFile(os.Getenv(envBenchOut), data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// watchTable is a memory table that signals every deleted server.
type watchTable struct {
	*lvs.Memory
	mu      sync.Mutex
	deleted map[string]time.Time
	count   int
}

func (w *watchTable) DelDest(ctx context.Context, k lvs.ServiceKey, a netip.AddrPort) error {
	err := w.Memory.DelDest(ctx, k, a)
	if err == nil {
		w.mu.Lock()
		w.deleted[a.String()] = time.Now()
		w.mu.Unlock()
	}
	return err
}

func (w *watchTable) deletedAt(a string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.deleted[a]
	return t, ok
}

func (w *watchTable) dests() int {
	es, _ := w.Memory.List(context.Background())
	n := 0
	for _, e := range es {
		n += len(e.Dests)
	}
	return n
}

func benchAddr(i int) string { return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1) }

func measure(n int) (benchResult, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(3*n+1000) {
		lim.Cur = min(lim.Max, uint64(3*n+1000))
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	lns := make([]net.Listener, n)
	for i := range lns {
		ln, err := net.Listen("tcp", benchAddr(i)+":80")
		if err != nil {
			return benchResult{}, err
		}
		lns[i] = ln
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	var cfg strings.Builder
	cfg.WriteString("checkinterval = 1\nchecktimeout = 5\n")
	const perVirtual = 100
	for i := 0; i < n; i++ {
		if i%perVirtual == 0 {
			fmt.Fprintf(&cfg, "virtual = 10.%d.%d.1:80\n\tchecktype = connect\n", 100+i/perVirtual/250, i/perVirtual%250)
		}
		fmt.Fprintf(&cfg, "\treal = %s gate\n", benchAddr(i))
	}
	var ds conf.Diags
	c := conf.ParseLdirectord("bench.cf", []byte(cfg.String()), &ds)
	if ds.HasErrors() {
		return benchResult{}, ds.Err()
	}
	table := &watchTable{Memory: lvs.NewMemory(), deleted: map[string]time.Time{}}
	runtime.GC()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)

	d, err := New(c, Options{Table: table, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return benchResult{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	r := benchResult{Servers: n}
	if err := waitUntil(60*time.Second, func() bool { return table.dests() == n }); err != nil {
		return r, fmt.Errorf("first table: %w", err)
	}
	r.FirstTableMS = ms(time.Since(start))
	d.mu.Lock()
	r.FirstPasses = d.stats.passes
	d.mu.Unlock()

	// Steady state: CPU and heap over three intervals.
	time.Sleep(1500 * time.Millisecond)
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	d.mu.Lock()
	checks0 := d.stats.checks
	d.mu.Unlock()
	t0 := time.Now()
	time.Sleep(3 * time.Second)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	el := time.Since(t0)
	d.mu.Lock()
	r.ChecksPerSec = float64(d.stats.checks-checks0) / el.Seconds()
	d.mu.Unlock()
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	r.CPUPercent = 100 * cpu.Seconds() / el.Seconds()
	runtime.GC()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	r.HeapMB = float64(ms1.HeapInuse) / (1 << 20)
	r.EngineHeapMB = float64(int64(ms1.HeapInuse)-int64(ms0.HeapInuse)) / (1 << 20)
	d.mu.Lock()
	r.Workers = d.stats.workers
	d.mu.Unlock()

	// Detection: kill servers one at a time at random moments.
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	order := rng.Perm(n)
	samples := min(8, n/2)
	var lat []time.Duration
	for s := 0; s < samples; s++ {
		i := order[s]
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		killed := time.Now()
		lns[i].Close()
		a := benchAddr(i) + ":80"
		if err := waitUntil(30*time.Second, func() bool { _, ok := table.deletedAt(a); return ok }); err != nil {
			return r, fmt.Errorf("removal of %s: %w", a, err)
		}
		at, _ := table.deletedAt(a)
		lat = append(lat, at.Sub(killed))
	}
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	r.DetectSamples = len(lat)
	r.DetectMeanMS = ms(sum / time.Duration(len(lat)))
	r.DetectMaxMS = ms(slices.Max(lat))

	// Mass failure: up to 1000 more servers at once.
	mass := min(1000, n-samples-1)
	if n >= 1000 && mass > 0 {
		d.mu.Lock()
		p0, c0 := d.stats.passes, d.stats.changes
		d.mu.Unlock()
		killed := time.Now()
		var addrs []string
		for _, i := range order[samples : samples+mass] {
			lns[i].Close()
			addrs = append(addrs, benchAddr(i)+":80")
		}
		var last time.Time
		err := waitUntil(60*time.Second, func() bool {
			for _, a := range addrs {
				at, ok := table.deletedAt(a)
				if !ok {
					return false
				}
				if at.After(last) {
					last = at
				}
			}
			return true
		})
		if err != nil {
			return r, fmt.Errorf("mass failure: %w", err)
		}
		d.mu.Lock()
		r.MassPasses, r.MassChanges = d.stats.passes-p0, d.stats.changes-c0
		d.mu.Unlock()
		r.MassServers = mass
		r.MassMS = ms(last.Sub(killed))
	}
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func waitUntil(within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %v", within)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}
