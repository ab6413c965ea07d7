package heartbeat_test

import (
	"testing"
	"time"

	"hbgo/heartbeat"
	"hbgo/test/ptypair"
)

// TestNetnsSerialKeepsPeerAlive: two nodes with two broadcast links and a
// null-modem cable at 19200 baud. With every UDP link dropped the peer stays
// alive through the serial link alone; noise on the line changes nothing;
// cutting the cable too makes the peer dead; restoring brings it back.
func TestNetnsSerialKeepsPeerAlive(t *testing.T) {
	hosts := twoSegments(t, "s1", "s2")
	cable := ptypair.New(t, 19200)
	heartbeat.SerialLockDir = t.TempDir()
	base := haTimings + "baud 19200\nbcast eth0 eth1\nnode s1 s2\n"
	s1 := startNode(t, hosts[0], "s1", base+"serial "+cable.A+"\n", false)
	startNode(t, hosts[1], "s2", base+"serial "+cable.B+"\n", false)
	serial := cable.A // s1 names the link by its own device

	waitFor(t, 10*time.Second, "s1 sees s2 on eth0, eth1 and serial", func() bool {
		s, ls := s1.state("s2")
		return s == heartbeat.NodeUp && ls["eth0"] == heartbeat.LinkUp && ls["eth1"] == heartbeat.LinkUp && ls[serial] == heartbeat.LinkUp
	})

	if err := hosts[1].Isolate(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "both UDP links to s2 dead", func() bool {
		_, ls := s1.state("s2")
		return ls["eth0"] == heartbeat.LinkDead && ls["eth1"] == heartbeat.LinkDead
	})
	cable.Noise(ptypair.BtoA, []byte("\x00\x13garbage on the line\xff\x00"))
	time.Sleep(time.Second) // well past deadtime, on serial alone
	if s, ls := s1.state("s2"); s != heartbeat.NodeUp || ls[serial] != heartbeat.LinkUp {
		t.Fatalf("with UDP dropped, s2 should live through serial: %v %v", s, ls)
	}

	cable.Cut()
	waitFor(t, 10*time.Second, "s2 dead with the cable cut too", nodeIs(s1, "s2", heartbeat.NodeDead))

	cable.Restore()
	waitFor(t, 10*time.Second, "s2 back through serial", func() bool {
		s, ls := s1.state("s2")
		return s == heartbeat.NodeUp && ls[serial] == heartbeat.LinkUp
	})
	if d := s1.layer.HB.Counters().Dropped; d[heartbeat.DropAuth] != 0 {
		t.Fatalf("noise reached the packet layer as forged packets: %v", d)
	}
}
