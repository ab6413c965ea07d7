package crm

import (
	"testing"
	"time"
)

// drive runs the loop's timer path from a full pass at t0 that waits for
// wake: timer wakeups until one calls for a full pass; it returns when
// that came.
func drive(t *testing.T, c *passClock, t0, wake, leaseEnd time.Time, holds bool) time.Time {
	t.Helper()
	c.passed(t0, wake)
	now := t0
	for range 1000 {
		next := c.next(now, leaseEnd, !leaseEnd.IsZero())
		if !next.After(now) {
			t.Fatalf("the loop would spin: next %v at %v", next.Sub(t0), now.Sub(t0))
		}
		now = next
		if c.due(now, leaseEnd, !leaseEnd.IsZero() && now.Before(leaseEnd), holds) {
			return now
		}
	}
	t.Fatal("no full pass")
	return time.Time{}
}

func TestPassClock(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := &passClock{}

	// A pass that waits 300 ms gets its full pass at 300 ms.
	if got := drive(t, c, t0, t0.Add(300*time.Millisecond), time.Time{}, false); got != t0.Add(300*time.Millisecond) {
		t.Errorf("full pass at %v, want 300ms", got.Sub(t0))
	}
	// Nothing to wait for: the safety net's pass at restEvery.
	if got := drive(t, c, t0, time.Time{}, time.Time{}, false); got != t0.Add(restEvery) {
		t.Errorf("full pass at %v, want restEvery", got.Sub(t0))
	}
	// A lease ending first: a pass just after it ends.
	if got := drive(t, c, t0, t0.Add(time.Second), t0.Add(200*time.Millisecond), true); got != t0.Add(201*time.Millisecond) {
		t.Errorf("full pass at %v, want 201ms", got.Sub(t0))
	}
	// A wake already past when the pass ended: the next wakeup is at
	// once, not a spin (next is never before now; due at once).
	c.passed(t0, t0.Add(-time.Millisecond))
	if !c.due(t0, time.Time{}, false, false) {
		t.Error("a past wake is not due")
	}
}
