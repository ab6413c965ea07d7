package cluster

import (
	"math/rand"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestClusterWitnessFreezeOwner: the owner's daemon is frozen past its
// lease; the group moves; after the thaw the old owner stops it at once
// (its lease lapsed) and never starts it again on its own.
func TestClusterWitnessFreezeOwner(t *testing.T) {
	c := withWitness(t, "")
	c.Freeze("n1")
	c.WaitOwner2("g1", "n2", bound)
	time.Sleep(time.Second)
	to := c.Thaw("n1")
	// The old owner stops g1 soon after it thawed. (Wait for that record
	// first: until it is written, the records still show n1 running g1
	// from before the freeze, which WaitOwner would take for the failback.)
	var stopped time.Time
	for deadline := time.Now().Add(bound); stopped.IsZero() && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, r := range c.Records() {
			if r.Node == "n1" && r.Group == "g1" && r.Op == "STOP" && r.At.After(to) {
				stopped = r.At
				break
			}
		}
	}
	if stopped.IsZero() || stopped.Sub(to) > 2*time.Second {
		t.Fatalf("n1 did not stop g1 promptly after thawing (stopped %v after)", stopped.Sub(to))
	}
	t.Logf("n1 stopped g1 %v after it thawed", stopped.Sub(to))
	c.WaitOwner("g1", "n1", bound) // failback once n1 is healthy again
}

// TestClusterRandomFaults runs a bounded random schedule of faults over
// two directors and a witness (crash, freeze, isolate, cut, graceful
// restart) and checks that no group ever ran on two nodes at once (frozen
// daemons excused, as in TestClusterWitnessFreezeOwner) and that after
// healing every group runs on exactly one node.
func TestClusterRandomFaults(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("HBGO_FAULT_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	steps := 8
	if testing.Short() {
		steps = 3
	}
	t.Logf("fault schedule seed %d (rerun with HBGO_FAULT_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	c := withWitness(t, "")
	nodes := []string{"n1", "n2", "w"}
	for i := 0; i < steps; i++ {
		n := nodes[rng.Intn(len(nodes))]
		hold := time.Duration(300+rng.Intn(1500)) * time.Millisecond
		switch op := rng.Intn(5); op {
		case 0:
			t.Logf("step %d: crash %s for %v", i, n, hold)
			c.Crash(n)
			time.Sleep(hold)
			c.Revive(n)
			c.Start(n)
		case 1:
			t.Logf("step %d: freeze %s for %v", i, n, hold)
			c.Freeze(n)
			time.Sleep(hold)
			c.Thaw(n)
		case 2:
			t.Logf("step %d: isolate %s for %v", i, n, hold)
			c.Members[n].Host.Isolate()
			time.Sleep(hold)
			c.Members[n].Host.Heal()
		case 3:
			o := nodes[(indexOf(nodes, n)+1+rng.Intn(2))%3]
			t.Logf("step %d: cut %s from %s for %v", i, n, o, hold)
			c.Cut(n, o)
			time.Sleep(hold)
			c.Mend(n, o)
		case 4:
			t.Logf("step %d: graceful restart of %s", i, n)
			c.Signal(n, syscall.SIGTERM)
			if err := c.WaitExit(n, bound); err != nil {
				t.Fatal(err)
			}
			c.Start(n)
		}
		time.Sleep(time.Duration(rng.Intn(1000)) * time.Millisecond)
	}
	c.WaitOwner("g1", "n1", 2*bound)
	c.WaitOwner("g2", "n2", 2*bound)
	c.CheckInvariant()
}

func indexOf(s []string, x string) int {
	for i, v := range s {
		if v == x {
			return i
		}
	}
	return -1
}
