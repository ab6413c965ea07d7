package crm

import (
	"testing"
	"time"

	"hbgo/conf"
)

func claimsBytes(layout, nonce uint32, st ClaimState) []byte {
	return (&Claims{Layout: layout, Nonce: nonce, Groups: []Claim{{State: st}}}).Encode(nil)
}

// TestPeerBookNewestBySenderNumbering: a heartbeat that took a slow link
// (older nonce) never overwrites newer claims; a new generation (the peer
// restarted) replaces the old one whatever its numbers; an older
// generation is ignored.
func TestPeerBookNewestBySenderNumbering(t *testing.T) {
	t0 := time.Unix(100, 0)
	b := newPeerBook(7)
	steps := []struct {
		gen   uint64
		nonce uint32
		st    ClaimState
		taken bool
		want  ClaimState
	}{
		{1, 10, ClaimRunning, true, ClaimRunning},
		{1, 12, ClaimStopping, true, ClaimStopping},
		{1, 11, ClaimRunning, false, ClaimStopping}, // late on the serial cable
		{1, 12, ClaimRunning, false, ClaimStopping}, // duplicate number
		{1, 1<<32 - 1, ClaimStopped, false, ClaimStopping},
		{1, 13, ClaimStopped, true, ClaimStopped},
		{2, 5, ClaimIntent, true, ClaimIntent}, // restarted: a new random start
		{1, 14, ClaimRunning, false, ClaimIntent},
	}
	for i, s := range steps {
		got, _ := b.offer("p", s.gen, claimsBytes(7, s.nonce, s.st), t0.Add(time.Duration(i)*time.Second))
		e := b.get("p")
		if got != s.taken || e.claims.Groups[0].State != s.want || e.alien {
			t.Fatalf("step %d: taken %v (want %v), state %s (want %s), alien %v", i, got, s.taken, e.claims.Groups[0].State, s.want, e.alien)
		}
	}
	// Another layout: alien; another version: alien until readable.
	b.offer("p", 2, claimsBytes(8, 6, ClaimRunning), t0)
	if e := b.get("p"); !e.alien {
		t.Fatal("claims of another layout are not alien")
	}
	b.offer("q", 1, []byte{99, 1, 2}, t0)
	if e := b.get("q"); !e.alien || e.claims != nil {
		t.Fatalf("unreadable claims: %+v", e)
	}
	b.offer("q", 1, claimsBytes(7, 3, ClaimRunning), t0)
	if e := b.get("q"); e.alien || e.claims == nil {
		t.Fatalf("readable claims after unreadable ones: %+v", e)
	}
}

// TestNonceBookSince: an acknowledgement counts for an intent only when
// it is of a heartbeat sent at or after the intent's first one, in this
// run, across the wrap of the numbers.
func TestNonceBookSince(t *testing.T) {
	now := time.Unix(100, 0)
	b := newNonceBook(1<<32 - 3)
	from := b.peek() // 0xfffffffe
	if b.since(from, from) {
		t.Fatal("an intent not sent yet is acknowledged")
	}
	b.next(now)       // 0xfffffffe
	k := b.next(now)  // 0xffffffff
	k2 := b.next(now) // 1 (0 is skipped)
	if k2 != 1 {
		t.Fatalf("wrap: got %d", k2)
	}
	for _, c := range []struct {
		ack  uint32
		want bool
	}{{from, true}, {k, true}, {k2, true}, {from - 1, false}, {0, false}, {2, false}, {12345, false}} {
		if got := b.since(c.ack, from); got != c.want {
			t.Errorf("since(%#x, %#x) = %v, want %v", c.ack, from, got, c.want)
		}
	}
	if _, ok := b.sentAt(k2); !ok {
		t.Fatal("sentAt of the newest nonce")
	}
	if _, ok := b.sentAt(2); ok {
		t.Fatal("sentAt of a nonce not sent")
	}
}

// TestPeerSilent: a peer is silent when its newest heartbeat belongs to
// the round that first brought its newest acknowledgement of ours; a
// later round that acknowledges nothing newer says it is alive and does
// not hear us.
func TestPeerSilent(t *testing.T) {
	const k = 100 * time.Millisecond
	t0 := time.Unix(100, 0)
	b := newPeerBook(7)
	nonce := uint32(0)
	hear := func(ack uint32, at time.Duration) peerEntry {
		nonce++
		c := &Claims{Layout: 7, Nonce: nonce, Acks: []uint32{ack, 0}, Groups: []Claim{{State: ClaimRunning}}}
		b.offer("p", 1, c.Encode(nil), t0.Add(at))
		return b.get("p")
	}
	steps := []struct {
		ack    uint32
		at     time.Duration
		silent bool
	}{
		{0, 0, false},                      // acknowledges nothing yet
		{5, 100 * time.Millisecond, true},  // a new acknowledgement
		{5, 102 * time.Millisecond, true},  // the same round on another link
		{6, 200 * time.Millisecond, true},  // the next round, a newer one
		{6, 300 * time.Millisecond, false}, // a round later, nothing newer
		{7, 400 * time.Millisecond, true},
	}
	for i, s := range steps {
		e := hear(s.ack, s.at)
		if got := peerSilent(e, 0, k); got != s.silent {
			t.Errorf("step %d (ack %d at %v): silent %v, want %v", i, s.ack, s.at, got, s.silent)
		}
	}
}

// A Heartbeat 3 run and an hbgo run of one node replace each other by
// arrival (their numbers do not compare), and the view built on a live
// Heartbeat peer runs nothing, with the lease ended at its first word.
func TestPeerBookHeartbeat3(t *testing.T) {
	b := newPeerBook(7)
	t0 := time.Unix(1_900_000_000, 0)
	hb := &Claims{Layout: 7, Nonce: 5, Groups: []Claim{{State: ClaimRunning}}}
	b.offer("a", uint64(t0.UnixNano()), hb.Encode(nil), t0)
	if !b.offerHeartbeat3("a", 100, t0.Add(time.Second)) {
		t.Fatal("a Heartbeat run after an hbgo run is not new")
	}
	if b.offerHeartbeat3("a", 100, t0.Add(2*time.Second)) {
		t.Error("the same Heartbeat run again is new")
	}
	e := b.get("a")
	if !e.heartbeat3 || e.claims != nil || !e.firstAt.Equal(t0.Add(time.Second)) || !e.at.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("entry %+v", e)
	}
	ha := &conf.HAConfig{Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond, Initdead: time.Second, AutoFailback: "on", Nodes: []string{"a", "b"}}
	in := twoNodeInput{Me: "b", Peer: "a", Ready: true, PeerAlive: true, PeerEntry: e, MyIndex: 1,
		Mine: []Claim{{State: ClaimRunning}, {State: ClaimStopped}}, IntentFrom: []uint32{0, 0},
		Homes: []string{"a", "b"}, HA: ha, Away: []bool{false, false}, Now: t0.Add(2 * time.Second)}
	v := buildTwoNodeView(in, newNonceBook(1))
	for i := range in.Mine {
		if d := v.Decide(i); d.Run || d.Intend {
			t.Errorf("group %d with a live Heartbeat peer: %+v", i, d)
		}
	}
	if until := twoNodeLease(DeriveTiming(ha), t0.Add(2*time.Second), true, e, newNonceBook(1), 1); !until.Equal(e.firstAt) {
		t.Errorf("lease with a live Heartbeat peer until %v, want its first word %v", until, e.firstAt)
	}
	in.PeerAlive = false
	v = buildTwoNodeView(in, newNonceBook(1))
	for i := range in.Mine {
		if d := v.Decide(i); !d.Run {
			t.Errorf("group %d with the Heartbeat peer gone: %+v", i, d)
		}
	}
	// hbgo again on that node, numbered lower than the Heartbeat run.
	b.offer("a", 50, hb.Encode(nil), t0.Add(3*time.Second))
	if e := b.get("a"); e.heartbeat3 || e.claims == nil {
		t.Errorf("hbgo after Heartbeat: %+v", e)
	}
}
