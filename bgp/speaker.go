package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Sentinel errors callers branch on, with errors.Is.
var (
	// ErrTimeout: a call ran out of time (its context's deadline, or the
	// speaker's CallTimeout when the context has none). What it asked of
	// GoBGP may still happen later.
	ErrTimeout = errors.New("bgp: timed out")
	// ErrStopped: the speaker was stopped.
	ErrStopped = errors.New("bgp: speaker stopped")
	// ErrNotHost: the prefix is not a single address (/32 or /128).
	ErrNotHost = errors.New("bgp: not a host prefix (/32 or /128)")
	// ErrNoNeighbor: no neighbour carries the prefix's address family, so
	// announcing it would reach nobody.
	ErrNoNeighbor = errors.New("bgp: no neighbour of the prefix's address family")
)

// withdrawShare is the part of Stop's time given to seeing the withdrawals
// on the wire; the rest is for closing the sessions.
const withdrawShare = 2

// pollEvery is how often Stop looks whether the withdrawals were sent.
const pollEvery = 10 * time.Millisecond

// announceOnly names the import policy that drops learned routes.
const announceOnly = "hbgo-announce-only"

// Speaker is one BGP speaker: its sessions with the configured neighbours
// and the host prefixes it announces on all of them, next hop self. Its
// methods may be called from several goroutines; every one returns by its
// context's deadline, or after the configured CallTimeout when the context
// has none, whatever a lost peer does.
type Speaker struct {
	cfg     Config
	log     *slog.Logger
	srv     *server.BgpServer
	served  chan struct{} // closed when GoBGP's loop has returned
	unwatch context.CancelFunc

	mu        sync.Mutex // serializes Announce, Withdraw and Stop
	announced map[netip.Prefix]bool
	stopped   bool
	closing   atomic.Bool // Stop has begun; read by Sessions, which does not wait for mu

	whyMu   sync.Mutex
	downWhy map[netip.Addr]string // why each session last went down

	bfdMu   sync.Mutex          // held while BFD is turned on or off
	bfdWant map[netip.Addr]bool // BFD wanted: the session is established
	bfdOn   map[netip.Addr]bool // BFD on in GoBGP
}

// SessionState is a BGP session's state (RFC 4271, 8.2.2).
type SessionState string

// The states of a session, as operators read them.
const (
	StateIdle        SessionState = "Idle"
	StateConnect     SessionState = "Connect"
	StateActive      SessionState = "Active"
	StateOpenSent    SessionState = "OpenSent"
	StateOpenConfirm SessionState = "OpenConfirm"
	StateEstablished SessionState = "Established"
)

// SessionStatus is what Sessions reports of one neighbour.
type SessionStatus struct {
	Neighbor netip.Addr
	PeerAS   uint32
	State    SessionState
	// Uptime is how long the session has been Established (whole
	// seconds, as GoBGP keeps it); zero when it is not.
	Uptime time.Duration
	// HoldTime is the negotiated hold time while Established.
	HoldTime time.Duration
	// Sent is how many prefixes this speaker advertises to the
	// neighbour; Received how many the neighbour sent, Accepted how many
	// of those it keeps: none unless Config.AcceptRoutes.
	Sent, Received, Accepted uint64
	// LastError says why the session last went down, empty if it never
	// did.
	LastError string
	// BFD is the state of the neighbour's BFD session (BFDUp ...), empty
	// when the neighbour has no BFD.
	BFD BFDState
}

// BFDState is a BFD session's state (RFC 5880, 4.1).
type BFDState string

// The states of a BFD session.
const (
	BFDAdminDown BFDState = "AdminDown"
	BFDDown      BFDState = "Down"
	BFDInit      BFDState = "Init"
	BFDUp        BFDState = "Up"
)

// Start validates cfg, starts GoBGP with it and adds every neighbour; the
// sessions come up on their own. It announces nothing yet.
func Start(ctx context.Context, cfg Config) (*Speaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bgp: configuration: %w", err)
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	cfg.Neighbors = slices.Clone(cfg.Neighbors)
	cfg.Communities = slices.Clone(cfg.Communities)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Node != "" {
		log = log.With("node", cfg.Node)
	}
	// GoBGP's own lines are for developers; its warnings and errors still
	// come through, the session changes are said in operators' words by
	// watch.
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	gobgpLog := slog.New(minLevel{level, log.Handler()}).With("bgp", "gobgp")
	s := &Speaker{
		cfg:       cfg,
		log:       log,
		srv:       server.NewBgpServer(server.LoggerOption(gobgpLog, level)),
		served:    make(chan struct{}),
		announced: map[netip.Prefix]bool{},
		downWhy:   map[netip.Addr]string{},
		bfdWant:   map[netip.Addr]bool{},
		bfdOn:     map[netip.Addr]bool{},
	}
	go func() {
		defer close(s.served)
		s.srv.Serve()
	}()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.start(ctx); err != nil {
		// Whatever did start is closed down, within what is left of the
		// bound or a fresh one if none is.
		sctx, scancel := context.WithTimeout(context.Background(), cfg.CallTimeout)
		defer scancel()
		return nil, errors.Join(err, s.shutdown(sctx))
	}
	names := make([]string, len(cfg.Neighbors))
	for i, n := range cfg.Neighbors {
		names[i] = fmt.Sprintf("%v (AS %d)", n.Addr, n.PeerAS)
		if n.BFD {
			names[i] = fmt.Sprintf("%v (AS %d, BFD every %v, dead after %d)", n.Addr, n.PeerAS, n.bfdInterval(), n.bfdMultiplier())
		}
	}
	listen := "not listening"
	if cfg.ListenPort > 0 {
		listen = fmt.Sprintf("listening on port %d", cfg.ListenPort)
	}
	s.log.Info(fmt.Sprintf("BGP speaker AS %d, router id %v, %s, neighbours %s", cfg.LocalAS, cfg.RouterID, listen, strings.Join(names, ", ")))
	return s, nil
}

func (s *Speaker) start(ctx context.Context) error {
	port := int32(-1)
	if s.cfg.ListenPort > 0 {
		port = int32(s.cfg.ListenPort)
	}
	global := &api.Global{Asn: s.cfg.LocalAS, RouterId: s.cfg.RouterID.String(), ListenPort: port}
	if err := s.call(ctx, "start", func() error {
		return s.srv.StartBgp(ctx, &api.StartBgpRequest{Global: global})
	}); err != nil {
		return err
	}
	if !s.cfg.AcceptRoutes {
		// The global import policy also judges the paths added here, so
		// it rejects by route type, learned ones only.
		reject := func(name string, typ api.Conditions_RouteType) *api.Statement {
			return &api.Statement{Name: name, Conditions: &api.Conditions{RouteType: typ},
				Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT}}
		}
		policy := &api.Policy{Name: announceOnly, Statements: []*api.Statement{
			reject(announceOnly+"-external", api.Conditions_ROUTE_TYPE_EXTERNAL),
			reject(announceOnly+"-internal", api.Conditions_ROUTE_TYPE_INTERNAL),
		}}
		if err := s.call(ctx, "reject received routes", func() error {
			if err := s.srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: policy}); err != nil {
				return err
			}
			return s.srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
				Direction:     api.PolicyDirection_POLICY_DIRECTION_IMPORT,
				Policies:      []*api.Policy{{Name: announceOnly}},
				DefaultAction: api.RouteAction_ROUTE_ACTION_ACCEPT,
			}})
		}); err != nil {
			return err
		}
	}
	watchCtx, unwatch := context.WithCancel(context.Background())
	s.unwatch = unwatch
	if err := s.call(ctx, "watch sessions", func() error {
		return s.srv.WatchEvent(watchCtx, server.WatchEventMessageCallbacks{OnPeerUpdate: s.peerEvent}, server.WatchPeer())
	}); err != nil {
		return err
	}
	for _, n := range s.cfg.Neighbors {
		// BFD is turned on once the session is established (bfdFollow).
		peer := apiPeer(n, false)
		if err := s.call(ctx, "add neighbour "+n.Addr.String(), func() error {
			return s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peer})
		}); err != nil {
			return err
		}
	}
	return nil
}

// apiPeer is neighbour n as GoBGP's peer, with BFD on or off.
func apiPeer(n Neighbor, bfd bool) *api.Peer {
	peer := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Addr.String(), PeerAsn: n.PeerAS, AuthPassword: n.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          n.holdSeconds(),
			KeepaliveInterval: max(n.holdSeconds()/3, 1),
			ConnectRetry:      connectRetry,
			// After GoBGP resets a session itself (BFD down), it waits
			// this long before it dials again; its default, 30 s, would
			// keep a router that blinked without this director's routes
			// for half a minute.
			IdleHoldTimeAfterReset: connectRetry,
		}},
		Transport: &api.Transport{RemotePort: uint32(n.Port), PassiveMode: n.Passive},
		Bfd:       &api.BfdPeerConfig{},
	}
	if n.LocalAddr.IsValid() {
		peer.Transport.LocalAddress = n.LocalAddr.String()
	}
	if bfd {
		// GoBGP sends at its desired interval and expects the router no
		// more often than its required one; both are the neighbour's
		// interval, in microseconds on the wire.
		every := uint32(n.bfdInterval() / time.Microsecond)
		peer.Bfd = &api.BfdPeerConfig{Enabled: true, DesiredMinimumTxInterval: every,
			RequiredMinimumReceive: every, DetectionMultiplier: uint32(n.bfdMultiplier())}
	}
	return peer
}

// bfdFollow turns a neighbour's BFD session on when its BGP session is
// established and off when it goes down. BFD is there to end an
// established session early; running it only then keeps GoBGP away from
// the router's first BFD session: FRR makes one when it reads its
// configuration and replaces it with another once the BGP session is up
// (now knowing the local address and interface), and GoBGP takes the old
// session's AdminDown as a failure (RFC 5882 says it is not) and resets
// the BGP session it just established. Turned on after establishment,
// GoBGP's BFD starts (a second later, its own pace) with the router's
// lasting session.
func (s *Speaker) bfdFollow(addr netip.Addr, established bool) {
	var n *Neighbor
	for i := range s.cfg.Neighbors {
		if s.cfg.Neighbors[i].Addr == addr && s.cfg.Neighbors[i].BFD {
			n = &s.cfg.Neighbors[i]
		}
	}
	if n == nil {
		return
	}
	s.bfdMu.Lock()
	s.bfdWant[addr] = established
	s.bfdMu.Unlock()
	// Not from GoBGP's event callback, which its main loop may wait on.
	go func() {
		s.bfdMu.Lock()
		defer s.bfdMu.Unlock()
		want := s.bfdWant[addr]
		if s.closing.Load() || s.bfdOn[addr] == want {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CallTimeout)
		defer cancel()
		if err := s.call(ctx, "BFD for "+addr.String(), func() error {
			_, err := s.srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: apiPeer(*n, want)})
			return err
		}); err != nil {
			s.log.Warn(fmt.Sprintf("BGP session %v: BFD not turned %s: %v", addr, map[bool]string{true: "on", false: "off"}[want], err))
			return
		}
		s.bfdOn[addr] = want
	}()
}

// peerEvent logs a session's change of state, once per change.
func (s *Speaker) peerEvent(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	st := ev.Peer.State
	who := fmt.Sprintf("BGP session %v (AS %d)", st.NeighborAddress, st.PeerASN)
	switch st.SessionState {
	case bgp.BGP_FSM_ESTABLISHED:
		s.log.Info(who + " established.")
		s.bfdFollow(st.NeighborAddress, true)
	case bgp.BGP_FSM_IDLE:
		s.bfdFollow(st.NeighborAddress, false)
		if st.DisconnectMessage != "" {
			s.whyMu.Lock()
			s.downWhy[st.NeighborAddress] = st.DisconnectMessage
			s.whyMu.Unlock()
			s.log.Warn(fmt.Sprintf("%s down: %s.", who, st.DisconnectMessage))
		}
	default:
		s.log.Debug(fmt.Sprintf("%s %s.", who, stateOf(st.SessionState)))
	}
}

// Announce advertises prefix, a /32 or /128, to every neighbour of its
// family with this speaker's address on that session as next hop and the
// configured communities. Announcing an announced prefix does nothing.
func (s *Speaker) Announce(ctx context.Context, prefix netip.Prefix) error {
	p, err := hostPrefix(prefix)
	if err != nil {
		return err
	}
	if !s.carries(p) {
		return fmt.Errorf("%w: %v", ErrNoNeighbor, p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if s.announced[p] {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	path, err := s.path(p)
	if err != nil {
		return fmt.Errorf("bgp: announce %v: %w", p, err)
	}
	err = s.call(ctx, "announce "+p.String(), func() error {
		_, err := s.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{path}})
		return err
	})
	if err == nil || errors.Is(err, ErrTimeout) {
		// After a timeout GoBGP may still add it: Withdraw and Stop must
		// then take it back.
		s.announced[p] = true
	}
	if err == nil {
		s.log.Info(fmt.Sprintf("BGP announces %v.", p))
	}
	return err
}

// Withdraw takes prefix back from every neighbour. Withdrawing a prefix
// that is not announced does nothing.
func (s *Speaker) Withdraw(ctx context.Context, prefix netip.Prefix) error {
	p, err := hostPrefix(prefix)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if !s.announced[p] {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.withdraw(ctx, []netip.Prefix{p}); err != nil {
		return err
	}
	s.log.Info(fmt.Sprintf("BGP withdraws %v.", p))
	return nil
}

// withdraw deletes the paths of prefixes and forgets them once GoBGP took
// the deletion. The caller holds s.mu.
func (s *Speaker) withdraw(ctx context.Context, prefixes []netip.Prefix) error {
	paths := make([]*apiutil.Path, 0, len(prefixes))
	for _, p := range prefixes {
		path, err := s.path(p)
		if err != nil {
			return fmt.Errorf("bgp: withdraw %v: %w", p, err)
		}
		paths = append(paths, path)
	}
	what := "withdraw " + joinPrefixes(prefixes)
	if err := s.call(ctx, what, func() error {
		return s.srv.DeletePath(apiutil.DeletePathRequest{Paths: paths})
	}); err != nil {
		return err
	}
	for _, p := range prefixes {
		delete(s.announced, p)
	}
	return nil
}

// Announced lists the prefixes this speaker announces, sorted.
func (s *Speaker) Announced() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.announcedLocked()
}

func (s *Speaker) announcedLocked() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(s.announced))
	for p := range s.announced {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr().Less(out[j].Addr()) })
	return out
}

// Sessions reports every neighbour's session, in the configured order.
func (s *Speaker) Sessions(ctx context.Context) ([]SessionStatus, error) {
	if s.closing.Load() {
		return nil, ErrStopped
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	peers, err := s.peers(ctx, true)
	if err != nil {
		return nil, err
	}
	out := make([]SessionStatus, 0, len(s.cfg.Neighbors))
	s.whyMu.Lock()
	defer s.whyMu.Unlock()
	for _, n := range s.cfg.Neighbors {
		st := SessionStatus{Neighbor: n.Addr, PeerAS: n.PeerAS, State: StateIdle, LastError: s.downWhy[n.Addr]}
		if n.BFD {
			st.BFD = BFDDown
		}
		if p := peers[n.Addr]; p != nil {
			fillStatus(&st, p)
			if n.BFD {
				st.BFD = bfdStateOf(p.GetState().GetBfdState().GetSessionState())
			}
		}
		if !s.cfg.AcceptRoutes {
			// GoBGP counts what passed its loop checks; the import
			// policy drops all of it afterwards.
			st.Accepted = 0
		}
		out = append(out, st)
	}
	return out, nil
}

// fillStatus copies what GoBGP reports of a peer into st.
func fillStatus(st *SessionStatus, p *api.Peer) {
	st.State = stateOf(fsmState(p.GetState().GetSessionState()))
	if st.State != StateEstablished {
		return
	}
	ts := p.GetTimers().GetState()
	st.HoldTime = time.Duration(ts.GetNegotiatedHoldTime()) * time.Second
	if up := ts.GetUptime(); up != nil && up.GetSeconds() > 0 {
		st.Uptime = time.Since(up.AsTime()).Truncate(time.Second)
	}
	for _, af := range p.GetAfiSafis() {
		st.Sent += af.GetState().GetAdvertised()
		st.Received += af.GetState().GetReceived()
		st.Accepted += af.GetState().GetAccepted()
	}
}

// Stop withdraws every announced prefix, waits (for at most half of its
// time) until each established session has sent the withdrawal, then
// closes every session with a Cease notification and stops GoBGP. It
// returns by ctx's deadline (CallTimeout when it has none) even when a
// peer is lost; a second Stop does nothing.
func (s *Speaker) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	s.closing.Store(true)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var errs []error
	prefixes := s.announcedLocked()
	if len(prefixes) > 0 {
		wctx, wcancel := shareOf(ctx, withdrawShare)
		if err := s.withdrawAndFlush(wctx, prefixes); err != nil {
			errs = append(errs, err)
		}
		wcancel()
	}
	if err := s.shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Warn(fmt.Sprintf("BGP speaker stopped uncleanly: %v", err))
		return err
	}
	if len(prefixes) > 0 {
		s.log.Info(fmt.Sprintf("BGP speaker stopped: withdrew %s, closed every session.", joinPrefixes(prefixes)))
	} else {
		s.log.Info("BGP speaker stopped: nothing was announced, closed every session.")
	}
	return nil
}

// withdrawAndFlush withdraws prefixes and waits until every session that
// was established has sent an UPDATE since, which carries the withdrawal:
// GoBGP queues an UPDATE and writes it from the session's own goroutine,
// which closing the session would stop before it wrote.
func (s *Speaker) withdrawAndFlush(ctx context.Context, prefixes []netip.Prefix) error {
	before, err := s.peers(ctx, false)
	if err != nil {
		return err
	}
	if err := s.withdraw(ctx, prefixes); err != nil {
		return err
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		after, err := s.peers(ctx, false)
		if err != nil {
			return err
		}
		var waiting []string
		for addr, p := range before {
			if fsmState(p.GetState().GetSessionState()) != bgp.BGP_FSM_ESTABLISHED {
				continue
			}
			q := after[addr]
			if q == nil || fsmState(q.GetState().GetSessionState()) != bgp.BGP_FSM_ESTABLISHED {
				continue // went down: the neighbour dropped our routes with it
			}
			if q.GetState().GetMessages().GetSent().GetUpdate() <= p.GetState().GetMessages().GetSent().GetUpdate() {
				waiting = append(waiting, addr.String())
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: withdrawal of %s not sent to %s", ErrTimeout, joinPrefixes(prefixes), strings.Join(waiting, ", "))
		case <-tick.C:
		}
	}
}

// shutdown stops GoBGP: Cease to every neighbour, listeners closed, its
// goroutines ended; and the session watch with it.
func (s *Speaker) shutdown(ctx context.Context) error {
	err := s.call(ctx, "stop", func() error {
		s.srv.Stop()
		<-s.served
		return nil
	})
	if s.unwatch != nil {
		s.unwatch()
	}
	return err
}

// peers asks GoBGP for every peer, keyed by address.
func (s *Speaker) peers(ctx context.Context, advertised bool) (map[netip.Addr]*api.Peer, error) {
	out := map[netip.Addr]*api.Peer{}
	var mu sync.Mutex // the callback's writes are read after call returns, maybe by another goroutine
	err := s.call(ctx, "list sessions", func() error {
		return s.srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: advertised}, func(p *api.Peer) {
			if a, err := netip.ParseAddr(p.GetState().GetNeighborAddress()); err == nil {
				mu.Lock()
				out[a] = p
				mu.Unlock()
			}
		})
	})
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	return out, nil
}

// path is prefix as GoBGP's path to originate: origin IGP, an unspecified
// next hop (GoBGP puts the session's local address there), the
// communities.
func (s *Speaker) path(p netip.Prefix) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(p)
	if err != nil {
		return nil, err
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	family := bgp.RF_IPv4_UC
	if p.Addr().Is4() {
		nh, err := bgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, nh)
	} else {
		family = bgp.RF_IPv6_UC
		mp, err := bgp.NewPathAttributeMpReachNLRI(family, []bgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, mp)
	}
	if len(s.cfg.Communities) > 0 {
		cs := make([]uint32, len(s.cfg.Communities))
		for i, c := range s.cfg.Communities {
			cs[i] = uint32(c)
		}
		attrs = append(attrs, bgp.NewPathAttributeCommunities(cs))
	}
	return &apiutil.Path{Family: family, Nlri: nlri, Attrs: attrs}, nil
}

// carries reports whether a neighbour of p's family is configured.
func (s *Speaker) carries(p netip.Prefix) bool {
	for _, n := range s.cfg.Neighbors {
		if n.Addr.Is4() == p.Addr().Is4() {
			return true
		}
	}
	return false
}

// bound gives ctx the speaker's CallTimeout when it has no deadline.
func (s *Speaker) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.CallTimeout)
}

// call runs fn, a call into GoBGP, and returns its error, or ErrTimeout
// once ctx is done. GoBGP's management calls wait on its main loop without
// a deadline of their own; a call that times out is left to finish in the
// background.
func (s *Speaker) call(ctx context.Context, what string, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("bgp: %s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bgp: %s: %w (%v)", what, ErrTimeout, context.Cause(ctx))
	}
}

// shareOf returns a context that ends after 1/n of the time ctx has left.
func shareOf(ctx context.Context, n int) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(dl)/time.Duration(n))
}

func fsmState(s api.PeerState_SessionState) bgp.FSMState {
	switch s {
	case api.PeerState_SESSION_STATE_CONNECT:
		return bgp.BGP_FSM_CONNECT
	case api.PeerState_SESSION_STATE_ACTIVE:
		return bgp.BGP_FSM_ACTIVE
	case api.PeerState_SESSION_STATE_OPENSENT:
		return bgp.BGP_FSM_OPENSENT
	case api.PeerState_SESSION_STATE_OPENCONFIRM:
		return bgp.BGP_FSM_OPENCONFIRM
	case api.PeerState_SESSION_STATE_ESTABLISHED:
		return bgp.BGP_FSM_ESTABLISHED
	}
	return bgp.BGP_FSM_IDLE
}

func bfdStateOf(s api.BfdSessionState) BFDState {
	switch s {
	case api.BfdSessionState_BFD_SESSION_STATE_UP:
		return BFDUp
	case api.BfdSessionState_BFD_SESSION_STATE_INIT:
		return BFDInit
	case api.BfdSessionState_BFD_SESSION_STATE_ADMIN_DOWN:
		return BFDAdminDown
	}
	return BFDDown
}

func stateOf(s bgp.FSMState) SessionState {
	switch s {
	case bgp.BGP_FSM_CONNECT:
		return StateConnect
	case bgp.BGP_FSM_ACTIVE:
		return StateActive
	case bgp.BGP_FSM_OPENSENT:
		return StateOpenSent
	case bgp.BGP_FSM_OPENCONFIRM:
		return StateOpenConfirm
	case bgp.BGP_FSM_ESTABLISHED:
		return StateEstablished
	}
	return StateIdle
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// minLevel passes on the records of at least its level, so GoBGP's debug
// and info lines stay out of the node's log.
type minLevel struct {
	min slog.Leveler
	h   slog.Handler
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min.Level() && m.h.Enabled(ctx, l)
}

func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{m.min, m.h.WithAttrs(as)}
}

func (m minLevel) WithGroup(name string) slog.Handler { return minLevel{m.min, m.h.WithGroup(name)} }
