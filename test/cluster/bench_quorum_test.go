//go:build linux

package cluster

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"hbgo/crm"
	"hbgo/crm/control"
	"hbgo/test/stats"
)

// benchRaft asks node's daemon for its raft state over its control socket
// (what `hbgo status` shows), within wait.
func benchRaft(c *Cluster, node string, wait time.Duration) (crm.RaftStatus, error) {
	cl, err := control.Dial(control.SocketPath(c.Members[node].RunDir))
	if err != nil {
		return crm.RaftStatus{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := cl.Status(ctx)
	if err != nil {
		return crm.RaftStatus{}, err
	}
	return st.Raft, nil
}

// agreedLeader waits until every running voter names the same leader and
// that leader says it leads; it returns the leader and its term.
func agreedLeader(c *Cluster, bound time.Duration) (string, uint64, error) {
	deadline := time.Now().Add(bound)
	var last string
	for {
		leader, term, ok := "", uint64(0), true
		var seen []string
		for _, n := range c.order {
			if !c.Running(n) {
				continue
			}
			rs, err := benchRaft(c, n, time.Second)
			if err != nil {
				ok = false
				seen = append(seen, n+": "+err.Error())
				continue
			}
			seen = append(seen, fmt.Sprintf("%s: %s, leader %q, term %d", n, rs.State, rs.Leader, rs.Term))
			if rs.Leader == "" || (leader != "" && rs.Leader != leader) {
				ok = false
			}
			leader = rs.Leader
			if n == rs.Leader {
				ok = ok && rs.State == "Leader"
				term = rs.Term
			}
		}
		if ok && leader != "" && term > 0 {
			return leader, term, nil
		}
		last = fmt.Sprint(seen)
		if time.Now().After(deadline) {
			return "", 0, fmt.Errorf("no leader agreed within %v: %s", bound, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newLeader polls the survivors' status, each on its own (one slow to
// answer does not delay the other), until one of them leads in a term
// after term, and returns how long after t0 that was seen and who.
func newLeader(c *Cluster, survivors []string, term uint64, t0 time.Time, bound time.Duration) (time.Duration, string, error) {
	type seen struct {
		at   time.Time
		node string
	}
	ch := make(chan seen, len(survivors))
	stop := make(chan struct{})
	defer close(stop)
	deadline := t0.Add(bound)
	for _, n := range survivors {
		go func() {
			for time.Now().Before(deadline) {
				rs, err := benchRaft(c, n, 200*time.Millisecond)
				if err == nil && rs.State == "Leader" && rs.Term > term {
					ch <- seen{time.Now(), n}
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
	}
	select {
	case s := <-ch:
		return s.at.Sub(t0), s.node, nil
	case <-time.After(time.Until(deadline)):
		return 0, "", fmt.Errorf("no survivor of %v led within %v", survivors, bound)
	}
}

// arrangeTries bounds the attempts to put raft's leadership where a case
// wants it.
const arrangeTries = 3

// leadOn waits for an agreed leader and, while want rejects it, moves
// leadership with move(leader), at most arrangeTries times. It returns the
// leader and term it ends with, whether want took them or not.
func (l *hbgoLab) leadOn(want func(string) bool, move func(leader string)) (string, uint64) {
	l.T.Helper()
	for i := 0; ; i++ {
		leader, term, err := agreedLeader(l.Cluster, l.tm.bound)
		if err != nil {
			l.T.Fatal(err)
		}
		if want(leader) || i == arrangeTries {
			return leader, term
		}
		move(leader)
	}
}

// restartGracefully stops a node's daemon with SIGTERM (a raft leader
// hands its leadership over when it stops) and starts it again.
func (l *hbgoLab) restartGracefully(name string) {
	l.T.Helper()
	l.Signal(name, syscall.SIGTERM)
	if err := l.WaitExit(name, l.tm.bound); err != nil && l.Running(name) {
		l.T.Fatal(err)
	}
	l.Start(name)
}

// otherDirector is the director that is not name.
func otherDirector(name string) string {
	if name == "n1" {
		return "n2"
	}
	return "n1"
}

// hbgoLeaderCrash powers off the raft leader while it owns a group (with
// two directors and a witness): each run first makes a director the
// leader (a witness that leads is restarted gracefully, which hands
// leadership over), then powers that director off. The figure is the
// client's gap for the VIP of the director's home group until the other
// director answers; new leader is until a survivor leads in a new term.
func hbgoLeaderCrash(b *testing.B, tm hbgoTiming, runs int) row {
	l := newHbgoLab(b, modeWitness, tm)
	r := row{system: "hbgo", setup: modeWitness.label + ", leader crash", timing: tm.label}
	victims := map[string]int{}
	for i := 0; i < runs; i++ {
		leader, term := l.leadOn(func(n string) bool { return n != "w" }, func(string) { l.restartGracefully("w") })
		if leader == "w" {
			r.addNote("leadership stayed on the witness after %d graceful restarts of it: %d runs not made", arrangeTries, runs-i)
			break
		}
		victim, survivor := leader, otherDirector(leader)
		victims[victim]++
		t0 := time.Now()
		powerOff(l.Cluster, victim)
		l.moves++
		type elected struct {
			d   time.Duration
			err error
		}
		ch := make(chan elected, 1)
		go func() {
			d, _, err := newLeader(l.Cluster, []string{survivor, "w"}, term, t0, tm.bound)
			ch <- elected{d, err}
		}()
		gap, _, err := l.probe(victim).Gap(t0, survivor, tm.bound)
		if err != nil {
			b.Fatalf("run %d: %v", i, err)
		}
		e := <-ch
		if e.err != nil {
			b.Fatalf("run %d: %v", i, e.err)
		}
		r.took = append(r.took, gap)
		r.leader = append(r.leader, e.d)
		if os.Getenv("HBGO_BENCH_SLOWLOG") != "" && gap > time.Second {
			// For the developers: what the survivors said around a slow run.
			// On stderr: a benchmark's own log is cut to a few lines.
			for _, n := range []string{survivor, "w"} {
				lines := strings.Split(l.DaemonLog(n), "\n")
				fmt.Fprintf(os.Stderr, "run %d took %v; %s's log:\n%s\n", i, gap, n, strings.Join(lines[max(len(lines)-80, 0):], "\n"))
			}
		}
		r.start = append(r.start, l.waitStart(benchGroup[victim], survivor, t0))
		l.reboot(victim)
		l.waitHome(tm.settle)
		r.other = append(r.other, l.probe(survivor).Silence(t0, time.Now()))
	}
	r.addNote("leader crashed: n1 %d, n2 %d times", victims["n1"], victims["n2"])
	l.finish(b, &r)
	return r
}

// witnessWatch is how long a witness crash is watched after the new
// leader (or the crash, when the witness did not lead): longer than any
// lease, so a VIP that went dark for want of renewals would show.
const witnessWatch = 2 * time.Second

// hbgoWitnessCrash powers the witness off; the aim is that the client sees
// no gap at all. Each run first tries to make the witness the leader (a
// director that leads is killed with -9 and started again, so the
// others elect; a graceful stop would hand leadership to the other
// director). The figure is the longest time without an answer on either
// VIP from the crash to witnessWatch after the new leader; new leader is
// measured in the runs where the witness led.
func hbgoWitnessCrash(b *testing.B, tm hbgoTiming, runs int) row {
	l := newHbgoLab(b, modeWitness, tm)
	r := row{system: "hbgo", setup: modeWitness.label + ", witness crash", timing: tm.label}
	// rest is the same figure over a window of restWatch just before each
	// crash: what the probes show with no fault, the control.
	var rest []time.Duration
	// lost and restLost count the questions the VIPs left unanswered
	// (peers.Probe.Lost) in the crash's window and in the control's.
	var lost, restLost, lostRuns int
	for i := 0; i < runs; i++ {
		leader, term := l.leadOn(func(n string) bool { return n == "w" }, func(leader string) {
			l.KillDaemon(leader)
			l.moves++
			l.WaitOwner2(benchGroup[leader], otherDirector(leader), tm.bound)
			l.Start(leader)
			l.waitHome(tm.settle)
		})
		time.Sleep(restWatch)
		t0 := time.Now()
		rest = append(rest, max(l.probe("n1").Silence(t0.Add(-restWatch), t0), l.probe("n2").Silence(t0.Add(-restWatch), t0)))
		restLost += l.probe("n1").Lost(t0.Add(-restWatch), t0) + l.probe("n2").Lost(t0.Add(-restWatch), t0)
		powerOff(l.Cluster, "w")
		until := t0
		if leader == "w" {
			d, _, err := newLeader(l.Cluster, []string{"n1", "n2"}, term, t0, tm.bound)
			if err != nil {
				b.Fatalf("run %d: %v", i, err)
			}
			r.leader = append(r.leader, d)
			until = t0.Add(d)
		}
		end := until.Add(witnessWatch)
		time.Sleep(time.Until(end))
		r.took = append(r.took, max(l.probe("n1").Silence(t0, end), l.probe("n2").Silence(t0, end)))
		if n := l.probe("n1").Lost(t0, end) + l.probe("n2").Lost(t0, end); n > 0 {
			lost += n
			lostRuns++
		}
		l.reboot("w")
		if _, _, err := agreedLeader(l.Cluster, tm.bound); err != nil {
			b.Fatalf("run %d: %v", i, err)
		}
		l.waitHome(tm.settle)
	}
	if n := len(r.leader); n < len(r.took) {
		r.addNote("the witness led in %d of %d runs", n, len(r.took))
	}
	r.addNote("unanswered questions after the crashes: %d in %d runs", lost, lostRuns)
	r.addNote("the same probes over %v at rest before each crash: p50 %v, p99 %v, %d unanswered", restWatch,
		stats.Percentile(rest, .5).Round(time.Millisecond), stats.Percentile(rest, .99).Round(time.Millisecond), restLost)
	l.finish(b, &r)
	return r
}

// restWatch is the window of the witness crash's control: at least as
// long as the crash's own window (the crash to witnessWatch after the new
// leader).
const restWatch = witnessWatch + time.Second

// BenchmarkFailoverQuorum crashes the raft leader while it owns a group,
// and the witness, with two directors and a witness.
func BenchmarkFailoverQuorum(b *testing.B) {
	t := table{title: "failover: raft leader and witness crashes (power-off)", took: "client gap",
		what: "longest time a client asking the VIP every 10 ms got no answer (leader crash: until the survivor answered; witness crash: from the crash to 2 s after the new leader); new leader: until a survivor led in a new term"}
	runs := benchRuns(false)
	for _, tm := range []hbgoTiming{timing100, timing30} {
		b.Run("hbgo/leader-crash/"+tm.name, func(b *testing.B) {
			report(b, &t, func() row { return hbgoLeaderCrash(b, tm, runs) })
		})
		b.Run("hbgo/witness-crash/"+tm.name, func(b *testing.B) {
			report(b, &t, func() row { return hbgoWitnessCrash(b, tm, runs) })
		})
	}
	t.print()
}
