//go:build linux

package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// testTeller tells the story to a test: every step is logged, a check
// that did not hold fails the test.
type testTeller struct{ t *testing.T }

func (tt testTeller) Say(format string, args ...any) { tt.t.Logf(format, args...) }
func (tt testTeller) Check(ok bool, format string, args ...any) {
	tt.t.Helper()
	if ok {
		tt.t.Logf("ok: "+format, args...)
	} else {
		tt.t.Errorf("FAILED: "+format, args...)
	}
}

// TestE2EDemoStory is `make demo` as a test, with the client's view
// asserted: the longest time the client went without a page on failover
// (power loss of the active director) and on switchover (hb_standby,
// hb_takeover) stays within generous bounds, no page comes from a stopped
// real server once the ldirector took it out, and no 10 ms sample of the
// namespaces nor any ARP question of the client ever finds two directors
// holding the VIP.
func TestE2EDemoStory(t *testing.T) {
	s := New(t, Options{})
	res := Story(testTeller{t}, s)
	if t.Failed() {
		return
	}
	for name, g := range map[string]time.Duration{"failover": res.FailoverGap, "failback": res.FailbackGap, "hb_standby": res.StandbyGap, "hb_takeover": res.TakeoverGap} {
		if g <= 0 {
			t.Errorf("%s: no gap measured", name)
		}
	}
	if res.Samples < 100 || res.ARPAsked < 100 {
		t.Errorf("too few samples (%d) or ARP questions (%d) to say anything", res.Samples, res.ARPAsked)
	}
	if res.ARPReplies["lvs1"] == 0 || res.ARPReplies["lvs2"] == 0 {
		t.Errorf("the client's ARP questions were not answered by both directors in turn: %v", res.ARPReplies)
	}
	t.Log(fmt.Sprintf("client gaps: failover %v, failback %v, hb_standby %v, hb_takeover %v; real server detected in %v",
		res.FailoverGap.Round(time.Millisecond), res.FailbackGap.Round(time.Millisecond), res.StandbyGap.Round(time.Millisecond), res.TakeoverGap.Round(time.Millisecond), res.RealDetect.Round(time.Millisecond)))
}

// TestE2EKill9Restart kills the active director's daemon with -9 (the
// machine and its links stay up), restarts it at once, and follows the
// client: it must get pages from lvs2 after the kill, and from lvs1 again
// after auto_failback, each within a generous bound. The restarted daemon
// finds its VIP still on the interface (the address outlives the daemon
// by its lifetime), yet the client, whose ARP entry points at lvs2 by
// then, must learn that lvs1 has it again.
func TestE2EKill9Restart(t *testing.T) {
	s := New(t, Options{})
	s.Start()
	if _, err := s.WaitHolder("lvs1", StartBound); err != nil {
		t.Fatal(err)
	}
	fe := StartFetcher(s.Client, URL())
	defer fe.Close()
	if err := fe.WaitSteady(time.Second, StartBound, s.AnsweredBy("lvs1")); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	s.C.Signal("lvs1", syscall.SIGKILL)
	if err := s.C.WaitExit("lvs1", 10*time.Second); err == nil {
		t.Log("lvs1's daemon exited cleanly after SIGKILL?")
	}
	first, err := fe.WaitAnswer(t0, FailoverBound, s.AnsweredBy("lvs2"))
	if err != nil {
		t.Fatalf("after kill -9 of lvs1's daemon: %v", err)
	}
	t.Logf("kill -9: the client got pages from lvs2 after %v, longest wait %v", first.At.Sub(t0).Round(time.Millisecond), fe.Gap(t0, first).Round(time.Millisecond))
	t1 := time.Now()
	s.C.Start("lvs1")
	if _, err := s.WaitHolder("lvs1", StartBound); err != nil {
		t.Fatal(err)
	}
	t.Logf("lvs1 holds the VIP again %v after its daemon restarted", time.Since(t1).Round(time.Millisecond))
	first, err = fe.WaitAnswer(t1, FailoverBound, s.AnsweredBy("lvs1"))
	if err != nil {
		t.Fatalf("the client after lvs1 took its VIP back: %v", err)
	}
	t.Logf("failback: the client got pages from lvs1 %v after the restart, longest wait %v", first.At.Sub(t1).Round(time.Millisecond), fe.Gap(t1, first).Round(time.Millisecond))
}
