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
	r7 := RoundMAC(me, 7)
	if _, _, _, ok := arpAnswer(arpProbe(r7, vip), me); ok {
		t.Fatal("my own question taken for an answer")
	}
	got, tag, who, ok := arpAnswer(reply(n1, r7, vip), me)
	if !ok || got != vip || tag != 7 || who != n1.String() {
		t.Fatalf("answer read as %v round %d %q %v", got, tag, who, ok)
	}
	if _, tag, _, ok := arpAnswer(reply(n1, RoundMAC(me, 70000), vip), me); !ok || tag != 70000%65536 {
		t.Fatalf("round 70000 read as %d %v", tag, ok)
	}
	other := net.HardwareAddr{4, 0, 0, 1, 0, 7}
	if _, _, _, ok := arpAnswer(reply(n1, other, vip), me); ok {
		t.Fatal("an answer to another host taken for mine")
	}
}

func TestARPWatchDual(t *testing.T) {
	vip := netip.MustParseAddr("10.90.0.100")
	w := &ARPWatch{names: map[string]string{"02:00:00:00:00:01": "n1", "02:00:00:00:00:02": "n2"},
		rounds: map[roundKey]*arpRound{}, asked: map[netip.Addr]int{}}
	t0 := time.Now()
	ask := func(n int) {
		w.rounds[roundKey{vip, uint16(n)}] = &arpRound{at: t0.Add(time.Duration(n) * 10 * time.Millisecond)}
	}
	ask(0)
	w.answer(vip, 0, "02:00:00:00:00:01")
	w.answer(vip, 0, "02:00:00:00:00:01") // the same holder twice is one
	ask(1)
	ask(2)
	// Read late: n1's answer to round 1 after round 2 was asked, and n2's
	// to round 2. A move between the rounds, not two holders.
	w.answer(vip, 1, "02:00:00:00:00:01")
	w.answer(vip, 2, "02:00:00:00:00:02")
	ask(3)
	w.answer(vip, 3, "02:00:00:00:00:01")
	w.answer(vip, 3, "02:00:00:00:00:02")
	w.answer(vip, 3, "02:00:00:00:00:03")
	ask(4)
	w.answer(vip, 4, "02:00:00:00:00:02")
	w.answer(netip.MustParseAddr("10.90.0.1"), 4, "02:00:00:00:00:01") // not asked about
	w.answer(vip, 9, "02:00:00:00:00:01")                              // no such round
	d := w.Dual(t0, t0.Add(time.Second))
	if len(d) != 1 || d[0].At != t0.Add(30*time.Millisecond) || len(d[0].Who) != 3 || d[0].Who[0] != "02:00:00:00:00:03" || d[0].Who[1] != "n1" {
		t.Fatalf("dual rounds %+v, want one at 30ms by n1, n2 and 02:00:00:00:00:03", d)
	}
	if d := w.Dual(t0.Add(31*time.Millisecond), t0.Add(time.Second)); len(d) != 0 {
		t.Fatalf("dual rounds after the window's start: %+v", d)
	}
}
