package heartbeat_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hbgo/conf"
	"hbgo/heartbeat"
	"hbgo/test/netns"
)

// Fast timings keep the namespace tests short; bounds are generous because
// the machine may be busy.
const haTimings = `
keepalive 100ms
warntime 300ms
deadtime 600ms
initdead 1200ms
`

var testKey = conf.AuthKey{Num: 1, Method: "sha1", Secret: "netns-test-secret"}

// node is one heartbeat layer running in a host of the lab.
type node struct {
	name  string
	host  *netns.Host
	layer *heartbeat.Layer

	mu     sync.Mutex
	events []string
}

func (n *node) onEvent(e heartbeat.Event) {
	n.mu.Lock()
	n.events = append(n.events, e.String())
	n.mu.Unlock()
}

func (n *node) eventLog() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.events, "\n")
}

// state returns what n thinks of peer: node state and each link's state.
func (n *node) state(peer string) (heartbeat.NodeState, map[string]heartbeat.LinkState) {
	for _, s := range n.layer.HB.Status() {
		if s.Name == peer {
			return s.State, s.Links
		}
	}
	return heartbeat.NodeInit, nil
}

func parseHA(t testing.TB, text string) *conf.HAConfig {
	t.Helper()
	var ds conf.Diags
	ha := conf.ParseHACF("ha.cf", []byte(text), &ds)
	if ds.HasErrors() {
		t.Fatalf("ha.cf:\n%s", ds)
	}
	return ha
}

// startNode starts a heartbeat layer for name inside host, from ha.cf text.
func startNode(t testing.TB, host *netns.Host, name, haText string, gossip bool) *node {
	t.Helper()
	ha := parseHA(t, haText)
	n := &node{name: name, host: host}
	logger := slog.New(slog.NewTextHandler(testWriter{t, name}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	err := host.Do(func() error {
		var err error
		n.layer, err = heartbeat.StartLayer(heartbeat.LayerConfig{
			Node: name, HA: ha, Key: testKey, StateDir: t.TempDir(),
			Role: "director", Version: "test", Logger: logger, OnEvent: n.onEvent,
			NoGossip: !gossip,
			GossipDial: func(network, addr string, timeout time.Duration) (net.Conn, error) {
				var c net.Conn
				err := host.Do(func() (err error) {
					c, err = net.DialTimeout(network, addr, timeout)
					return err
				})
				return c, err
			},
		})
		return err
	})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { n.layer.Stop(false) })
	return n
}

type testWriter struct {
	t    testing.TB
	name string
}

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "[%s] %s", w.name, p)
	}
	return len(p), nil
}

var _ io.Writer = testWriter{}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t testing.TB, bound time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < bound {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("after %v: %s did not happen", bound, what)
	return 0
}

func linkIs(n *node, peer, link string, want heartbeat.LinkState) func() bool {
	return func() bool { _, ls := n.state(peer); return ls[link] == want }
}

func nodeIs(n *node, peer string, want heartbeat.NodeState) func() bool {
	return func() bool { s, _ := n.state(peer); return s == want }
}

// twoSegments makes hosts on two segments, lan (eth0) and hb (eth1).
func twoSegments(t testing.TB, names ...string) []*netns.Host {
	lab := netns.NewT(t)
	lan, err := lab.AddSegment("lan", netip.MustParsePrefix("10.91.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	hb, err := lab.AddSegment("hb", netip.MustParsePrefix("10.92.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	var hosts []*netns.Host
	for i, name := range names {
		h, err := lab.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Attach(lan, "eth0", lan.Addr(i+1)); err != nil {
			t.Fatal(err)
		}
		if err := h.Attach(hb, "eth1", hb.Addr(i+1)); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// TestNetnsBcastLinkAndNodeDeath: two nodes on two broadcast links. One link
// dropped: that link dies, the node lives. Both dropped: the node dies.
// Restored: it comes back.
func TestNetnsBcastLinkAndNodeDeath(t *testing.T) {
	hosts := twoSegments(t, "n1", "n2")
	ha := haTimings + "bcast eth0 eth1\nnode n1 n2\n"
	n1 := startNode(t, hosts[0], "n1", ha, false)
	startNode(t, hosts[1], "n2", ha, false)

	waitFor(t, 10*time.Second, "n1 sees n2 up on eth0 and eth1", func() bool {
		s, ls := n1.state("n2")
		return s == heartbeat.NodeUp && ls["eth0"] == heartbeat.LinkUp && ls["eth1"] == heartbeat.LinkUp
	})

	if err := hosts[1].Block("eth1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "Link n2:eth1 dead", linkIs(n1, "n2", "eth1", heartbeat.LinkDead))
	if s, ls := n1.state("n2"); s != heartbeat.NodeUp || ls["eth0"] != heartbeat.LinkUp {
		t.Fatalf("with eth0 alive, n2 is %v with links %v", s, ls)
	}

	if err := hosts[1].Block("eth0"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "node n2 dead", nodeIs(n1, "n2", heartbeat.NodeDead))

	if err := hosts[1].Heal(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n2 back on both links", func() bool {
		s, ls := n1.state("n2")
		return s == heartbeat.NodeUp && ls["eth0"] == heartbeat.LinkUp && ls["eth1"] == heartbeat.LinkUp
	})
	log := n1.eventLog()
	for _, want := range []string{"Link n2:eth1 dead.", "Link n2:eth0 dead.", "node n2: is dead", "node n2: is up"} {
		if !strings.Contains(log, want) {
			t.Errorf("event log lacks %q:\n%s", want, log)
		}
	}
}

// TestNetnsMcastThreeNodes: three nodes on one multicast group see each
// other; the one isolated is dead for both others, and gossip carries
// membership and metadata.
func TestNetnsMcastThreeNodes(t *testing.T) {
	hosts := twoSegments(t, "a", "b", "c")
	ha := haTimings + "mcast eth0 239.192.10.1 694 1 0\nnode a b c\n"
	var nodes []*node
	for i, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, startNode(t, hosts[i], name, ha, true))
	}
	for _, n := range nodes {
		for _, peer := range []string{"a", "b", "c"} {
			if peer != n.name {
				waitFor(t, 10*time.Second, n.name+" sees "+peer+" up", nodeIs(n, peer, heartbeat.NodeUp))
			}
		}
	}
	waitFor(t, 15*time.Second, "gossip membership of three", func() bool {
		return len(nodes[0].layer.Gossip.Members()) == 3 && len(nodes[2].layer.Gossip.Members()) == 3
	})
	if m := nodes[0].layer.Gossip.Members()["c"]; m.Role != "director" || m.Version != "test" {
		t.Fatalf("metadata of c as seen by a: %+v", m)
	}
	if err := hosts[2].Isolate(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a sees c dead", nodeIs(nodes[0], "c", heartbeat.NodeDead))
	waitFor(t, 10*time.Second, "b sees c dead", nodeIs(nodes[1], "c", heartbeat.NodeDead))
	if s, _ := nodes[0].state("b"); s != heartbeat.NodeUp {
		t.Fatalf("a lost b too: %v", s)
	}
}

// TestNetnsUcast: unicast links, one ha.cf for both nodes (each skips its
// own address).
func TestNetnsUcast(t *testing.T) {
	hosts := twoSegments(t, "u1", "u2")
	ha := haTimings + "ucast eth0 10.91.0.1\nucast eth0 10.91.0.2\nucast eth1 10.92.0.1\nucast eth1 10.92.0.2\nnode u1 u2\n"
	u1 := startNode(t, hosts[0], "u1", ha, false)
	u2 := startNode(t, hosts[1], "u2", ha, false)
	for _, c := range []struct {
		n    *node
		peer string
	}{{u1, "u2"}, {u2, "u1"}} {
		waitFor(t, 10*time.Second, c.n.name+" sees "+c.peer+" on both links", func() bool {
			s, ls := c.n.state(c.peer)
			return s == heartbeat.NodeUp && ls["eth0"] == heartbeat.LinkUp && ls["eth1"] == heartbeat.LinkUp
		})
	}
	if err := hosts[1].Block("eth0"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "Link u2:eth0 dead", linkIs(u1, "u2", "eth0", heartbeat.LinkDead))
	if s, _ := u1.state("u2"); s != heartbeat.NodeUp {
		t.Fatalf("u2 should live through eth1, is %v", s)
	}
}

// TestNetnsForgedAndReplayed: a third host on the segment captures real
// heartbeats and sends them again, sends forged and malformed ones; the
// receiver drops and counts each, and its view of the sender is unchanged.
func TestNetnsForgedAndReplayed(t *testing.T) {
	hosts := twoSegments(t, "r1", "r2", "evil")
	ha := haTimings + "bcast eth0\nnode r1 r2\n"
	r1 := startNode(t, hosts[0], "r1", ha, false)
	startNode(t, hosts[1], "r2", ha, false)
	waitFor(t, 10*time.Second, "r1 sees r2", nodeIs(r1, "r2", heartbeat.NodeUp))

	var captured [][]byte
	err := hosts[2].Do(func() error {
		c, err := net.ListenPacket("udp4", "0.0.0.0:694")
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2048)
		deadline := time.Now().Add(5 * time.Second)
		for len(captured) < 3 && time.Now().Before(deadline) {
			c.SetReadDeadline(deadline)
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			captured = append(captured, append([]byte(nil), buf[:n]...))
		}
		dst := &net.UDPAddr{IP: net.IPv4(10, 91, 0, 1), Port: 694}
		out, err := net.DialUDP("udp4", nil, dst)
		if err != nil {
			return err
		}
		defer out.Close()
		// Replays of real packets.
		for _, p := range captured {
			out.Write(p)
		}
		// Forged: right form, wrong secret.
		forger := heartbeat.Signer{KeyNum: 1, Method: "sha1", Secret: []byte("guess")}
		fp, _ := forger.Encode(nil, &heartbeat.Packet{
			Cluster: heartbeat.ClusterID([]string{"r1", "r2"}, "none"), Status: heartbeat.StatusLeaving,
			Generation: 1 << 62, Seq: 1 << 40, Node: "r2", Link: "eth0"})
		for i := 0; i < 5; i++ {
			out.Write(fp)
		}
		// A key holder sending as r2 with the largest generation: taken,
		// it would make every real heartbeat of r2 stale until r1
		// restarts.
		huge, _ := heartbeat.SignerFor(testKey).Encode(nil, &heartbeat.Packet{
			Cluster: heartbeat.ClusterID([]string{"r1", "r2"}, "none"), Status: heartbeat.StatusUp,
			Generation: 1<<64 - 1, Seq: 1, Node: "r2", Link: "eth0"})
		out.Write(huge)
		// Malformed and truncated.
		out.Write([]byte("hello"))
		out.Write(captured[0][:len(captured[0])/2])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "drops counted", func() bool {
		d := r1.layer.HB.Counters().Dropped
		return d[heartbeat.DropAuth] >= 5 && d[heartbeat.DropMalformed] >= 2 && d[heartbeat.DropReplay] >= 1 &&
			d[heartbeat.DropFutureGen] >= 1
	})
	// The forged "leaving" packets changed nothing.
	time.Sleep(300 * time.Millisecond)
	if s, _ := r1.state("r2"); s != heartbeat.NodeUp {
		t.Fatalf("forged packets changed r2's state to %v", s)
	}
	if strings.Contains(r1.eventLog(), "left the cluster") {
		t.Fatalf("forged leave accepted:\n%s", r1.eventLog())
	}
	// r2's own heartbeats still count: nothing of them is stale.
	before := r1.layer.HB.Counters().Dropped[heartbeat.DropGeneration]
	time.Sleep(500 * time.Millisecond)
	if after := r1.layer.HB.Counters().Dropped[heartbeat.DropGeneration]; after != before {
		t.Fatalf("r2's heartbeats dropped as stale after the forged generation (%d more)", after-before)
	}
	t.Logf("drops: %v", r1.layer.HB.Counters().Dropped)
}

// TestNetnsGracefulLeave: a node that stops with leave is dead for its peer
// at once, well before deadtime.
func TestNetnsGracefulLeave(t *testing.T) {
	hosts := twoSegments(t, "g1", "g2")
	ha := strings.Replace(haTimings, "deadtime 600ms", "deadtime 5", 1)
	ha = strings.Replace(ha, "warntime 300ms", "warntime 3", 1)
	ha = strings.Replace(ha, "initdead 1200ms", "initdead 10", 1) + "bcast eth0\nnode g1 g2\n"
	g1 := startNode(t, hosts[0], "g1", ha, false)
	g2 := startNode(t, hosts[1], "g2", ha, false)
	waitFor(t, 10*time.Second, "g1 sees g2", nodeIs(g1, "g2", heartbeat.NodeUp))
	g2.layer.Stop(true)
	took := waitFor(t, 4*time.Second, "g2 dead at once on leave", nodeIs(g1, "g2", heartbeat.NodeDead))
	t.Logf("leave noticed in %v (deadtime 5s)", took)
}

var _ = context.Background

// TestNetnsAutojoin: a node ha.cf does not list is refused while autojoin
// is none, and accepted with autojoin other.
func TestNetnsAutojoin(t *testing.T) {
	for _, c := range []struct {
		autojoin string
		accept   bool
	}{{"none", false}, {"other", true}} {
		t.Run(c.autojoin, func(t *testing.T) {
			hosts := twoSegments(t, "x", "y", "z")
			ha := haTimings + "bcast eth0\nnode x y\nautojoin " + c.autojoin + "\n"
			x := startNode(t, hosts[0], "x", ha, false)
			startNode(t, hosts[1], "y", ha, false)
			startNode(t, hosts[2], "z", ha, false)
			waitFor(t, 10*time.Second, "x sees y", nodeIs(x, "y", heartbeat.NodeUp))
			if c.accept {
				waitFor(t, 10*time.Second, "x accepts z", nodeIs(x, "z", heartbeat.NodeUp))
				return
			}
			waitFor(t, 10*time.Second, "z's packets dropped", func() bool {
				return x.layer.HB.Counters().Dropped[heartbeat.DropUnknownNode] >= 3
			})
			if s, _ := x.state("z"); s == heartbeat.NodeUp {
				t.Fatal("x accepted unlisted node z with autojoin none")
			}
		})
	}
}

// TestNetnsIPv6Media: ucast6 and mcast6 links between two nodes that have
// only IPv6 addresses.
func TestNetnsIPv6Media(t *testing.T) {
	lab := netns.NewT(t)
	seg, err := lab.AddSegment("v6", netip.MustParsePrefix("fd00:91::/64"))
	if err != nil {
		t.Fatal(err)
	}
	seg2, err := lab.AddSegment("v6b", netip.MustParsePrefix("fd00:92::/64"))
	if err != nil {
		t.Fatal(err)
	}
	var hosts []*netns.Host
	for i, name := range []string{"v1", "v2"} {
		h, err := lab.AddHost(name)
		if err == nil {
			err = h.Attach(seg, "eth0", seg.Addr(i+1))
		}
		if err == nil {
			err = h.Attach(seg2, "eth1", seg2.Addr(i+1))
		}
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	ha := haTimings + "ucast6 eth0 fd00:91::1\nucast6 eth0 fd00:91::2\nmcast6 eth1 ff12::1:694 694 1 0\nnode v1 v2\n"
	v1 := startNode(t, hosts[0], "v1", ha, false)
	startNode(t, hosts[1], "v2", ha, false)
	waitFor(t, 10*time.Second, "v1 sees v2 on ucast6 and mcast6", func() bool {
		s, ls := v1.state("v2")
		return s == heartbeat.NodeUp && ls["eth0"] == heartbeat.LinkUp && ls["eth1"] == heartbeat.LinkUp
	})
	if got := v1.layer.Addr; !got.Is6() {
		t.Fatalf("cluster address of an IPv6-only node: %v", got)
	}
}

// TestNetnsFollowPhase: a node that follows a peer sends half a keepalive
// after the peer's heartbeats, on every link; started together, the two
// would otherwise send at nearly the same moments.
func TestNetnsFollowPhase(t *testing.T) {
	hosts := twoSegments(t, "n1", "n2")
	ha := parseHA(t, haTimings+"bcast eth0 eth1\nnode n1 n2\n")
	const k = 100 * time.Millisecond
	var mu sync.Mutex
	sends := map[string][]time.Time{}
	start := func(host *netns.Host, name, follow string) {
		err := host.Do(func() error {
			l, err := heartbeat.StartLayer(heartbeat.LayerConfig{
				Node: name, HA: ha, Key: testKey, StateDir: t.TempDir(),
				Role: "director", Version: "test", NoGossip: true, Follow: follow,
				Logger: slog.New(slog.NewTextHandler(testWriter{t, name}, nil)),
				App: func() []byte {
					mu.Lock()
					sends[name] = append(sends[name], time.Now())
					mu.Unlock()
					return nil
				},
			})
			if err == nil {
				t.Cleanup(func() { l.Stop(false) })
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	start(hosts[0], "n1", "")
	start(hosts[1], "n2", "n1")
	time.Sleep(3 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	first := sends["n1"][0].Add(time.Second) // settled
	var offsets []time.Duration
	for _, s := range sends["n2"] {
		if s.Before(first) {
			continue
		}
		// The newest heartbeat of n1 before this one of n2.
		var prev time.Time
		for _, a := range sends["n1"] {
			if a.Before(s) {
				prev = a
			}
		}
		offsets = append(offsets, s.Sub(prev))
	}
	if len(offsets) < 20 {
		t.Fatalf("n2 sent %d heartbeats in the last two seconds", len(offsets))
	}
	slices.Sort(offsets)
	med := offsets[len(offsets)/2]
	t.Logf("n2 sends %v after n1 (median of %d; min %v, max %v)", med, len(offsets), offsets[0], offsets[len(offsets)-1])
	if med < k/2-k/5 || med > k/2+k/5 {
		t.Fatalf("n2 sends %v after n1, want about %v", med, k/2)
	}
}

// TestNetnsUDPStampsArrival: a heartbeat that waited in the socket's queue
// (the daemon frozen) is dated from its arrival, by the kernel's stamp.
func TestNetnsUDPStampsArrival(t *testing.T) {
	hosts := twoSegments(t, "n1", "n2")
	ha := parseHA(t, haTimings+"bcast eth0\nnode n1 n2\n")
	open := func(h *netns.Host) heartbeat.Link {
		var links []heartbeat.Link
		if err := h.Do(func() (err error) { links, err = heartbeat.OpenMedia(ha); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { links[0].Close() })
		return links[0]
	}
	a, b := open(hosts[0]), open(hosts[1])
	sb, ok := b.(heartbeat.StampedLink)
	if !ok {
		t.Fatalf("a UDP link (%T) gives no arrival stamps", b)
	}
	// The kernel turns arrival stamps on for the whole system a moment
	// after the first socket asks for them (net_enable_timestamp defers
	// the switch to a work queue); a packet that arrives before is
	// stamped when it is read. Other tests open and close such sockets
	// all the time, so the switch may just be on its way: one packet
	// first, read at once, and a pause let it happen.
	if err := a.Send([]byte("warm-up")); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := sb.RecvStamped(make([]byte, 1500)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := a.Send([]byte("queued")); err != nil {
		t.Fatal(err)
	}
	const wait = 300 * time.Millisecond
	time.Sleep(wait)
	buf := make([]byte, 1500)
	n, _, age, err := sb.RecvStamped(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "queued" {
		t.Fatalf("got %q", buf[:n])
	}
	t.Logf("read %v after sending: arrived %v before", wait, age)
	if age < wait-50*time.Millisecond || age > wait+5*time.Second {
		t.Fatalf("a packet queued %v is dated %v before its reading", wait, age)
	}
}

// TestNetnsBcastSkipsOwnPackets: a broadcast link does not hear this
// host's own broadcasts (the kernel drops them before they wake the
// daemon), and hears the peer's.
func TestNetnsBcastSkipsOwnPackets(t *testing.T) {
	hosts := twoSegments(t, "n1", "n2")
	ha := parseHA(t, haTimings+"bcast eth0\nnode n1 n2\n")
	open := func(h *netns.Host) heartbeat.Link {
		var links []heartbeat.Link
		if err := h.Do(func() (err error) { links, err = heartbeat.OpenMedia(ha); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { links[0].Close() })
		return links[0]
	}
	a, b := open(hosts[0]), open(hosts[1])
	if err := a.Send([]byte("own")); err != nil {
		t.Fatal(err)
	}
	if err := b.Send([]byte("peer")); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := a.Recv(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n]) + " from " + from
		}
	}()
	select {
	case g := <-got:
		if !strings.HasPrefix(g, "peer from 10.91.0.2") {
			t.Fatalf("n1 heard %q first, want the peer's packet", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("n1 heard nothing")
	}
	// Its own, sent before the peer's, never comes.
	select {
	case g, ok := <-got:
		if ok {
			t.Fatalf("n1 heard %q", g)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// TestNetnsReplayAfterRestart: a recording of r2's heartbeats, replayed
// after r2 died and r1 restarted, does not bring r2 back: r1 kept r2's
// generation and sequences in its state directory.
func TestNetnsReplayAfterRestart(t *testing.T) {
	hosts := twoSegments(t, "r1", "r2", "evil")
	ha := parseHA(t, haTimings+"bcast eth0\nnode r1 r2\n")
	state := t.TempDir()
	start := func(h *netns.Host, name, stateDir string) *heartbeat.Layer {
		var l *heartbeat.Layer
		err := h.Do(func() (err error) {
			l, err = heartbeat.StartLayer(heartbeat.LayerConfig{Node: name, HA: ha, Key: testKey, StateDir: stateDir,
				Role: "director", Version: "test", NoGossip: true,
				Logger: slog.New(slog.NewTextHandler(testWriter{t, name}, nil))})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	stateOf := func(l *heartbeat.Layer, peer string) heartbeat.NodeState {
		for _, s := range l.HB.Status() {
			if s.Name == peer {
				return s.State
			}
		}
		return heartbeat.NodeInit
	}
	r1 := start(hosts[0], "r1", state)
	r2 := start(hosts[1], "r2", t.TempDir())
	waitFor(t, 10*time.Second, "r1 sees r2", func() bool { return stateOf(r1, "r2") == heartbeat.NodeUp })
	// The intruder records r2's heartbeats.
	var captured [][]byte
	err := hosts[2].Do(func() error {
		c, err := net.ListenPacket("udp4", "0.0.0.0:694")
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2048)
		deadline := time.Now().Add(5 * time.Second)
		for len(captured) < 30 && time.Now().Before(deadline) {
			c.SetReadDeadline(deadline)
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			if from.(*net.UDPAddr).IP.Equal(net.IPv4(10, 91, 0, 2)) {
				captured = append(captured, append([]byte(nil), buf[:n]...))
			}
		}
		return nil
	})
	if err != nil || len(captured) < 10 {
		t.Fatalf("recorded %d packets: %v", len(captured), err)
	}
	r2.Stop(false) // dies without a word
	waitFor(t, 10*time.Second, "r1 sees r2 dead", func() bool { return stateOf(r1, "r2") == heartbeat.NodeDead })
	r1.Stop(false)
	r1 = start(hosts[0], "r1", state)
	defer r1.Stop(false)
	err = hosts[2].Do(func() error {
		out, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 91, 0, 1), Port: 694})
		if err != nil {
			return err
		}
		defer out.Close()
		for _, p := range captured {
			out.Write(p)
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if s := stateOf(r1, "r2"); s == heartbeat.NodeUp {
		t.Fatalf("after r1's restart, a replay of r2's recorded heartbeats made r2 %v", s)
	}
	if d := r1.HB.Counters().Dropped[heartbeat.DropReplay]; d < uint64(len(captured)) {
		t.Errorf("%d of %d replayed packets dropped as replays", d, len(captured))
	}
}
