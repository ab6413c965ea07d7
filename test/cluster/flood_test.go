//go:build linux

package cluster

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestClusterRaftPortFlood: a host on the LAN that is no member keeps 210
// silent connections open to the raft ports of the voters, while hb_standby and hb_takeover run and the witness restarts.
// The voters keep reaching each other (their handshakes have slots of
// their own, each source a bounded share), the requests complete, and no
// group runs twice or goes dark for a lease. (Raft's connections made
// before the flood outlive it, and raft redials: this run passed before
// the transport had voter slots too; TestRaftTransportFloodKeepsVotersIn
// shows the slots themselves.)
func TestClusterRaftPortFlood(t *testing.T) {
	c := New(t, Spec{Directors: []string{"n1", "n2"}, Witnesses: []string{"w"}, Groups: []string{"n1 g1", "n2 g2"}, Router: true})
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	c.WaitOwner("g2", "n2", bound)
	intruder := c.Lab.Host("router")
	var targets []string
	for _, n := range c.order {
		targets = append(targets, netip.AddrPortFrom(c.Members[n].Host.Addr("eth0").Addr(), 695).String())
	}
	// Per voter, 70 connections kept open all the time: each is dialled
	// again as soon as the voter closes it.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var dials atomic.Int64
	for _, tg := range targets {
		for range 70 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					var cn net.Conn
					intruder.Do(func() (err error) {
						cn, err = net.DialTimeout("tcp", tg, 200*time.Millisecond)
						return err
					})
					if cn == nil {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					dials.Add(1)
					go func() { <-stop; cn.Close() }()
					cn.Read(make([]byte, 1)) // until the voter closes it
					cn.Close()
				}
			}()
		}
	}
	time.Sleep(time.Second)
	if out, code := c.Command("n1", "hb_standby"); code != 0 || c.Owner("g1") != "n2" {
		t.Fatalf("hb_standby during the flood: exit %d, g1 on %q\n%s", code, c.Owner("g1"), out)
	}
	if out, code := c.Command("n1", "hb_takeover"); code != 0 || c.Owner("g1") != "n1" {
		t.Fatalf("hb_takeover during the flood: exit %d, g1 on %q\n%s", code, c.Owner("g1"), out)
	}
	c.Signal("w", syscall.SIGKILL)
	c.WaitExit("w", bound)
	c.Start("w")
	if _, _, err := agreedLeader(c, bound); err != nil {
		t.Fatalf("no leader after the witness restarted during the flood: %v", err)
	}
	if out, code := c.Command("n2", "hb_standby"); code != 0 || c.Owner("g2") != "n1" {
		t.Fatalf("hb_standby on n2 after the witness restarted: exit %d, g2 on %q\n%s", code, c.Owner("g2"), out)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d silent connections made", dials.Load())
	c.CheckInvariant()
}
