package heartbeat

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

type idleLink struct{ name string }

func (l idleLink) Name() string                     { return l.name }
func (l idleLink) Send([]byte) error                { return nil }
func (l idleLink) Recv([]byte) (int, string, error) { return 0, "", ErrClosed }
func (l idleLink) Close() error                     { return nil }

// hb3Message writes a Heartbeat message in its wire form (netstring
// fields, then the trailer that signs them with key 1).
func hb3Message(t *testing.T, k LegacyKey, fields ...string) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("###\n")
	for i := 0; i+1 < len(fields); i += 2 {
		body := "(0)" + fields[i] + "=" + fields[i+1]
		fmt.Fprintf(&b, "%d:%s,", len(body), body)
	}
	b.WriteString("%%%\n")
	sig, err := LegacySign(k, []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	tr := "1 " + sig
	fmt.Fprintf(&b, "%d:%s,", len(tr), tr)
	return []byte(b.String())
}

// TestReceiveHeartbeat3 drives the receive path with Heartbeat 3's
// messages: a status brings the node up and names its run, a replay or an
// older run or a wrong key proves nothing, shutdone makes it leave (and
// the statuses a leaving Heartbeat still sends do not bring it back), a
// new run does; without HearHeartbeat nothing is taken.
func TestReceiveHeartbeat3(t *testing.T) {
	key := LegacyKey{Method: "sha1", Secret: []byte("secret")}
	now := time.Unix(1_900_000_000, 0)
	type heard struct {
		gen uint64
		at  time.Time
	}
	var got []heard
	mk := func(hear bool) *Heartbeat {
		h, err := New(Config{
			Node: "lvs2", Peers: []string{"lvs1", "node1"}, Signer: Signer{KeyNum: 1, Method: "sha1", Secret: key.Secret},
			Timing: Timing{Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond, Initdead: time.Second},
			Links:  []Link{idleLink{"eth0"}, idleLink{"eth1"}}, Now: func() time.Time { return now },
			HearHeartbeat: hear,
			OnHeartbeat3:  func(node string, gen uint64, at time.Time) { got = append(got, heard{gen, at}) },
		})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	state := func(h *Heartbeat, node string) NodeStatus {
		for _, s := range h.Status() {
			if s.Name == node {
				return s
			}
		}
		t.Fatalf("%s not tracked", node)
		return NodeStatus{}
	}
	status := func(src string, hg, seq int, extra ...string) []byte {
		return hb3Message(t, key, append([]string{"t", "status", "st", "active", "dt", "1f4", "protocol", "1", "src", src,
			"seq", fmt.Sprintf("%x", seq), "hg", fmt.Sprintf("%x", hg), "ts", "6800000", "ld", "0.00 0.00 0.00 1/100 1", "ttl", "3"}, extra...)...)
	}

	h := mk(true)
	// A real Heartbeat 3.0.6 packet (node1, hg 5, deadtime 30 s).
	real, err := os.ReadFile("testdata/hb306-status-sha1.bin")
	if err != nil {
		t.Fatal(err)
	}
	h.receive("eth0", real, "10.0.0.9", 0)
	if s := state(h, "node1"); s.State != NodeUp || !s.Heartbeat3 || s.Key != 1 {
		t.Fatalf("after Heartbeat 3.0.6's status: %+v", s)
	}

	h.receive("eth0", status("LVS1", 3, 10), "10.0.0.1", 0)
	if s := state(h, "lvs1"); s.State != NodeUp || !s.Heartbeat3 {
		t.Fatalf("after a status of lvs1 (src in capitals): %+v", s)
	}
	if len(got) != 2 || got[1].gen != uint64(now.UnixNano()) {
		t.Fatalf("OnHeartbeat3 heard %v", got)
	}
	run := got[1].gen
	drops := func(reason string) uint64 { return h.Counters().Dropped[reason] }
	for _, c := range []struct {
		what, reason string
		msg          []byte
	}{
		{"the same sequence again", DropReplay, status("lvs1", 3, 10)},
		{"an older run", DropGeneration, status("lvs1", 2, 99)},
		{"another secret", DropAuth, hb3Message(t, LegacyKey{Method: "sha1", Secret: []byte("guess")}, "t", "status", "src", "lvs1", "seq", "b", "hg", "3")},
		{"this node's own name", DropDuplicateName, status("lvs2", 3, 11)},
		{"a node not in ha.cf", DropUnknownNode, status("lvs9", 3, 11)},
		{"no hg", DropMalformed, hb3Message(t, key, "t", "status", "src", "lvs1", "seq", "c")},
	} {
		before := drops(c.reason)
		n := len(got)
		h.receive("eth0", c.msg, "10.0.0.1", 0)
		if drops(c.reason) != before+1 || len(got) != n {
			t.Errorf("%s: dropped %v, heard %d more", c.what, h.Counters().Dropped, len(got)-n)
		}
	}
	// The same message on the other link is news there.
	h.receive("eth1", status("lvs1", 3, 10), "10.0.1.1", 0)
	if s := state(h, "lvs1"); s.Links["eth1"] != LinkUp {
		t.Errorf("eth1 not up after a status on it: %+v", s)
	}

	// Shutdown: the resource message changes nothing, shutdone ends it.
	now = now.Add(100 * time.Millisecond)
	h.receive("eth0", hb3Message(t, key, "t", "resource", "rsc_hold", "none", "info", "shutdown", "src", "lvs1", "seq", "d", "hg", "3"), "10.0.0.1", 0)
	if s := state(h, "lvs1"); s.State != NodeUp {
		t.Fatalf("after the resource message: %+v", s)
	}
	h.receive("eth0", hb3Message(t, key, "t", "shutdone", "st", "dead", "src", "lvs1", "seq", "e", "hg", "3"), "10.0.0.1", 0)
	if s := state(h, "lvs1"); s.State != NodeDead {
		t.Fatalf("after shutdone: %+v", s)
	}
	n := len(got)
	h.receive("eth0", status("lvs1", 3, 0x20), "10.0.0.1", 0)
	h.receive("eth1", status("lvs1", 3, 0x21), "10.0.1.1", 0)
	if s := state(h, "lvs1"); s.State != NodeDead || len(got) != n {
		t.Fatalf("a status of the run that left: %+v", s)
	}
	// A new run of Heartbeat.
	now = now.Add(time.Second)
	h.receive("eth0", status("lvs1", 4, 1), "10.0.0.1", 0)
	if s := state(h, "lvs1"); s.State != NodeUp || len(got) != n+1 || got[n].gen <= run {
		t.Fatalf("the next run: %+v, heard %v", s, got[n:])
	}

	// hbgo heard from the node within deadtime: its Heartbeat messages
	// are not taken (one node does not speak both).
	p := Packet{Status: StatusUp, Generation: uint64(now.UnixNano()), Seq: 1, Node: "lvs1", Link: "eth0"}
	buf, err := h.signer.Load().Encode(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	h.receive("eth0", buf, "10.0.0.1", 0)
	if s := state(h, "lvs1"); s.Heartbeat3 {
		t.Errorf("after an hbgo heartbeat: %+v", s)
	}
	before := drops(DropHeartbeat3)
	h.receive("eth0", status("lvs1", 4, 2), "10.0.0.1", 0)
	if drops(DropHeartbeat3) != before+1 {
		t.Errorf("a Heartbeat status beside hbgo taken: %v", h.Counters().Dropped)
	}

	// The node's hbgo leaves gracefully: Heartbeat started there at once
	// (a rollback) is heard at once.
	p = Packet{Status: StatusLeaving, Generation: uint64(now.UnixNano()), Seq: 2, Node: "lvs1", Link: "eth0"}
	if buf, err = h.signer.Load().Encode(nil, &p); err != nil {
		t.Fatal(err)
	}
	h.receive("eth0", buf, "10.0.0.1", 0)
	n = len(got)
	h.receive("eth0", status("lvs1", 5, 1), "10.0.0.1", 0)
	if s := state(h, "lvs1"); s.State != NodeUp || !s.Heartbeat3 || len(got) != n+1 {
		t.Errorf("Heartbeat right after hbgo left: %+v", s)
	}

	// Quorum mode: not heard at all.
	q := mk(false)
	q.receive("eth0", status("lvs1", 3, 10), "10.0.0.1", 0)
	if s := state(q, "lvs1"); s.State == NodeUp || q.Counters().Dropped[DropHeartbeat3] != 1 {
		t.Errorf("without HearHeartbeat: %+v %v", s, q.Counters().Dropped)
	}
}
