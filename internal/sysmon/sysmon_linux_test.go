package sysmon

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestThreadIsTheOneThatNaps checks Thread against what sysmon does: while
// goroutines keep making system calls, sysmon naps in nanosleep over and
// over, which no other thread of the runtime does for long. The thread
// seen in nanosleep most often must be the one Thread names.
func TestThreadIsTheOneThatNaps(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	for range 2 {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				unix.Getppid()
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}
	want := strconv.Itoa(unix.SYS_NANOSLEEP) + " "
	seen := map[int]int{}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/syscall")
			if err != nil {
				continue
			}
			if strings.HasPrefix(string(b), want) {
				tid, _ := strconv.Atoi(e.Name())
				seen[tid]++
			}
		}
	}
	most, n := 0, 0
	for tid, c := range seen {
		if c > n {
			most, n = tid, c
		}
	}
	if n < 20 {
		t.Fatalf("no thread seen in nanosleep often enough: %v", seen)
	}
	t.Logf("threads seen in nanosleep: %v", seen)
	got, err := Thread()
	if err != nil {
		t.Fatal(err)
	}
	if got != most {
		t.Fatalf("Thread() = %d, but thread %d naps in nanosleep (seen: %v)", got, most, seen)
	}
}

func TestCalmSetsTheSlack(t *testing.T) {
	tid, err := Calm()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", tid))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.FormatInt(Slack.Nanoseconds(), 10) {
		t.Fatalf("timer slack of thread %d: %s", tid, got)
	}
}
