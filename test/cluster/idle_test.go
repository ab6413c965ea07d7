package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procCPU is a process's user+system time and resident memory, from /proc.
func procCPU(pid int) (time.Duration, int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name (which may hold spaces) in ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, rss * int64(os.Getpagesize()), nil
}

// BenchmarkIdle prints each daemon's CPU share and RSS at rest (keepalive
// 100ms, deadtime 500ms, one group each), in two-node and witness mode.
//
// With HBGO_CPUPROFILE set (see cmd/hbgo), each daemon writes a CPU profile
// of its run to that name with the mode before "%n".
func BenchmarkIdle(b *testing.B) {
	profile := os.Getenv("HBGO_CPUPROFILE")
	defer os.Setenv("HBGO_CPUPROFILE", profile)
	for _, mode := range []string{"two-node", "witness"} {
		if profile != "" {
			os.Setenv("HBGO_CPUPROFILE", strings.ReplaceAll(profile, "%n", mode+"-%n"))
		}
		spec := Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1", "n2 g2"}}
		if mode == "witness" {
			spec.Witnesses = []string{"w"}
		}
		c := New(b, spec)
		c.StartAll()
		c.WaitOwner("g1", "n1", bound)
		c.WaitOwner("g2", "n2", bound)
		time.Sleep(2 * time.Second)
		const span = 20 * time.Second
		before := map[string]time.Duration{}
		for _, n := range c.order {
			cpu, _, err := procCPU(c.Members[n].proc.PID())
			if err != nil {
				b.Fatal(err)
			}
			before[n] = cpu
		}
		time.Sleep(span)
		for _, n := range c.order {
			cpu, rss, err := procCPU(c.Members[n].proc.PID())
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s %s: %.2f%% of a core, RSS %.1f MB", mode, n, 100*float64(cpu-before[n])/float64(span), float64(rss)/(1<<20))
		}
		if profile != "" {
			// The profile is written when the daemon stops cleanly.
			for _, n := range c.order {
				c.Signal(n, syscall.SIGTERM)
			}
			for _, n := range c.order {
				c.WaitExit(n, bound)
			}
		}
	}
}
