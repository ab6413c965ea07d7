package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"hbgo/internal/sysmon"
)

// schedScript is a resource that records, at start, the scheduling policy
// and realtime priority it runs at (fields 41 and 40 of /proc/PID/stat).
const schedScript = `#!/bin/sh
case "$1" in
start) echo "$(cut -d' ' -f41 /proc/$$/stat) $(cut -d' ' -f40 /proc/$$/stat)" > "%[1]s"; exit 0;;
stop) rm -f "%[1]s"; exit 0;;
status) [ -e "%[1]s" ] && { echo running; exit 0; }; echo stopped; exit 3;;
esac
exit 2
`

// threadPolicies reads the policy and realtime priority of every thread
// of pid: "2 50" for SCHED_RR at 50.
func threadPolicies(t *testing.T, pid int) map[string]string {
	t.Helper()
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		// After the name: field 3 is f[0], so field 40 is f[37].
		out[e.Name()] = f[38] + " " + f[37]
	}
	return out
}

// realtime on (Heartbeat's default) runs every thread of the daemon at
// SCHED_RR and its rtprio, threads made late included, and the resource
// scripts it starts at normal priority.
func TestClusterRealtime(t *testing.T) {
	c := New(t, Spec{Directors: []string{"n1", "n2"}, Extra: "rtprio 40\n",
		Haresources: "n1 schedres testres::g1\n"})
	record := map[string]string{}
	for _, n := range []string{"n1", "n2"} {
		record[n] = filepath.Join(c.Root, n+".sched")
		p := filepath.Join(c.Members[n].ConfDir, "resource.d", "schedres")
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(schedScript, "%[1]s", record[n])), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	b, err := os.ReadFile(record["n1"])
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "0 0" {
		t.Errorf("the resource script ran at policy and priority %q, want \"0 0\" (SCHED_OTHER)", got)
	}
	// A switchover starts scripts on n2 and makes the daemons busy for a
	// moment: threads the runtime makes meanwhile must inherit the policy.
	if out, code := c.Command("n1", "hb_standby", "all"); code != 0 {
		t.Fatalf("hb_standby: exit %d\n%s", code, out)
	}
	c.WaitOwner("g1", "n2", bound)
	if b, err := os.ReadFile(record["n2"]); err != nil || strings.TrimSpace(string(b)) != "0 0" {
		t.Errorf("n2's resource script: %q %v, want \"0 0\"", b, err)
	}
	for _, n := range []string{"n1", "n2"} {
		if !strings.Contains(c.DaemonLog(n), "Running at realtime priority 40") {
			t.Errorf("%s does not say it runs at realtime priority 40", n)
		}
		// Every thread but the runtime's monitor (package sysmon) is
		// realtime; one the monitor started is made so within a
		// second (the daemon's rescan).
		mon, err := sysmon.ThreadOf(c.PID(n))
		if err != nil {
			t.Fatal(err)
		}
		var wrong []string
		for range 30 {
			pols := threadPolicies(t, c.PID(n))
			if len(pols) < 3 {
				t.Fatalf("%s: %d threads", n, len(pols))
			}
			wrong = nil
			for tid, p := range pols {
				switch {
				case tid == strconv.Itoa(mon) && p != "0 0":
					wrong = append(wrong, fmt.Sprintf("monitor thread %s at policy and priority %q, want \"0 0\"", tid, p))
				case tid != strconv.Itoa(mon) && p != "2 40":
					wrong = append(wrong, fmt.Sprintf("thread %s at policy and priority %q, want \"2 40\" (SCHED_RR at 40)", tid, p))
				}
			}
			if len(wrong) == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, w := range wrong {
			t.Errorf("%s: %s", n, w)
		}
	}
}
