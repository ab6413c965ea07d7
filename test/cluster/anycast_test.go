//go:build linux

package cluster

import (
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	bgptest "hbgo/test/bgp"
)

// TestClusterAnycastBGP: three directors run one anycast group
// (BGPaddr::VIP) and announce it to a router running FRR; the router's
// kernel holds the VIP with every director as a next hop (ECMP).
// hb_standby on one director withdraws it there and hb_takeover brings it
// back; a graceful stop withdraws it before the daemon goes; a director
// that loses power is dropped when the router's hold time (3 s) ends,
// and the last director keeps announcing without a quorum.
func TestClusterAnycastBGP(t *testing.T) {
	bgptest.RequireFRR(t)
	l := NewAnycastLab(t, 3)
	c, r, client, vip, addr, all := l.C, l.R, l.Client, l.VIP, l.Addr, l.All
	web := l.Web

	if out, _ := c.Command("n2", "status"); !strings.Contains(out, "Established") || !strings.Contains(out, "Announced: "+vip.String()) {
		t.Errorf("hbgo status on n2 does not show its BGP session established and the VIP announced:\n%s", out)
	}

	// New flows (a new source port each) spread over the three.
	spread := map[string]int{}
	for i := 0; i < 300; i++ {
		if who, err := AskVIP(client, vip.Addr(), i); err == nil {
			spread[who]++
		}
	}
	t.Logf("300 new flows through the router: %v", spread)
	for _, n := range []string{"n1", "n2", "n3"} {
		if spread[n] < 50 {
			t.Errorf("%s answered %d of 300 new flows, want at least 50 (ECMP over three): %v", n, spread[n], spread)
		}
	}
	// The real server goes down: every director withdraws the VIP; it
	// comes back: every director announces it again.
	t3 := time.Now()
	web.Close()
	took := r.WaitNextHops(vip, nil, 20*time.Second).Sub(t3)
	t.Logf("the real server went down: the VIP withdrawn by every director %v later", took.Round(time.Millisecond))
	if out, _ := c.Command("n1", "status"); !strings.Contains(out, "Not announced: "+vip.String()+": no real server is up") {
		t.Errorf("hbgo status on n1 with the real server down does not say why the VIP is not announced:\n%s", out)
	}
	t3 = time.Now()
	web = StartListener(t, l.RS, ":80")
	took = r.WaitNextHops(vip, all, 20*time.Second).Sub(t3)
	t.Logf("the real server came back: the VIP announced by every director %v later", took.Round(time.Millisecond))
	defer web.Close()

	fl := StartFlows(client, vip.Addr())
	defer fl.Stop()
	for _, n := range []string{"n1", "n2", "n3"} {
		out, _ := c.Members[n].Host.Run("ip", "-o", "addr", "show", "dev", "lo")
		if !strings.Contains(out, vip.String()) {
			t.Errorf("%s: the anycast VIP is not on lo:\n%s", n, out)
		}
	}

	// hb_standby withdraws it on n2 (and the command returns once it has),
	// hb_takeover announces it again.
	t0 := time.Now()
	if out, code := c.Command("n2", "hb_standby"); code != 0 {
		t.Fatalf("hb_standby on n2: exit %d\n%s", code, out)
	}
	took = r.WaitNextHops(vip, []netip.Addr{addr["n1"], addr["n3"]}, 10*time.Second).Sub(t0)
	t.Logf("hb_standby on n2: the router dropped its next hop %v after the command began", took.Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	if f := fl.Take(); f.Failed > 0 || f.Per["n2"] > 0 && f.LastFrom["n2"].After(t0.Add(took)) {
		t.Errorf("flows during and after hb_standby on n2: %+v", f)
	} else {
		t.Logf("flows through hb_standby on n2: %d, none failed", f.Total)
	}
	if out, _ := c.Command("n2", "status"); !strings.Contains(out, "BGPaddr") || !strings.Contains(out, "Announced: none") ||
		!strings.Contains(out, "Not announced: "+vip.String()+": its group is stopped") {
		t.Errorf("hbgo status on n2 after hb_standby does not list the anycast group, or does not say nothing is announced:\n%s", out)
	}
	if out, code := c.Command("n2", "hb_takeover"); code != 0 {
		t.Fatalf("hb_takeover on n2: exit %d\n%s", code, out)
	}
	r.WaitNextHops(vip, all, 20*time.Second)
	fl.Take()

	// A graceful stop withdraws first: no flow fails.
	t1 := time.Now()
	c.Signal("n3", syscall.SIGTERM)
	took = r.WaitNextHops(vip, []netip.Addr{addr["n1"], addr["n2"]}, 20*time.Second).Sub(t1)
	t.Logf("SIGTERM on n3: the router dropped its next hop %v after the signal", took.Round(time.Millisecond))
	if err := c.WaitExit("n3", 30*time.Second); err != nil {
		t.Errorf("n3 after SIGTERM: %v", err)
	}
	if f := fl.Take(); f.Failed > 0 {
		t.Errorf("flows through n3's graceful stop: %+v", f)
	} else {
		t.Logf("flows through n3's graceful stop: %d, none failed", f.Total)
	}

	// n3 comes back and gets its share of new flows.
	t4 := time.Now()
	c.Start("n3")
	took = r.WaitNextHops(vip, all, 60*time.Second).Sub(t4)
	time.Sleep(300 * time.Millisecond)
	fl.Take()
	time.Sleep(3 * time.Second)
	f := fl.Take()
	t.Logf("n3 started again: announced %v later; then %d new flows: %v", took.Round(time.Millisecond), f.Total, f.Per)
	if f.Failed > 0 || f.Per["n3"] < f.Total/6 {
		t.Errorf("flows after n3 came back: %+v, want n3 to get a share and none to fail", f)
	}

	// A power loss: the router drops n1 when its hold time ends.
	t2 := time.Now()
	c.PowerOff("n1")
	took = r.WaitNextHops(vip, []netip.Addr{addr["n2"], addr["n3"]}, 15*time.Second).Sub(t2)
	t.Logf("n1 powered off: the router dropped its next hop %v later (hold time 3s)", took.Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	f = fl.Take()
	if f.Failed > 0 && f.LastFail.Sub(t2) > took+200*time.Millisecond {
		t.Errorf("a flow failed %v after n1's power-off, after the router had dropped it: %+v", f.LastFail.Sub(t2), f)
	}
	t.Logf("flows through n1's power-off: %d, %d failed (those the router still sent to n1), the last %v after it", f.Total, f.Failed, f.LastFail.Sub(t2).Round(time.Millisecond))
	// n3 loses power too: n2, alone of three and without a quorum, goes
	// on announcing: behind ECMP a director serves correctly whoever
	// else is up.
	c.PowerOff("n3")
	r.WaitNextHops(vip, []netip.Addr{addr["n2"]}, 15*time.Second)
	time.Sleep(500 * time.Millisecond)
	fl.Take()
	time.Sleep(500 * time.Millisecond)
	if f := fl.Take(); f.Failed > 0 || f.Per["n2"] != f.Total || f.Total == 0 {
		t.Errorf("flows with n2 alone: %+v", f)
	}
}

// TestClusterAnycastBFD: three directors announce an anycast VIP to FRR
// with BFD on their sessions (bgp_neighbor ... bfd, 100 ms x 3, bfdd on
// the router). A director that loses power (its processes killed, its
// link down) is dropped by the router well within the 3 s hold time;
// started again, its BFD session comes back up with its next hop. The
// flows the router still sends to the dead director fail only until it
// is dropped.
func TestClusterAnycastBFD(t *testing.T) {
	bgptest.RequireFRR(t)
	l := NewAnycastLabWith(t, 3, AnycastOptions{BFD: true})
	c, r, vip, addr := l.C, l.R, l.VIP, l.Addr
	peers := r.WaitBFDUp(l.All, 30*time.Second)
	t.Logf("bfdd's sessions with the directors: %+v", peers)
	// The director's own view: hbgo status's BFD column (the speaker turns
	// BFD on once the session is established, so it may lag the router).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ := c.Command("n2", "status")
		if regexp.MustCompile(`Established\s+\S+\s+\S+\s+Up\s`).MatchString(out) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hbgo status on n2 does not show its BFD session Up:\n%s", out)
		}
	}

	fl := StartFlows(l.Client, vip.Addr())
	defer fl.Stop()
	time.Sleep(500 * time.Millisecond)
	fl.Take()

	t0 := time.Now()
	c.PowerOff("n1")
	took := r.WaitNextHops(vip, []netip.Addr{addr["n2"], addr["n3"]}, 15*time.Second).Sub(t0)
	t.Logf("n1 powered off: the router dropped its next hop %v later (BFD 100 ms x 3, hold time 3 s)", took.Round(time.Millisecond))
	// Generous for a loaded 2-core machine; the hold time alone would
	// take 2-3 s (TestClusterAnycastBGP).
	if took > 1500*time.Millisecond {
		t.Errorf("n1 dropped %v after its power-off, want within 1.5 s with BFD", took)
	}
	time.Sleep(300 * time.Millisecond)
	f := fl.Take()
	t.Logf("flows through n1's power-off: %d, %d failed, the last %v after it", f.Total, f.Failed, f.LastFail.Sub(t0).Round(time.Millisecond))
	if f.Failed > 0 && f.LastFail.Sub(t0) > took+200*time.Millisecond {
		t.Errorf("a flow failed %v after n1's power-off, after the router had dropped it: %+v", f.LastFail.Sub(t0), f)
	}

	t1 := time.Now()
	c.Revive("n1")
	c.Start("n1")
	r.WaitNextHops(vip, l.All, 60*time.Second)
	r.WaitBFDUp([]netip.Addr{addr["n1"]}, 20*time.Second)
	t.Logf("n1 started again: its next hop and BFD session back %v later", time.Since(t1).Round(time.Millisecond))
}
