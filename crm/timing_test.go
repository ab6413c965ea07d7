package crm

import (
	"testing"
	"time"

	"hbgo/conf"
)

func TestDeriveTiming(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		ka, dead        time.Duration
		hb, lease, wait time.Duration
		twoNode         time.Duration
	}{
		{100 * ms, 500 * ms, 500 * ms, 450 * ms, 1000 * ms, 360 * ms},
		{100 * ms, 300 * ms, 300 * ms, 270 * ms, 600 * ms, 180 * ms},
		{30 * ms, 90 * ms, 100 * ms, 70 * ms, 190 * ms, 40 * ms},
		{2 * time.Second, 30 * time.Second, 30 * time.Second, 27 * time.Second, 60 * time.Second, 25200 * ms},
		{50 * ms, 150 * ms, 150 * ms, 130 * ms, 300 * ms, 80 * ms},
	}
	for _, c := range cases {
		ha := conf.NewHAConfig("ha.cf")
		ha.Keepalive, ha.Deadtime = c.ka, c.dead
		tm := DeriveTiming(ha)
		if tm.HeartbeatTimeout != c.hb || tm.Lease != c.lease || tm.SafeWait != c.wait || tm.TwoNodeLease != c.twoNode {
			t.Errorf("%v/%v: %v", c.ka, c.dead, tm)
		}
		// A dead owner's lease has ended when it is declared dead.
		if tm.Lease+tm.Margin != c.dead {
			t.Errorf("%v/%v: lease %v + margin %v is not deadtime", c.ka, c.dead, tm.Lease, tm.Margin)
		}
		// The leader renews well within its lease, at most every keepalive
		// unless the lease needs it more often.
		if tm.RenewEvery > tm.Lease/3 || tm.RenewEvery < min(c.ka, tm.Lease/4) {
			t.Errorf("%v/%v: renewal every %v for a lease of %v", c.ka, c.dead, tm.RenewEvery, tm.Lease)
		}
		if err := tm.Validate(); err != nil {
			t.Errorf("%v/%v: %v", c.ka, c.dead, err)
		}
	}
}
