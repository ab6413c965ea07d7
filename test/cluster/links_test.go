package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClusterTwoNodeSerialPreventsSplitBrain: two directors with two UDP
// links and a serial cable. With every UDP link of n1 dropped, each still
// hears the other on the cable: nobody takes over, and hb_standby still
// works, its claims travelling over the cable alone.
func TestClusterTwoNodeSerialPreventsSplitBrain(t *testing.T) {
	c := New(t, Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1", "n2 g2"}, Serial: true})
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)
	c.Members["n1"].Host.Isolate()
	time.Sleep(2 * time.Second) // four deadtimes
	if c.Owner("g1") != "n1" || c.Owner("g2") != "n2" {
		t.Fatalf("UDP cut, serial up: g1 on %q, g2 on %q", c.Owner("g1"), c.Owner("g2"))
	}
	out, code := c.Command("n1", "hb_standby")
	if code != 0 || c.Owner("g1") != "n2" {
		t.Fatalf("hb_standby over the serial cable alone: exit %d, g1 on %q\n%s", code, c.Owner("g1"), out)
	}
	c.Members["n1"].Host.Heal()
	c.CheckInvariant()
}

// TestClusterPingScore: a director that loses its path to the ping node
// gives its groups to the peer that still has one (what ipfail did), and
// gets them back when its path returns.
func TestClusterPingScore(t *testing.T) {
	for _, mode := range []string{"two-node", "witness"} {
		t.Run(mode, func(t *testing.T) {
			spec := Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1", "n2 g2"}, Router: true, Extra: "ping " + RouterAddr + "\n"}
			if mode == "witness" {
				spec.Witnesses = []string{"w"}
			}
			c := New(t, spec)
			c.StartAll()
			c.WaitOwner("g1", "n1", bound)
			c.WaitOwner("g2", "n2", bound)
			c.BlockAddr("n1", RouterAddr)
			took := c.WaitOwner("g1", "n2", bound)
			t.Logf("g1 moved to n2 %v after n1 lost its ping node", took)
			c.UnblockAddr("n1")
			c.WaitOwner("g1", "n1", bound)
			c.CheckInvariant()
		})
	}
}

// TestClusterReloadPingNodes: ping nodes changed in ha.cf and applied by
// a reload (SIGHUP) take effect without a restart: n1, told to ping an
// address nobody has, loses its score and gives g1 to n2; given its ping
// node back, it takes g1 home.
func TestClusterReloadPingNodes(t *testing.T) {
	spec := Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1", "n2 g2"}, Router: true, Extra: "ping " + RouterAddr + "\n"}
	c := New(t, spec)
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)
	path := filepath.Join(c.Members["n1"].ConfDir, "ha.cf")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nobody := strings.Replace(string(orig), "ping "+RouterAddr, "ping 10.81.0.249", 1)
	if nobody == string(orig) {
		t.Fatal("no ping line to change")
	}
	if err := os.WriteFile(path, []byte(nobody), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Signal("n1", syscall.SIGHUP)
	took := c.WaitOwner("g1", "n2", bound)
	t.Logf("g1 moved to n2 %v after n1 reloaded a ping node nobody answers", took)
	if !strings.Contains(c.DaemonLog("n1"), "Ping nodes applied: 10.81.0.249") {
		t.Error("n1 does not log the ping nodes it applied")
	}
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	c.Signal("n1", syscall.SIGHUP)
	c.WaitOwner("g1", "n1", bound)
	c.CheckInvariant()
}
