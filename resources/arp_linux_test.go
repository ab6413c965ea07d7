//go:build linux

package resources

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hbgo/test/netns"
)

// frame is one frame seen on the wire, with when.
type frame struct {
	at   time.Time
	arp  arpPacket
	na   naPacket
	isNA bool
}

// capture records the ARP frames and neighbour advertisements that reach
// a host's interface, from a packet socket opened inside the host.
type capture struct {
	c    *packet.Conn
	mu   sync.Mutex
	seen []frame
	done chan struct{}
}

func startCapture(t testing.TB, h *netns.Host, ifname string) *capture {
	t.Helper()
	cp := &capture{done: make(chan struct{})}
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		cp.c, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	}); err != nil {
		t.Fatalf("capture on %s: %v", h.Name(), err)
	}
	go cp.read()
	t.Cleanup(cp.stop)
	return cp
}

func (cp *capture) read() {
	defer close(cp.done)
	buf := make([]byte, 2048)
	for {
		n, _, err := cp.c.ReadFrom(buf)
		if err != nil {
			return
		}
		f := frame{at: time.Now()}
		if p, ok := parseARP(buf[:n]); ok {
			f.arp = p
		} else if p, ok := parseNA(buf[:n]); ok {
			f.na, f.isNA = p, true
		} else {
			continue
		}
		cp.mu.Lock()
		cp.seen = append(cp.seen, f)
		cp.mu.Unlock()
	}
}

func (cp *capture) stop() {
	_ = cp.c.Close()
	<-cp.done
}

func (cp *capture) frames() []frame {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return append([]frame(nil), cp.seen...)
}

// neighMAC is the link-layer address h's neighbour table has for ip, or
// nil.
func neighMAC(h *netns.Host, ip netip.Addr) (net.HardwareAddr, error) {
	var mac net.HardwareAddr
	fam := netlink.FAMILY_V4
	if ip.Is6() {
		fam = netlink.FAMILY_V6
	}
	err := h.Do(func() error {
		ns, err := netlink.NeighList(0, fam)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == ip && len(n.HardwareAddr) == 6 {
				mac = n.HardwareAddr
			}
		}
		return nil
	})
	return mac, err
}

// ipNeighMAC is what `ip neigh show ADDR` says in h.
func ipNeighMAC(t testing.TB, h *netns.Host, ip netip.Addr) string {
	t.Helper()
	out, err := h.Run("ip", "neigh", "show", ip.String())
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`lladdr ([0-9a-f:]{17})`).FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// takeover is what a client saw of a VIP moving from d1 to d2.
type takeover struct {
	toFirstFrame time.Duration // from d2's Start call to its first frame at the client
	toNeigh      time.Duration // from d2's Start call to the client's entry naming d2
	frames       []frame       // from d2 for the VIP, burst complete
	all          []frame       // every ARP and NA frame after the Start call
}

// moveVIP starts res on d1, makes the client learn d1's MAC for vip,
// then stops it on d1 and starts it on d2, and watches the client.
func moveVIP(t testing.TB, l *vipLab, res string, vip netip.Addr, env Env) takeover {
	t.Helper()
	a1, a2 := newAgent(t, res, env), newAgent(t, res, env)
	if err := in(t, l.d1, a1.Start); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 50 { // until d1's address is usable and answers
		if err = l.cl.Ping(vip, 200*time.Millisecond); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("ping %v from the client while d1 holds it: %v", vip, err)
	}
	mac1, mac2 := l.d1.MAC("eth0"), l.d2.MAC("eth0")
	if got := ipNeighMAC(t, l.cl, vip); got != mac1.String() {
		t.Fatalf("client's neighbour entry for %v: %q, want d1's %v", vip, got, mac1)
	}
	cp := startCapture(t, l.cl, "eth0")
	if err := in(t, l.d1, a1.Stop); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := in(t, l.d2, a2.Start); err != nil {
		t.Fatal(err)
	}
	var r takeover
	deadline := t0.Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mac, err := neighMAC(l.cl, vip)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(mac, mac2) {
			r.toNeigh = time.Since(t0)
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if r.toNeigh == 0 {
		t.Fatalf("client's neighbour entry for %v never named d2 (%v): ip neigh says %s", vip, mac2, ipNeighMAC(t, l.cl, vip))
	}
	// The whole burst, 4 intervals, and a margin.
	opts := env.Announce.withDefaults()
	time.Sleep(time.Until(t0.Add(time.Duration(opts.Count-1)*opts.Interval + time.Second)))
	for _, f := range cp.frames() {
		if f.at.Before(t0) {
			continue
		}
		r.all = append(r.all, f)
		fromD2 := (!f.isNA && bytes.Equal(f.arp.EthSrc, mac2) && f.arp.SenderIP == vip) ||
			(f.isNA && bytes.Equal(f.na.EthSrc, mac2) && f.na.Target == vip)
		if fromD2 {
			r.frames = append(r.frames, f)
		}
	}
	if len(r.frames) > 0 {
		r.toFirstFrame = r.frames[0].at.Sub(t0)
	}
	t.Cleanup(func() {
		_ = in(t, l.d2, a2.Stop)
	})
	return r
}

func TestGratuitousARPTakeoverNetns(t *testing.T) {
	l := newVIPLab(t)
	vip := netip.MustParseAddr("192.0.2.100")
	r := moveVIP(t, l, "IPaddr::192.0.2.100/24/eth0", vip, Env{})
	mac2 := l.d2.MAC("eth0")
	if got := ipNeighMAC(t, l.cl, vip); got != mac2.String() {
		t.Fatalf("ip neigh in the client: %q, want d2's %v", got, mac2)
	}
	var req, rep []time.Time
	for _, f := range r.frames {
		p := f.arp
		if !bytes.Equal(p.SenderMAC, mac2) || p.TargetIP != vip || !bytes.Equal(p.EthDst, ethBroadcast) {
			t.Errorf("frame %+v", p)
		}
		switch {
		case p.Op == arpRequest && bytes.Equal(p.TargetMAC, ethZero):
			req = append(req, f.at)
		case p.Op == arpReply && bytes.Equal(p.TargetMAC, ethBroadcast):
			rep = append(rep, f.at)
		default:
			t.Errorf("unexpected frame %+v", p)
		}
	}
	// The client learnt d2's MAC without asking.
	for _, f := range r.all {
		if !f.isNA && bytes.Equal(f.arp.SenderMAC, l.cl.MAC("eth0")) && f.arp.TargetIP == vip {
			t.Errorf("the client sent ARP for the VIP: %+v", f.arp)
		}
	}
	if len(req) != DefaultArpCount || len(rep) != DefaultArpCount {
		t.Fatalf("saw %d requests and %d replies, want %d of each", len(req), len(rep), DefaultArpCount)
	}
	checkIntervals(t, req, DefaultArpInterval)
	checkIntervals(t, rep, DefaultArpInterval)
	t.Logf("first frame %v after Start, neighbour entry changed after %v", r.toFirstFrame, r.toNeigh)
}

func TestNeighbourAdvertisementTakeoverNetns(t *testing.T) {
	l := newVIPLab(t)
	vip := netip.MustParseAddr("2001:db8::100")
	r := moveVIP(t, l, "IPv6addr::2001:db8::100/64/eth0", vip, Env{})
	mac2 := l.d2.MAC("eth0")
	out, err := l.cl.Run("ip", "-6", "neigh", "show", vip.String())
	if err != nil || !bytes.Contains([]byte(out), []byte("lladdr "+mac2.String())) {
		t.Fatalf("ip -6 neigh in the client: %q (%v), want d2's %v", out, err, mac2)
	}
	var at []time.Time
	for _, f := range r.frames {
		p := f.na
		if !f.isNA || !p.Override || p.Solicited || p.HopLimit != 255 || p.Dst != ip6AllNodes || !bytes.Equal(p.TargetMAC, mac2) || !p.ChecksumOK {
			t.Errorf("frame %+v", p)
		}
		at = append(at, f.at)
	}
	if len(at) != DefaultArpCount {
		t.Fatalf("saw %d advertisements, want %d", len(at), DefaultArpCount)
	}
	checkIntervals(t, at, DefaultArpInterval)
	t.Logf("first frame %v after Start, neighbour entry changed after %v", r.toFirstFrame, r.toNeigh)
}

// checkIntervals wants the times about want apart (generous bounds: the
// machine may be busy).
func checkIntervals(t testing.TB, at []time.Time, want time.Duration) {
	t.Helper()
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < want*3/4 || d > want*4 {
			t.Errorf("frames %d and %d %v apart, want about %v", i-1, i, d, want)
		}
	}
}

func TestSendArpAgentNetns(t *testing.T) {
	l := newVIPLab(t)
	vip := netip.MustParseAddr("192.0.2.150")
	env := Env{Announce: AnnounceOptions{Count: 2, Interval: 50 * time.Millisecond, Refresh: 100 * time.Millisecond}}
	a := newAgent(t, "SendArp::192.0.2.150/eth0", env)
	cp := startCapture(t, l.cl, "eth0")
	if st := status(t, l.d1, a); st != Stopped {
		t.Fatalf("status before start %v", st)
	}
	for range 2 {
		if err := in(t, l.d1, a.Start); err != nil {
			t.Fatal(err)
		}
	}
	if st := status(t, l.d1, a); st != Running {
		t.Fatalf("status after start %v", st)
	}
	time.Sleep(500 * time.Millisecond)
	if err := in(t, l.d1, a.Stop); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	time.Sleep(300 * time.Millisecond)
	var n, after int
	for _, f := range cp.frames() {
		if !f.isNA && f.arp.SenderIP == vip && bytes.Equal(f.arp.SenderMAC, l.d1.MAC("eth0")) {
			n++
			if f.at.After(stopped) {
				after++
			}
		}
	}
	// 2 rounds of 2, then a round of 2 every 100ms for about 450ms.
	if n < 8 || after > 0 {
		t.Fatalf("%d frames (want at least 8), %d after stop", n, after)
	}
	if st := status(t, l.d1, a); st != Stopped {
		t.Fatalf("status after stop %v", st)
	}
	if err := in(t, l.d1, a.Stop); err != nil {
		t.Fatal(err)
	}
	// An interface that does not exist.
	b := newAgent(t, "SendArp::192.0.2.150/eth7", env)
	var oe *OpError
	if err := in(t, l.d1, b.Start); !errors.As(err, &oe) || oe.Op != "start" {
		t.Fatalf("start on eth7: %v", err)
	}
}

// BenchmarkTakeoverAnnounce moves a VIP from d1 to d2 and reports, from
// the client's side, the time from d2's Start call to the first
// announcement on the wire and to the client's neighbour entry naming d2.
func BenchmarkTakeoverAnnounce(b *testing.B) {
	for _, c := range []struct {
		name, res string
		vip       netip.Addr
	}{
		{"IPv4", "IPaddr::192.0.2.100/24/eth0", netip.MustParseAddr("192.0.2.100")},
		{"IPv6", "IPv6addr::2001:db8::100/64/eth0", netip.MustParseAddr("2001:db8::100")},
	} {
		b.Run(c.name, func(b *testing.B) {
			var first, neigh time.Duration
			for range b.N {
				l := newVIPLab(b)
				r := moveVIP(b, l, c.res, c.vip, Env{Announce: AnnounceOptions{Count: 2}})
				if len(r.frames) == 0 {
					b.Fatal("no announcement seen")
				}
				first += r.toFirstFrame
				neigh += r.toNeigh
			}
			b.ReportMetric(float64(first.Microseconds())/1000/float64(b.N), "ms-to-first-frame")
			b.ReportMetric(float64(neigh.Microseconds())/1000/float64(b.N), "ms-to-client-neigh")
		})
	}
}
