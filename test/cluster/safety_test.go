package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hbgo/test/ptypair"
)

// These tests hold real daemons to the one rule that matters most: a group
// never runs on two directors at once. Each starts from a way a real pair
// of directors gets into trouble: both booting together, a daemon killed
// alone, a stop slower than the daemon's patience, haresources edited on
// one node only, a link that carries packets one way, a serial cable that
// delivers late.

// safetySpec is the two-node cluster of the tests here, or the same pair
// with a witness.
func safetySpec(mode string) Spec {
	s := Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1", "n2 g2"}}
	if mode == "witness" {
		s.Witnesses = []string{"w"}
	}
	return s
}

func startSpec(t *testing.T, spec Spec) *Cluster {
	t.Helper()
	c := New(t, spec)
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)
	return c
}

// watchOwners polls the resource log for d and fails the test as soon as
// a group runs on two nodes (Owner does that).
func watchOwners(c *Cluster, d time.Duration, groups ...string) {
	c.T.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, g := range groups {
			c.Owner(g)
		}
	}
}

// TestClusterTwoNodeSimultaneousStartPing: both directors of a two-node
// cluster with a ping node boot at the same moment, round after round,
// each round a fresh cluster (the state directories wiped). No group may
// ever run on both (checked after each round), and each group ends on its
// home. Beyond that, with both homes up and starting together nothing
// should start away from its home at all: the handshake gives the tie to
// the home. A start away from home that happens not to overlap is
// counted, logged, and fails the test at the end.
func TestClusterTwoNodeSimultaneousStartPing(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	spec := safetySpec("two-node")
	spec.Router = true
	spec.Extra = "ping " + RouterAddr + "\n"
	c := New(t, spec)
	home := map[string]string{"g1": "n1", "g2": "n2"}
	began := time.Now()
	var away []string
	for i := 1; i <= rounds; i++ {
		first, second := "n1", "n2"
		if i%2 == 0 {
			first, second = second, first
		}
		start := time.Now()
		c.Start(first)
		c.Start(second)
		c.WaitOwner("g1", "n1", bound)
		c.WaitOwner("g2", "n2", bound)
		settled := time.Since(start)
		// A second start that comes late still shows.
		time.Sleep(300 * time.Millisecond)
		if err := CheckNoOverlapExcept(c.Records(), nil, 0); err != nil {
			t.Fatalf("round %d (%s started first): %v", i, first, err)
		}
		var wrong []string
		for _, r := range c.Records() {
			if r.Op == "START" && r.At.After(start) && r.Node != home[r.Group] {
				wrong = append(wrong, r.Node+" started "+r.Group)
			}
		}
		if len(wrong) > 0 {
			away = append(away, fmt.Sprintf("round %d (%s first): %s", i, first, strings.Join(wrong, ", ")))
		}
		t.Logf("round %d (%s first): both groups home after %v; started away from home: %v", i, first, settled.Round(time.Millisecond), wrong)
		// Power both off at once, and forget the cluster's state: the next
		// round is a first boot again.
		c.Crash("n1")
		c.Crash("n2")
		for _, n := range []string{"n1", "n2"} {
			m := c.Members[n]
			if err := os.RemoveAll(m.StateDir); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(m.StateDir, 0o755); err != nil {
				t.Fatal(err)
			}
			c.Revive(n)
		}
	}
	t.Logf("%d simultaneous starts in %v", rounds, time.Since(began).Round(time.Millisecond))
	if len(away) > 0 {
		t.Errorf("in %d of %d simultaneous starts a node started its peer's group while the peer was up and starting it too (no overlap this time, but only by luck):\n%s",
			len(away), rounds, strings.Join(away, "\n"))
	}
}

// TestClusterKill9RestartSweeps kills the daemon of g1's owner with -9
// and nothing else: its machine, links and the resources it started stay.
// The peer takes g1 over once the owner is dead on every link; from then
// until the killed daemon runs again, g1 is held twice. Nothing in hbgo
// can prevent that for a resource the kernel does not gate: a killed
// daemon stops nothing. (A VIP is gated, so the address goes dark on its
// own within the lease: TestClusterKill9LosesVIP; a script resource such
// as the test's is not.) What the daemon must do is end the double
// holding as soon as it is back: the restart sweep stops what runs here
// without the cluster's assignment, before the node is ready. So the test
// asserts that the restarted node logs STOP for its leftover copy of g1
// within FreezeGrace of its restart, and that the overlap with the peer
// ends then (the invariant, with the span from the kill to the restart
// plus FreezeGrace excused). With auto_failback on, g1 then goes home to
// n1 (a failback must not pass for the sweep: the old copy answers
// status "running", so a start there writes nothing); with it off, g1
// stays on n2, and without a sweep n1's copy would run beside it for good.
func TestClusterKill9RestartSweeps(t *testing.T) {
	for _, mode := range []string{"two-node", "witness"} {
		for _, failback := range []string{"on", "off"} {
			t.Run(mode+",auto_failback_"+failback, func(t *testing.T) {
				spec := safetySpec(mode)
				spec.Extra = "auto_failback " + failback + "\n"
				c := startSpec(t, spec)
				killed := c.KillDaemon("n1")
				took := c.WaitOwner2("g1", "n2", bound)
				t.Logf("n1's daemon killed; n2 runs g1 %v later", took.Round(time.Millisecond))
				leftover := filepath.Join(c.Root, "n1", "res", "g1.running")
				if !exists(leftover) {
					t.Fatal("n1's copy of g1 did not outlive its daemon")
				}
				time.Sleep(500 * time.Millisecond)

				restarted := time.Now()
				c.Start("n1")
				// Generous: FreezeGrace is what the sweep may take.
				stopped := c.WaitRecord("STOP", "n1", "g1", killed, 2*FreezeGrace+time.Second)
				if stopped.IsZero() {
					t.Fatalf("n1 restarted %v ago and never stopped its leftover copy of g1 (no STOP n1 g1 in the log); "+
						"g1 runs on %v; n1's copy from before the kill still runs: %v",
						time.Since(restarted).Round(time.Millisecond), Running(c.Records())["g1"], exists(leftover))
				}
				if d := stopped.Sub(restarted); d > FreezeGrace {
					t.Errorf("n1 stopped its leftover g1 %v after its restart; want within %v", d.Round(time.Millisecond), FreezeGrace)
				} else {
					t.Logf("n1 stopped its leftover g1 %v after its restart", d.Round(time.Millisecond))
				}
				c.CheckInvariant()
				want := "n1"
				if failback == "off" {
					want = "n2"
					time.Sleep(time.Second)
				}
				c.WaitOwner("g1", want, bound)
				c.WaitOwner("g2", "n2", bound)
				c.CheckInvariant()
			})
		}
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestClusterSlowStopOnSIGTERM: the owner is told to stop (SIGTERM) while
// its resource takes longer to stop (StopDelay 3 s) than the daemon waits
// for its groups on the way out (--stop-timeout 1s; the limit of one stop
// operation, crm.NodeConfig.StartTimeout, is far longer, so the stop
// itself is not cut short). However the daemon ends, the peer must not
// start g1 until the old owner's STOP is written (the invariant), and g1
// must end on the peer.
func TestClusterSlowStopOnSIGTERM(t *testing.T) {
	for _, mode := range []string{"two-node", "witness"} {
		t.Run(mode, func(t *testing.T) {
			spec := safetySpec(mode)
			spec.StopDelay = 3 * time.Second
			spec.DaemonArgs = []string{"--stop-timeout", "1s"}
			c := startSpec(t, spec)
			sent := time.Now()
			c.Signal("n1", syscall.SIGTERM)
			exit := c.WaitExit("n1", bound+spec.StopDelay)
			if exit != nil && strings.Contains(exit.Error(), "did not exit") {
				t.Fatal(exit)
			}
			exited := time.Now()
			c.WaitOwner("g1", "n2", bound)
			stop := c.WaitRecord("STOP", "n1", "g1", sent, 0)
			start := c.WaitRecord("START", "n2", "g1", sent, 0)
			t.Logf("after SIGTERM: n1's daemon exited (%v) at +%v, n1's STOP of g1 at +%v, n2's START of g1 at +%v",
				exit, exited.Sub(sent).Round(time.Millisecond), stop.Sub(sent).Round(time.Millisecond), start.Sub(sent).Round(time.Millisecond))
			c.CheckInvariant()
		})
	}
}

// differingHaresources is what the daemon log and hbgo status say when
// the nodes' haresources differ (crm's alienWarning).
const differingHaresources = "haresources (or hbgo version) differ"

// TestClusterDifferingHaresources: n2's haresources has a group n1's
// lacks. For five seconds after both start no group runs anywhere (each
// side's claims cannot be compared with the other's), and each node
// warns about the difference, in its log and in hbgo status.
func TestClusterDifferingHaresources(t *testing.T) {
	spec := safetySpec("two-node")
	spec.ExtraGroups = map[string][]string{"n2": {"n2 g3"}}
	c := New(t, spec)
	c.StartAll()
	// The log keeps every instant: check it once, after five seconds, and
	// look at the warnings whatever it shows.
	time.Sleep(5 * time.Second)
	run := Running(c.Records())
	t.Logf("after 5 s: g1 on %v, g2 on %v, g3 on %v", run["g1"], run["g2"], run["g3"])
	if err := CheckNoOverlap(c.Records()); err != nil {
		t.Errorf("haresources differ: %v", err)
	}
	// Each side hears a peer whose claims it cannot compare: it might
	// hold any group, so nothing starts anywhere.
	if recs := c.Records(); len(recs) > 0 {
		t.Errorf("haresources differ, yet %d resource records: first %s %s %s", len(recs), recs[0].Op, recs[0].Node, recs[0].Group)
	}

	for _, n := range []string{"n1", "n2"} {
		var logged, shown bool
		var status string
		for deadline := time.Now().Add(bound); time.Now().Before(deadline) && !(logged && shown); time.Sleep(200 * time.Millisecond) {
			logged = warnsOf(c.DaemonLog(n), differingHaresources)
			out, code := c.Command(n, "status")
			status = out
			shown = code == 0 && strings.Contains(out, differingHaresources)
		}
		if !logged {
			t.Errorf("%s: no warning in its daemon log mentions %q", n, differingHaresources)
		}
		if !shown {
			t.Errorf("%s: hbgo status does not mention %q:\n%s", n, differingHaresources, status)
		}
		if out, _ := c.Command(n, "cl_status", "rscstatus"); !strings.Contains(out, differingHaresources) {
			t.Errorf("%s: cl_status rscstatus does not warn of %q:\n%s", n, differingHaresources, out)
		}
	}
}

// warnsOf reports whether a daemon log has a warning (or error) line
// containing phrase.
func warnsOf(log, phrase string) bool {
	for _, l := range strings.Split(log, "\n") {
		u := strings.ToUpper(l)
		if strings.Contains(l, phrase) && (strings.Contains(u, "WARN") || strings.Contains(u, "ERROR") || strings.Contains(u, "CRIT")) {
			return true
		}
	}
	return false
}

// TestClusterOneWayLoss: n1, running g1, can still hear n2, but n2 hears
// nothing of n1 on any segment (n1's packets are dropped at n2). n2 sees
// n1 dead and may take g1; n1 sees its heartbeats unacknowledged and must
// let g1 go first. For six deadtimes g1 never runs on both, and at the end
// it runs on exactly one of them; healed, it goes home.
func TestClusterOneWayLoss(t *testing.T) {
	for _, mode := range []string{"two-node", "witness"} {
		t.Run(mode, func(t *testing.T) {
			c := startSpec(t, safetySpec(mode))
			c.OneWay("n1", "n2")
			watchOwners(c, 3*time.Second, "g1", "g2")
			c.CheckInvariant()
			var owner string
			for deadline := time.Now().Add(bound); owner == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				owner = c.Owner("g1")
			}
			if owner == "" {
				t.Fatalf("one-way loss: g1 runs nowhere %v after 3 s", bound)
			}
			t.Logf("one-way loss n1->n2: g1 on %s, g2 on %s", owner, c.Owner("g2"))
			c.MendOneWay("n1", "n2")
			c.WaitOwner("g1", "n1", bound)
			c.WaitOwner("g2", "n2", bound)
			c.CheckInvariant()
		})
	}
}

// TestClusterSerialQueue: two directors with two UDP links and a serial
// cable at 19200 baud, once as paced by the baud rate alone and once with
// its bytes a second late both ways (a slow converter, a full queue), so
// that what comes over the cable is stale next to what the UDP links
// bring. hb_standby and hb_takeover must land where asked, and stay there
// while the stale claims keep arriving; no group runs on two nodes.
func TestClusterSerialQueue(t *testing.T) {
	for _, latency := range []time.Duration{0, time.Second} {
		t.Run("latency="+latency.String(), func(t *testing.T) {
			spec := safetySpec("two-node")
			spec.Serial = true
			c := New(t, spec)
			cable := c.Spec.Cable
			cable.Delay(ptypair.AtoB, latency)
			cable.Delay(ptypair.BtoA, latency)
			t.Cleanup(func() {
				for _, d := range []ptypair.Dir{ptypair.AtoB, ptypair.BtoA} {
					t.Logf("serial %v: %+v", d, cable.Stats(d))
				}
			})
			c.StartAll()
			c.WaitOwner("g1", "n1", bound)
			c.WaitOwner("g2", "n2", bound)
			watchOwners(c, 1500*time.Millisecond, "g1", "g2")

			moves := []struct {
				node, cmd string
				args      []string
				g1, g2    string
			}{
				{"n1", "hb_standby", nil, "n2", "n2"},
				{"n1", "hb_takeover", []string{"local"}, "n1", "n2"},
				{"n1", "hb_takeover", []string{"all"}, "n1", "n1"},
				{"n2", "hb_takeover", []string{"foreign"}, "n2", "n1"},
				{"n1", "hb_standby", []string{"all"}, "n2", "n2"},
				{"n1", "hb_takeover", nil, "n1", "n1"},
			}
			for _, mv := range moves {
				what := strings.TrimSpace(mv.node + ": " + mv.cmd + " " + strings.Join(mv.args, " "))
				began := time.Now()
				out, code := c.Command(mv.node, mv.cmd, mv.args...)
				if code != 0 {
					t.Fatalf("%s: exit %d\n%s", what, code, out)
				}
				took := time.Since(began)
				if g1, g2 := c.Owner("g1"), c.Owner("g2"); g1 != mv.g1 || g2 != mv.g2 {
					t.Fatalf("%s returned: g1 on %q, g2 on %q; want %q, %q", what, g1, g2, mv.g1, mv.g2)
				}
				// The cable still brings claims from before the move.
				watchOwners(c, 2*time.Second, "g1", "g2")
				if g1, g2 := c.Owner("g1"), c.Owner("g2"); g1 != mv.g1 || g2 != mv.g2 {
					t.Fatalf("2 s after %s: g1 on %q, g2 on %q; want %q, %q", what, g1, g2, mv.g1, mv.g2)
				}
				t.Logf("%s: done in %v, stayed", what, took.Round(time.Millisecond))
				c.CheckInvariant()
			}
		})
	}
}

// TestClusterWitnessCrashKeepsGroups: the witness leads the placement log
// (a director that leads hands it over), and its power-off moves no group
// and stops none: the directors renew their leases from each other while
// raft elects one of them (vouching, docs/cluster.md). Before vouching
// every lease ran out about a lease after the crash, before the election
// ended, and each director stopped its group.
func TestClusterWitnessCrashKeepsGroups(t *testing.T) {
	c := startSpec(t, safetySpec("witness"))
	var leader string
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if leader = c.RaftLeader("n1"); leader == "w" && c.RaftLeader("n2") == "w" {
			break
		}
	}
	if leader != "w" {
		t.Fatalf("the witness does not lead (n1 says %q)", leader)
	}
	time.Sleep(time.Second)
	crashed := time.Now()
	c.PowerOff("w")
	var now string
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if now = c.RaftLeader("n1"); (now == "n1" || now == "n2") && c.RaftLeader("n2") == now {
			break
		}
	}
	if now != "n1" && now != "n2" {
		t.Fatalf("no director leads after the witness crashed (n1 says %q)", now)
	}
	t.Logf("%s leads %v after the witness crashed", now, time.Since(crashed).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	for _, r := range c.Records() {
		if r.At.After(crashed) {
			t.Errorf("%s %s %s at +%v: the witness's crash moved or stopped a group", r.Op, r.Node, r.Group, r.At.Sub(crashed).Round(time.Millisecond))
		}
	}
	if o := c.Owner("g1"); o != "n1" {
		t.Errorf("g1 runs on %q, not n1", o)
	}
	if o := c.Owner("g2"); o != "n2" {
		t.Errorf("g2 runs on %q, not n2", o)
	}
}

// TestClusterDirectorHandsLeadToWitness: a director that leads the
// placement log hands it to the witness as soon as the witness is up with
// its lease, not a deadtime later: while a director leads, its own crash
// costs an election and NewLeaderWait (docs/cluster.md). The directors
// start first and elect one of them; then the witness starts.
func TestClusterDirectorHandsLeadToWitness(t *testing.T) {
	const deadtime = 10 * time.Second
	spec := safetySpec("witness")
	spec.Timing = "keepalive 200ms\nwarntime 2s\ndeadtime 10s\ninitdead 10s\n"
	c := New(t, spec)
	c.Start("n1")
	c.Start("n2")
	var leader string
	for deadline := time.Now().Add(4 * deadtime); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if l := c.RaftLeader("n1"); (l == "n1" || l == "n2") && c.RaftLeader("n2") == l {
			leader = l
			break
		}
	}
	if leader == "" {
		t.Fatalf("the directors elected no leader")
	}
	led := time.Now()
	c.Start("w")
	for deadline := led.Add(3 * deadtime); ; time.Sleep(100 * time.Millisecond) {
		if c.RaftLeader("n1") == "w" && c.RaftLeader("n2") == "w" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still leads %v after the witness started", leader, time.Since(led).Round(time.Millisecond))
		}
	}
	took := time.Since(led)
	t.Logf("%s led; the witness leads %v after it started", leader, took.Round(time.Millisecond))
	if took >= deadtime {
		t.Errorf("the witness led only %v after it started: not before a deadtime (%v) of director leadership", took.Round(time.Millisecond), deadtime)
	}
}
