package sysmon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Thread returns the thread ID of the runtime's sysmon thread: of the
// process's threads other than the main one, the one started first (the
// earliest start time; among threads started in the same clock tick, the
// first ID after the process's own in the kernel's cyclic allocation).
func Thread() (int, error) { return ThreadOf(os.Getpid()) }

// ThreadOf is Thread for the Go process pid.
func ThreadOf(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	pidMax := int64(1 << 22)
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			pidMax = n
		}
	}
	best, bestStart, bestDist := 0, int64(-1), int64(0)
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid == pid {
			continue
		}
		start, err := startTime(pid, tid)
		if err != nil {
			continue // ended meanwhile
		}
		dist := ((int64(tid)-int64(pid))%pidMax + pidMax) % pidMax
		if bestStart < 0 || start < bestStart || (start == bestStart && dist < bestDist) {
			best, bestStart, bestDist = tid, start, dist
		}
	}
	if best == 0 {
		return 0, errors.New("sysmon: no thread but the main one")
	}
	return best, nil
}

// startTime reads a thread's start time (clock ticks after boot) from
// /proc/PID/task/TID/stat.
func startTime(pid, tid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("sysmon: stat of thread %d unreadable", tid)
	}
	// After the command name: the state is field 3 of proc(5), the start
	// time field 22.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("sysmon: stat of thread %d too short", tid)
	}
	return strconv.ParseInt(f[19], 10, 64)
}

// Calm gives the sysmon thread a timer slack of Slack and returns its
// thread ID. A thread under a realtime policy has no timer slack: the
// caller keeps this one at the normal policy.
func Calm() (int, error) {
	tid, err := Thread()
	if err != nil {
		return 0, err
	}
	ns := strconv.FormatInt(Slack.Nanoseconds(), 10)
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/timerslack_ns", tid), []byte(ns), 0); err != nil {
		return tid, fmt.Errorf("sysmon: timer slack of thread %d: %w", tid, err)
	}
	return tid, nil
}
