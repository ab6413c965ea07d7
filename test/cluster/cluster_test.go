package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Generous bounds: the machine may be busy; benchmarks measure the times.
const bound = 15 * time.Second

func twoNode(t *testing.T, extra string) *Cluster {
	c := New(t, Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1", "n2 g2"}, Extra: extra})
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)
	return c
}

// inMode starts the two-node or the witness cluster.
func inMode(t *testing.T, mode, extra string) *Cluster {
	if mode == "two-node" {
		return twoNode(t, extra)
	}
	return withWitness(t, extra)
}

func withWitness(t *testing.T, extra string) *Cluster {
	c := New(t, Spec{Directors: []string{"n1", "n2"}, Witnesses: []string{"w"}, Groups: []string{"n1 g1", "n2 g2"}, Extra: extra})
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)
	return c
}

func TestClusterTwoNodeCrashAndFailback(t *testing.T) {
	c := twoNode(t, "")
	c.Crash("n1")
	took := c.WaitOwner("g1", "n2", bound)
	t.Logf("g1 running on n2 %v after n1 crashed", took)
	c.Revive("n1")
	c.Start("n1")
	c.WaitOwner("g1", "n1", bound) // auto_failback on
	c.WaitOwner("g2", "n2", bound)
	c.CheckInvariant()
}

// TestClusterTwoNodeCrashKeepsSurvivorsGroups: when a director crashes,
// the survivor's own group goes on running: its lease ends before the
// peer is declared dead (its VIPs dark for that moment), but a peer
// silent since its last acknowledgement may be dead, so nothing is
// stopped. Keepalive 200ms leaves 100 ms for a late heartbeat before the
// peer's last round would look like one of a peer alive but deaf to us.
func TestClusterTwoNodeCrashKeepsSurvivorsGroups(t *testing.T) {
	c := New(t, Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1", "n2 g2"},
		Timing: "keepalive 200ms\nwarntime 600ms\ndeadtime 1s\ninitdead 2\n"})
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)
	crashed := time.Now()
	c.Crash("n1")
	c.WaitOwner("g1", "n2", bound)
	for _, r := range c.Records() {
		if r.Node == "n2" && r.Group == "g2" && r.Op == "STOP" && r.At.After(crashed) {
			t.Fatalf("n2 stopped its own g2 at %s after n1 crashed at %s", r.At.Format("15:04:05.000"), crashed.Format("15:04:05.000"))
		}
	}
	if !strings.Contains(c.DaemonLog("n2"), "n1 is silent since its last acknowledgement") {
		t.Errorf("n2 did not log the silence:\n%s", c.DaemonLog("n2"))
	}
	c.CheckInvariant()
}

func TestClusterTwoNodeNoFailback(t *testing.T) {
	c := twoNode(t, "auto_failback off\n")
	c.Crash("n1")
	c.WaitOwner("g1", "n2", bound)
	c.Revive("n1")
	c.Start("n1")
	time.Sleep(3 * time.Second) // initdead and a few decisions
	if o := c.Owner("g1"); o != "n2" {
		t.Fatalf("auto_failback off: g1 moved back to %q", o)
	}
	c.CheckInvariant()
}

func testStandbyTakeover(t *testing.T, c *Cluster) {
	out, code := c.Command("n1", "hb_standby")
	if code != 0 {
		t.Fatalf("hb_standby: exit %d\n%s", code, out)
	}
	if c.Owner("g1") != "n2" || c.Owner("g2") != "n2" {
		t.Fatalf("after hb_standby returned, g1 on %q, g2 on %q", c.Owner("g1"), c.Owner("g2"))
	}
	out, code = c.Command("n1", "hb_takeover", "local")
	if code != 0 {
		t.Fatalf("hb_takeover local: exit %d\n%s", code, out)
	}
	if c.Owner("g1") != "n1" || c.Owner("g2") != "n2" {
		t.Fatalf("after hb_takeover local, g1 on %q, g2 on %q", c.Owner("g1"), c.Owner("g2"))
	}
	out, code = c.Command("n2", "hb_takeover", "foreign")
	if code != 0 {
		t.Fatalf("hb_takeover foreign on n2: exit %d\n%s", code, out)
	}
	if c.Owner("g1") != "n2" {
		t.Fatalf("after hb_takeover foreign on n2, g1 on %q", c.Owner("g1"))
	}
	out, code = c.Command("n1", "hb_takeover", "all")
	if code != 0 || c.Owner("g1") != "n1" || c.Owner("g2") != "n1" {
		t.Fatalf("hb_takeover all: exit %d, g1 on %q, g2 on %q\n%s", code, c.Owner("g1"), c.Owner("g2"), out)
	}
	c.CheckInvariant()
}

func TestClusterTwoNodeStandbyTakeover(t *testing.T) { testStandbyTakeover(t, twoNode(t, "")) }

func TestClusterWitnessStandbyTakeover(t *testing.T) { testStandbyTakeover(t, withWitness(t, "")) }

func TestClusterStandbyTakeoverNoFailback(t *testing.T) {
	t.Run("two-node", func(t *testing.T) { testStandbyTakeover(t, twoNode(t, "auto_failback off\n")) })
	t.Run("witness", func(t *testing.T) { testStandbyTakeover(t, withWitness(t, "auto_failback off\n")) })
}

// TestClusterWitnessNoFailback: with auto_failback off a group stays where
// it went when its home returns.
func TestClusterWitnessNoFailback(t *testing.T) {
	c := withWitness(t, "auto_failback off\n")
	c.Crash("n1")
	c.WaitOwner("g1", "n2", bound)
	c.Revive("n1")
	c.Start("n1")
	time.Sleep(3 * time.Second)
	if o := c.Owner("g1"); o != "n2" {
		t.Fatalf("auto_failback off: g1 moved back to %q", o)
	}
	c.CheckInvariant()
}

func TestClusterStandbyWithoutPeerFails(t *testing.T) {
	for _, mode := range []string{"two-node", "witness"} {
		t.Run(mode, func(t *testing.T) {
			c := inMode(t, mode, "")
			c.Crash("n2")
			c.WaitOwner("g2", "n1", bound)
			out, code := c.Command("n1", "hb_standby", "--timeout", "5s")
			if code == 0 || !strings.Contains(out, "no healthy peer") {
				t.Fatalf("hb_standby with the peer down: exit %d\n%s", code, out)
			}
			if c.Owner("g1") != "n1" {
				t.Fatal("groups left n1 with nowhere to go")
			}
		})
	}
}

func TestClusterWitnessCrashOwner(t *testing.T) {
	c := withWitness(t, "")
	c.Crash("n1")
	took := c.WaitOwner("g1", "n2", bound)
	t.Logf("g1 running on n2 %v after n1 crashed", took)
	c.Revive("n1")
	c.Start("n1")
	c.WaitOwner("g1", "n1", bound)
	c.CheckInvariant()
}

// TestClusterWitnessIsolateOwner: the owner loses every link; its lease
// lapses and it stops the group before the peer starts it.
func TestClusterWitnessIsolateOwner(t *testing.T) {
	c := withWitness(t, "")
	c.Members["n1"].Host.Isolate()
	c.WaitOwner("g1", "n2", bound)
	c.Members["n1"].Host.Heal()
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)
	c.CheckInvariant()
}

// TestClusterWitnessIsolateWitness: losing the witness moves nothing.
func TestClusterWitnessIsolateWitness(t *testing.T) {
	c := withWitness(t, "")
	c.Members["w"].Host.Isolate()
	time.Sleep(3 * time.Second)
	if c.Owner("g1") != "n1" || c.Owner("g2") != "n2" {
		t.Fatalf("witness isolated: g1 on %q, g2 on %q", c.Owner("g1"), c.Owner("g2"))
	}
	c.Members["w"].Host.Heal()
	c.CheckInvariant()
}

// TestClusterWitnessDirectorsCut: the directors cannot hear each other but
// both hear the witness: each group still runs on exactly one node.
func TestClusterWitnessDirectorsCut(t *testing.T) {
	c := withWitness(t, "")
	c.Cut("n1", "n2")
	time.Sleep(3 * time.Second)
	c.CheckInvariant()
	if c.Owner("g1") == "" || c.Owner("g2") == "" {
		t.Fatalf("directors cut: g1 on %q, g2 on %q", c.Owner("g1"), c.Owner("g2"))
	}
	c.Mend("n1", "n2")
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)
	c.CheckInvariant()
}

// TestClusterWitnessRestartAll: every node restarts; groups come back home.
func TestClusterWitnessRestartAll(t *testing.T) {
	c := withWitness(t, "")
	for _, n := range []string{"n1", "n2", "w"} {
		c.Signal(n, syscall.SIGTERM)
	}
	for _, n := range []string{"n1", "n2", "w"} {
		if err := c.WaitExit(n, bound); err != nil {
			t.Fatal(err)
		}
	}
	if c.Owner("g1") != "" || c.Owner("g2") != "" {
		t.Fatalf("after every node stopped: g1 on %q, g2 on %q", c.Owner("g1"), c.Owner("g2"))
	}
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)
	c.CheckInvariant()
}

// TestClusterGracefulStop: SIGTERM gives the groups away before stopping;
// when the node comes back, auto_failback brings them home (a shutdown is
// not an operator's hb_standby).
func TestClusterGracefulStop(t *testing.T) {
	for _, mode := range []string{"two-node", "witness"} {
		t.Run(mode, func(t *testing.T) {
			c := inMode(t, mode, "")
			c.Signal("n1", syscall.SIGTERM)
			if err := c.WaitExit("n1", bound); err != nil {
				t.Fatal(err)
			}
			if c.Owner("g1") != "n2" {
				t.Fatalf("after n1 stopped gracefully, g1 on %q", c.Owner("g1"))
			}
			c.Start("n1")
			c.WaitOwner("g1", "n1", bound)
			c.CheckInvariant()
		})
	}
}

// TestClusterStatusCommands: cl_status and hbgo status against real
// daemons, and a config digest that differs between nodes is reported.
func TestClusterStatusCommands(t *testing.T) {
	c := New(t, Spec{Directors: []string{"n1", "n2"}, Witnesses: []string{"w"}, Groups: []string{"n1 g1", "n2 g2"}})
	// n2's haresources differs by a comment only: same groups, other bytes.
	f := filepath.Join(c.Members["n2"].ConfDir, "haresources")
	b, _ := os.ReadFile(f)
	os.WriteFile(f, append(b, []byte("# edited on n2\n")...), 0o644)
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)

	checks := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cl_status", "hbstatus"}, 0, "Heartbeat is running on this machine."},
		{[]string{"cl_status", "listnodes"}, 0, "n2"},
		{[]string{"cl_status", "nodestatus", "n2"}, 0, "active"},
		{[]string{"cl_status", "listhblinks", "n2"}, 0, "eth1"},
		{[]string{"cl_status", "hblinkstatus", "n2", "eth0"}, 0, "up"},
		{[]string{"cl_status", "rscstatus"}, 0, "local"},
		{[]string{"cl_status", "parameter", "-p", "deadtime"}, 0, "500"},
		{[]string{"cl_status", "nodestatus", "nosuch"}, 11, "no node"},
	}
	for _, ch := range checks {
		out, code := c.Command("n1", ch.args[0], ch.args[1:]...)
		if code != ch.code || !strings.Contains(out, ch.want) {
			t.Errorf("%v: exit %d, output %q; want exit %d containing %q", ch.args, code, out, ch.code, ch.want)
		}
	}
	waitFor := time.Now().Add(bound)
	for {
		out, code := c.Command("n1", "status")
		if code == 0 && strings.Contains(out, "haresources differs between n1 and n2") &&
			strings.Contains(out, "g1") && strings.Contains(out, "Raft:") {
			break
		}
		if time.Now().After(waitFor) {
			t.Fatalf("hbgo status (exit %d) lacks the digest warning or the groups:\n%s", code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Signal("n1", syscall.SIGTERM)
	c.WaitExit("n1", bound)
	out, code := c.Command("n1", "cl_status", "hbstatus")
	if code == 0 || !strings.Contains(out, "stopped") {
		t.Errorf("hbstatus after stop: exit %d, %q", code, out)
	}
}

// TestDaemonRefusesToStart: configuration errors, and a name that is
// neither a node nor a witness, keep the daemon from starting.
func TestDaemonRefusesToStart(t *testing.T) {
	c := New(t, Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1"}})
	m := c.Members["n1"]
	run := func(args ...string) (string, int) {
		cmd := m.Host.Command(c.Bin, append([]string{"daemon", "-c", m.ConfDir, "--state-dir", m.StateDir, "--run-dir", m.RunDir}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	out, code := run("--node", "stranger")
	if code != 1 || !strings.Contains(out, "node stranger is neither a node nor a witness") {
		t.Errorf("unknown node: exit %d\n%s", code, out)
	}
	f := filepath.Join(m.ConfDir, "ha.cf")
	b, _ := os.ReadFile(f)
	os.WriteFile(f, append(b, []byte("keepalvie 2\n")...), 0o644)
	out, code = run("--node", "n1")
	if code != 1 || !strings.Contains(out, "ha.cf:9: error: unknown directive keepalvie (did you mean keepalive?)") ||
		!strings.Contains(out, "configuration has errors; not starting") {
		t.Errorf("config error: exit %d\n%s", code, out)
	}
}
