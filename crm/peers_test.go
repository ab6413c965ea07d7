package crm

import (
	"testing"
	"time"
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
