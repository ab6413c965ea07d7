package peers

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// reply makes the ARP reply a holder at mac sends to a probe from to.
func reply(mac, to net.HardwareAddr, vip netip.Addr) []byte {
	f := arpProbe(mac, vip)
	copy(f[0:6], to)
	f[arpOpOff+1] = 2
	copy(f[arpShaOff:], mac)
	a := vip.As4()
	copy(f[arpSpaOff:], a[:])
	copy(f[arpThaOff:], to)
	copy(f[arpTpaOff:], []byte{0, 0, 0, 0})
	return f
}

func TestARPFrames(t *testing.T) {
	me := net.HardwareAddr{2, 0, 0, 0, 0, 9}
	n1 := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	vip := netip.MustParseAddr("10.90.0.100")
	if _, _, ok := arpAnswer(arpProbe(me, vip), me); ok {
		t.Fatal("my own question taken for an answer")
	}
	got, who, ok := arpAnswer(reply(n1, me, vip), me)
	if !ok || got != vip || who != n1.String() {
		t.Fatalf("answer read as %v %q %v", got, who, ok)
	}
	other := net.HardwareAddr{2, 0, 0, 0, 0, 8}
	if _, _, ok := arpAnswer(reply(n1, other, vip), me); ok {
		t.Fatal("an answer to another host taken for mine")
	}
}

func TestARPWatchDual(t *testing.T) {
	vip := netip.MustParseAddr("10.90.0.100")
	w := &ARPWatch{names: map[string]string{"02:00:00:00:00:01": "n1", "02:00:00:00:00:02": "n2"},
		rounds: map[netip.Addr]*arpRound{}, asked: map[netip.Addr]int{}}
	t0 := time.Now()
	ask := func(ms int) { w.rounds[vip] = &arpRound{at: t0.Add(time.Duration(ms) * time.Millisecond)} }
	ask(0)
	w.answer(vip, "02:00:00:00:00:01")
	w.answer(vip, "02:00:00:00:00:01") // the same holder twice is one
	ask(10)
	w.answer(vip, "02:00:00:00:00:01")
	w.answer(vip, "02:00:00:00:00:02")
	w.answer(vip, "02:00:00:00:00:03")
	ask(20)
	w.answer(vip, "02:00:00:00:00:02")
	w.answer(netip.MustParseAddr("10.90.0.1"), "02:00:00:00:00:01") // not asked about
	d := w.Dual(t0, t0.Add(time.Second))
	if len(d) != 1 || d[0].At != t0.Add(10*time.Millisecond) || len(d[0].Who) != 3 || d[0].Who[0] != "02:00:00:00:00:03" || d[0].Who[1] != "n1" {
		t.Fatalf("dual rounds %+v, want one at 10ms by n1, n2 and 02:00:00:00:00:03", d)
	}
	if d := w.Dual(t0.Add(11*time.Millisecond), t0.Add(time.Second)); len(d) != 0 {
		t.Fatalf("dual rounds after the window's start: %+v", d)
	}
}
