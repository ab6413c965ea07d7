// Package normalprio starts the daemon's child processes (resource
// scripts, the ldirector's external checks and callbacks) at normal
// scheduling priority while the daemon runs at realtime priority.
//
// A Go daemon cannot drop a child's priority between fork and exec, and
// the kernel's way of doing it for every child, SCHED_RESET_ON_FORK, also
// resets the threads the Go runtime makes later: the daemon's threads then
// run at mixed priorities, and a realtime thread that waits for a normal
// one (a stop of the world for the collector, a child between vfork and
// exec holding its thread's processor) waits as long as the machine's
// other realtime work keeps the normal one off the processors. Seen: a
// whole daemon stalled for 0.9 s. So the daemon's threads keep their
// policy for the threads they make, and children start through chrt(1)
// (util-linux), which sets SCHED_OTHER and executes the command in the
// same process: the child is realtime only for the moments before that.
package normalprio

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// chrt is chrt's path while children start through it.
var chrt atomic.Pointer[string]

// Enable makes Command start every child through chrt at SCHED_OTHER. It
// fails, changing nothing, when chrt is not found.
func Enable() error {
	p, err := exec.LookPath("chrt")
	if err != nil {
		return fmt.Errorf("children could not be started at normal priority: %w", err)
	}
	chrt.Store(&p)
	return nil
}

// Disable makes Command start children directly again.
func Disable() { chrt.Store(nil) }

// Enabled reports whether children start through chrt.
func Enabled() bool { return chrt.Load() != nil }

// Command is exec.CommandContext (exec.Command when ctx is nil), through
// chrt while Enable holds. The child's process ID is the command's: chrt
// executes it in its own process, so process groups, signals and exit
// statuses are the command's own.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if p := chrt.Load(); p != nil {
		args = append([]string{"--other", "0", name}, args...)
		name = *p
	}
	if ctx == nil {
		return exec.Command(name, args...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// Start starts the command mk makes (a fresh one each try), again up to
// five times 20 ms apart while the kernel finds the program's file busy
// (ETXTBSY: open for writing somewhere, as while it is being replaced, or
// in a process that inherited a descriptor in a fork and has not yet
// exec'd).
func Start(ctx context.Context, mk func() *exec.Cmd) (*exec.Cmd, error) {
	for try := 0; ; try++ {
		cmd := mk()
		err := cmd.Start()
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || try >= 5 || ctx != nil && ctx.Err() != nil {
			return cmd, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
