package cluster

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hbgo/resources"
)

// vipSample is whether each director served the VIP at one instant.
type vipSample struct {
	at     time.Time
	served map[string]bool
}

// sampleVIP asks every director's namespace, every 10 ms, whether it
// serves vip (the address present and live in its gate), until finish is
// called (or the test ends); finish returns the samples.
func sampleVIP(t *testing.T, c *Cluster, vip netip.Addr, nodes []string) (finish func() []vipSample) {
	out := make(chan []vipSample, 1)
	stop := make(chan struct{})
	var once sync.Once
	var samples []vipSample
	finish = func() []vipSample {
		once.Do(func() {
			close(stop)
			samples = <-out
		})
		return samples
	}
	t.Cleanup(func() { finish() })
	go func() {
		var samples []vipSample
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			s := vipSample{at: time.Now(), served: map[string]bool{}}
			for _, n := range nodes {
				var ok bool
				err := c.Members[n].Host.Do(func() error {
					var err error
					ok, err = resources.VIPServed(vip)
					return err
				})
				if err != nil {
					t.Errorf("sampling %s on %s: %v", vip, n, err)
				}
				s.served[n] = ok
			}
			samples = append(samples, s)
			select {
			case <-stop:
				out <- samples
				return
			case <-tick.C:
			}
		}
	}()
	return finish
}

// startWithVIP starts the cluster of spec, waits until n1 serves vip,
// and samples both directors from then on (see sampleVIP).
func startWithVIP(t *testing.T, spec Spec, vip netip.Addr) (*Cluster, func() []vipSample) {
	c := New(t, spec)
	c.StartAll()
	waitServed(t, c, "n1", vip, true, bound)
	finish := sampleVIP(t, c, vip, []string{"n1", "n2"})
	time.Sleep(300 * time.Millisecond)
	return c, finish
}

// waitServed waits until node serves vip.
func waitServed(t *testing.T, c *Cluster, node string, vip netip.Addr, want bool, bound time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		var ok bool
		if err := c.Members[node].Host.Do(func() error {
			var err error
			ok, err = resources.VIPServed(vip)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if ok == want {
			return time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: VIP %s served=%v not reached within %v", node, vip, !want, bound)
	return time.Time{}
}

// addrPresent reports whether node has vip on an interface at all.
func addrPresent(t *testing.T, c *Cluster, node string, vip netip.Addr) bool {
	out, err := c.Members[node].Host.Run("ip", "-o", "addr", "show", "to", vip.String())
	if err != nil {
		t.Fatalf("%s: ip addr: %v", node, err)
	}
	return len(out) > 0
}

// TestClusterKill9LosesVIP kills the owner's daemon with -9 while its
// machine and links stay up: nothing is left to stop the VIP, yet it goes
// dark on its own within the lease (the nftables gate), the kernel
// removes the address when its lifetime runs out, and the peer brings the
// VIP up only after the old owner stopped serving it. Heartbeat and
// keepalived leave the VIP on the killed node for good.
func TestClusterKill9LosesVIP(t *testing.T) {
	for _, mode := range []string{"witness", "two-node"} {
		t.Run(mode, func(t *testing.T) {
			vip := netip.MustParseAddr("10.81.0.100")
			spec := Spec{Directors: []string{"n1", "n2"}, Haresources: fmt.Sprintf("n1 IPaddr::%s/24/eth0\n", vip)}
			if mode == "witness" {
				spec.Witnesses = []string{"w"}
			}
			c, samples := startWithVIP(t, spec, vip)

			killed := time.Now()
			c.Signal("n1", syscall.SIGKILL)
			up := waitServed(t, c, "n2", vip, true, bound)
			// The address itself leaves n1 when the kernel lifetime ends.
			deadline := time.Now().Add(bound)
			for addrPresent(t, c, "n1", vip) {
				if time.Now().After(deadline) {
					t.Fatalf("n1 still has %s %v after its daemon was killed", vip, bound)
				}
				time.Sleep(20 * time.Millisecond)
			}
			gone := time.Now()
			time.Sleep(200 * time.Millisecond)

			var dark time.Time
			for _, s := range samples() {
				if s.served["n1"] && s.served["n2"] {
					t.Errorf("%s: both directors serve %s", s.at.Format("15:04:05.000"), vip)
				}
				if dark.IsZero() && s.at.After(killed) && !s.served["n1"] {
					dark = s.at
				}
			}
			if dark.IsZero() || dark.After(up) {
				t.Fatalf("n1 went dark at %v, after n2 served the VIP at %v", dark.Sub(killed), up.Sub(killed))
			}
			t.Logf("%s: daemon killed; n1 dark after %v, n2 serving after %v, address gone from n1 after %v",
				mode, dark.Sub(killed).Round(time.Millisecond), up.Sub(killed).Round(time.Millisecond), gone.Sub(killed).Round(time.Millisecond))
		})
	}
}

// TestClusterFrozenOwnerLosesVIP freezes the owner's daemon (SIGSTOP)
// past its lease: its VIP goes dark on its own, the peer takes it, and
// when the daemon thaws it does not light the VIP again (its lease is
// stale) but stops it; no 10 ms sample finds the VIP served twice.
func TestClusterFrozenOwnerLosesVIP(t *testing.T) {
	vip := netip.MustParseAddr("10.81.0.100")
	c, samples := startWithVIP(t, Spec{Directors: []string{"n1", "n2"}, Witnesses: []string{"w"}, Extra: "auto_failback off\n",
		Haresources: fmt.Sprintf("n1 IPaddr::%s/24/eth0\n", vip)}, vip)

	frozen := time.Now()
	c.Signal("n1", syscall.SIGSTOP)
	up := waitServed(t, c, "n2", vip, true, bound)
	time.Sleep(time.Second)
	thawed := time.Now()
	c.Signal("n1", syscall.SIGCONT)
	time.Sleep(3 * time.Second)
	if addrPresent(t, c, "n1", vip) {
		t.Errorf("n1 still has %s 3 s after it thawed", vip)
	}
	for _, s := range samples() {
		if s.served["n1"] && s.served["n2"] {
			t.Errorf("%s: both directors serve %s", s.at.Format("15:04:05.000"), vip)
		}
		if s.at.After(thawed) && s.served["n1"] {
			t.Errorf("%s: n1 serves %s again after it thawed", s.at.Format("15:04:05.000"), vip)
		}
	}
	t.Logf("n1 frozen; n2 serving after %v; n1 thawed after %v and never served again", up.Sub(frozen).Round(time.Millisecond), thawed.Sub(frozen).Round(time.Millisecond))
}

// TestClusterVIPCarrierLoss: the interface of n1's VIP (eth1) loses its carrier
// (the switch's end goes down, as a pulled cable) while the directors
// still hear each other on their second link. n1 knows at once (netlink)
// and its score drops, so the group moves to n2 by the ordinary
// handshake, n1 stopping first, long before deadtime (3 s here: the
// heartbeat layer never declares anybody dead). When the carrier is back
// and has held for deadtime, the group fails back (auto_failback on).
// Without the carrier watch nothing moves: the test fails.
func TestClusterVIPCarrierLoss(t *testing.T) {
	for _, mode := range []string{"two-node", "witness"} {
		t.Run(mode, func(t *testing.T) {
			const deadtime = 3 * time.Second
			// The VIP lives on eth1: the placement log's traffic rides
			// eth0 (the first medium's addresses), so the leader can tell
			// n1 to stop (docs/cluster.md).
			vip := netip.MustParseAddr("10.82.0.100")
			spec := Spec{Directors: []string{"n1", "n2"}, Timing: "keepalive 100ms\nwarntime 1s\ndeadtime 3s\ninitdead 3s\n",
				Haresources: fmt.Sprintf("n1 IPaddr::%s/24/eth1 testres::g1\n", vip)}
			if mode == "witness" {
				spec.Witnesses = []string{"w"}
			}
			c, samples := startWithVIP(t, spec, vip)
			c.WaitOwner("g1", "n1", bound)

			cut := time.Now()
			if err := c.Members["n1"].Host.Unplug("eth1"); err != nil {
				t.Fatal(err)
			}
			up := waitServed(t, c, "n2", vip, true, deadtime/2)
			t.Logf("%s: n1's eth1 lost its carrier; n2 serves the VIP %v later", mode, up.Sub(cut).Round(time.Millisecond))
			if out, _ := c.Command("n1", "status"); !strings.Contains(out, "eth1 NO CARRIER") {
				t.Errorf("hbgo status on n1 does not show eth1 without carrier:\n%s", out)
			}
			for _, r := range c.Records() {
				if r.Op == "START" && r.Node == "n2" && r.At.After(cut) {
					stopped := false
					for _, s := range c.Records() {
						stopped = stopped || (s.Op == "STOP" && s.Node == "n1" && s.At.After(cut) && !s.At.After(r.At))
					}
					if !stopped {
						t.Errorf("g1 started on n2 at +%v before n1 stopped it", r.At.Sub(cut).Round(time.Millisecond))
					}
				}
			}

			plugged := time.Now()
			if err := c.Members["n1"].Host.Plug("eth1"); err != nil {
				t.Fatal(err)
			}
			back := waitServed(t, c, "n1", vip, true, deadtime+bound)
			t.Logf("%s: carrier back; g1 failed back to n1 %v later (it counts after deadtime, %v)", mode, back.Sub(plugged).Round(time.Millisecond), deadtime)
			if back.Sub(plugged) < deadtime-time.Second {
				t.Errorf("g1 failed back %v after the carrier returned, before it held for deadtime (%v)", back.Sub(plugged), deadtime)
			}
			for _, s := range samples() {
				if s.served["n1"] && s.served["n2"] {
					t.Errorf("%s: both directors serve %s", s.at.Format("15:04:05.000"), vip)
				}
			}
		})
	}
}
