package heartbeat

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Meta is what every node tells the others about itself through gossip.
// It must stay under memberlist's 512-byte metadata limit.
type Meta struct {
	Role    string            `json:"r"`           // "director" or "witness"
	Version string            `json:"v"`           // hbgo version
	Ping    int               `json:"p,omitempty"` // connectivity score: ping nodes answering
	Digests map[string]string `json:"d,omitempty"` // config file -> short digest
}

// GossipConfig configures the membership layer.
type GossipConfig struct {
	Node      string
	Bind      netip.AddrPort // where to listen (address may be unspecified)
	Advertise netip.AddrPort // what peers dial
	// Key encrypts and authenticates gossip (AES-GCM); 16, 24 or 32 bytes,
	// derived from authkeys. Accept are further keys gossip from others
	// may be encrypted with (the other keys authkeys defines).
	Key    []byte
	Accept [][]byte
	Meta   func() Meta
	// OnChange hears joins, leaves and metadata updates.
	OnChange func(node string, meta Meta, alive bool)
	Logger   *slog.Logger
	// Dial, when set, opens memberlist's outgoing TCP streams. A daemon
	// lives wholly in its network namespace and leaves it nil; a test that
	// runs several nodes in one process dials from the node's namespace.
	Dial func(network, addr string, timeout time.Duration) (net.Conn, error)
}

// Gossip is the membership and metadata layer over memberlist.
type Gossip struct {
	cfg     GossipConfig
	ml      *memberlist.Memberlist
	keyring *memberlist.Keyring

	metaKick chan struct{} // UpdateMeta asks metaLoop to send
	metaDone chan struct{}
	stop     chan struct{}
	stopOnce sync.Once

	mu      sync.Mutex
	members map[string]Meta
}

// NewGossip starts memberlist on cfg.Bind.
func NewGossip(cfg GossipConfig) (*Gossip, error) {
	switch len(cfg.Key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("gossip: key of %d bytes; want 16, 24 or 32", len(cfg.Key))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Gossip{cfg: cfg, members: map[string]Meta{}}
	// memberlist's LAN preset whatever the deadtime: gossip carries
	// what status shows (roles, versions, config digests, ping scores),
	// never a failover decision, which heartbeats make. Faster probing
	// was a good part of an idle node's CPU.
	mc := memberlist.DefaultLANConfig()
	// A gossip round a second, not five: it carries status, nothing
	// urgent, and each round woke the daemon at rest.
	mc.GossipInterval = time.Second
	// Its messages are a few hundred bytes: compressing them costs more
	// CPU than the bytes are worth.
	mc.EnableCompression = false
	mc.Name = cfg.Node
	mc.BindAddr = cfg.Bind.Addr().String()
	mc.BindPort = int(cfg.Bind.Port())
	if cfg.Advertise.IsValid() {
		mc.AdvertiseAddr = cfg.Advertise.Addr().String()
		mc.AdvertisePort = int(cfg.Advertise.Port())
	}
	kr, err := memberlist.NewKeyring(cfg.Accept, cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("gossip keys: %w", err)
	}
	mc.Keyring = kr
	g.keyring = kr
	if cfg.Dial != nil {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{mc.BindAddr}, BindPort: mc.BindPort,
			Logger: log.New(slogWriter{cfg.Logger, cfg.Node}, "", 0),
		})
		if err != nil {
			return nil, fmt.Errorf("gossip on %s: %w", cfg.Bind, err)
		}
		mc.Transport = &dialTransport{NetTransport: nt, dial: cfg.Dial}
	}
	mc.Label = "hbgo"
	mc.Delegate = (*gossipDelegate)(g)
	mc.Events = (*gossipEvents)(g)
	mc.Logger = log.New(slogWriter{cfg.Logger, cfg.Node}, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip on %s: %w", cfg.Bind, err)
	}
	g.ml = ml
	g.metaKick, g.metaDone, g.stop = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go g.metaLoop()
	return g, nil
}

// SetKeys encrypts gossip with key from now on and takes what arrives
// encrypted with it or with one of accept (a reload of authkeys).
func (g *Gossip) SetKeys(key []byte, accept [][]byte) error {
	kr := g.keyring
	if err := kr.AddKey(key); err != nil {
		return err
	}
	for _, k := range accept {
		if err := kr.AddKey(k); err != nil {
			return err
		}
	}
	if err := kr.UseKey(key); err != nil {
		return err
	}
	keep := map[string]bool{string(key): true}
	for _, k := range accept {
		keep[string(k)] = true
	}
	for _, k := range kr.GetKeys() {
		if !keep[string(k)] {
			if err := kr.RemoveKey(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// Join contacts peers at their gossip addresses (learned from heartbeats).
// Peers already members are skipped.
//
// It must not hold g.mu while it asks memberlist anything: memberlist
// calls our event delegate (which takes g.mu) with its own node lock
// held, and Members takes that lock. Holding g.mu here deadlocked the
// gossip layer, and with it the node's loop (seen in CI: a director
// stuck at start, never getting its lease).
func (g *Gossip) Join(addrs ...netip.AddrPort) error {
	var todo []string
	members := g.ml.Members()
	for _, a := range addrs {
		known := false
		for _, m := range members {
			if m.Addr.String() == a.Addr().String() && int(m.Port) == int(a.Port()) {
				known = true
			}
		}
		if !known {
			todo = append(todo, a.String())
		}
	}
	if len(todo) == 0 {
		return nil
	}
	_, err := g.ml.Join(todo)
	return err
}

// Members returns every live member's metadata, this node included.
func (g *Gossip) Members() map[string]Meta {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]Meta{}
	for k, v := range g.members {
		out[k] = v
	}
	return out
}

// MemberNames lists live members, sorted.
func (g *Gossip) MemberNames() []string {
	var out []string
	for _, m := range g.ml.Members() {
		out = append(out, m.Name)
	}
	sort.Strings(out)
	return out
}

// UpdateMeta spreads a change of this node's metadata. It does not wait:
// memberlist's UpdateNode blocks until the next gossip round has sent the
// change (up to a second), and its callers are the pinger and the node's
// loop, which must not stall. Changes made while one is on its way go out
// together in the next.
func (g *Gossip) UpdateMeta() {
	select {
	case g.metaKick <- struct{}{}:
	default:
	}
}

// metaLoop sends the metadata changes UpdateMeta asks for, one at a time.
func (g *Gossip) metaLoop() {
	defer close(g.metaDone)
	for {
		select {
		case <-g.stop:
			return
		case <-g.metaKick:
			if err := g.ml.UpdateNode(time.Second); err != nil {
				g.cfg.Logger.Debug(fmt.Sprintf("gossip: metadata update: %v", err), "node", g.cfg.Node)
			}
		}
	}
}

// Leave announces departure; Shutdown stops.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.stopMeta()
	return g.ml.Leave(timeout)
}

// Shutdown stops without announcing.
func (g *Gossip) Shutdown() error {
	g.stopMeta()
	return g.ml.Shutdown()
}

func (g *Gossip) stopMeta() {
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.metaDone
}

// dialTransport is memberlist's network transport with its outgoing
// streams opened by a dial hook.
type dialTransport struct {
	*memberlist.NetTransport
	dial func(network, addr string, timeout time.Duration) (net.Conn, error)
}

func (t *dialTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.dial("tcp", addr, timeout)
}

func (t *dialTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.dial("tcp", a.Addr, timeout)
}

type gossipDelegate Gossip

func (d *gossipDelegate) NodeMeta(limit int) []byte {
	if d.cfg.Meta == nil {
		return nil
	}
	b, err := json.Marshal(d.cfg.Meta())
	if err != nil || len(b) > limit {
		d.cfg.Logger.Error("gossip metadata too large", "node", d.cfg.Node, "bytes", len(b), "limit", limit)
		return nil
	}
	return b
}
func (d *gossipDelegate) NotifyMsg([]byte)                           {}
func (d *gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *gossipDelegate) LocalState(join bool) []byte                { return nil }
func (d *gossipDelegate) MergeRemoteState(buf []byte, join bool)     {}

type gossipEvents Gossip

func (e *gossipEvents) update(n *memberlist.Node, alive bool) {
	var m Meta
	if len(n.Meta) > 0 {
		if err := json.Unmarshal(n.Meta, &m); err != nil {
			e.cfg.Logger.Warn("bad gossip metadata", "node", e.cfg.Node, "from", n.Name, "err", err)
		}
	}
	e.mu.Lock()
	if alive {
		e.members[n.Name] = m
	} else {
		delete(e.members, n.Name)
	}
	e.mu.Unlock()
	if e.cfg.OnChange != nil {
		e.cfg.OnChange(n.Name, m, alive)
	}
}

func (e *gossipEvents) NotifyJoin(n *memberlist.Node)   { e.update(n, true) }
func (e *gossipEvents) NotifyLeave(n *memberlist.Node)  { e.update(n, false) }
func (e *gossipEvents) NotifyUpdate(n *memberlist.Node) { e.update(n, true) }

// slogWriter turns memberlist's log lines into debug records.
type slogWriter struct {
	l    *slog.Logger
	node string
}

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug(string(trimNL(p)), "node", w.node, "subsys", "gossip")
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

var _ io.Writer = slogWriter{}
