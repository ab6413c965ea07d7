package ldbench

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"hbgo/test/netns"
	"hbgo/test/stats"
)

// Phases bounds and sizes the measurements of one checker.
type Phases struct {
	// StartCap bounds the start: launch until every real server is in
	// the table.
	StartCap time.Duration
	// OnlyStart stops after the start phase (a checker too slow at this
	// size for the rest to fit the run).
	OnlyStart bool
	// WaitCap bounds each wait for one removal or addition.
	WaitCap time.Duration
	// Kills is how many single servers are killed for the detection
	// latency, HungKills how many while 3 servers are frozen.
	Kills, HungKills int
	// CPUWindow is how long CPU time is sampled, all servers up.
	CPUWindow time.Duration
	// MassCap bounds the wait for every server's removal after all die.
	MassCap time.Duration
	// WarmCap bounds a restart over a full table (see Restarter), when
	// the cold start did not finish; 0 ends the measurement there.
	WarmCap time.Duration
}

// Restarter is a checker that can be restarted over a table already
// holding every real server but the last, as after a restart of the
// daemon on a running director. Measure uses it when the cold start runs
// out of time, so the other phases can still be measured.
type Restarter interface {
	RestartWarm(n int) (time.Time, error)
}

// Result is what one checker did at one size.
type Result struct {
	System string
	N      int
	// Start is launch → the table holds every real server; StartNote
	// says why it is missing.
	Start     time.Duration
	StartNote string
	// Warm is the restart over a full table: launch → the last real
	// server (the one missing) added, when the cold start was cut.
	Warm     time.Duration
	WarmNote string
	// Detect: kill → the call that removes the server; DetectHung the
	// same with 3 frozen servers in the farm.
	Detect, DetectHung []time.Duration
	// CPU is the share of one core used over the window, RSS and HWM
	// (peak) the resident memory at its end.
	CPU      float64
	RSS, HWM int64
	// MassFirst and MassLast: all servers killed → first and last
	// removal; MassNote says why they are missing.
	MassFirst, MassLast time.Duration
	MassRemoved         int
	MassNote            string
	Note                string
}

// Measure runs the phases on a started checker (launched at t0) against
// its farm. A phase that runs out of time says so in the result and ends
// the measurement; an error is something broken (the checker died).
func Measure(c Checker, farm *Farm, t0 time.Time, ph Phases, logf func(string, ...any)) (Result, error) {
	r := Result{System: c.Name(), N: farm.N()}
	w := &watcher{c: c}

	// (a) start.
	rep := NewReplay()
	visited := map[netip.AddrPort]bool{}
	call, ok, err := w.wait(0, t0.Add(ph.StartCap), func(c Call) bool {
		rep.Apply(c)
		if c.Real.IsValid() {
			visited[c.Real] = true
		}
		return rep.Live == farm.N()
	})
	if err != nil {
		return r, err
	}
	if ok {
		r.Start = call.At.Sub(t0)
		logf("%s n=%d: all %d real servers in the table %v after launch", r.System, r.N, r.N, r.Start.Round(time.Millisecond))
	} else {
		r.StartNote = fmt.Sprintf("did not finish within %v (%d of %d in the table, %d touched)", ph.StartCap, rep.Live, farm.N(), len(visited))
		logf("%s n=%d: start %s", r.System, r.N, r.StartNote)
	}
	if ph.OnlyStart {
		return r, nil
	}
	if !ok {
		rs, can := c.(Restarter)
		if !can || ph.WarmCap <= 0 {
			r.Note = "other phases not run: the table never filled"
			return r, nil
		}
		last := farm.Addr(farm.N() - 1)
		from := w.len()
		t1, err := rs.RestartWarm(farm.N())
		if err != nil {
			return r, err
		}
		call, ok, err := w.wait(from, t1.Add(ph.WarmCap), func(c Call) bool { return !c.At.Before(t1) && Adds(c, last) })
		if err != nil {
			return r, err
		}
		if !ok {
			r.WarmNote = fmt.Sprintf("did not finish within %v", ph.WarmCap)
			return r, nil
		}
		r.Warm = call.At.Sub(t1)
		logf("%s n=%d: restart over a full table done %v after launch", r.System, r.N, r.Warm.Round(time.Millisecond))
	}
	time.Sleep(2 * CheckInterval)

	// (d) CPU and memory, everything up.
	u0, err := ReadUsage(c.PID())
	if err != nil {
		return r, err
	}
	time.Sleep(ph.CPUWindow)
	u1, err := ReadUsage(c.PID())
	if err != nil {
		return r, err
	}
	r.CPU = 100 * float64(u1.CPU-u0.CPU) / float64(u1.At.Sub(u0.At))
	r.RSS, r.HWM = u1.RSS, u1.HWM
	logf("%s n=%d: %.2f%% of a core over %v, RSS %.1f MB (peak %.1f MB)", r.System, r.N, r.CPU, u1.At.Sub(u0.At).Round(time.Millisecond), mb(r.RSS), mb(r.HWM))

	// (b) detection of single deaths; (c) the same beside 3 frozen
	// servers, the last three of the farm.
	n := farm.N()
	hung := []int{n - 1, n - 2, n - 3}
	targets := n - len(hung)
	kill := func(k, of int) (time.Duration, error) {
		i := (k*targets/of + targets/(2*of)) % targets
		// A random phase against the checks' rhythm.
		time.Sleep(time.Duration(float64(CheckInterval) * math.Mod(float64(k)*0.618, 1)))
		addr := farm.Addr(i)
		from := w.len()
		start := time.Now()
		if err := farm.Kill(i); err != nil {
			return 0, err
		}
		call, ok, err := w.wait(from, start.Add(ph.WaitCap), func(c Call) bool { return !c.At.Before(start) && Removes(c, addr) })
		if err != nil || !ok {
			return 0, orTimeout(err, ok, "removal of killed %v", addr, ph.WaitCap)
		}
		from = w.len()
		revived := time.Now()
		if err := farm.Revive(i); err != nil {
			return 0, err
		}
		if _, ok, err := w.wait(from, revived.Add(ph.WaitCap), func(c Call) bool { return !c.At.Before(revived) && Adds(c, addr) }); err != nil || !ok {
			return 0, orTimeout(err, ok, "re-add of revived %v", addr, ph.WaitCap)
		}
		return call.At.Sub(start), nil
	}
	for k := range ph.Kills {
		d, err := kill(k, ph.Kills)
		if err != nil {
			r.Note = err.Error()
			return r, nil
		}
		r.Detect = append(r.Detect, d)
	}
	logf("%s n=%d: detection %v", r.System, r.N, roundAll(r.Detect))

	from := w.len()
	frozeAt := time.Now()
	if err := farm.Freeze(hung...); err != nil {
		return r, err
	}
	for _, i := range hung {
		addr := farm.Addr(i)
		if _, ok, err := w.wait(from, frozeAt.Add(ph.WaitCap+3*CheckTimeout), func(c Call) bool { return Removes(c, addr) }); err != nil || !ok {
			r.Note = orTimeout(err, ok, "removal of frozen %v", addr, ph.WaitCap+3*CheckTimeout).Error()
			return r, nil
		}
	}
	for k := range ph.HungKills {
		d, err := kill(k, ph.HungKills)
		if err != nil {
			r.Note = err.Error()
			return r, nil
		}
		r.DetectHung = append(r.DetectHung, d)
	}
	logf("%s n=%d: detection beside 3 frozen servers %v", r.System, r.N, roundAll(r.DetectHung))
	from = w.len()
	thawed := time.Now()
	if err := farm.Revive(hung...); err != nil {
		return r, err
	}
	for _, i := range hung {
		addr := farm.Addr(i)
		if _, ok, err := w.wait(from, thawed.Add(ph.WaitCap+3*CheckTimeout), func(c Call) bool { return Adds(c, addr) }); err != nil || !ok {
			r.Note = orTimeout(err, ok, "re-add of thawed %v", addr, ph.WaitCap+3*CheckTimeout).Error()
			return r, nil
		}
	}
	time.Sleep(2 * CheckInterval)

	// (e) mass failure: every server that is in the table when all die
	// must be removed (a checker that flaps under load may have dropped
	// some before).
	calls, err := c.Calls()
	if err != nil {
		return r, err
	}
	table := NewReplay()
	for _, call := range calls {
		table.Apply(call)
	}
	live := map[netip.AddrPort]bool{}
	for i := range n {
		if table.Serving(ServiceOf(i), farm.Addr(i)) {
			live[farm.Addr(i)] = true
		}
	}
	if len(live) == 0 {
		r.MassNote = "no server in the table to fail"
		return r, nil
	}
	from = len(calls)
	massAt := time.Now()
	if err := farm.KillAll(); err != nil {
		return r, err
	}
	removed := map[netip.AddrPort]bool{}
	var first time.Time
	last, ok, err := w.wait(from, massAt.Add(ph.MassCap), func(c Call) bool {
		if c.Code == 0 && (c.Op == 'd' || c.Op == 'e' && c.Weight == 0) && live[c.Real] && !removed[c.Real] {
			if first.IsZero() {
				first = c.At
			}
			removed[c.Real] = true
		}
		return len(removed) == len(live)
	})
	if err != nil {
		return r, err
	}
	r.MassRemoved = len(removed)
	if !first.IsZero() {
		r.MassFirst = first.Sub(massAt)
	}
	if !ok {
		r.MassNote = fmt.Sprintf("%d of %d removed within %v", len(removed), len(live), ph.MassCap)
		return r, nil
	}
	r.MassLast = last.At.Sub(massAt)
	if len(live) < n {
		r.Note = fmt.Sprintf("%d of %d servers in the table when all died", len(live), n)
	}
	logf("%s n=%d: all %d dead: first removal %v, last %v", r.System, r.N, n, r.MassFirst.Round(time.Millisecond), r.MassLast.Round(time.Millisecond))
	return r, nil
}

func orTimeout(err error, ok bool, what string, addr netip.AddrPort, bound time.Duration) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("no "+what+" within %v", addr, bound)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// watcher polls a checker's calls.
type watcher struct {
	c Checker
	n int
}

func (w *watcher) len() int {
	calls, _ := w.c.Calls()
	return len(calls)
}

// wait returns the first call from index from on for which ok holds
// (ok sees every call once, in order), or false at deadline; it fails
// when the checker exits.
func (w *watcher) wait(from int, deadline time.Time, ok func(Call) bool) (Call, bool, error) {
	next := from
	for {
		calls, err := w.c.Calls()
		if err != nil {
			return Call{}, false, err
		}
		for ; next < len(calls); next++ {
			if ok(calls[next]) {
				return calls[next], true, nil
			}
		}
		if dead, tail := w.c.Exited(); dead {
			return Call{}, false, fmt.Errorf("%s exited:\n%s", w.c.Name(), tail)
		}
		if time.Now().After(deadline) {
			return Call{}, false, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Capacity is what a plain client got from the lab: one connect to each
// real server per CheckInterval, paced evenly, for a while. It is the
// ceiling the lab itself puts on any checker at that size.
type Capacity struct {
	N        int
	Connects int
	Failed   int
	P50, P99 time.Duration
	Max      time.Duration
	Rate     float64 // connects per second achieved
}

// MeasureCapacity connects from checker to every server of farm once per
// CheckInterval for rounds rounds, from 64 paced goroutines, each connect
// bounded by CheckTimeout.
func MeasureCapacity(checker *netns.Host, farm *Farm, rounds int) Capacity {
	const workers = 64
	n := farm.N()
	var (
		mu   sync.Mutex
		lat  []time.Duration
		fail int
		wg   sync.WaitGroup
	)
	start := time.Now().Add(100 * time.Millisecond)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = checker.Do(func() error {
				// Worker w takes servers w, w+workers, ...; server i is
				// due at start + round*interval + i/n of an interval.
				for round := range rounds {
					for i := w; i < n; i += workers {
						due := start.Add(time.Duration(round)*CheckInterval + time.Duration(float64(CheckInterval)*float64(i)/float64(n)))
						time.Sleep(time.Until(due))
						t := time.Now()
						c, err := net.DialTimeout("tcp", farm.Addr(i).String(), CheckTimeout)
						d := time.Since(t)
						mu.Lock()
						if err != nil {
							fail++
						} else {
							c.Close()
							lat = append(lat, d)
						}
						mu.Unlock()
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	took := time.Since(start)
	c := Capacity{N: n, Connects: len(lat) + fail, Failed: fail, Rate: float64(len(lat)+fail) / took.Seconds()}
	c.P50, c.P99, c.Max = stats.Percentile(lat, .5), stats.Percentile(lat, .99), stats.Percentile(lat, 1)
	return c
}
