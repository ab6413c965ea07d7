package heartbeat

import (
	"strings"
	"testing"
	"time"
)

func evStrings(evs []Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.String())
	}
	return strings.Join(s, " | ")
}

func TestTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tr := NewTracker(Timing{Keepalive: 100 * time.Millisecond, Warntime: 300 * time.Millisecond,
		Deadtime: 500 * time.Millisecond, Initdead: time.Second}, t0, []string{"eth0", "eth1"}, []string{"n2", "n3"})

	steps := []struct {
		ms   int
		what string // "tick" or "NODE LINK [leave]"
		want string
	}{
		{0, "n2 eth0", "Link n2:eth0 up. | node n2: is up"},
		{50, "n2 eth1", "Link n2:eth1 up."},
		{100, "tick", ""},
		{400, "n2 eth1", ""},
		// eth0 silent since 0: dead at 500; the node lives through eth1.
		{500, "tick", "Link n2:eth0 dead."},
		{690, "tick", ""},
		// 300ms after the last packet: late, once.
		{710, "tick", "WARN: Late heartbeat: Node n2: interval 310 ms"},
		{720, "tick", ""},
		{900, "tick", "Link n2:eth1 dead. | node n2: is dead"},
		{950, "n2 eth0", "Link n2:eth0 up. | node n2: is up"},
		{960, "n2 eth0 leave", "Link n2:eth0 dead. | node n2: is dead (it left the cluster)"},
		// n3 never heard: dead when initdead passes, with its links.
		{1000, "tick", "Link n3:eth0 dead. | Link n3:eth1 dead. | node n3: is dead"},
	}
	for _, s := range steps {
		var evs []Event
		f := strings.Fields(s.what)
		if f[0] == "tick" {
			evs = tr.Tick(at(s.ms))
		} else {
			st := StatusUp
			if len(f) == 3 {
				st = StatusLeaving
			}
			evs = tr.Heard(f[0], f[1], st, false, at(s.ms))
		}
		if got := evStrings(evs); got != s.want {
			t.Fatalf("at %dms %s: got %q, want %q", s.ms, s.what, got, s.want)
		}
	}
	snap := tr.Snapshot()
	if len(snap) != 2 || snap[0].Name != "n2" || snap[0].State != NodeDead || snap[1].Links["eth1"] != LinkDead {
		t.Fatalf("snapshot %+v", snap)
	}
}

func TestRateLimiter(t *testing.T) {
	r := newRateLimiter(10 * time.Second)
	t0 := time.Unix(0, 0)
	if ok, _ := r.allow("a", t0); !ok {
		t.Fatal("first line held back")
	}
	for i := 1; i <= 5; i++ {
		if ok, _ := r.allow("a", t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("line inside the interval let through")
		}
	}
	if ok, _ := r.allow("b", t0); !ok {
		t.Fatal("keys are independent")
	}
	ok, n := r.allow("a", t0.Add(11*time.Second))
	if !ok || n != 5 {
		t.Fatalf("after the interval: ok=%v suppressed=%d, want true 5", ok, n)
	}
}
