package heartbeat

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what one heartbeat instance needs. The daemon fills it from
// ha.cf and authkeys; tests fill it directly.
type Config struct {
	Node     string   // this node's name
	Peers    []string // the other nodes and witnesses of ha.cf
	Autojoin string   // "none" (default), "other", "any": accept unlisted senders
	Cluster  uint32   // see ClusterID
	Signer   Signer
	// Generation must rise at every start (NextGeneration).
	Generation uint64
	// HistoryFile, when set, keeps each peer's generation and sequences
	// across restarts of this node (see history.save); the layer puts it
	// in the state directory.
	HistoryFile string
	Timing      Timing
	Links       []Link
	// Services are the addresses of this node's cluster services, sent in
	// every heartbeat so that peers need no address lines.
	Services []Service
	Logger   *slog.Logger
	// OnEvent hears every liveness change, in order, from one goroutine.
	OnEvent func(Event)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// App, when set, gives the cluster layer's state to carry in each
	// heartbeat (at most MaxApp bytes).
	App func() []byte
	// OnApp, when set, hears the cluster state of every packet accepted
	// from a peer, with the packet's generation and arrival time, in
	// arrival order: a packet that took a slow link may bring older state
	// than the last one, so the cluster layer orders states by its own
	// numbering. It is called with the instance's lock held and must not
	// block.
	OnApp func(node string, gen uint64, app []byte, at time.Time)
	// Follow, when set, names the peer whose heartbeats set this node's
	// sending phase: it sends half a keepalive after each of them, so
	// that each of the two hears the other within about half a keepalive
	// of its own heartbeat. A two-node cluster's leases count from the
	// peer's acknowledgement of a heartbeat; with free-running senders
	// one of the two could wait nearly a whole keepalive longer for it.
	// Intervals stay between half a keepalive and a keepalive and an
	// eighth (the peer's jitter).
	Follow string
	// HearHeartbeat: take the status messages of Linux-HA Heartbeat 3
	// from the peers of ha.cf (two-node mode, during a migration): a
	// live Heartbeat peer counts as up, and its shutdone message as
	// leaving (see legacyPeer). Nothing is ever sent in its format.
	HearHeartbeat bool
	// OnHeartbeat3, when set, hears each status message accepted from a
	// Heartbeat 3 peer, with this node's number for that peer's run (the
	// arrival of its first message here, in nanoseconds: later than the
	// generation of any hbgo run of that node that ended before it) and
	// its arrival. It is called with the instance's lock held and must
	// not block.
	OnHeartbeat3 func(node string, gen uint64, at time.Time)
}

// ClusterID identifies a cluster by its member names, so that two clusters
// sharing a segment and a port tell each other's packets apart before any
// signature is checked. It is 0 (any) with autojoin, where the member list
// is not fixed.
func ClusterID(members []string, autojoin string) uint32 {
	if autojoin == "other" || autojoin == "any" {
		return 0
	}
	s := append([]string(nil), members...)
	sort.Strings(s)
	sum := sha256.Sum256([]byte("hbgo-cluster\x00" + strings.Join(s, "\x00")))
	return binary.BigEndian.Uint32(sum[:4])
}

// LinkCounters counts one link's traffic.
type LinkCounters struct {
	SentPackets, SentBytes, SendErrors uint64
	RecvPackets, RecvBytes             uint64
}

// Counters is a snapshot of the instance's counters.
type Counters struct {
	Links   map[string]LinkCounters
	Dropped map[string]uint64 // by reason
}

// Heartbeat sends this node's heartbeats on every link and turns what it
// hears into liveness events.
type Heartbeat struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	peerSet map[string]bool

	mu       sync.Mutex
	tracker  *Tracker
	hist     *history
	seq      map[string]uint64
	status   Status
	counters Counters
	services map[string][]Service
	apps     map[string][]byte
	appsAt   map[string]time.Time
	limiter  *rateLimiter

	linkIDs map[string]string // link name -> name sent in packets

	events chan Event
	// senders: the links each sending goroutine serves (every link whose
	// Send never waits together, one that may wait alone), and each
	// one's nudge: a heartbeat of the followed peer arrived, the sender
	// moves its next heartbeat.
	senders [][]Link
	nudges  []chan struct{}
	signer  atomic.Pointer[Signer] // cfg.Signer, or what SetSigner set since
	peerKey map[string]uint8       // the key number each peer's newest heartbeat was signed with
	rearm   chan struct{}          // a heartbeat changed a state: the tracker's next due time moved
	legacy  map[string]*legacyPeer // Heartbeat 3 peers heard (HearHeartbeat)
	hbgoAt  map[string]time.Time   // arrival of each peer's newest hbgo heartbeat
}

// New checks cfg and makes an instance; Run starts it.
func New(cfg Config) (*Heartbeat, error) {
	if cfg.Node == "" {
		return nil, errors.New("heartbeat: no node name")
	}
	if len(cfg.Links) == 0 {
		return nil, errors.New("heartbeat: no links")
	}
	t := cfg.Timing
	if t.Keepalive <= 0 || t.Deadtime <= t.Keepalive {
		return nil, fmt.Errorf("heartbeat: deadtime %v must exceed keepalive %v", t.Deadtime, t.Keepalive)
	}
	if t.Warntime <= 0 || t.Warntime > t.Deadtime {
		cfg.Timing.Warntime = t.Keepalive + (t.Deadtime-t.Keepalive)/2
	}
	if t.Initdead < t.Deadtime {
		cfg.Timing.Initdead = t.Deadtime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Node) > maxNameLen {
		return nil, fmt.Errorf("heartbeat: node name %q longer than %d bytes", cfg.Node, maxNameLen)
	}
	seen := map[string]bool{}
	var names []string
	linkIDs := map[string]string{}
	for i, l := range cfg.Links {
		if seen[l.Name()] {
			return nil, fmt.Errorf("heartbeat: two links named %s", l.Name())
		}
		seen[l.Name()] = true
		names = append(names, l.Name())
		linkIDs[l.Name()] = linkID(i, l.Name())
	}
	h := &Heartbeat{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		peerSet:  map[string]bool{},
		hist:     newHistory(),
		seq:      map[string]uint64{},
		status:   StatusUp,
		services: map[string][]Service{},
		apps:     map[string][]byte{},
		appsAt:   map[string]time.Time{},
		limiter:  newRateLimiter(10 * time.Second),
		linkIDs:  linkIDs,
		events:   make(chan Event, 1024),
		rearm:    make(chan struct{}, 1),
		peerKey:  map[string]uint8{},
		legacy:   map[string]*legacyPeer{},
		hbgoAt:   map[string]time.Time{},
		counters: Counters{Links: map[string]LinkCounters{}, Dropped: map[string]uint64{}},
	}
	signer := cfg.Signer
	h.signer.Store(&signer)
	if cfg.HistoryFile != "" {
		if err := h.hist.load(cfg.HistoryFile); err != nil {
			h.log.Warn(fmt.Sprintf("Peer history not read, starting without it: %v", err), "node", cfg.Node)
		}
	}
	// One goroutine, one timer for every link whose Send never waits
	// (UDP): a heartbeat round is one wakeup of the daemon, not one per
	// link.
	var quick []Link
	for _, l := range cfg.Links {
		if _, ok := l.(interface{ sendsAtOnce() }); ok {
			quick = append(quick, l)
		} else {
			h.senders = append(h.senders, []Link{l})
		}
	}
	if len(quick) > 0 {
		h.senders = append(h.senders, quick)
	}
	for range h.senders {
		h.nudges = append(h.nudges, make(chan struct{}, 1))
	}
	var peers []string
	for _, p := range cfg.Peers {
		if p != cfg.Node {
			h.peerSet[p] = true
			peers = append(peers, p)
		}
	}
	h.tracker = NewTracker(cfg.Timing, cfg.Now(), names, peers)
	return h, nil
}

// linkID is the name a link goes by in packets: its own name when short
// (eth0, /dev/ttyS0), else its position and the end of its name, so that a
// long device path (/dev/serial/by-id/...) keeps packets small.
func linkID(i int, name string) string {
	const keep = 24
	if len(name) <= keep {
		return name
	}
	return fmt.Sprintf("%d~%s", i, name[len(name)-keep:])
}

// Run sends, receives and ticks until ctx ends, then closes the links.
func (h *Heartbeat) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, links := range h.senders {
		wg.Add(1)
		go func() { defer wg.Done(); h.sendLoop(ctx, links, h.nudges[i]) }()
	}
	for _, l := range h.cfg.Links {
		wg.Add(1)
		go func() { defer wg.Done(); h.recvLoop(ctx, l) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); h.dispatch(ctx) }()

	// The tracker is ticked when its next change is due, not on a
	// period: at rest that is a warntime after the last heartbeat, which
	// the next heartbeat pushes back, so the timer rarely fires. A
	// heartbeat that changes a state (a node up) re-arms it at once.
	t := time.NewTimer(0)
	defer t.Stop()
	// The peers' history is saved every historyEvery, and at once when a
	// peer dies (its last sequences are what a replay would reuse).
	save := time.NewTicker(historyEvery)
	defer save.Stop()
	saveHistory := func() {
		if h.cfg.HistoryFile == "" {
			return
		}
		h.mu.Lock()
		err := h.hist.save(h.cfg.HistoryFile)
		h.mu.Unlock()
		if err != nil {
			h.mu.Lock()
			if ok, n := h.limiter.allow("history", h.now()); ok {
				h.log.Warn(fmt.Sprintf("Cannot save the peers' history: %v", err), "node", h.cfg.Node, "suppressed", n)
			}
			h.mu.Unlock()
		}
	}
	for {
		select {
		case <-ctx.Done():
			for _, l := range h.cfg.Links {
				l.Close()
			}
			wg.Wait()
			saveHistory()
			return nil
		case <-save.C:
			saveHistory()
			continue
		case <-t.C:
		case <-h.rearm:
		}
		h.mu.Lock()
		now := h.now()
		evs := h.tracker.Tick(now)
		h.emit(evs)
		for _, e := range evs {
			if e.Kind == EventNodeDead && h.cfg.HistoryFile != "" {
				h.hist.save(h.cfg.HistoryFile)
				break
			}
		}
		due := h.tracker.NextDue()
		h.mu.Unlock()
		wait := time.Hour
		if !due.IsZero() {
			// A millisecond past the due time: Tick compares with >=,
			// and a timer may fire a hair early by the clock it reads.
			wait = max(due.Sub(now)+time.Millisecond, time.Millisecond)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// historyEvery is how often the peers' history is saved.
const historyEvery = 10 * time.Second

// Leave tells every peer at once that this node is going away on purpose,
// so that they need not wait for deadtime. Heartbeats go on saying so until
// Run ends.
func (h *Heartbeat) Leave() {
	h.mu.Lock()
	h.status = StatusLeaving
	h.mu.Unlock()
	for _, l := range h.cfg.Links {
		h.sendOne(l)
	}
}

func (h *Heartbeat) sendLoop(ctx context.Context, links []Link, nudge <-chan struct{}) {
	k := h.cfg.Timing.Keepalive
	last := time.Now()
	send := func() {
		for _, l := range links {
			h.sendOne(l)
		}
	}
	send()
	due := last.Add(k)
	t := time.NewTimer(k)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			last = time.Now()
			send()
			// A keepalive after the time this one was due, as a ticker
			// would, unless it went out more than a keepalive late.
			if due = due.Add(k); !due.After(last) {
				due = last.Add(k)
			}
		case <-nudge:
			// Half a keepalive after the followed peer's heartbeat
			// (arrived just now), a whole number of its keepalives
			// apart, with the interval at least half a keepalive and
			// at most an eighth of one more than a keepalive (the
			// peer's own jitter). When no such time is left the next
			// heartbeat goes as early as it may: the phase moves by
			// up to half a keepalive a round until it is right.
			next := time.Now().Add(k / 2)
			for next.After(last.Add(k + k/8)) {
				next = next.Add(-k)
			}
			if lo := last.Add(k / 2); next.Before(lo) {
				next = lo
			}
			due = next
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(max(time.Until(due), 0))
	}
}

func (h *Heartbeat) sendOne(l Link) {
	h.mu.Lock()
	h.seq[l.Name()]++
	p := Packet{
		Cluster:    h.cfg.Cluster,
		Status:     h.status,
		Generation: h.cfg.Generation,
		Seq:        h.seq[l.Name()],
		Node:       h.cfg.Node,
		Link:       h.linkIDs[l.Name()],
		Services:   h.cfg.Services,
	}
	h.mu.Unlock()
	if h.cfg.App != nil {
		p.App = h.cfg.App()
	}
	buf, err := h.signer.Load().Encode(make([]byte, 0, 256), &p)
	if err != nil {
		h.mu.Lock()
		if ok, n := h.limiter.allow("encode", h.now()); ok {
			h.log.Error(fmt.Sprintf("Cannot encode heartbeat: %v (%d more)", err, n), "node", h.cfg.Node)
		}
		h.mu.Unlock()
		return
	}
	err = l.Send(buf)
	h.mu.Lock()
	c := h.counters.Links[l.Name()]
	if err != nil {
		c.SendErrors++
		if ok, n := h.limiter.allow("send:"+l.Name(), h.now()); ok {
			h.log.Warn(fmt.Sprintf("Cannot send heartbeat on %s: %v (%d failures)", l.Name(), err, n))
		}
	} else {
		c.SentPackets++
		c.SentBytes += uint64(len(buf))
	}
	h.counters.Links[l.Name()] = c
	h.mu.Unlock()
}

func (h *Heartbeat) recvLoop(ctx context.Context, l Link) {
	buf := make([]byte, MaxPacket+64)
	stamped, _ := l.(StampedLink)
	for {
		var (
			n    int
			from string
			age  time.Duration
			err  error
		)
		if stamped != nil {
			n, from, age, err = stamped.RecvStamped(buf)
		} else {
			n, from, err = l.Recv(buf)
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return
			}
			h.mu.Lock()
			if ok, _ := h.limiter.allow("recv:"+l.Name(), h.now()); ok {
				h.log.Warn(fmt.Sprintf("Receive error on %s: %v", l.Name(), err))
			}
			h.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		h.receive(l.Name(), buf[:n], from, age)
	}
}

// receive handles one packet that arrived on the local link age ago (the
// kernel's stamp; 0 when the link gives none).
func (h *Heartbeat) receive(link string, b []byte, from string, age time.Duration) {
	if IsHeartbeat3(b) {
		h.receiveHeartbeat3(link, b, from, h.now().Add(-age))
		return
	}
	p, err := h.signer.Load().Decode(b, h.cfg.Cluster)
	now := h.now().Add(-age)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.countRecv(link, len(b))
	if err == nil && p.Node == h.cfg.Node {
		if p.Generation == h.cfg.Generation {
			return // our own broadcast or multicast, looped back
		}
		err = drop(DropDuplicateName, "another host sends as %s", p.Node)
	}
	if err == nil && p.Generation > uint64(now.Add(MaxGenerationAhead).UnixNano()) {
		err = drop(DropFutureGen, "generation %d of %s is more than %v ahead of this clock", p.Generation, p.Node, MaxGenerationAhead)
	}
	if err == nil && !h.peerSet[p.Node] && !h.tracker.Known(p.Node) && h.cfg.Autojoin != "other" && h.cfg.Autojoin != "any" {
		err = drop(DropUnknownNode, "node %s is not in ha.cf", p.Node)
	}
	var restarted bool
	if err == nil {
		restarted, err = h.hist.accept(p)
	}
	if err == nil {
		h.peerKey[p.Node] = p.KeyNum
		// A node that left gracefully may start Heartbeat at once (a
		// rollback): its run of hbgo is over.
		if p.Status == StatusLeaving {
			delete(h.hbgoAt, p.Node)
		} else {
			h.hbgoAt[p.Node] = now
		}
		if lp := h.legacy[p.Node]; lp != nil {
			lp.newest = false
		}
	}
	if err != nil {
		h.dropped(link, from, err, now)
		return
	}
	if p.Node == h.cfg.Follow && h.cfg.Follow != "" {
		for _, c := range h.nudges {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
	h.services[p.Node] = p.Services
	h.apps[p.Node] = p.App
	h.appsAt[p.Node] = now
	if h.cfg.OnApp != nil {
		h.cfg.OnApp(p.Node, p.Generation, p.App, now)
	}
	h.heard(p.Node, link, p.Status, restarted, now)
}

// countRecv counts a packet received on link; called with h.mu held.
func (h *Heartbeat) countRecv(link string, n int) {
	c := h.counters.Links[link]
	c.RecvPackets++
	c.RecvBytes += uint64(n)
	h.counters.Links[link] = c
}

// dropped counts and logs (rate-limited) a refused packet; called with
// h.mu held.
func (h *Heartbeat) dropped(link, from string, err error, now time.Time) {
	reason := DropReason(err)
	h.counters.Dropped[reason]++
	if ok, n := h.limiter.allow("drop:"+reason, now); ok {
		h.log.Warn(fmt.Sprintf("Dropped heartbeat on %s from %s: %v (%d dropped for %s so far)", link, from, err, h.counters.Dropped[reason], reason), "suppressed", n)
	}
}

// heard hands an accepted packet's liveness to the tracker and re-arms
// its timer when a state changed; called with h.mu held.
func (h *Heartbeat) heard(node, link string, status Status, restarted bool, now time.Time) {
	late := h.tracker.nodes[node] != nil && h.tracker.nodes[node].late
	evs := h.tracker.Heard(node, link, status, restarted, now)
	h.emit(evs)
	if len(evs) > 0 || late {
		select {
		case h.rearm <- struct{}{}:
		default:
		}
	}
}

// emit queues events for the dispatcher; called with h.mu held.
func (h *Heartbeat) emit(evs []Event) {
	for _, e := range evs {
		select {
		case h.events <- e:
		default:
			h.log.Error("event queue full, dropping event", "event", e.String())
		}
	}
}

func (h *Heartbeat) dispatch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-h.events:
			switch e.Kind {
			case EventLinkDead, EventNodeDead, EventNodeLate:
				h.log.Warn(e.String(), "node", h.cfg.Node)
			default:
				h.log.Info(e.String(), "node", h.cfg.Node)
			}
			if h.cfg.OnEvent != nil {
				h.cfg.OnEvent(e)
			}
		}
	}
}

// Status returns every peer's liveness.
func (h *Heartbeat) Status() []NodeStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.tracker.Snapshot()
	for i := range out {
		out[i].Key = int(h.peerKey[out[i].Name])
		if lp := h.legacy[out[i].Name]; lp != nil && lp.newest {
			out[i].Heartbeat3 = true
			out[i].Key = lp.key
		}
	}
	return out
}

// SetSigner signs from now on with s and accepts what it accepts (a
// reload of authkeys).
func (h *Heartbeat) SetSigner(s Signer) { h.signer.Store(&s) }

// KeyNum is the number of the key heartbeats are signed with.
func (h *Heartbeat) KeyNum() int { return int(h.signer.Load().KeyNum) }

// LinkNames lists this node's links in configuration order.
func (h *Heartbeat) LinkNames() []string {
	out := make([]string, len(h.cfg.Links))
	for i, l := range h.cfg.Links {
		out[i] = l.Name()
	}
	return out
}

// PeerServices returns the service addresses a peer last sent.
func (h *Heartbeat) PeerServices(node string) []Service {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Service(nil), h.services[node]...)
}

// Generation is this node's generation.
func (h *Heartbeat) Generation() uint64 { return h.cfg.Generation }

// PeerGeneration returns the generation a peer last sent (0 if never heard).
func (h *Heartbeat) PeerGeneration(node string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ph := h.hist.peers[node]; ph != nil {
		return ph.gen
	}
	return 0
}

// PeerApp returns the cluster-layer state a peer last sent.
func (h *Heartbeat) PeerApp(node string) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.apps[node]
}

// PeerAppAt returns the cluster-layer state a peer last sent and when it
// arrived.
func (h *Heartbeat) PeerAppAt(node string) ([]byte, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.apps[node], h.appsAt[node]
}

// SendNow sends a heartbeat on every link at once, outside the keepalive
// rhythm, so that a change of cluster state travels without delay.
func (h *Heartbeat) SendNow() {
	for _, l := range h.cfg.Links {
		h.sendOne(l)
	}
}

// Counters returns a copy of the counters.
func (h *Heartbeat) Counters() Counters {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := Counters{Links: map[string]LinkCounters{}, Dropped: map[string]uint64{}}
	for k, v := range h.counters.Links {
		out.Links[k] = v
	}
	for k, v := range h.counters.Dropped {
		out.Dropped[k] = v
	}
	return out
}

// rateLimiter lets one log line per key through per interval and counts
// the ones it held back.
type rateLimiter struct {
	every      time.Duration
	last       map[string]time.Time
	suppressed map[string]int
}

func newRateLimiter(every time.Duration) *rateLimiter {
	return &rateLimiter{every: every, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// allow reports whether a line for key may be logged now, and how many were
// held back since the last one.
func (r *rateLimiter) allow(key string, now time.Time) (bool, int) {
	if last, ok := r.last[key]; ok && now.Sub(last) < r.every {
		r.suppressed[key]++
		return false, 0
	}
	n := r.suppressed[key]
	r.suppressed[key] = 0
	r.last[key] = now
	return true, n
}
