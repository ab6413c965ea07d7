package heartbeat_test

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"hbgo/heartbeat"
	"hbgo/test/ptypair"
)

// BenchmarkNetnsBytesPerNode reports bytes sent per second by one node on
// each UDP medium, at keepalive 100ms and 2s, two nodes.
func BenchmarkNetnsBytesPerNode(b *testing.B) {
	for _, ka := range []string{"100ms", "2"} {
		for _, medium := range []string{"bcast eth0", "mcast eth0 239.192.10.1 694 1 0", "ucast eth0 10.91.0.1\nucast eth0 10.91.0.2"} {
			name := strings.Fields(medium)[0] + "/keepalive=" + ka
			b.Run(name, func(b *testing.B) {
				func(t testing.TB) {
					hosts := twoSegments(t, "b1", "b2")
					ha := fmt.Sprintf("keepalive %s\ndeadtime 30\n%s\nnode b1 b2\n", ka, medium)
					n1 := startNode(t, hosts[0], "b1", ha, false)
					startNode(t, hosts[1], "b2", ha, false)
					waitFor(t, 10*time.Second, "b1 sees b2", nodeIs(n1, "b2", heartbeat.NodeUp))
					window := 3 * time.Second
					if ka == "2" {
						window = 10 * time.Second
					}
					before := n1.layer.HB.Counters().Links["eth0"]
					time.Sleep(window)
					after := n1.layer.HB.Counters().Links["eth0"]
					bps := float64(after.SentBytes-before.SentBytes) / window.Seconds()
					pkt := float64(after.SentBytes-before.SentBytes) / float64(after.SentPackets-before.SentPackets)
					b.ReportMetric(bps, "bytes/s")
					b.ReportMetric(pkt, "bytes/packet")
				}(b)
			})
		}
	}
}

// BenchmarkSerialBytesPerNode reports bytes per second one node puts on a
// serial cable at 19200 baud, framing included, at keepalive 100ms and 2s.
func BenchmarkSerialBytesPerNode(b *testing.B) {
	for _, ka := range []string{"100ms", "2"} {
		b.Run("keepalive="+ka, func(b *testing.B) {
			hosts := twoSegments(b, "b1", "b2")
			cable := ptypair.New(b, 19200)
			heartbeat.SerialLockDir = b.TempDir()
			ha := fmt.Sprintf("keepalive %s\ndeadtime 30\nbaud 19200\nnode b1 b2\n", ka)
			n1 := startNode(b, hosts[0], "b1", ha+"serial "+cable.A+"\n", false)
			startNode(b, hosts[1], "b2", ha+"serial "+cable.B+"\n", false)
			waitFor(b, 10*time.Second, "b1 sees b2", nodeIs(n1, "b2", heartbeat.NodeUp))
			window := 3 * time.Second
			if ka == "2" {
				window = 10 * time.Second
			}
			before := cable.Stats(ptypair.AtoB).Carried
			time.Sleep(window)
			after := cable.Stats(ptypair.AtoB).Carried
			b.ReportMetric(float64(after-before)/window.Seconds(), "wire-bytes/s")
			b.ReportMetric(1920, "line-bytes/s")
		})
	}
}

// BenchmarkNetnsCPU3Nodes reports the CPU the heartbeat layer of one node
// uses at keepalive 100ms in a three-node cluster (three instances in this
// process; the figure is their total divided by three).
func BenchmarkNetnsCPU3Nodes(b *testing.B) {
	func(t testing.TB) {
		hosts := twoSegments(t, "c1", "c2", "c3")
		ha := "keepalive 100ms\ndeadtime 500ms\nbcast eth0 eth1\nnode c1 c2 c3\n"
		var ns []*node
		for i, name := range []string{"c1", "c2", "c3"} {
			ns = append(ns, startNode(t, hosts[i], name, ha, true))
		}
		waitFor(t, 10*time.Second, "all up", func() bool {
			s1, _ := ns[0].state("c3")
			s2, _ := ns[2].state("c1")
			return s1 == heartbeat.NodeUp && s2 == heartbeat.NodeUp
		})
		u0 := cpuTime()
		w0 := time.Now()
		time.Sleep(10 * time.Second)
		frac := (cpuTime() - u0).Seconds() / time.Since(w0).Seconds() / 3
		b.ReportMetric(frac*100, "%core/node")
	}(b)
}

// BenchmarkNetnsDeathToDead reports, over 20 runs, how long after a peer
// goes silent (all its links blocked) the survivor declares it dead, at
// keepalive 100ms / deadtime 500ms.
func BenchmarkNetnsDeathToDead(b *testing.B) {
	func(t testing.TB) {
		hosts := twoSegments(t, "d1", "d2")
		ha := "keepalive 100ms\ndeadtime 500ms\ninitdead 1\nbcast eth0 eth1\nnode d1 d2\n"
		d1 := startNode(t, hosts[0], "d1", ha, false)
		startNode(t, hosts[1], "d2", ha, false)
		var took []time.Duration
		for i := 0; i < 20; i++ {
			waitFor(t, 10*time.Second, "d2 up", func() bool {
				s, ls := d1.state("d2")
				return s == heartbeat.NodeUp && ls["eth0"] == heartbeat.LinkUp && ls["eth1"] == heartbeat.LinkUp
			})
			time.Sleep(150 * time.Millisecond)
			if err := hosts[1].Isolate(); err != nil {
				t.Fatal(err)
			}
			took = append(took, waitFor(t, 10*time.Second, "d2 dead", nodeIs(d1, "d2", heartbeat.NodeDead)))
			if err := hosts[1].Heal(); err != nil {
				t.Fatal(err)
			}
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(took[len(took)*99/100].Milliseconds()), "p99-ms")
		b.ReportMetric(500, "deadtime-ms")
	}(b)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
