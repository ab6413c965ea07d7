package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPidFile: a pid file naming a live process of this program stops the
// start; one naming a process of another program (a pid reused after the
// daemon died) or a dead one does not.
func TestPidFile(t *testing.T) {
	if os.Getenv("HBGO_PIDFILE_SLEEP") == "1" {
		// Started again by itself: a live process of this program.
		time.Sleep(30 * time.Second)
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "hbgo.pid")
	start := func(name string, args ...string) int {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "HBGO_PIDFILE_SLEEP=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd.Process.Pid
	}
	put := func(pid int) {
		if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	put(start(os.Args[0], "-test.run=^TestPidFile$"))
	if err := writePidFile(path); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("a live process of this program in the pid file: %v", err)
	}

	put(start("sleep", "30"))
	if err := writePidFile(path); err != nil {
		t.Fatalf("a pid reused by another program: %v", err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q", b)
	}

	put(1 << 22) // above any pid_max default: no such process
	if err := writePidFile(path); err != nil {
		t.Fatalf("a dead pid: %v", err)
	}
}
