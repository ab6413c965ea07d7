package crm

import (
	"log/slog"
	"testing"
	"time"
)

// TestCarrierPoints: an interface with carrier at start counts at once;
// one that lost it counts no more, at once; one that came back counts only
// once it has held for the hold time; a second loss within the hold
// starts it over. Each change is told.
func TestCarrierPoints(t *testing.T) {
	const hold = 3 * time.Second
	w := newCarrierWatch([]string{"eth0", "eth1"}, hold, slog.New(slog.DiscardHandler), "n1")
	told := 0
	w.notify = func() { told++ }
	t0 := time.Unix(1000, 0)
	w.set("eth0", true, t0)
	w.set("eth1", true, t0)
	w.set("eth9", false, t0) // not watched: ignored
	if p := w.points(t0); p != 2 {
		t.Fatalf("both with carrier at start: %d points, want 2", p)
	}
	w.set("eth1", false, t0.Add(time.Second))
	if p := w.points(t0.Add(time.Second)); p != 1 {
		t.Errorf("eth1 lost its carrier: %d points, want 1", p)
	}
	back := t0.Add(2 * time.Second)
	w.set("eth1", true, back)
	if p := w.points(back.Add(hold - time.Millisecond)); p != 1 {
		t.Errorf("eth1 back for less than the hold: %d points, want 1", p)
	}
	w.set("eth1", false, back.Add(time.Second))
	w.set("eth1", true, back.Add(2*time.Second))
	if p := w.points(back.Add(hold + time.Millisecond)); p != 1 {
		t.Errorf("eth1 flapped within the hold: %d points a hold after its first return, want 1", p)
	}
	if p := w.points(back.Add(2*time.Second + hold)); p != 2 {
		t.Errorf("eth1 held its carrier for the hold: %d points, want 2", p)
	}
	w.set("eth1", true, back.Add(10*time.Second)) // no change: not told
	if told != 6 {
		t.Errorf("told %d times, want 6 (one per change)", told)
	}
	st := w.states(back.Add(2*time.Second + hold))
	if len(st) != 2 || st[0].Name != "eth0" || !st[1].Counts {
		t.Errorf("states: %+v", st)
	}
}

// TestCarrierScore: the carriers add to the ping score; with ping nodes
// the score stays unknown until the first ping round ends.
func TestCarrierScore(t *testing.T) {
	p := &pinger{last: PingUnknown, carrier: newCarrierWatch([]string{"eth0"}, time.Second, slog.New(slog.DiscardHandler), "n1")}
	p.carrier.set("eth0", true, time.Now())
	if !p.configured() {
		t.Fatal("a pinger with carrier to watch is not configured")
	}
	var got []int
	p.onChange = func(s int) { got = append(got, s) }
	p.report()
	p.carrier.set("eth0", false, time.Now())
	p.report()
	p.report()
	if len(got) != 2 || got[0] != 1 || got[1] != 0 {
		t.Errorf("reported %v, want [1 0]", got)
	}
}
