//go:build linux

package e2e

import (
	"fmt"
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
