package resources

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"hbgo/conf"
)

func TestGARPFrames(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
	vip := netip.MustParseAddr("192.0.2.100")
	for _, c := range []struct {
		op        uint16
		targetMAC net.HardwareAddr
	}{{arpRequest, ethZero}, {arpReply, ethBroadcast}} {
		b := garpFrame(c.op, mac, vip)
		if len(b) != 60 {
			t.Errorf("op %d: frame of %d bytes, want 60 (padded)", c.op, len(b))
		}
		p, ok := parseARP(b)
		if !ok {
			t.Fatalf("op %d: not parsed back", c.op)
		}
		want := arpPacket{EthDst: ethBroadcast, EthSrc: mac, Op: c.op, SenderMAC: mac, SenderIP: vip, TargetMAC: c.targetMAC, TargetIP: vip}
		if p.Op != want.Op || p.SenderIP != vip || p.TargetIP != vip ||
			!bytes.Equal(p.EthDst, want.EthDst) || !bytes.Equal(p.EthSrc, mac) ||
			!bytes.Equal(p.SenderMAC, mac) || !bytes.Equal(p.TargetMAC, want.TargetMAC) {
			t.Errorf("op %d: got %+v, want %+v", c.op, p, want)
		}
		// htype 1, ptype 0x0800, hlen 6, plen 4 on the wire.
		if !bytes.Equal(b[12:20], []byte{0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4}) {
			t.Errorf("op %d: header % x", c.op, b[12:20])
		}
	}
	if _, ok := parseARP(make([]byte, 60)); ok {
		t.Error("zero frame parsed as ARP")
	}
}

func TestUnsolicitedNA(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
	vip := netip.MustParseAddr("2001:db8::100")
	b := unsolicitedNA(mac, vip)
	p, ok := parseNA(b)
	if !ok {
		t.Fatal("not parsed back")
	}
	if !bytes.Equal(p.EthDst, ethAllNodes6) || !bytes.Equal(p.EthSrc, mac) || p.Src != vip || p.Dst != ip6AllNodes ||
		p.HopLimit != 255 || !p.Override || p.Solicited || p.Target != vip || !bytes.Equal(p.TargetMAC, mac) || !p.ChecksumOK {
		t.Errorf("got %+v", p)
	}
	b[len(b)-1] ^= 1
	if p, _ := parseNA(b); p.ChecksumOK {
		t.Error("a changed frame passes the checksum")
	}
}

// fakeWriter records when each frame was written.
type fakeWriter struct {
	mu     sync.Mutex
	at     []time.Time
	frames [][]byte
	closed bool
}

func (w *fakeWriter) WriteFrame(f []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at = append(w.at, time.Now())
	w.frames = append(w.frames, f)
	return nil
}

func (w *fakeWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return nil
}

func (w *fakeWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.at)
}

func TestAnnouncerBurst(t *testing.T) {
	w := &fakeWriter{}
	a := newAnnouncer(w, [][]byte{{1}, {2}}, AnnounceOptions{Count: 3, Interval: 20 * time.Millisecond}, nil, nil)
	start := time.Now()
	if err := a.Burst(); err != nil {
		t.Fatal(err)
	}
	if n := w.count(); n != 2 {
		t.Fatalf("Burst returned after %d frames, want the first round (2)", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Active() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := w.count(); n != 6 {
		t.Fatalf("%d frames, want 3 rounds of 2", n)
	}
	if d := w.at[5].Sub(start); d < 40*time.Millisecond {
		t.Errorf("3 rounds 20ms apart took %v", d)
	}
	if err := a.Close(); err != nil || !w.closed {
		t.Fatalf("close: %v, writer closed %v", err, w.closed)
	}
	if err := a.Burst(); err == nil {
		t.Error("Burst after Close succeeded")
	}
}

func TestAnnouncerRefreshAndStop(t *testing.T) {
	w := &fakeWriter{}
	var mu sync.Mutex
	ok := true
	a := newAnnouncer(w, [][]byte{{1}}, AnnounceOptions{Count: 1, Interval: time.Millisecond, Refresh: 10 * time.Millisecond},
		func() bool { mu.Lock(); defer mu.Unlock(); return ok }, nil)
	if err := a.Burst(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for w.count() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !a.Active() || w.count() < 4 {
		t.Fatalf("refresh: %d frames, active %v", w.count(), a.Active())
	}
	// While the lease is not fresh, no refresh goes out.
	mu.Lock()
	ok = false
	mu.Unlock()
	time.Sleep(15 * time.Millisecond) // a round in flight may finish
	n := w.count()
	time.Sleep(60 * time.Millisecond)
	if m := w.count(); m != n {
		t.Errorf("%d refreshes sent without a lease", m-n)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if a.Active() {
		t.Error("active after Close")
	}
}

func TestVIPHelpers(t *testing.T) {
	for _, c := range []struct{ p, want string }{
		{"192.0.2.100/24", "192.0.2.255"},
		{"192.0.2.100/25", "192.0.2.127"},
		{"10.1.2.3/8", "10.255.255.255"},
		{"192.0.2.1/30", "192.0.2.3"},
		{"192.0.2.1/31", "invalid IP"},
		{"192.0.2.1/32", "invalid IP"},
	} {
		if got := broadcastOf(netip.MustParsePrefix(c.p).Masked()).String(); got != c.want {
			t.Errorf("broadcastOf(%s) = %s, want %s", c.p, got, c.want)
		}
	}
	if got := freeLabel("eth0", []string{"eth0", "eth0:0", "eth0:2"}); got != "eth0:1" {
		t.Errorf("freeLabel = %s", got)
	}
	for _, c := range []struct {
		left time.Duration
		want int
	}{{time.Millisecond, 2}, {time.Second, 2}, {1001 * time.Millisecond, 3}, {2500 * time.Millisecond, 4}} {
		if got := addrLifetime(c.left); got != c.want {
			t.Errorf("addrLifetime(%v) = %d, want %d", c.left, got, c.want)
		}
	}
	if renewEvery(time.Second) != 100*time.Millisecond || renewEvery(200*time.Millisecond) != 50*time.Millisecond || renewEvery(0) != 10*time.Millisecond {
		t.Error("renewEvery")
	}
}

func TestAnnounceOptionsOf(t *testing.T) {
	c := conf.ParseHACF("ha.cf", []byte("arp_count 3\narp_interval 50ms\narp_refresh 10s\n"), nil)
	got := AnnounceOptionsOf(c)
	if want := (AnnounceOptions{Count: 3, Interval: 50 * time.Millisecond, Refresh: 10 * time.Second}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	d := AnnounceOptionsOf(conf.NewHAConfig("ha.cf")).withDefaults()
	if d.Count != DefaultArpCount || d.Interval != DefaultArpInterval || d.Refresh != 0 {
		t.Errorf("defaults %+v", d)
	}
	if conf.DefaultArpCount != DefaultArpCount || conf.DefaultArpInterval != DefaultArpInterval {
		t.Error("conf and resources disagree on the defaults")
	}
}
