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
		{100 * ms, 500 * ms, 250 * ms, 400 * ms, 690 * ms, 360 * ms},
		{2 * time.Second, 30 * time.Second, 15 * time.Second, 15 * time.Second, 31500 * ms, 25200 * ms},
		{50 * ms, 150 * ms, 100 * ms, 200 * ms, 320 * ms, 80 * ms},
	}
	for _, c := range cases {
		ha := conf.NewHAConfig("ha.cf")
		ha.Keepalive, ha.Deadtime = c.ka, c.dead
		tm := DeriveTiming(ha)
		if tm.HeartbeatTimeout != c.hb || tm.Lease != c.lease || tm.SafeWait != c.wait || tm.TwoNodeLease != c.twoNode {
			t.Errorf("%v/%v: %v", c.ka, c.dead, tm)
		}
		if err := tm.Validate(); err != nil {
			t.Errorf("%v/%v: %v", c.ka, c.dead, err)
		}
	}
}
