//go:build linux

package cluster

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"hbgo/crm/control"
	"hbgo/test/netns"
	"hbgo/test/peers"
)

// idleSpan is how long each daemon is watched at rest.
const idleSpan = 20 * time.Second

// idleRow is one daemon's (one node's) use at rest.
type idleRow struct {
	system, setup, node, role string
	use                       idleUse
	note                      string
}

type idleUse struct {
	cpu      float64 // share of one core
	wakes    float64 // context switches a second
	rss, pss int64
	procs    int
}

// idleMeasure reads the usage of every host's processes (summed per
// namespace, see peers.NSUsage) over idleSpan.
func idleMeasure(b *testing.B, hosts []*netns.Host) []idleUse {
	before := make([]peers.Usage, len(hosts))
	for i, h := range hosts {
		u, err := peers.NSUsage(h)
		if err != nil {
			b.Fatal(err)
		}
		before[i] = u
	}
	time.Sleep(idleSpan)
	out := make([]idleUse, len(hosts))
	for i, h := range hosts {
		u, err := peers.NSUsage(h)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = idleUse{cpu: peers.CPUShare(before[i], u), wakes: peers.WakeRate(before[i], u), rss: u.RSS, pss: u.PSS, procs: u.Procs}
	}
	return out
}

// idleVIP is the one group of the idle hbgo clusters: n1's VIP, nothing
// else, as keepalived's VRRP instance and Heartbeat's IPaddr hold.
const idleVIP = "10.81.0.100/24"

// waitGroupRunning waits until node's daemon says it runs a group.
func waitGroupRunning(c *Cluster, node string, bound time.Duration) {
	deadline := time.Now().Add(bound)
	for {
		if cl, err := control.Dial(control.SocketPath(c.Members[node].RunDir)); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := cl.Status(ctx)
			cancel()
			if err == nil {
				for _, g := range st.Groups {
					if g.Owner == node && g.State == "running" {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			c.T.Fatalf("%s runs no group after %v", node, bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// idleHbgo measures an hbgo cluster at timing100 whose one group, n1's
// VIP, runs on n1. With HBGO_CPUPROFILE set (a name with "%n" for the
// node, see cmd/hbgo), each daemon writes a CPU profile, the mode's name
// put before "%n"; the daemons are stopped at the end so they write it.
func idleHbgo(b *testing.B, mode hbgoMode) []idleRow {
	if profile := os.Getenv("HBGO_CPUPROFILE"); profile != "" {
		b.Setenv("HBGO_CPUPROFILE", strings.ReplaceAll(profile, "%n", mode.name+"-%n"))
	}
	spec := Spec{Directors: []string{"n1", "n2"}, Timing: timing100.lines, Haresources: "n1 IPaddr::" + idleVIP + "/eth0\n"}
	if mode.witness {
		spec.Witnesses = []string{"w"}
	}
	c := New(b, spec)
	c.StartAll()
	waitGroupRunning(c, "n1", timing100.bound)
	time.Sleep(2 * time.Second)
	role := map[string]string{"n1": "director, owner", "n2": "director, standby", "w": "witness"}
	var leaderBefore string
	if mode.witness {
		leader, _, err := agreedLeader(c, timing100.bound)
		if err != nil {
			b.Fatal(err)
		}
		leaderBefore = leader
	}
	var hosts []*netns.Host
	for _, n := range c.order {
		hosts = append(hosts, c.Members[n].Host)
	}
	use := idleMeasure(b, hosts)
	note := ""
	if mode.witness {
		leader, _, err := agreedLeader(c, timing100.bound)
		if err != nil {
			b.Fatal(err)
		}
		if leader != leaderBefore {
			note = fmt.Sprintf("leader changed from %s to %s during the span", leaderBefore, leader)
		}
		for n := range role {
			if n == leader {
				role[n] += ", raft leader"
			} else {
				role[n] += ", raft follower"
			}
		}
	}
	var rows []idleRow
	for i, n := range c.order {
		rows = append(rows, idleRow{system: "hbgo", setup: mode.label, node: n, role: role[n], use: use[i], note: note})
	}
	idleReport(b, rows)
	if os.Getenv("HBGO_CPUPROFILE") != "" {
		for _, n := range c.order {
			c.Signal(n, syscall.SIGTERM)
		}
		for _, n := range c.order {
			c.WaitExit(n, timing100.bound)
		}
	}
	return rows
}

// idlePair measures a peer pair started by start (its client stopped
// first: the benchmark's own traffic is not the daemons').
func idlePair(b *testing.B, system, setup string, roles map[string]string, start func() *peers.Pair) []idleRow {
	p := start()
	p.Probe.Close()
	p.ARP.Close()
	time.Sleep(2 * time.Second)
	var hosts []*netns.Host
	for _, n := range p.Nodes {
		hosts = append(hosts, n.Host)
	}
	use := idleMeasure(b, hosts)
	var rows []idleRow
	for i, n := range p.Nodes {
		rows = append(rows, idleRow{system: system, setup: setup, node: n.Name, role: roles[n.Name], use: use[i]})
	}
	idleReport(b, rows)
	return rows
}

// idleReport sets a sub-benchmark's metrics: each node's CPU share and
// RSS.
func idleReport(b *testing.B, rows []idleRow) {
	b.ReportMetric(0, "ns/op") // b.N is not the unit here
	for _, r := range rows {
		b.ReportMetric(100*r.use.cpu, r.node+"-cpu-%")
		b.ReportMetric(r.use.wakes, r.node+"-switches/s")
		b.ReportMetric(float64(r.use.rss)/(1<<20), r.node+"-rss-MB")
	}
}

// heartbeat100 is Heartbeat at hbgo's timing100.
var heartbeat100 = peers.HeartbeatSpec{Keepalive: "100ms", Warntime: "200ms", Deadtime: "300ms", Initdead: "2"}

// BenchmarkIdle prints each daemon's CPU share and memory at rest, per
// role, over idleSpan: hbgo (keepalive 100ms, deadtime 300ms) in two-node
// mode and with a witness, keepalived (VRRPv3, advert_int 0.1) and
// Heartbeat (keepalive 100ms), each holding one VIP. Every process of a
// node's namespace counts (keepalived's VRRP child, Heartbeat's helpers).
func BenchmarkIdle(b *testing.B) {
	var rows []idleRow
	for _, mode := range []hbgoMode{modeTwoNode, modeWitness} {
		b.Run("hbgo/"+mode.name, func(b *testing.B) { rows = append(rows, idleHbgo(b, mode)...) })
	}
	b.Run("keepalived/"+keepalived100.name, func(b *testing.B) {
		rows = append(rows, idlePair(b, "keepalived", keepalived100.label, map[string]string{"n1": "master", "n2": "backup"},
			func() *peers.Pair { return peers.Keepalived(b, keepalived100.spec) })...)
	})
	b.Run("heartbeat/ka100ms-dt300ms", func(b *testing.B) {
		rows = append(rows, idlePair(b, "heartbeat", "keepalive 100ms, deadtime 300ms", map[string]string{"n1": "holder", "n2": "standby"},
			func() *peers.Pair { return peers.Heartbeat(b, heartbeat100) })...)
	})
	fmt.Printf("\nidle: each node's processes at rest over %v (hbgo: %s)\n", idleSpan, timing100.label)
	w := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(w, "system\tsetup\tnode\trole\tprocesses\tCPU (% of a core)\tcontext switches/s\tRSS\tPSS\tnote")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%.2f%%\t%.0f\t%.1f MB\t%.1f MB\t%s\n", r.system, r.setup, r.node, r.role, r.use.procs,
			100*r.use.cpu, r.use.wakes, float64(r.use.rss)/(1<<20), float64(r.use.pss)/(1<<20), r.note)
	}
	w.Flush()
	fmt.Println("RSS is summed over a node's processes (a shared page counts once per process); PSS splits shared pages.")
	fmt.Println("Context switches are summed over every thread of a node's processes: on a virtual machine each wakeup costs more than")
	fmt.Println("the work it does, and the CPU share of the same wakeups varies several times over from run to run.")
	fmt.Println()
}
