package crm

import (
	"math/rand/v2"
	"sync"
	"time"
)

// peerBook keeps what each peer last said, newest by the peer's own
// numbering: its generation (a new run) first, then the nonce of the
// heartbeat. Heartbeats travel on several links at once, and a slow link
// (a serial cable with a queue) can bring an older heartbeat after a newer
// one; storing by arrival would let old claims overwrite new ones.
type peerBook struct {
	mu     sync.Mutex
	layout uint32
	peers  map[string]*peerEntry
}

// peerEntry is one peer's current run as heard here.
type peerEntry struct {
	gen uint64
	// firstAt is the arrival of the first heartbeat of gen here.
	firstAt time.Time
	// startEst is the earliest arrival minus uptime over the claims of
	// gen: the peer's start, made later by the delay of the packet that
	// gave it.
	startEst time.Time
	claims   *Claims   // newest claims of gen; nil before the first decodable one
	at       time.Time // arrival of claims
	// ackAt[i] is the arrival of the first claims that carried the
	// current claims.Acks[i]: the peer's heartbeats since then, if any
	// came a while later, acknowledge nothing newer of voter i.
	ackAt []time.Time
	// alien: the newest heartbeat of gen carries claims that cannot be
	// compared with ours (another group layout, or another claims
	// version).
	alien bool
	// heartbeat3: the run is Linux-HA Heartbeat 3's (a migration); it
	// carries no claims and may hold every group.
	heartbeat3 bool
}

func newPeerBook(layout uint32) *peerBook {
	return &peerBook{layout: layout, peers: map[string]*peerEntry{}}
}

// offer takes the claims one heartbeat carried; it reports whether they
// are now the peer's newest, and whether they say something new besides
// the numbering (nonce, acks, uptime, commit index): at rest a peer's
// heartbeats differ only there, and only a node waiting on an
// acknowledgement needs a decision pass for each.
func (b *peerBook) offer(node string, gen uint64, app []byte, at time.Time) (newer, changed bool) {
	c, err := DecodeClaims(app)
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.peers[node]
	if e != nil && gen < e.gen && !e.heartbeat3 {
		return false, false
	}
	// A Heartbeat run ends where hbgo is heard from the node again (the
	// heartbeat layer takes no Heartbeat message from a node that spoke
	// hbgo within deadtime): its number, from this node's clock, does
	// not compare with an hbgo generation.
	if e == nil || gen > e.gen || e.heartbeat3 {
		e = &peerEntry{gen: gen, firstAt: at}
		b.peers[node] = e
	}
	if err != nil {
		// Heartbeats are signed, so this is a peer that speaks another
		// claims version: alien until it says something we can read.
		if e.claims == nil && !e.alien {
			e.alien, e.at = true, at
			return true, true
		}
		return false, false
	}
	if s := at.Add(-time.Duration(c.Uptime) * time.Millisecond); e.startEst.IsZero() || s.Before(e.startEst) {
		e.startEst = s
	}
	if e.claims != nil && int32(c.Nonce-e.claims.Nonce) <= 0 {
		return false, false
	}
	alien := c.Layout != b.layout
	changed = e.claims == nil || alien != e.alien || !c.sameState(e.claims)
	ackAt := make([]time.Time, len(c.Acks))
	for i, a := range c.Acks {
		ackAt[i] = at
		if e.claims != nil && i < len(e.claims.Acks) && i < len(e.ackAt) && e.claims.Acks[i] == a {
			ackAt[i] = e.ackAt[i]
		}
	}
	e.claims, e.at, e.alien, e.ackAt = c, at, alien, ackAt
	return true, changed
}

// offerHeartbeat3 takes a status message of a Heartbeat 3 peer's run gen
// that arrived at at; it reports whether the run is new here (an hbgo run
// of the node before it has ended: the heartbeat layer takes Heartbeat
// messages only from a node silent in hbgo for deadtime).
func (b *peerBook) offerHeartbeat3(node string, gen uint64, at time.Time) (changed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.peers[node]
	if e != nil && e.heartbeat3 && gen <= e.gen {
		e.at = at
		return false
	}
	b.peers[node] = &peerEntry{gen: gen, firstAt: at, at: at, heartbeat3: true}
	return true
}

// get returns a copy of a peer's entry (the zero entry when never heard).
func (b *peerBook) get(node string) peerEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.peers[node]; e != nil {
		return *e
	}
	return peerEntry{}
}

// nonceBook numbers this node's heartbeats and remembers when each of the
// recent ones was sent. Numbers start at a random point each run, so that
// a peer's acknowledgement of a heartbeat of this node's previous run is
// not taken for one of this run.
type nonceBook struct {
	mu   sync.Mutex
	last uint32
	sent [256]time.Time // by nonce modulo 256
}

func newNonceBook(start uint32) *nonceBook {
	if start == 0 {
		start = 1
	}
	return &nonceBook{last: start}
}

// randomNonce is a run's first nonce.
func randomNonce() uint32 { return rand.Uint32() }

func (b *nonceBook) next(now time.Time) uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last++
	if b.last == 0 {
		b.last = 1
	}
	b.sent[b.last%256] = now
	return b.last
}

// peek is the number the next heartbeat will get.
func (b *nonceBook) peek() uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last+1 == 0 {
		return 1
	}
	return b.last + 1
}

// sentAt is when nonce k was sent, if it is recent enough to remember.
func (b *nonceBook) sentAt(k uint32) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k == 0 || b.last-k >= 256 || b.sent[k%256].IsZero() {
		return time.Time{}, false
	}
	return b.sent[k%256], true
}

// since reports whether k was sent, and not before from (both of this
// run; numbers compare modulo 2^32).
func (b *nonceBook) since(k, from uint32) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	sentFrom := b.last - from // how far the newest heartbeat is past from
	if k == 0 || from == 0 || sentFrom >= 1<<31 {
		return false // from not sent yet
	}
	return k-from <= sentFrom
}

// intents keeps, per group, the first nonce of the heartbeats that
// announce this node's intent to start it (0: no intent). Claims are
// built and numbered under the same lock (see Node.appState), so every
// heartbeat numbered from that nonce on carries the intent.
type intents struct {
	mu   sync.Mutex
	from []uint32
}

func (in *intents) set(i int, on bool, next func() uint32) (changed bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case on && in.from[i] == 0:
		in.from[i] = next()
		return true
	case !on && in.from[i] != 0:
		in.from[i] = 0
		return true
	}
	return false
}
