package peers

import (
	"testing"
	"time"
)

// probeWith is a probe holding recorded answers, with no socket.
func probeWith(t0 time.Time, as ...Answer) *Probe {
	p := &Probe{stop: make(chan struct{})}
	for _, a := range as {
		a.At = t0.Add(time.Duration(a.Seq) * time.Millisecond)
		p.answers = append(p.answers, a)
	}
	return p
}

func TestProbeGap(t *testing.T) {
	t0 := time.Now().Add(-time.Minute)
	// Seq doubles as the answer's time in ms after t0. The crash is at
	// 100 ms; the last old answer at 95, the survivor answers from 400 on.
	p := probeWith(t0,
		Answer{Seq: 85, From: "n1"}, Answer{Seq: 95, From: "n1"},
		Answer{Seq: 400, From: "n2"}, Answer{Seq: 410, From: "n2"})
	gap, first, err := p.Gap(t0.Add(100*time.Millisecond), "n2", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if gap != 305*time.Millisecond || first.Seq != 400 {
		t.Fatalf("gap %v, first %d; want 305ms, 400", gap, first.Seq)
	}
	// A switchover: the old node answers after the command, stops, and
	// the longest silence is between its last answer and the new node's.
	p = probeWith(t0,
		Answer{Seq: 95, From: "n1"}, Answer{Seq: 105, From: "n1"}, Answer{Seq: 300, From: "n1"},
		Answer{Seq: 450, From: "n2"})
	if gap, _, _ = p.Gap(t0.Add(100*time.Millisecond), "n2", time.Second); gap != 195*time.Millisecond {
		t.Fatalf("switchover gap %v, want 195ms", gap)
	}
	if _, _, err := p.Gap(t0.Add(100*time.Millisecond), "n3", 20*time.Millisecond); err == nil {
		t.Fatal("no error for a node that never answered")
	}
}

func TestProbeSilence(t *testing.T) {
	t0 := time.Now().Add(-time.Minute)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// Answers every 10 ms but for a hole from 130 to 190; the window is
	// 100..300.
	var as []Answer
	for ms := 50; ms <= 290; ms += 10 {
		if ms <= 130 || ms >= 190 {
			as = append(as, Answer{Seq: uint64(ms), From: "n1"})
		}
	}
	p := probeWith(t0, as...)
	if got := p.Silence(at(100), at(300)); got != 60*time.Millisecond {
		t.Fatalf("silence %v, want 60ms", got)
	}
	// Nothing after 290: the window's end counts.
	if got := p.Silence(at(100), at(400)); got != 110*time.Millisecond {
		t.Fatalf("silence to the end %v, want 110ms", got)
	}
	// No answer before the window: it starts the count.
	if got := probeWith(t0).Silence(at(100), at(150)); got != 50*time.Millisecond {
		t.Fatalf("silence of a silent probe %v, want 50ms", got)
	}
}
