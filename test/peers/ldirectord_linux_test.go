package peers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hbgo/test/ldbench"
	"hbgo/test/peers"
)

// Debian's ldirectord, run as a peer with the stand-in ipvsadm, adds the
// real servers of a farm, removes one that dies and adds it back.
func TestLdirectordPeer(t *testing.T) {
	checker, farm := ldbench.NewLab(t, 3)
	if err := peers.EnsureLdirectord(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ldirectord cannot run here: %v", err)
		}
		t.Skipf("ldirectord cannot run here: %v", err)
	}
	dir := t.TempDir()
	standin, err := ldbench.Build(dir, "./test/ldbench/ipvsadm", "ipvsadm-standin")
	if err != nil {
		t.Fatal(err)
	}
	ld, err := ldbench.StartLdirectord(checker, filepath.Join(dir, "ld"), standin, farm.N())
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Stop()

	// wait returns when some call from index from on satisfies ok.
	wait := func(what string, from int, ok func(ldbench.Call) bool) int {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			calls, err := ld.Calls()
			if err != nil {
				t.Fatal(err)
			}
			for i := from; i < len(calls); i++ {
				if ok(calls[i]) {
					return i + 1
				}
			}
			if dead, tail := ld.Exited(); dead {
				t.Fatalf("ldirectord exited while waiting for %s:\n%s", what, tail)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_, tail := ld.Exited()
		t.Fatalf("no %s within 60s; ldirectord's log:\n%s", what, tail)
		return 0
	}
	r := ldbench.NewReplay()
	next := wait("all 3 real servers in the table", 0, func(c ldbench.Call) bool {
		r.Apply(c)
		return r.Live == 3
	})
	calls, _ := ld.Calls()
	if c := calls[0]; c.Op != 'L' {
		t.Errorf("ldirectord's first ipvsadm call: %q, want a listing (-L -n)", c.Line)
	}

	dead := farm.Addr(1)
	if err := farm.Kill(1); err != nil {
		t.Fatal(err)
	}
	next = wait(fmt.Sprintf("removal of %v", dead), next, func(c ldbench.Call) bool { return ldbench.Removes(c, dead) })
	if err := farm.Revive(1); err != nil {
		t.Fatal(err)
	}
	wait(fmt.Sprintf("%v added back", dead), next, func(c ldbench.Call) bool { return ldbench.Adds(c, dead) })
	if ld.PID() <= 0 {
		t.Errorf("ldirectord pid %d", ld.PID())
	}
	if u, err := ldbench.ReadUsage(ld.PID()); err != nil || u.RSS == 0 {
		t.Errorf("ldirectord's usage: %+v, %v", u, err)
	}
}
