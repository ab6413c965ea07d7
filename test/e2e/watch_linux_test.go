//go:build linux

package e2e

import (
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// setVIP puts the VIP on director d's eth0, or takes it off, by hand: no
// daemon runs, so no lease gate darkens it.
func setVIP(t *testing.T, s *Site, d string, up bool) {
	t.Helper()
	err := s.C.Members[d].Host.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: VIP.AsSlice(), Mask: net.CIDRMask(24, 32)}}
		if up {
			return netlink.AddrAdd(l, a)
		}
		return netlink.AddrDel(l, a)
	})
	if err != nil {
		t.Fatalf("%s: VIP up=%v: %v", d, up, err)
	}
}

// The two watches of the e2e tests (the namespace sampler and the ARP
// watch) see a VIP held by both directors, and see no two holders while
// it moves back and forth between them, each move taking it off one
// director before putting it on the other.
func TestE2EWatchesJudgeHolders(t *testing.T) {
	s := New(t, Options{})
	watch := func(run func()) (int, []Overlap, []Overlap, map[string]int) {
		sm := s.StartSampler()
		arp, err := s.StartARPWatch()
		if err != nil {
			t.Fatal(err)
		}
		run()
		_, replies, arpOv := arp.Stop()
		n, ov := sm.Stop()
		return n, ov, arpOv, replies
	}

	// Moves: off lvs1, on lvs2, and back, 40 times.
	setVIP(t, s, "lvs1", true)
	n, ov, arpOv, replies := watch(func() {
		from, to := "lvs1", "lvs2"
		for range 40 {
			time.Sleep(15 * time.Millisecond)
			setVIP(t, s, from, false)
			setVIP(t, s, to, true)
			from, to = to, from
		}
		time.Sleep(50 * time.Millisecond)
	})
	if len(ov) != 0 || len(arpOv) != 0 {
		t.Errorf("moves with no overlap read as two holders: namespaces %v, ARP %v", ov, arpOv)
	}
	if n < 20 || replies["lvs1"] == 0 || replies["lvs2"] == 0 {
		t.Errorf("the watches saw too little of the moves: %d samples, ARP answers %v", n, replies)
	}
	setVIP(t, s, "lvs1", false) // 40 moves end where they began

	// Two holders for half a second.
	setVIP(t, s, "lvs1", true)
	setVIP(t, s, "lvs2", true)
	_, ov, arpOv, _ = watch(func() { time.Sleep(500 * time.Millisecond) })
	if len(ov) == 0 {
		t.Error("the namespace sampler did not see the VIP on both directors")
	}
	if len(arpOv) == 0 {
		t.Error("the ARP watch did not hear both directors answer for the VIP")
	}
}
