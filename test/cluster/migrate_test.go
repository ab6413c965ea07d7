package cluster

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"hbgo/test/peers"
)

// migrationSpec: Heartbeat's and hbgo's shared ha.cf timings in the
// migration test (initdead well over twice deadtime, as Heartbeat
// advises).
var migrationSpec = peers.HeartbeatSpec{Keepalive: "200ms", Warntime: "600ms", Deadtime: "1", Initdead: "3"}

// TestMigrationFromHeartbeat runs README's rolling migration on a real
// Heartbeat 3 pair (Debian's package, haresources, n1 holding the VIP),
// in both orders: the standby first, then the active; and the active
// first (Heartbeat fails over to the standby), then the other. Each node
// keeps its ha.cf, authkeys and haresources and swaps Heartbeat for hbgo.
// A client asks the VIP every 10 ms and watches who answers ARP for it:
// no instant may have two holders, and the gap of each hand-over is
// measured.
func TestMigrationFromHeartbeat(t *testing.T) {
	if err := peers.Ensure(peers.HeartbeatPackages...); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Heartbeat 3 cannot be installed: %v", err)
		}
		t.Skipf("Heartbeat 3 cannot be installed: %v", err)
	}
	bin := Binary(t)
	for _, order := range []struct {
		name          string
		first, second string
	}{
		{"standby-first", "n2", "n1"},
		{"active-first", "n1", "n2"},
	} {
		t.Run(order.name, func(t *testing.T) {
			migrate(t, bin, order.first, order.second)
		})
	}
}

func migrate(t *testing.T, bin, first, second string) {
	p := peers.Heartbeat(t, migrationSpec)
	deadtime := migrationSpec.DeadtimeDur()
	bound := 30 * time.Second
	since := time.Now()
	holder := "n1"

	// 1. Heartbeat stops on the first node. When it held the VIP,
	// Heartbeat on the other node takes it (Heartbeat's own failover).
	t1 := time.Now()
	if err := p.StopHeartbeat(first, bound); err != nil {
		t.Fatal(err)
	}
	if first == holder {
		gap, _, err := p.Probe.Gap(t1, second, bound)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Heartbeat on %s stopped: Heartbeat on %s took the VIP, the client's gap %v", first, second, gap.Round(time.Millisecond))
		holder = second
	}

	// 2. hbgo starts on the first node: it hears Heartbeat on the other
	// and runs nothing, past its initdead.
	t2 := time.Now()
	if err := p.StartHbgo(first, bin); err != nil {
		t.Fatal(err)
	}
	waitHbgoLog(t, p, first, "runs Linux-HA Heartbeat", bound)
	time.Sleep(migrationSpec.DeadtimeDur()*2 + 3*time.Second)
	if as := p.Probe.Answers(t2, time.Now()); !allFrom(as, holder) {
		t.Fatalf("with hbgo on %s beside Heartbeat on %s the VIP was answered by %s", first, holder, whoAnswered(as))
	}
	if out, _ := p.HbgoStatus(first, bin); !strings.Contains(out, "Heartbeat 3") {
		t.Errorf("hbgo status on %s does not name the Heartbeat peer:\n%s", first, out)
	}

	// 3. Heartbeat stops on the second node: it releases the VIP, says
	// so, and hbgo on the first takes it at once (not after deadtime).
	t3 := time.Now()
	if err := p.StopHeartbeat(second, bound); err != nil {
		t.Fatal(err)
	}
	gap, firstAnswer, err := p.Probe.Gap(t3, first, bound)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Heartbeat on %s stopped: hbgo on %s took the VIP %v after the stop began, the client's gap %v (deadtime %v)",
		second, first, firstAnswer.At.Sub(t3).Round(time.Millisecond), gap.Round(time.Millisecond), deadtime)
	if !strings.Contains(p.HbgoLog(first), "has released its resources and left") {
		t.Errorf("hbgo on %s did not log Heartbeat's shutdone", first)
	}

	// 4. hbgo starts on the second node and joins; the VIP stays
	// (auto_failback off).
	t4 := time.Now()
	if err := p.StartHbgo(second, bin); err != nil {
		t.Fatal(err)
	}
	deadlineJoin := time.Now().Add(bound)
	for {
		out, _ := p.HbgoStatus(second, bin)
		if strings.Contains(out, first) && !strings.Contains(out, "Heartbeat 3") && strings.Contains(p.HbgoLog(second), "node "+first+": is up") {
			break
		}
		if time.Now().After(deadlineJoin) {
			t.Fatalf("hbgo on %s did not join hbgo on %s within %v:\n%s", second, first, bound, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if as := p.Probe.Answers(t4, time.Now()); !allFrom(as, first) {
		t.Errorf("after hbgo on %s joined, the VIP was answered by %s", second, whoAnswered(as))
	}
	if d := p.ARP.Dual(since, time.Now()); len(d) > 0 {
		t.Errorf("two holders of the VIP by ARP at %d instants, first %v by %v", len(d), d[0].At.Format("15:04:05.000"), d[0].Who)
	}
	if s := p.Probe.Silence(t4, time.Now()); s > time.Second {
		t.Errorf("the VIP was silent %v after hbgo on %s joined", s, second)
	}
}

func waitHbgoLog(t *testing.T, p *peers.Pair, node, what string, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !strings.Contains(p.HbgoLog(node), what) {
		if time.Now().After(deadline) {
			t.Fatalf("hbgo on %s did not log %q within %v", node, what, bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func allFrom(as []peers.Answer, who string) bool {
	for _, a := range as {
		if a.From != who {
			return false
		}
	}
	return len(as) > 0
}

func whoAnswered(as []peers.Answer) string {
	n := map[string]int{}
	for _, a := range as {
		n[a.From]++
	}
	return fmt.Sprint(n)
}
