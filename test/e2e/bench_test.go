//go:build linux

package e2e

// The client-observed gaps of failover and switchover on the demo site,
// beside keepalived's VRRP in the same run. Both are measured by the same
// client: peers.Probe asks the VIP over UDP every 10 ms, and the gap is
// the longest time it went without an answer around the move. For hbgo
// the HTTP client's gap (a new TCP connection every 10 ms) is reported
// too. HBGO_BENCH_RUNS sets the runs per row (default 20); b.N is not
// used (`make bench` runs -benchtime 1x).

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"hbgo/test/peers"
	"hbgo/test/stats"
)

func benchRuns() int {
	if n, err := strconv.Atoi(os.Getenv("HBGO_BENCH_RUNS")); err == nil && n > 0 {
		return n
	}
	return 20
}

// gapRow is one line of the table.
type gapRow struct {
	system, setting, move string
	udp, http             []time.Duration
	note                  string
}

type gapTable struct {
	mu   sync.Mutex
	rows []gapRow
}

func (t *gapTable) add(r gapRow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, r)
}

func (t *gapTable) report(b *testing.B, r gapRow) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(len(r.udp)), "runs")
	if len(r.udp) > 0 {
		b.ReportMetric(float64(stats.Percentile(r.udp, .5))/1e6, "p50-ms")
		b.ReportMetric(float64(stats.Percentile(r.udp, .99))/1e6, "p99-ms")
	}
	if len(r.http) > 0 {
		b.ReportMetric(float64(stats.Percentile(r.http, .5))/1e6, "http-p50-ms")
		b.ReportMetric(float64(stats.Percentile(r.http, .99))/1e6, "http-p99-ms")
	}
	t.add(r)
}

func (t *gapTable) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 2, 8, 2, ' ', 0)
	fmt.Fprintln(w, "system\tsetting\tmove\truns\tUDP gap p50\tUDP gap p99\tHTTP gap p50\tHTTP gap p99\tnote")
	f := func(ds []time.Duration, q float64) string {
		if len(ds) == 0 {
			return "-"
		}
		return stats.Percentile(ds, q).Round(time.Millisecond).String()
	}
	for _, r := range t.rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.system, r.setting, r.move, len(r.udp),
			f(r.udp, .5), f(r.udp, .99), f(r.http, .5), f(r.http, .99), r.note)
	}
	w.Flush()
	sb.WriteString("Gaps: the longest time the client went without an answer around the move; p50 and p99 nearest-rank (below 100 runs p99 is the worst run).\n")
	return sb.String()
}

// benchSite is the demo site with an echo server on each director and
// both clients running, the VIP on lvs1.
func benchSite(b *testing.B) (*Site, *peers.Probe, *Fetcher) {
	s := New(b, Options{})
	for _, d := range Directors {
		if err := peers.StartEcho(s.C.Members[d].Host, d); err != nil {
			b.Fatal(err)
		}
	}
	s.Start()
	if _, err := s.WaitHolder("lvs1", StartBound); err != nil {
		b.Fatal(err)
	}
	probe, err := peers.StartProbe(s.Client, VIP)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(probe.Close)
	fe := StartFetcher(s.Client, URL())
	b.Cleanup(fe.Close)
	if err := probe.WaitSteady("lvs1", 500*time.Millisecond, StartBound); err != nil {
		b.Fatal(err)
	}
	return s, probe, fe
}

// httpGap is the HTTP client's gap for a move to director to that began
// at t0.
func httpGap(s *Site, fe *Fetcher, t0 time.Time, to string, bound time.Duration) (time.Duration, error) {
	first, err := fe.WaitAnswer(t0, bound, s.AnsweredBy(to))
	if err != nil {
		return 0, err
	}
	return fe.Gap(t0, first), nil
}

func hbgoFailoverGaps(b *testing.B, runs int) gapRow {
	r := gapRow{system: "hbgo", setting: "keepalive 100ms, deadtime 500ms, witness", move: "failover (power off)"}
	s, probe, fe := benchSite(b)
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		s.PowerOff("lvs1")
		g, _, err := probe.Gap(t0, "lvs2", FailoverBound)
		if err != nil {
			b.Fatalf("run %d: %v", i, err)
		}
		h, err := httpGap(s, fe, t0, "lvs2", FailoverBound)
		if err != nil {
			b.Fatalf("run %d: http: %v", i, err)
		}
		r.udp, r.http = append(r.udp, g), append(r.http, h)
		s.PowerOn("lvs1")
		if err := probe.WaitSteady("lvs1", 500*time.Millisecond, StartBound); err != nil {
			b.Fatalf("run %d: back home: %v", i, err)
		}
		time.Sleep(time.Second)
	}
	return r
}

func hbgoSwitchoverGaps(b *testing.B, runs int) gapRow {
	r := gapRow{system: "hbgo", setting: "keepalive 100ms, deadtime 500ms, witness", move: "switchover (hb_standby)"}
	s, probe, fe := benchSite(b)
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		if out, code := s.C.Command("lvs1", "hb_standby"); code != 0 {
			b.Fatalf("run %d: hb_standby: exit %d\n%s", i, code, out)
		}
		g, _, err := probe.Gap(t0, "lvs2", SwitchoverBound)
		if err != nil {
			b.Fatalf("run %d: %v", i, err)
		}
		h, err := httpGap(s, fe, t0, "lvs2", SwitchoverBound)
		if err != nil {
			b.Fatalf("run %d: http: %v", i, err)
		}
		r.udp, r.http = append(r.udp, g), append(r.http, h)
		if out, code := s.C.Command("lvs1", "hb_takeover"); code != 0 {
			b.Fatalf("run %d: hb_takeover: exit %d\n%s", i, code, out)
		}
		if err := probe.WaitSteady("lvs1", 500*time.Millisecond, StartBound); err != nil {
			b.Fatalf("run %d: back home: %v", i, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return r
}

// keepalivedSettings: Debian's keepalived at advert_int 1 (VRRPv2) and at
// its smallest stable advert_int found here, 0.05 (VRRPv3).
var keepalivedSettings = []struct {
	name, label string
	spec        peers.KeepalivedSpec
}{
	{"vrrp2-advert1s", "VRRPv2, advert_int 1", peers.KeepalivedSpec{Version: 2, AdvertInt: time.Second}},
	{"vrrp3-advert50ms", "VRRPv3, advert_int 0.05", peers.KeepalivedSpec{Version: 3, AdvertInt: 50 * time.Millisecond}},
}

// keepalivedGaps: failover crashes the master (power off); switchover
// stops it with SIGTERM (it sends a priority-0 advertisement, VRRP's
// graceful hand-over). The master comes back and preempts between runs.
func keepalivedGaps(b *testing.B, t *gapTable, label string, spec peers.KeepalivedSpec, graceful bool, runs int) gapRow {
	r := gapRow{system: "keepalived", setting: label, move: "failover (power off)"}
	if graceful {
		r.move = "switchover (SIGTERM)"
	}
	if err := peers.Ensure(peers.KeepalivedPackages...); err != nil {
		r.note = "skipped: " + err.Error()
		t.add(r)
		if os.Getenv("CI") == "true" {
			b.Fatal(err)
		}
		b.Skip(err)
	}
	p := peers.Keepalived(b, spec)
	bound := 20*time.Second + 10*spec.MasterDown()
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		if graceful {
			if out, code, _ := p.Exec("n1", 10*time.Second, "sh", "-c", "kill -TERM $(cat /run/keepalived.pid)"); code != 0 {
				b.Fatalf("run %d: stopping keepalived on n1: exit %d\n%s", i, code, out)
			}
		} else {
			p.Crash("n1")
		}
		g, _, err := p.Probe.Gap(t0, "n2", bound)
		if err != nil {
			b.Fatalf("run %d: %v", i, err)
		}
		r.udp = append(r.udp, g)
		if graceful {
			p.Crash("n1") // what is left of it
		}
		p.Revive("n1")
		p.Start("n1")
		if err := p.Probe.WaitSteady("n1", 500*time.Millisecond, bound); err != nil {
			b.Fatalf("run %d: n1 back: %v", i, err)
		}
		time.Sleep(2 * spec.AdvertInt)
	}
	if extra := p.KeepalivedTransitions("n2") - runs; extra != 0 {
		r.note = fmt.Sprintf("%d spurious takeovers by n2", extra)
	}
	return r
}

// BenchmarkE2EClientGap measures what a client of the VIP sees of a
// failover and a switchover: hbgo on the demo site, keepalived's VRRP on
// two directors, in one run, and prints the table.
func BenchmarkE2EClientGap(b *testing.B) {
	var t gapTable
	runs := benchRuns()
	b.Run("hbgo/failover", func(b *testing.B) { t.report(b, hbgoFailoverGaps(b, runs)) })
	b.Run("hbgo/switchover", func(b *testing.B) { t.report(b, hbgoSwitchoverGaps(b, runs)) })
	for _, k := range keepalivedSettings {
		b.Run("keepalived/"+k.name+"/failover", func(b *testing.B) { t.report(b, keepalivedGaps(b, &t, k.label, k.spec, false, runs)) })
		b.Run("keepalived/"+k.name+"/switchover", func(b *testing.B) { t.report(b, keepalivedGaps(b, &t, k.label, k.spec, true, runs)) })
	}
	// A parent benchmark's log is not always shown: print the table too.
	fmt.Printf("\nclient-observed gaps\n%s\n", t.String())
	b.Logf("client-observed gaps\n%s", t.String())
}
