package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"hbgo/conf"
)

// LayerConfig is what the daemon hands the heartbeat layer.
type LayerConfig struct {
	Node string
	HA   *conf.HAConfig
	Key  conf.AuthKey
	// Accept are the other keys of authkeys, accepted on every channel
	// (heartbeats, gossip), so that a key is rotated node by node.
	Accept   []conf.AuthKey
	StateDir string
	Role     string // "director" or "witness"
	Version  string
	Digests  map[string]string
	Logger   *slog.Logger
	// OnEvent hears liveness changes; OnMember hears gossip membership.
	OnEvent  func(Event)
	OnMember func(node string, meta Meta, alive bool)
	// App gives the cluster layer's state to carry in each heartbeat;
	// OnApp hears every peer state that arrives, with the generation of
	// the packet that carried it (it must not block).
	App   func() []byte
	OnApp func(node string, gen uint64, app []byte, at time.Time)
	// Links, when set, replaces the media of ha.cf (tests).
	Links []Link
	// NoGossip leaves memberlist off (serial-only setups, unit tests).
	NoGossip bool
	// GossipDial is passed to GossipConfig.Dial (tests running several
	// nodes in one process).
	GossipDial func(network, addr string, timeout time.Duration) (net.Conn, error)
	// Follow: see Config.Follow.
	Follow string
	// HearHeartbeat and OnHeartbeat3: see Config.
	HearHeartbeat bool
	OnHeartbeat3  func(node string, gen uint64, at time.Time)
}

// Layer is a running heartbeat layer: the heartbeat instance on every
// medium, and gossip over the first UDP link's address.
type Layer struct {
	HB     *Heartbeat
	Gossip *Gossip
	Addr   netip.Addr // this node's cluster address ("" for serial only)

	cfg    LayerConfig
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	ping int
}

// SignerFor turns an authkeys key into a packet signer; it accepts the
// other keys given (every key authkeys defines).
func SignerFor(k conf.AuthKey, accept ...conf.AuthKey) Signer {
	s := Signer{KeyNum: uint8(k.Num), Method: string(k.Method), Secret: []byte(k.Secret)}
	for _, a := range accept {
		if a.Num != k.Num {
			s.Accept = append(s.Accept, Signer{KeyNum: uint8(a.Num), Method: string(a.Method), Secret: []byte(a.Secret)})
		}
	}
	return s
}

// Members returns the directors and witnesses of ha.cf.
func Members(ha *conf.HAConfig) []string {
	return append(append([]string(nil), ha.Nodes...), ha.Witnesses...)
}

// TimingOf reads the liveness times of ha.cf.
func TimingOf(ha *conf.HAConfig) Timing {
	return Timing{Keepalive: ha.Keepalive, Warntime: ha.EffectiveWarntime(), Deadtime: ha.Deadtime, Initdead: ha.EffectiveInitdead()}
}

// StartLayer opens the media, raises the generation and starts heartbeats
// and gossip. It must be called in the network namespace the node lives in:
// sockets stay there.
func StartLayer(lc LayerConfig) (*Layer, error) {
	if lc.Logger == nil {
		lc.Logger = slog.Default()
	}
	ha := lc.HA
	links := lc.Links
	if links == nil {
		var err error
		if links, err = OpenMedia(ha); err != nil {
			return nil, err
		}
	}
	closeLinks := func() {
		for _, l := range links {
			l.Close()
		}
	}
	gen, warn, err := NextGeneration(lc.StateDir, time.Now())
	if err != nil {
		closeLinks()
		return nil, fmt.Errorf("generation: %w", err)
	}
	if warn != "" && lc.Logger != nil {
		lc.Logger.Warn(warn, "node", lc.Node)
	}
	l := &Layer{cfg: lc, done: make(chan struct{})}
	l.Addr = clusterAddr(ha)
	var services []Service
	if l.Addr.IsValid() {
		services = append(services,
			Service{ServiceRaft, netip.AddrPortFrom(l.Addr, uint16(ha.RaftPort))},
			Service{ServiceGossip, netip.AddrPortFrom(l.Addr, uint16(ha.GossipPort))})
	}
	hbcfg := Config{
		Node: lc.Node, Peers: Members(ha), Autojoin: ha.Autojoin,
		Cluster:    ClusterID(Members(ha), ha.Autojoin),
		Signer:     SignerFor(lc.Key, lc.Accept...),
		Generation: gen, HistoryFile: historyFile(lc.StateDir),
		Timing: TimingOf(ha), Links: links, Services: services,
		Logger: lc.Logger, OnEvent: l.onEvent, App: lc.App, OnApp: lc.OnApp,
		Follow: lc.Follow, HearHeartbeat: lc.HearHeartbeat, OnHeartbeat3: lc.OnHeartbeat3,
	}
	if l.HB, err = New(hbcfg); err != nil {
		closeLinks()
		return nil, err
	}
	if l.Addr.IsValid() && !lc.NoGossip {
		l.Gossip, err = NewGossip(GossipConfig{
			Node:      lc.Node,
			Bind:      netip.AddrPortFrom(l.Addr, uint16(ha.GossipPort)),
			Advertise: netip.AddrPortFrom(l.Addr, uint16(ha.GossipPort)),
			Key:       lc.Key.Derive(GossipKeyPurpose),
			Accept:    gossipKeys(lc.Key, lc.Accept),
			Meta:      l.meta,
			OnChange:  lc.OnMember,
			Logger:    lc.Logger,
			Dial:      lc.GossipDial,
		})
		if err != nil {
			closeLinks()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() {
		defer close(l.done)
		l.HB.Run(ctx)
	}()
	return l, nil
}

// ClusterAddr is the node's cluster address (see clusterAddr); it must be
// called in the node's network namespace.
func ClusterAddr(ha *conf.HAConfig) netip.Addr { return clusterAddr(ha) }

// clusterAddr is the first IPv4 address of the first UDP medium's
// interface, or its first global IPv6 address when it has no IPv4.
func clusterAddr(ha *conf.HAConfig) netip.Addr {
	for _, m := range ha.Media {
		if m.Kind == conf.MediumSerial {
			continue
		}
		_, ps, err := interfaceAddrs(m.Iface)
		if err != nil {
			continue
		}
		for _, p := range ps {
			if p.Addr().Is4() {
				return p.Addr()
			}
		}
		for _, p := range ps {
			if p.Addr().Is6() && !p.Addr().IsLinkLocalUnicast() {
				return p.Addr()
			}
		}
	}
	return netip.Addr{}
}

// HistoryFileName is the file of the state directory that keeps the
// peers' generations and sequences across restarts.
const HistoryFileName = "peers"

// historyFile is the peers' history file of a state directory ("" for
// none when the directory is not set).
func historyFile(stateDir string) string {
	if stateDir == "" {
		return ""
	}
	return filepath.Join(stateDir, HistoryFileName)
}

// GossipKeyPurpose derives gossip's key from an authkeys key.
const GossipKeyPurpose = "hbgo gossip"

// gossipKeys derives the gossip keys of the accepted keys.
func gossipKeys(active conf.AuthKey, accept []conf.AuthKey) [][]byte {
	var out [][]byte
	for _, a := range accept {
		if a.Num != active.Num {
			out = append(out, a.Derive(GossipKeyPurpose))
		}
	}
	return out
}

// SetKeys makes key the one heartbeats and gossip are signed and
// encrypted with, and accepts accept beside it (a reload of authkeys).
func (l *Layer) SetKeys(key conf.AuthKey, accept []conf.AuthKey) error {
	l.HB.SetSigner(SignerFor(key, accept...))
	if l.Gossip != nil {
		return l.Gossip.SetKeys(key.Derive(GossipKeyPurpose), gossipKeys(key, accept))
	}
	return nil
}

func (l *Layer) meta() Meta {
	l.mu.Lock()
	defer l.mu.Unlock()
	short := map[string]string{}
	for k, v := range l.cfg.Digests {
		if len(v) > 12 {
			v = v[:12]
		}
		short[k] = v
	}
	return Meta{Role: l.cfg.Role, Version: l.cfg.Version, Ping: l.ping, Digests: short}
}

// SetPing publishes this node's connectivity score.
func (l *Layer) SetPing(score int) {
	l.mu.Lock()
	changed := l.ping != score
	l.ping = score
	l.mu.Unlock()
	if changed && l.Gossip != nil {
		l.Gossip.UpdateMeta()
	}
}

func (l *Layer) onEvent(e Event) {
	if e.Kind == EventNodeUp && l.Gossip != nil {
		for _, s := range l.HB.PeerServices(e.Node) {
			if s.Kind == ServiceGossip {
				go func() {
					if err := l.Gossip.Join(s.Addr); err != nil {
						l.cfg.Logger.Warn(fmt.Sprintf("Cannot join gossip of %s at %s: %v", e.Node, s.Addr, err), "node", l.cfg.Node)
					}
				}()
			}
		}
	}
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(e)
	}
}

// Stop ends the layer. With leave, peers are told first so they need not
// wait for deadtime.
func (l *Layer) Stop(leave bool) error {
	var errs []error
	if leave {
		l.HB.Leave()
	}
	if l.Gossip != nil {
		if leave {
			// Nobody may be left to hear the leave (the whole cluster
			// stopping): that is no error of ours.
			if err := l.Gossip.Leave(time.Second); err != nil {
				l.cfg.Logger.Info(fmt.Sprintf("Gossip leave: %v", err), "node", l.cfg.Node)
			}
		}
		errs = append(errs, l.Gossip.Shutdown())
	}
	l.cancel()
	<-l.done
	return errors.Join(errs...)
}
