// Command demo shows hbgo on this machine: hosts in network namespaces, the
// heartbeat layer running on each, and what an operator sees when links
// and nodes fail. It grows with the project; today it shows liveness.
package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"hbgo/conf"
	"hbgo/heartbeat"
	"hbgo/test/netns"
)

const haCF = `# the embedded demo ha.cf: two directors and a witness, two links
keepalive 100ms
warntime 300ms
deadtime 500ms
initdead 2
udpport 694
bcast eth0 eth1
node lvs1 lvs2
witness w1
auto_failback on
`

const authkeys = "auth 1\n1 sha1 demo-secret-change-me\n"

type member struct {
	name  string
	host  *netns.Host
	layer *heartbeat.Layer
}

var (
	start  = time.Now()
	outMu  sync.Mutex
	failed bool
)

func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf("%7.3fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func check(ok bool, format string, args ...any) {
	if ok {
		say("ok: "+format, args...)
		return
	}
	failed = true
	say("FAILED: "+format, args...)
}

func main() {
	code := run()
	os.Exit(code)
}

func run() int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: needs root (it makes network namespaces)")
		return 2
	}
	var ds conf.Diags
	ha := conf.ParseHACF("ha.cf", []byte(haCF), &ds)
	ak := conf.ParseAuthkeys("authkeys", []byte(authkeys), &ds)
	if ds.HasErrors() {
		fmt.Fprint(os.Stderr, ds.String())
		return 1
	}
	key, _ := ak.ActiveKey()

	lab, err := netns.New("demo")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 2
	}
	defer lab.Close()
	lab.CleanupOnSignal(os.Interrupt)

	lan, err1 := lab.AddSegment("lan", netip.MustParsePrefix("10.77.0.0/24"))
	hb, err2 := lab.AddSegment("hb", netip.MustParsePrefix("10.78.0.0/24"))
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "demo:", err1, err2)
		return 2
	}
	say("hbgo demo: three hosts in network namespaces (prefix %s), two links each", lab.Prefix())
	var members []*member
	for i, name := range []string{"lvs1", "lvs2", "w1"} {
		h, err := lab.AddHost(name)
		if err == nil {
			err = h.Attach(lan, "eth0", lan.Addr(i+1))
		}
		if err == nil {
			err = h.Attach(hb, "eth1", hb.Addr(i+1))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			return 2
		}
		members = append(members, &member{name: name, host: h})
	}
	say("ha.cf:\n%s", indent(haCF))

	events := make(chan string, 256)
	for _, m := range members {
		m := m
		role := "director"
		if ha.IsWitness(m.name) {
			role = "witness"
		}
		logger := slog.New(slog.NewTextHandler(discard{}, nil))
		state := tempDir()
		defer os.RemoveAll(state)
		err := m.host.Do(func() error {
			var err error
			m.layer, err = heartbeat.StartLayer(heartbeat.LayerConfig{
				Node: m.name, HA: ha, Key: key, StateDir: state, Role: role, Version: "demo",
				Logger: logger,
				OnEvent: func(e heartbeat.Event) {
					if m.name == "lvs1" {
						events <- e.String()
					}
				},
				GossipDial: func(network, addr string, timeout time.Duration) (net.Conn, error) {
					var c net.Conn
					err := m.host.Do(func() (err error) { c, err = net.DialTimeout(network, addr, timeout); return err })
					return c, err
				},
			})
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo: start", m.name, err)
			return 1
		}
		defer m.layer.Stop(false)
		say("started heartbeat on %s (%s)", m.name, role)
	}
	go func() {
		for e := range events {
			say("lvs1 log: %s", e)
		}
	}()

	lvs1, lvs2, w1 := members[0], members[1], members[2]
	up := func(peer string) func() bool {
		return func() bool { return nodeState(lvs1, peer) == heartbeat.NodeUp }
	}
	_, ok := waitFor(10*time.Second, func() bool { return up("lvs2")() && up("w1")() })
	check(ok, "lvs1 hears lvs2 and w1 on both links")
	_, ok = waitFor(15*time.Second, func() bool { return len(lvs1.layer.Gossip.Members()) == 3 })
	check(ok, "gossip membership: %s", strings.Join(lvs1.layer.Gossip.MemberNames(), " "))

	say("cutting lvs2's heartbeat link eth1 (deadtime 500ms)")
	cut := time.Now()
	lvs2.host.Block("eth1")
	took, ok := waitFor(5*time.Second, func() bool { return linkState(lvs1, "lvs2", "eth1") == heartbeat.LinkDead })
	check(ok && nodeState(lvs1, "lvs2") == heartbeat.NodeUp, "link eth1 to lvs2 dead after %v; lvs2 still up through eth0", took.Round(time.Millisecond))
	_ = cut

	say("cutting lvs2 off entirely")
	lvs2.host.Isolate()
	took, ok = waitFor(5*time.Second, func() bool { return nodeState(lvs1, "lvs2") == heartbeat.NodeDead })
	check(ok, "lvs2 declared dead %v after it went silent", took.Round(time.Millisecond))
	check(nodeState(lvs1, "w1") == heartbeat.NodeUp, "w1 still up")

	say("healing lvs2's links")
	lvs2.host.Heal()
	took, ok = waitFor(5*time.Second, up("lvs2"))
	check(ok, "lvs2 back up after %v", took.Round(time.Millisecond))

	say("stopping w1 gracefully (it says it is leaving)")
	w1.layer.Stop(true)
	took, ok = waitFor(5*time.Second, func() bool { return nodeState(lvs1, "w1") == heartbeat.NodeDead })
	check(ok, "w1 dead for lvs1 after %v, without waiting for deadtime", took.Round(time.Millisecond))

	c := lvs1.layer.HB.Counters()
	say("lvs1 sent %d packets (%d bytes) on eth0, dropped %v", c.Links["eth0"].SentPackets, c.Links["eth0"].SentBytes, c.Dropped)
	say("not in this build yet: raft placement, the VIP, IPVS; the demo grows with them")
	time.Sleep(50 * time.Millisecond)
	if failed {
		say("demo FAILED")
		return 1
	}
	say("demo passed; cleaning up namespaces")
	return 0
}

func waitFor(bound time.Duration, cond func() bool) (time.Duration, bool) {
	t0 := time.Now()
	for time.Since(t0) < bound {
		if cond() {
			return time.Since(t0), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(t0), false
}

func nodeState(m *member, peer string) heartbeat.NodeState {
	for _, s := range m.layer.HB.Status() {
		if s.Name == peer {
			return s.State
		}
	}
	return heartbeat.NodeInit
}

func linkState(m *member, peer, link string) heartbeat.LinkState {
	for _, s := range m.layer.HB.Status() {
		if s.Name == peer {
			return s.Links[link]
		}
	}
	return heartbeat.LinkInit
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

func tempDir() string {
	d, err := os.MkdirTemp("", "hbgo-demo-")
	if err != nil {
		panic(err)
	}
	return d
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
