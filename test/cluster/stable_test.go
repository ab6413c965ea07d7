package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// stableTimings are the settings BenchmarkStable tries, fastest last.
var stableTimings = []struct{ keepalive, deadtime time.Duration }{
	{100 * time.Millisecond, 300 * time.Millisecond},
	{50 * time.Millisecond, 150 * time.Millisecond},
	{30 * time.Millisecond, 90 * time.Millisecond},
	{20 * time.Millisecond, 60 * time.Millisecond},
}

// BenchmarkStable runs two directors and a witness at rest for
// HBGO_STABLE_SPAN (default 10m) at each of stableTimings, quiet and then
// beside two busy CPU hogs (one per core of a 2-core machine), and counts
// what must not happen at rest: a group stopped or started (a move, or a
// lease that ran out: a dark moment), a node declared dead, a new raft
// leader. HBGO_STABLE_ONLY=KEEPALIVE/DEADTIME (e.g. 30ms/90ms) runs one
// setting. docs/benchmarks.md has the results.
func BenchmarkStable(b *testing.B) {
	span := 10 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("HBGO_STABLE_SPAN")); err == nil && d > 0 {
		span = d
	}
	only := os.Getenv("HBGO_STABLE_ONLY")
	for _, tm := range stableTimings {
		name := fmt.Sprintf("%v/%v", tm.keepalive, tm.deadtime)
		if only != "" && only != name {
			continue
		}
		for _, hogs := range []int{0, 2} {
			b.Run(fmt.Sprintf("ka%v-dt%v/hogs%d", tm.keepalive, tm.deadtime, hogs), func(b *testing.B) {
				spec := safetySpec("witness")
				spec.Timing = fmt.Sprintf("keepalive %dms\nwarntime %dms\ndeadtime %dms\ninitdead 2\n",
					tm.keepalive.Milliseconds(), (tm.deadtime * 2 / 3).Milliseconds(), tm.deadtime.Milliseconds())
				c := New(b, spec)
				c.StartAll()
				c.WaitOwner("g1", "n1", bound)
				c.WaitOwner("g2", "n2", bound)
				time.Sleep(15 * time.Second) // the witness takes the leadership over
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				for i := 0; i < hogs; i++ {
					hog := exec.CommandContext(ctx, "sh", "-c", "while :; do :; done")
					if err := hog.Start(); err != nil {
						b.Fatal(err)
					}
					defer hog.Wait()
				}
				from := time.Now()
				logs := map[string]int{}
				for _, n := range c.order {
					logs[n] = len(c.DaemonLog(n))
				}
				time.Sleep(span)
				cancel()
				moves := 0
				for _, r := range c.Records() {
					if r.At.After(from) {
						moves++
						b.Logf("%s %s %s at +%v", r.Op, r.Node, r.Group, r.At.Sub(from).Round(time.Millisecond))
					}
				}
				if moves > 0 && os.Getenv("HBGO_STABLE_LOGS") != "" {
					// For the developers: every node's lines from 1.5 s
					// before each move to just after it.
					for _, r := range c.Records() {
						if !r.At.After(from) || r.Op != "STOP" {
							continue
						}
						fmt.Printf("--- around %s %s %s at +%v\n", r.Op, r.Node, r.Group, r.At.Sub(from).Round(time.Millisecond))
						for _, n := range c.order {
							for _, l := range strings.Split(c.DaemonLog(n)[logs[n]:], "\n") {
								f := strings.Fields(l)
								if len(f) < 3 {
									continue
								}
								at, err := time.ParseInLocation("Jan 2 15:04:05.000", f[0]+" "+f[1]+" "+f[2], time.Local)
								if err != nil {
									continue
								}
								at = at.AddDate(r.At.Year(), 0, 0)
								if at.After(r.At.Add(-1500*time.Millisecond)) && at.Before(r.At.Add(200*time.Millisecond)) {
									fmt.Printf("%s\n", l)
								}
							}
						}
					}
				}
				dead, elections := 0, 0
				for _, n := range c.order {
					for _, l := range strings.Split(c.DaemonLog(n)[logs[n]:], "\n") {
						switch {
						case strings.Contains(l, " is dead"):
							dead++
							b.Logf("%s", l)
						case strings.Contains(l, "Placement log leader: "):
							elections++
							b.Logf("%s", l)
						}
					}
				}
				b.ReportMetric(float64(moves), "moves")
				b.ReportMetric(float64(dead), "deaths")
				b.ReportMetric(float64(elections), "leader-changes")
				fmt.Printf("stable %s, %d hogs, %v: %d group starts/stops, %d nodes declared dead, %d leader changes\n",
					name, hogs, span, moves, dead, elections)
			})
		}
	}
}
