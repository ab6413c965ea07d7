package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"hbgo/internal/normalprio"
)

// goRealtime runs every thread of the daemon under SCHED_RR at prio, as
// Heartbeat does with `realtime on`: heartbeats go out and are heard on
// time on a machine whose CPUs something else keeps busy. Threads the Go
// runtime makes later inherit the policy from the thread that makes them
// (all of the daemon's threads run at one priority: see package
// normalprio for why not SCHED_RESET_ON_FORK); the processes the daemon
// starts drop it through normalprio. Every thread is set again every
// rescanEvery until ctx ends, for those the monitor thread (skip)
// started. It returns the first
// error (no privilege, no chrt: the daemon runs on, at normal priority).
// The thread skip (the runtime's monitor, see package sysmon; 0 for none)
// stays at the normal policy.
func goRealtime(ctx context.Context, prio, skip int, log *slog.Logger, node string) error {
	scan := func() error {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || tid == skip {
				continue
			}
			attr := unix.SchedAttr{Policy: unix.SCHED_RR, Priority: uint32(prio)}
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
				if err == unix.ESRCH {
					continue // the thread ended
				}
				return fmt.Errorf("thread %d: %w", tid, err)
			}
		}
		return nil
	}
	// The children first: a child the daemon starts once its threads are
	// realtime must drop the policy.
	if err := normalprio.Enable(); err != nil {
		return err
	}
	if err := scan(); err != nil {
		normalprio.Disable()
		return err
	}
	go func() {
		t := time.NewTicker(rescanEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := scan(); err != nil {
					log.Warn(fmt.Sprintf("realtime: %v", err), "node", node)
					return
				}
			}
		}
	}()
	return nil
}

// rescanEvery is how often goRealtime looks for new threads. The runtime
// starts most of its threads from its monitor thread, which is not
// realtime (see package sysmon), so a thread started late runs at the
// normal policy for up to this long. The runtime keeps the threads it
// started, so after the first seconds there are seldom new ones.
const rescanEvery = time.Second
