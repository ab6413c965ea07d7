// Package sysmon quiets the Go runtime's monitor thread (sysmon), the
// largest part of an idle daemon's CPU use.
//
// Whenever a goroutine makes a system call after the process was wholly
// idle, the runtime wakes sysmon and it polls every 20 µs until every
// processor is idle again. A daemon that wakes dozens of times a second
// (heartbeats sent and heard on every link, lease renewals) pays a dozen
// sysmon wakeups for each, more than for the work itself: measured on
// two-node hbgo at keepalive 100ms, 400 of 680 context switches a second
// and a third of the CPU. A timer slack of a millisecond on that one
// thread turns its 20 µs naps into millisecond ones, so that it wakes
// about once per burst of work; nothing it does (taking a processor back
// from a goroutine blocked in a system call, preempting one that ran for
// 10 ms) needs finer timing.
//
// The runtime has no knob for this, so the thread is found by how the
// runtime starts: sysmon is the first thread it makes, before anything
// else may start one (runtime.main), so it is the earliest started
// thread after the main one.
package sysmon

import "time"

// Slack is the timer slack Calm gives the sysmon thread.
const Slack = time.Millisecond
