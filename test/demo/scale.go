package main

import (
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"time"

	bgptest "hbgo/test/bgp"
	"hbgo/test/cluster"
	"hbgo/test/peers"
)

// runScale is make demo-scale: three directors, all active, announcing one
// anycast VIP (BGPaddr) to a router running FRR that spreads flows over
// them by ECMP; a client behind the router; what happens to new flows when
// an operator takes a director out, and when one loses power.
func runScale(n *narrator) {
	n.say("hbgo demo-scale: three directors, all active, announce one VIP by BGP to a router (FRR) that spreads the client's flows over them (ECMP); each a network namespace")
	if err := peers.Ensure(bgptest.Packages...); err != nil {
		n.Fatalf("FRR cannot be installed: %v", err)
	}
	// BFD on every session (100 ms x 3): a dead director is dropped in
	// about 0.35 s rather than at the end of the 3 s hold time.
	l := cluster.NewAnycastLabWith(n, 3, cluster.AnycastOptions{BFD: true})
	for _, d := range l.Names {
		if pid := l.C.PID(d); pid > 0 {
			n.pids = append(n.pids, pid)
		}
	}
	n.prefix = l.C.Lab.Prefix()
	hops, _ := l.R.NextHops(l.VIP)
	n.check(len(hops) == 3, "the router holds %s with next hops %v", l.VIP, hops)
	if out, err := exec.Command("ip", "netns", "exec", l.C.Lab.Host("router").NS(), "ip", "route", "show", l.VIP.String()).CombinedOutput(); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			n.say("  router$ ip route: %s", strings.TrimSpace(line))
		}
	}
	l.R.WaitBFDUp(l.All, 30*time.Second)
	n.say("the router's BFD sessions with the three directors are up")
	// A director's speaker turns BFD on once its session is established,
	// so its own view may lag the router's a moment.
	bfdUp := regexp.MustCompile(`Established\s+\S+\s+\S+\s+Up\s`)
	out, _ := l.C.Command("n2", "status")
	for deadline := time.Now().Add(10 * time.Second); !bfdUp.MatchString(out) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		out, _ = l.C.Command("n2", "status")
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "NEIGHBOR") || strings.Contains(line, "Established") || strings.HasPrefix(line, "Announced") {
			n.say("  n2$ hbgo status: %s", strings.TrimSpace(line))
		}
	}

	per := map[string]int{}
	for i := 0; i < 600; i++ {
		if who, err := cluster.AskVIP(l.Client, l.VIP.Addr(), i); err == nil {
			per[who]++
		}
	}
	n.check(per["n1"] > 100 && per["n2"] > 100 && per["n3"] > 100, "600 new flows from the client spread over the directors: n1 %d, n2 %d, n3 %d", per["n1"], per["n2"], per["n3"])

	fl := cluster.StartFlows(l.Client, l.VIP.Addr())
	defer fl.Stop()
	n.say("the client now opens a new flow every 5 ms")
	t0 := time.Now()
	out, code := l.C.Command("n2", "hb_standby")
	took := l.R.WaitNextHops(l.VIP, []netip.Addr{l.Addr["n1"], l.Addr["n3"]}, 10*time.Second).Sub(t0)
	time.Sleep(300 * time.Millisecond)
	f := fl.Take()
	first, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	n.check(code == 0 && f.Failed == 0, "hb_standby on n2 (exit %d, %q) withdrew its route: the router dropped it %v after the command began; %d flows meanwhile, %d failed",
		code, first, took.Round(time.Millisecond), f.Total, f.Failed)
	if _, code := l.C.Command("n2", "hb_takeover"); code != 0 {
		n.Errorf("hb_takeover on n2: exit %d", code)
	}
	l.R.WaitNextHops(l.VIP, l.All, 20*time.Second)
	n.say("hb_takeover on n2: announced again, three next hops")
	fl.Take()

	t1 := time.Now()
	l.C.PowerOff("n3")
	n.say("n3 loses power (its links go down, its processes are killed)")
	took = l.R.WaitNextHops(l.VIP, []netip.Addr{l.Addr["n1"], l.Addr["n2"]}, 15*time.Second).Sub(t1)
	time.Sleep(300 * time.Millisecond)
	f = fl.Take()
	n.check(took < 2*time.Second, "the router dropped n3 %v after the power loss (BFD 100 ms x 3; without BFD the BGP hold time, 3 s); %d flows meanwhile, %d failed (those it still sent to n3)",
		took.Round(time.Millisecond), f.Total, f.Failed)
	time.Sleep(time.Second)
	f = fl.Take()
	n.check(f.Failed == 0 && f.Per["n3"] == 0, "after that, %d new flows, none failed: n1 %d, n2 %d", f.Total, f.Per["n1"], f.Per["n2"])
	n.say("%s", fmt.Sprintf("numbers: spread of 600 new flows n1 %d / n2 %d / n3 %d; hb_standby withdrew n2 with no failed flow; a dead director kept receiving new flows for %v (BFD)",
		per["n1"], per["n2"], per["n3"], took.Round(time.Millisecond)))
	n.say("connections that survive a director's loss need kernel IPVS (mh, sloppy_tcp), which this kernel lacks: the directors here answer the flows themselves; in the VM (TestInVMAnycastMH) 30 of 30 long-lived connections went on through another director")
	n.say("stopping every daemon and removing the namespaces")
}
