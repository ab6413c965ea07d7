package ldbench

// BenchmarkLdirector: hbgo's ldirector beside Debian's ldirectord 4.12
// against farms of 10 to 10000 real servers, in one run. Each
// sub-benchmark builds its own lab (a checker host and a farm host) and
// measures start, detection of a dead server (alone and beside 3 frozen
// ones), CPU and memory, and a mass failure; the run ends with one table.
// b.N is not used: `make bench` runs it with -benchtime 1x.
// docs/bench-ldirector.md says what each figure means.
//
// Knobs (environment): HBGO_LDBENCH_SIZES (default 10,100,1000,10000),
// HBGO_LDBENCH_LDIRECTORD_MAX (default 1000: ldirectord is not run on
// larger farms), HBGO_LDBENCH_LDIRECTORD_FULL (default 100: on larger
// farms only ldirectord's cold start is timed, unless
// HBGO_LDBENCH_LDIRECTORD_LONG=1, which restarts it over a full table
// when the cold start is cut and runs every phase: half an hour at 1000),
// HBGO_LDBENCH_START_CAP (default 2m: a cold start cut there is followed,
// for ldirectord, by a restart over a full table so the other phases still
// run), HBGO_LDBENCH_KILLS (default 5), HBGO_LDBENCH_HUNG_KILLS (default 3),
// HBGO_LDBENCH_CPU_WINDOW (default 15s).

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hbgo/test/stats"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func envDur(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func benchSizes() []int {
	s := os.Getenv("HBGO_LDBENCH_SIZES")
	if s == "" {
		return []int{10, 100, 1000, 10000}
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n >= 4 && n <= MaxReals {
			out = append(out, n)
		}
	}
	return out
}

type results struct {
	mu   sync.Mutex
	rows []Result
	caps []Capacity
}

func (rs *results) add(r Result) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.rows = append(rs.rows, r)
}

// report sets the sub-benchmark's metrics and keeps the row.
func report(b *testing.B, rs *results, r Result) {
	b.ReportMetric(0, "ns/op")
	if r.Start > 0 {
		b.ReportMetric(r.Start.Seconds(), "start-s")
	}
	if len(r.Detect) > 0 {
		b.ReportMetric(ms(stats.Percentile(r.Detect, .5)), "detect-p50-ms")
		b.ReportMetric(ms(stats.Percentile(r.Detect, 1)), "detect-max-ms")
	}
	if len(r.DetectHung) > 0 {
		b.ReportMetric(ms(stats.Percentile(r.DetectHung, .5)), "detect-hung-p50-ms")
	}
	if r.RSS > 0 {
		b.ReportMetric(r.CPU, "cpu-%core")
		b.ReportMetric(mb(r.RSS), "rss-MB")
	}
	if r.MassLast > 0 {
		b.ReportMetric(r.MassFirst.Seconds(), "mass-first-s")
		b.ReportMetric(r.MassLast.Seconds(), "mass-last-s")
	}
	rs.add(r)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Table renders results as the Markdown table of the docs.
func Table(rows []Result) string {
	var sb strings.Builder
	sb.WriteString("| system | real servers | start | detect p50 (max) | detect p50 (max), 3 frozen | CPU | RSS (peak) | mass failure: first, last removal | note |\n")
	sb.WriteString("|---|---:|---|---|---|---:|---|---|---|\n")
	dur := func(d time.Duration) string {
		if d >= 10*time.Second {
			return d.Round(100 * time.Millisecond).String()
		}
		return d.Round(time.Millisecond).String()
	}
	for _, r := range rows {
		start := "-"
		if r.Start > 0 {
			start = dur(r.Start)
		} else if r.StartNote != "" {
			start = r.StartNote
		}
		if r.Warm > 0 {
			start += "; restarted over a full table: " + dur(r.Warm)
		} else if r.WarmNote != "" {
			start += "; restarted over a full table: " + r.WarmNote
		}
		det, hung, cpu, mem, mass := "-", "-", "-", "-", "-"
		if len(r.Detect) > 0 {
			det = fmt.Sprintf("%s (%s), %d kills", dur(stats.Percentile(r.Detect, .5)), dur(stats.Percentile(r.Detect, 1)), len(r.Detect))
		}
		if len(r.DetectHung) > 0 {
			hung = fmt.Sprintf("%s (%s), %d kills", dur(stats.Percentile(r.DetectHung, .5)), dur(stats.Percentile(r.DetectHung, 1)), len(r.DetectHung))
		}
		if r.RSS > 0 {
			cpu = fmt.Sprintf("%.1f%%", r.CPU)
			mem = fmt.Sprintf("%.0f MB (%.0f MB)", mb(r.RSS), mb(r.HWM))
		}
		if r.MassLast > 0 {
			mass = fmt.Sprintf("%s, %s", dur(r.MassFirst), dur(r.MassLast))
		} else if r.MassNote != "" {
			mass = r.MassNote
		}
		fmt.Fprintf(&sb, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.System, r.N, start, det, hung, cpu, mem, mass, r.Note)
	}
	return sb.String()
}

// CapacityTable renders lab capacities as a Markdown table.
func CapacityTable(cs []Capacity) string {
	var sb strings.Builder
	sb.WriteString("| real servers | connects (per second) | failed | connect p50 | p99 | max |\n|---:|---|---:|---|---|---|\n")
	for _, c := range cs {
		fmt.Fprintf(&sb, "| %d | %d (%.0f/s) | %d | %v | %v | %v |\n", c.N, c.Connects, c.Rate, c.Failed,
			c.P50.Round(10*time.Microsecond), c.P99.Round(10*time.Microsecond), c.Max.Round(time.Millisecond))
	}
	return sb.String()
}

func BenchmarkLdirector(b *testing.B) {
	var rs results
	ldMax := envInt("HBGO_LDBENCH_LDIRECTORD_MAX", 1000)
	ldFull := envInt("HBGO_LDBENCH_LDIRECTORD_FULL", 100)
	base := Phases{
		StartCap:  envDur("HBGO_LDBENCH_START_CAP", 2*time.Minute),
		WaitCap:   30 * time.Second,
		Kills:     envInt("HBGO_LDBENCH_KILLS", 5),
		HungKills: envInt("HBGO_LDBENCH_HUNG_KILLS", 3),
		CPUWindow: envDur("HBGO_LDBENCH_CPU_WINDOW", 15*time.Second),
		MassCap:   2 * time.Minute,
		WarmCap:   4 * time.Minute,
	}
	tools := b.TempDir()
	standin, err := Build(tools, "./test/ldbench/ipvsadm", "ipvsadm-standin")
	if err != nil {
		b.Fatal(err)
	}
	hbgoArgv, hbgoWhat, err := HbgoCommand(tools)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("hbgo side: %s", hbgoWhat)
	for _, n := range benchSizes() {
		if n >= 1000 {
			b.Run(fmt.Sprintf("lab/n=%d", n), func(b *testing.B) {
				checker, farm := NewLab(b, n)
				c := MeasureCapacity(checker, farm, 10)
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(ms(c.P50), "connect-p50-ms")
				b.ReportMetric(ms(c.P99), "connect-p99-ms")
				b.ReportMetric(float64(c.Failed), "failed")
				b.Logf("lab n=%d: %d connects (%.0f/s), %d failed, p50 %v, p99 %v, max %v", n, c.Connects, c.Rate, c.Failed, c.P50, c.P99, c.Max)
				rs.mu.Lock()
				rs.caps = append(rs.caps, c)
				rs.mu.Unlock()
			})
		}
		b.Run(fmt.Sprintf("hbgo/n=%d", n), func(b *testing.B) {
			checker, farm := NewLab(b, n)
			t0 := time.Now()
			c, err := StartHbgo(checker, filepath.Join(b.TempDir(), "hbgo"), hbgoArgv, n)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Stop()
			r, err := Measure(c, farm, t0, base, b.Logf)
			if err != nil {
				b.Fatal(err)
			}
			r.System = hbgoWhat
			report(b, &rs, r)
		})
		b.Run(fmt.Sprintf("ldirectord/n=%d", n), func(b *testing.B) {
			if n > ldMax {
				why := fmt.Sprintf("not run above %d real servers (HBGO_LDBENCH_LDIRECTORD_MAX): its start alone would take hours", ldMax)
				rs.add(Result{System: "ldirectord 4.12", N: n, Note: why})
				b.Skip(why)
			}
			ph := base
			if n > ldFull {
				// ldirectord forks itself for each ipvsadm run (three
				// per change): at 1000 servers a restart over a full
				// table and a mass failure take 10 minutes each here.
				ph.WarmCap, ph.MassCap = 0, 0
				if os.Getenv("HBGO_LDBENCH_LDIRECTORD_LONG") == "1" {
					ph.WarmCap, ph.MassCap = 20*time.Minute, 20*time.Minute
				}
			}
			checker, farm := NewLab(b, n)
			t0 := time.Now()
			c, err := StartLdirectord(checker, filepath.Join(b.TempDir(), "ld"), standin, n)
			if err != nil {
				if os.Getenv("CI") == "true" {
					b.Fatal(err)
				}
				rs.add(Result{System: "ldirectord 4.12", N: n, Note: "skipped: " + err.Error()})
				b.Skip(err)
			}
			defer c.Stop()
			r, err := Measure(c, farm, t0, ph, b.Logf)
			if err != nil {
				b.Fatal(err)
			}
			r.System = "ldirectord 4.12"
			report(b, &rs, r)
		})
	}
	fmt.Printf("\nldirector at scale (checkinterval 1, checktimeout 3, checktype connect, %d CPUs; ldirectord's table is a stand-in ipvsadm's)\n\n%s\n", nproc(), Table(rs.rows))
	if len(rs.caps) > 0 {
		fmt.Printf("The lab's own ceiling: a plain client connecting to every real server once a second, paced evenly, 10 rounds\n\n%s\n", CapacityTable(rs.caps))
	}
}

func nproc() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\nprocessor") + map[bool]int{true: 1}[strings.HasPrefix(string(b), "processor")]
}
