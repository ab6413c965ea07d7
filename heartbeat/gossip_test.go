package heartbeat

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGossipJoinNeverDeadlocks: joins from our side while the peers join
// us, and readers of Members, all at once. Join used to hold the gossip
// lock while asking memberlist for its members, while memberlist held its
// node lock and called our event delegate, which wanted the gossip lock:
// a director's loop stuck forever at start (seen in CI).
func TestGossipJoinNeverDeadlocks(t *testing.T) {
	key := make([]byte, 32)
	var nodes []*Gossip
	var addrs []netip.AddrPort
	for i := 0; i < 3; i++ {
		ap := freeLoopbackPort(t)
		g, err := NewGossip(GossipConfig{Node: fmt.Sprintf("g%d", i), Bind: ap, Advertise: ap, Key: key,
			Meta: func() Meta { return Meta{} }})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, g)
		addrs = append(addrs, ap)
	}
	// For three seconds: every node joins the others over and over
	// (Join reads memberlist's members), changes its metadata (the others'
	// memberlist then calls our event delegate with its node lock held),
	// and reads its members.
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		end := time.Now().Add(3 * time.Second)
		for i, g := range nodes {
			wg.Add(3)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					g.Join(addrs[(i+1)%3], addrs[(i+2)%3])
				}
			}()
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					g.UpdateMeta()
				}
			}()
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					g.Members()
				}
			}()
		}
		// Newcomers, one after another: each one's arrival is a join
		// event on the three (their memberlist's node lock held).
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(end); k++ {
				ap, ok := loopbackPort()
				if !ok {
					continue
				}
				g, err := NewGossip(GossipConfig{Node: fmt.Sprintf("new%d", k), Bind: ap, Advertise: ap, Key: key,
					Meta: func() Meta { return Meta{} }})
				if err != nil {
					continue
				}
				g.Join(addrs...)
				g.Shutdown()
			}
		}()
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		// Shutting the nodes down would hang on the deadlock too.
		t.Fatal("concurrent joins did not finish in 30 s: the gossip layer deadlocked")
	}
	defer func() {
		for _, g := range nodes {
			g.Shutdown()
		}
	}()
	for _, g := range nodes {
		if n := len(g.Members()); n < 3 {
			t.Errorf("a node sees %d members, want at least 3", n)
		}
	}
}

// freeLoopbackPort finds a loopback port free for both TCP and UDP.
func freeLoopbackPort(t *testing.T) netip.AddrPort {
	t.Helper()
	for i := 0; i < 50; i++ {
		if ap, ok := loopbackPort(); ok {
			return ap
		}
	}
	t.Fatal("no free loopback port")
	return netip.AddrPort{}
}

// loopbackPort tries one port the system offers for TCP on UDP too.
func loopbackPort() (netip.AddrPort, bool) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return netip.AddrPort{}, false
	}
	ap := netip.MustParseAddrPort(l.Addr().String())
	u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	l.Close()
	if err != nil {
		return netip.AddrPort{}, false
	}
	u.Close()
	return ap, true
}

// TestGossipUpdateMetaDoesNotWait: a metadata change returns at once and
// reaches the peer. memberlist's UpdateNode waits for the next gossip
// round, up to a second; the pinger called it and stopped pinging
// meanwhile, so that its own ping node seemed to come and go.
func TestGossipUpdateMetaDoesNotWait(t *testing.T) {
	key := make([]byte, 32)
	var ping atomic.Int32
	var nodes []*Gossip
	var addrs []netip.AddrPort
	for i := range 2 {
		ap := freeLoopbackPort(t)
		g, err := NewGossip(GossipConfig{Node: fmt.Sprintf("g%d", i), Bind: ap, Advertise: ap, Key: key,
			Meta: func() Meta { return Meta{Ping: int(ping.Load())} }})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Shutdown()
		nodes = append(nodes, g)
		addrs = append(addrs, ap)
	}
	if err := nodes[1].Join(addrs[0]); err != nil {
		t.Fatal(err)
	}
	for score := int32(1); score <= 5; score++ {
		ping.Store(score)
		start := time.Now()
		nodes[0].UpdateMeta()
		if took := time.Since(start); took > 50*time.Millisecond {
			t.Fatalf("UpdateMeta took %v", took)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for nodes[1].Members()["g0"].Ping != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("g1 sees g0's ping score %d, want 5", nodes[1].Members()["g0"].Ping)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
