package main

import (
	"strings"
	"testing"
	"time"

	"hbgo/test/cluster"
)

// moveBound is how long a group may take to settle in these clusters.
const moveBound = 20 * time.Second

// waitLog waits until node's daemon log has sub.
func waitLog(t *testing.T, c *cluster.Cluster, node, sub string) {
	t.Helper()
	deadline := time.Now().Add(moveBound)
	for !strings.Contains(c.DaemonLog(node), sub) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's log lacks %q:\n%s", node, sub, c.DaemonLog(node))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterStandbyNoWait runs hb_standby --no-wait against two real
// daemons: it returns at once with 0 while the group still runs (its stop
// takes 2 s), a second request meanwhile is refused, and the group moves
// afterwards: the request outlives its client. (A request withdrawn when
// its client went away would leave the group at its home, since
// auto_failback is on.)
func TestClusterStandbyNoWait(t *testing.T) {
	c := cluster.New(t, cluster.Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1", "n2 g2"}, StopDelay: 2 * time.Second})
	c.StartAll()
	c.WaitOwner("g1", "n1", moveBound)
	c.WaitOwner("g2", "n2", moveBound)

	start := time.Now()
	out, code := c.Command("n1", "hb_standby", "--no-wait")
	took := time.Since(start)
	if code != moveAccepted || took > time.Second || out != "Going standby [all].\nAsked; not waiting for the move (hbgo status shows it).\n" {
		t.Fatalf("hb_standby --no-wait: exit %d after %v, want %d at once\n%s", code, took, moveAccepted, out)
	}
	if o := c.Owner("g1"); o != "n1" {
		t.Fatalf("g1 on %q when hb_standby --no-wait returned; its stop takes 2s", o)
	}
	out, code = c.Command("n1", "hb_takeover", "--no-wait")
	if code != moveFailed || !strings.Contains(out, "another standby or takeover is in progress") {
		t.Errorf("hb_takeover --no-wait while the standby runs: exit %d, want %d\n%s", code, moveFailed, out)
	}
	c.WaitOwner("g1", "n2", moveBound)
	waitLog(t, c, "n1", "Control: standby all done: testres::g1 n1->n2")
	t.Logf("hb_standby --no-wait returned in %v; g1 moved to n2 afterwards", took)
}

// TestClusterMoveExitCodes checks against real daemons the exit codes of
// hb_standby and hb_takeover that need a cluster: 5 (not done in time),
// 3 (no healthy peer), 1 (refused: a witness runs no groups, with and
// without --no-wait) and 4 (no quorum). docs/commands.md lists them.
func TestClusterMoveExitCodes(t *testing.T) {
	t.Run("two-node", func(t *testing.T) {
		c := cluster.New(t, cluster.Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1", "n2 g2"}, StopDelay: 2 * time.Second})
		c.StartAll()
		c.WaitOwner("g1", "n1", moveBound)
		c.WaitOwner("g2", "n2", moveBound)
		out, code := c.Command("n1", "hb_standby", "--timeout", "500ms")
		if code != moveTimeout || !strings.Contains(out, "the move may still complete") {
			t.Errorf("hb_standby with a 2s stop and --timeout 500ms: exit %d, want %d\n%s", code, moveTimeout, out)
		}
		c.WaitOwner("g1", "n1", moveBound) // withdrawn: home again
		c.Crash("n2")
		c.WaitOwner("g2", "n1", moveBound)
		out, code = c.Command("n1", "hb_standby", "--timeout", "5s")
		if code != moveNoPeer || !strings.Contains(out, "no healthy peer") {
			t.Errorf("hb_standby with the peer down: exit %d, want %d\n%s", code, moveNoPeer, out)
		}
	})
	t.Run("witness", func(t *testing.T) {
		c := cluster.New(t, cluster.Spec{Directors: []string{"n1", "n2"}, Witnesses: []string{"w"}, Groups: []string{"n1 g1", "n2 g2"}})
		c.StartAll()
		c.WaitOwner("g1", "n1", moveBound)
		c.WaitOwner("g2", "n2", moveBound)
		for _, args := range [][]string{nil, {"--no-wait"}} {
			out, code := c.Command("w", "hb_standby", args...)
			if code != moveFailed || !strings.Contains(out, "a witness runs no groups") {
				t.Errorf("hb_standby %q on the witness: exit %d, want %d\n%s", args, code, moveFailed, out)
			}
		}
		c.Crash("n2")
		c.Crash("w")
		out, code := c.Command("n1", "hb_takeover", "--timeout", "3s")
		if code != moveNoQuorum || !strings.Contains(out, "no quorum") {
			t.Errorf("hb_takeover alone of three voters: exit %d, want %d\n%s", code, moveNoQuorum, out)
		}
	})
}
