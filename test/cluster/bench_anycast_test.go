//go:build linux

package cluster

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	bgptest "hbgo/test/bgp"
	"hbgo/test/stats"
)

// BenchmarkAnycast measures anycast groups behind FRR's ECMP, for 2, 3 and
// 4 directors: how new flows (a new source port each) spread over the
// directors, and how long the router keeps a director after a graceful
// stop (SIGTERM) and after a power-off (hold time 3 s). It prints a table.
// Whether long-lived connections survive a director's loss needs kernel
// IPVS: TestInVMAnycastMH.
func BenchmarkAnycast(b *testing.B) {
	type result struct {
		n                  int
		flows              int
		spread             string
		worst              float64 // largest distance from an even share, percent of it
		graceful, poweroff time.Duration
	}
	var rows []result
	for _, n := range []int{2, 3, 4} {
		b.Run(fmt.Sprintf("directors-%d", n), func(b *testing.B) {
			bgptest.RequireFRR(b)
			l := NewAnycastLab(b, n)
			const flows = 1200
			per := map[string]int{}
			for i := 0; i < flows; i++ {
				if who, err := AskVIP(l.Client, l.VIP.Addr(), i); err == nil {
					per[who]++
				}
			}
			even := float64(flows) / float64(n)
			worst := 0.0
			spread := ""
			for _, name := range l.Names {
				worst = math.Max(worst, math.Abs(float64(per[name])-even)/even*100)
				spread += fmt.Sprintf("%s:%d ", name, per[name])
			}
			last := l.Names[n-1]
			t0 := time.Now()
			l.C.Signal(last, syscall.SIGTERM)
			graceful := l.R.WaitNextHops(l.VIP, l.All[:n-1], 20*time.Second).Sub(t0)
			t1 := time.Now()
			l.C.PowerOff(l.Names[0])
			poweroff := l.R.WaitNextHops(l.VIP, l.All[1:n-1], 20*time.Second).Sub(t1)
			rows = append(rows, result{n, flows, spread, worst, graceful, poweroff})
			b.ReportMetric(worst, "spread-worst-%")
			b.ReportMetric(poweroff.Seconds(), "poweroff-s")
		})
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nanycast behind FRR ECMP (one run each; hold time 3 s)")
	fmt.Fprintln(w, "directors\tnew flows\tper director\tworst vs even\tgraceful stop withdrawn after\tpower-off dropped after")
	for _, r := range rows {
		fmt.Fprintf(w, "%d\t%d\t%s\t%.1f%%\t%v\t%v\n", r.n, r.flows, r.spread, r.worst, r.graceful.Round(time.Millisecond), r.poweroff.Round(time.Millisecond))
	}
	w.Flush()
}

// BenchmarkAnycastWithdraw repeats, with three directors, a graceful stop
// and a power-off of one director, 20 times each (started again after
// each), and prints the p50 and p99 of the time until the router's kernel
// dropped its next hop: "hold" with the sessions' hold time (3 s) alone,
// "bfd" with BFD on every session (100 ms x 3), power-offs only, since a
// graceful stop withdraws before any timer counts.
func BenchmarkAnycastWithdraw(b *testing.B) {
	const runs = 20
	p := func(ds []time.Duration, q float64) time.Duration {
		return stats.Percentile(ds, q).Round(time.Millisecond)
	}
	b.Run("hold", func(b *testing.B) {
		bgptest.RequireFRR(b)
		l := NewAnycastLab(b, 3)
		var graceful, poweroff []time.Duration
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			l.C.Signal("n3", syscall.SIGTERM)
			graceful = append(graceful, l.R.WaitNextHops(l.VIP, l.All[:2], 20*time.Second).Sub(t0))
			if err := l.C.WaitExit("n3", 30*time.Second); err != nil {
				b.Fatal(err)
			}
			anycastBack(l, "n3", false)
			poweroff = append(poweroff, anycastPowerOff(l, "n3"))
			anycastBack(l, "n3", false)
		}
		fmt.Printf("\nanycast, 3 directors behind FRR, %d runs each: a director's next hop gone after SIGTERM p50 %v p99 %v; after a power-off (hold 3 s) p50 %v p99 %v\n",
			runs, p(graceful, .5), p(graceful, .99), p(poweroff, .5), p(poweroff, .99))
		b.ReportMetric(p(poweroff, .5).Seconds(), "poweroff-p50-s")
		b.ReportMetric(p(poweroff, .99).Seconds(), "poweroff-p99-s")
	})
	b.Run("bfd", func(b *testing.B) {
		bgptest.RequireFRR(b)
		l := NewAnycastLabWith(b, 3, AnycastOptions{BFD: true})
		l.R.WaitBFDUp(l.All, 30*time.Second)
		var poweroff []time.Duration
		for i := 0; i < runs; i++ {
			poweroff = append(poweroff, anycastPowerOff(l, "n3"))
			anycastBack(l, "n3", true)
		}
		fmt.Printf("\nanycast, 3 directors behind FRR with BFD (100 ms x 3), %d runs: a director's next hop gone after a power-off (hold 3 s) p50 %v p99 %v\n",
			runs, p(poweroff, .5), p(poweroff, .99))
		b.ReportMetric(p(poweroff, .5).Seconds(), "poweroff-p50-s")
		b.ReportMetric(p(poweroff, .99).Seconds(), "poweroff-p99-s")
	})
}

// anycastPowerOff powers name off and returns how long the router's
// kernel kept its next hop; it is left powered off.
func anycastPowerOff(l *AnycastLab, name string) time.Duration {
	var rest []netip.Addr
	for _, a := range l.All {
		if a != l.Addr[name] {
			rest = append(rest, a)
		}
	}
	t0 := time.Now()
	l.C.PowerOff(name)
	return l.R.WaitNextHops(l.VIP, rest, 20*time.Second).Sub(t0)
}

// anycastBack starts name again (its links up first) and waits until the
// router has every director as a next hop, and with bfd their BFD
// sessions up, so the next run starts from a whole lab.
func anycastBack(l *AnycastLab, name string, bfd bool) {
	l.C.Revive(name)
	l.C.Start(name)
	l.R.WaitNextHops(l.VIP, l.All, 60*time.Second)
	if bfd {
		l.R.WaitBFDUp(l.All, 30*time.Second)
	}
}
