package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hbgo/internal/normalprio"
	"hbgo/internal/sysmon"
)

// realtimeChild runs in a process of its own (the test binary started
// again): it goes realtime at priority 30, makes the Go runtime start
// threads (goroutines blocked in system calls), and prints the policy and
// priority of every thread, then of a child it starts.
func realtimeChild() {
	skip, err := sysmon.Calm()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("skip", skip)
	if err := goRealtime(context.Background(), 30, skip, slog.New(slog.NewTextHandler(io.Discard, nil)), "t"); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts := unix.NsecToTimespec(int64(rescanEvery + 600*time.Millisecond))
			_ = unix.Nanosleep(&ts, nil) // a blocking system call: its thread stays with it
		}()
	}
	// The sleepers hold their threads. The runtime's monitor starts
	// most of them, at its normal policy, and the next rescan makes them
	// realtime.
	time.Sleep(rescanEvery + 300*time.Millisecond)
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		fmt.Printf("thread %s %s %s\n", e.Name(), f[38], f[37])
	}
	wg.Wait()
	out, err := normalprio.Command(nil, "sh", "-c", `echo "$(cut -d' ' -f41 /proc/$$/stat) $(cut -d' ' -f40 /proc/$$/stat)"`).Output()
	fmt.Printf("child %s %v\n", strings.TrimSpace(string(out)), err)
}

func TestRealtimeThreadsAndChildren(t *testing.T) {
	if os.Getenv("HBGO_REALTIME_CHILD") == "1" {
		realtimeChild()
		return
	}
	if os.Getuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("needs root for SCHED_RR")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRealtimeThreadsAndChildren$")
	cmd.Env = append(os.Environ(), "HBGO_REALTIME_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	threads, child, skip := 0, "", ""
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "skip":
			skip = f[1]
		case len(f) == 4 && f[0] == "thread" && f[1] == skip:
			// The runtime's monitor stays at the normal policy.
			if f[2] != "0" || f[3] != "0" {
				t.Errorf("monitor thread %s at policy %s priority %s, want SCHED_OTHER (0)", f[1], f[2], f[3])
			}
		case len(f) == 4 && f[0] == "thread":
			threads++
			if f[2] != "2" || f[3] != "30" {
				t.Errorf("thread %s at policy %s priority %s, want SCHED_RR (2) at 30", f[1], f[2], f[3])
			}
		case len(f) >= 1 && f[0] == "child":
			child = strings.Join(f[1:], " ")
		}
	}
	// 8 sleepers hold 8 threads beside the runtime's own.
	if threads < 9 {
		t.Errorf("%d threads seen, want the sleepers' too:\n%s", threads, out)
	}
	if child != "0 0 <nil>" {
		t.Errorf("the child ran at %q, want \"0 0 <nil>\" (SCHED_OTHER):\n%s", child, out)
	}
}
