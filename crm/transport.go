package crm

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// RaftKeyPurpose is the purpose string for conf.AuthKey.Derive that gives
// TransportConfig.Key.
const RaftKeyPurpose = "hbgo raft"

// Transport defaults, used where TransportConfig leaves a field zero.
const (
	DefaultTransportMaxPool  = 3
	DefaultTransportTimeout  = 2 * time.Second
	DefaultHandshakeTimeout  = 2 * time.Second
	DefaultMaxPendingAccepts = 32
	// DefaultMaxPendingPerSource bounds one address's handshakes.
	DefaultMaxPendingPerSource = 4
	// DefaultFirstByteTimeout bounds the wait for a client's first byte.
	DefaultFirstByteTimeout   = 500 * time.Millisecond
	transportALPN             = "hbgo-raft/1"
	transportReady            = 0x01 // server to client, once it has verified the client
	handshakeLogEvery         = 5 * time.Second
	tlsSeedLabel              = "hbgo raft tls ed25519 seed v1"
	transportAcceptRetryFloor = 5 * time.Millisecond
	transportAcceptRetryCeil  = time.Second
)

// ErrHandshake marks a connection that did not authenticate: the peer has no
// key of this cluster, is not speaking TLS, or was too slow.
var ErrHandshake = errors.New("raft handshake failed")

// TransportConfig configures NewTransport.
type TransportConfig struct {
	// Bind is the TCP address to listen on. Port 0 picks a free port.
	Bind netip.AddrPort
	// Advertise is the address the other voters dial; when invalid, the
	// listener's own address is used, which must then be a specific one
	// (not 0.0.0.0 or ::).
	Advertise netip.AddrPort
	// Key is the 32-byte cluster key, conf.AuthKey.Derive(RaftKeyPurpose).
	// Every connection, in and out, proves possession of it.
	Key []byte
	// AcceptKeys are further keys whose holders are accepted as peers, so
	// the authkeys secret can be rotated one node at a time: a node
	// presents Key and accepts Key or any of these.
	AcceptKeys [][]byte
	// Keys, when set, replaces Key and AcceptKeys: the caller keeps it to
	// change the keys of a running transport (a reload of authkeys).
	Keys *TransportKeys
	// MaxPool is the number of idle connections kept per peer.
	MaxPool int
	// Timeout is raft's I/O deadline for one RPC; it also bounds an
	// outgoing connection's TCP connect and TLS handshake together.
	Timeout time.Duration
	// HandshakeTimeout bounds an incoming connection's TLS handshake, so a
	// silent or slow peer cannot hold a goroutine.
	HandshakeTimeout time.Duration
	// MaxPendingAccepts bounds the incoming connections in handshake at
	// once; beyond it new connections are closed at once. Each source
	// address has at most MaxPendingPerSource of them (default 4), and
	// the addresses Trusted names (the voters, learned from authenticated
	// heartbeats) have MaxPendingAccepts slots of their own, so that no
	// flood from elsewhere keeps a voter out.
	MaxPendingAccepts   int
	MaxPendingPerSource int
	Trusted             func(netip.Addr) bool
	// FirstByteTimeout bounds the wait for an incoming connection's first
	// byte (its TLS ClientHello; default 500 ms): a silent connection
	// gives its slot back that soon, not after HandshakeTimeout.
	FirstByteTimeout time.Duration
	// Logger receives raft's transport logs and handshake failures; nil
	// discards them. SlogHCLogger adapts a *slog.Logger.
	Logger hclog.Logger
	// Dial, when set, opens outgoing TCP connections (network is "tcp");
	// tests use it to dial from inside a node's network namespace. The
	// listener is opened by NewTransport in the calling goroutine's
	// namespace.
	Dial func(network, addr string, timeout time.Duration) (net.Conn, error)
	// OnHandshakeError, when set, is called for every connection that
	// failed to authenticate, in or out; err wraps ErrHandshake. It must
	// not block.
	OnHandshakeError func(remote net.Addr, inbound bool, err error)
}

// NewTransport listens on cfg.Bind and returns a raft transport whose every
// connection is TLS 1.3 with mutual authentication by the cluster key: both
// sides present an ed25519 certificate derived from Key and require the
// peer's public key to be one derived from Key or AcceptKeys. A process
// without the secret can neither complete a connection, nor send an RPC,
// nor read the traffic.
func NewTransport(cfg TransportConfig) (*raft.NetworkTransport, error) {
	sl, err := newTLSStreamLayer(cfg)
	if err != nil {
		return nil, err
	}
	maxPool := cfg.MaxPool
	if maxPool <= 0 {
		maxPool = DefaultTransportMaxPool
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTransportTimeout
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  sl,
		MaxPool: maxPool,
		Timeout: timeout,
		Logger:  sl.logger,
	}), nil
}

// tlsIdentity is what a key derives: our certificate and the public key a
// peer must present.
type tlsIdentity struct {
	cert tls.Certificate
	pub  ed25519.PublicKey
}

// deriveTLSIdentity makes the ed25519 key from HMAC-SHA256(key, label) and a
// self-signed certificate for it. The certificate's fields carry no trust:
// peers check only the public key, so names and dates are fixed constants.
func deriveTLSIdentity(key []byte) (tlsIdentity, error) {
	if len(key) != 32 {
		return tlsIdentity{}, fmt.Errorf("raft transport key is %d bytes, want 32 (conf.AuthKey.Derive)", len(key))
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tlsSeedLabel))
	priv := ed25519.NewKeyFromSeed(m.Sum(nil))
	pub := priv.Public().(ed25519.PublicKey)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hbgo raft"},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tlsIdentity{}, fmt.Errorf("raft transport certificate: %w", err)
	}
	return tlsIdentity{
		cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv},
		pub:  pub,
	}, nil
}

// tlsStreamLayer is a raft.StreamLayer over TCP and TLS 1.3. Incoming
// handshakes run in their own goroutines, bounded in number and time, so
// raft's accept loop only ever sees authenticated connections and no peer
// can stall it.
type tlsStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config

	dial             func(network, addr string, timeout time.Duration) (net.Conn, error)
	handshakeTimeout time.Duration
	firstByte        time.Duration
	pending          chan struct{} // semaphore of handshakes in progress
	trustedPending   chan struct{} // the same for the voters' addresses
	perSource        int
	trusted          func(netip.Addr) bool
	sourcesMu        sync.Mutex
	sources          map[netip.Addr]int // handshakes in progress by source
	accepted         chan net.Conn
	done             chan struct{}
	ctx              context.Context // canceled by Close, ends handshakes
	cancel           context.CancelFunc
	closeOnce        sync.Once
	wg               sync.WaitGroup

	logger  hclog.Logger
	onFail  func(net.Addr, bool, error)
	failLog failLimiter
}

// TransportKeys are the keys of a raft transport: the one its
// certificate derives from and those whose holders it accepts. Set
// changes them for the connections made after it.
type TransportKeys struct {
	cur atomic.Pointer[transportKeys]
}

type transportKeys struct {
	own     tlsIdentity
	allowed []ed25519.PublicKey
}

// NewTransportKeys derives the identities of key and accept.
func NewTransportKeys(key []byte, accept [][]byte) (*TransportKeys, error) {
	k := &TransportKeys{}
	return k, k.Set(key, accept)
}

// Set makes key the transport's own and accepts holders of key or of
// any of accept.
func (k *TransportKeys) Set(key []byte, accept [][]byte) error {
	own, err := deriveTLSIdentity(key)
	if err != nil {
		return err
	}
	tk := &transportKeys{own: own, allowed: []ed25519.PublicKey{own.pub}}
	for i, a := range accept {
		id, err := deriveTLSIdentity(a)
		if err != nil {
			return fmt.Errorf("accept key %d: %w", i+1, err)
		}
		tk.allowed = append(tk.allowed, id.pub)
	}
	k.cur.Store(tk)
	return nil
}

func newTLSStreamLayer(cfg TransportConfig) (*tlsStreamLayer, error) {
	keys := cfg.Keys
	if keys == nil {
		var err error
		if keys, err = NewTransportKeys(cfg.Key, cfg.AcceptKeys); err != nil {
			return nil, err
		}
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer presented no certificate")
		}
		pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("peer key is %T, not a cluster key", cs.PeerCertificates[0].PublicKey)
		}
		for _, a := range keys.cur.Load().allowed {
			if pub.Equal(a) {
				return nil
			}
		}
		return errors.New("peer key is not derived from the cluster secret")
	}
	cert := func() *tls.Certificate { c := keys.cur.Load().own.cert; return &c }
	base := tls.Config{
		GetCertificate:         func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert(), nil },
		GetClientCertificate:   func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert(), nil },
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		NextProtos:             []string{transportALPN},
		SessionTicketsDisabled: true, // every connection proves the key anew
		VerifyConnection:       verify,
	}
	server := base.Clone()
	server.ClientAuth = tls.RequireAnyClientCert // verified by VerifyConnection
	client := base.Clone()
	// The chain and name checks do not apply to a self-signed certificate
	// derived from a shared key; VerifyConnection checks the key instead,
	// and TLS 1.3's CertificateVerify proves the peer holds its private half.
	client.InsecureSkipVerify = true

	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	dial := cfg.Dial
	if dial == nil {
		dial = func(network, addr string, timeout time.Duration) (net.Conn, error) {
			return net.DialTimeout(network, addr, timeout)
		}
	}
	hs := cfg.HandshakeTimeout
	if hs <= 0 {
		hs = DefaultHandshakeTimeout
	}
	maxPending := cfg.MaxPendingAccepts
	if maxPending <= 0 {
		maxPending = DefaultMaxPendingAccepts
	}
	perSource := cfg.MaxPendingPerSource
	if perSource <= 0 {
		perSource = DefaultMaxPendingPerSource
	}
	firstByte := cfg.FirstByteTimeout
	if firstByte <= 0 {
		firstByte = DefaultFirstByteTimeout
	}

	if !cfg.Bind.IsValid() {
		return nil, errors.New("raft transport: no bind address")
	}
	ln, err := net.Listen("tcp", cfg.Bind.String())
	if err != nil {
		return nil, fmt.Errorf("raft transport: %w", err)
	}
	var adv net.Addr
	if cfg.Advertise.IsValid() {
		adv = net.TCPAddrFromAddrPort(cfg.Advertise)
	} else {
		adv = ln.Addr()
	}
	if ta, ok := adv.(*net.TCPAddr); !ok || ta.IP.IsUnspecified() || ta.Port == 0 {
		ln.Close()
		return nil, fmt.Errorf("raft transport: advertise address %v is not one peers can dial; set Advertise", adv)
	}

	s := &tlsStreamLayer{
		ln:               ln,
		advertise:        adv,
		server:           server,
		client:           client,
		dial:             dial,
		handshakeTimeout: hs,
		firstByte:        firstByte,
		pending:          make(chan struct{}, maxPending),
		trustedPending:   make(chan struct{}, maxPending),
		perSource:        perSource,
		trusted:          cfg.Trusted,
		sources:          map[netip.Addr]int{},
		accepted:         make(chan net.Conn),
		done:             make(chan struct{}),
		logger:           logger.Named("raft-net"),
		onFail:           cfg.OnHandshakeError,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// acceptLoop takes TCP connections and hands each to a bounded handshake.
func (s *tlsStreamLayer) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: back off, as net/http does.
			delay = min(max(2*delay, transportAcceptRetryFloor), transportAcceptRetryCeil)
			s.logger.Error("accept failed", "error", err, "retry-in", delay)
			select {
			case <-s.done:
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		release, err := s.admit(c.RemoteAddr())
		if err != nil {
			s.handshakeFailed(c.RemoteAddr(), true, err)
			c.Close()
			continue
		}
		s.wg.Add(1)
		go s.handshake(c, release)
	}
}

// admit takes a handshake slot for a connection from remote: one of the
// voters' own slots when remote is a voter's address, else a shared one,
// within the per-source bound. release gives it back.
func (s *tlsStreamLayer) admit(remote net.Addr) (release func(), err error) {
	var src netip.Addr
	if ta, ok := remote.(*net.TCPAddr); ok {
		src = ta.AddrPort().Addr().Unmap()
	}
	s.sourcesMu.Lock()
	if s.sources[src] >= s.perSource {
		s.sourcesMu.Unlock()
		return nil, fmt.Errorf("%d connections from %s in handshake already", s.perSource, src)
	}
	s.sources[src]++
	s.sourcesMu.Unlock()
	unsource := func() {
		s.sourcesMu.Lock()
		if s.sources[src]--; s.sources[src] <= 0 {
			delete(s.sources, src)
		}
		s.sourcesMu.Unlock()
	}
	sem := s.pending
	if s.trusted != nil && src.IsValid() && s.trusted(src) {
		sem = s.trustedPending
	}
	select {
	case sem <- struct{}{}:
	default:
		unsource()
		return nil, errors.New("too many connections in handshake")
	}
	return func() { <-sem; unsource() }, nil
}

// handshake authenticates one incoming connection within the handshake
// timeout and queues it for Accept. A connection that sends nothing
// within firstByte is closed then.
func (s *tlsStreamLayer) handshake(c net.Conn, release func()) {
	defer s.wg.Done()
	defer release()
	ctx, cancel := context.WithTimeout(s.ctx, s.handshakeTimeout)
	defer cancel()
	wait := min(s.firstByte, s.handshakeTimeout)
	c.SetReadDeadline(time.Now().Add(wait))
	first := make([]byte, 1)
	if _, err := io.ReadFull(c, first); err != nil {
		if s.ctx.Err() == nil {
			s.handshakeFailed(c.RemoteAddr(), true, fmt.Errorf("nothing sent within %v: %w", wait, err))
		}
		c.Close()
		return
	}
	c = &prefixConn{Conn: c, prefix: first}
	tc := tls.Server(c, s.server)
	c.SetDeadline(time.Now().Add(s.handshakeTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		if s.ctx.Err() == nil { // not our own Close
			s.handshakeFailed(c.RemoteAddr(), true, err)
		}
		c.Close()
		return
	}
	// In TLS 1.3 the client finishes its handshake before we have checked
	// its certificate; this byte tells it that we did.
	if _, err := tc.Write([]byte{transportReady}); err != nil {
		s.handshakeFailed(c.RemoteAddr(), true, fmt.Errorf("send ready: %w", err))
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	select {
	case s.accepted <- tc:
	case <-s.done:
		tc.Close()
	}
}

// prefixConn is a connection whose first bytes were read already.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// handshakeFailed reports a refused connection; callers report before they
// close, so the count is up to date when the peer sees the close.
func (s *tlsStreamLayer) handshakeFailed(remote net.Addr, inbound bool, err error) {
	err = fmt.Errorf("%w: %w", ErrHandshake, err)
	if s.onFail != nil {
		s.onFail(remote, inbound, err)
	}
	dir := "to"
	if inbound {
		dir = "from"
	}
	if n, ok := s.failLog.allow(time.Now()); ok {
		s.logger.Warn(fmt.Sprintf("Raft connection %s %v refused.", dir, remote), "error", err, "suppressed", n)
	}
}

// Accept implements net.Listener; it returns only authenticated connections.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.accepted:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener; it also abandons handshakes in progress.
func (s *tlsStreamLayer) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancel()
		err = s.ln.Close()
		s.wg.Wait()
	})
	return err
}

// Addr implements net.Listener; it is the advertised address.
func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

// Dial implements raft.StreamLayer: TCP connect, TLS handshake and the
// server's ready byte within timeout, so a peer that refuses our key fails
// the dial rather than the first RPC.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	deadline := time.Now().Add(timeout)
	c, err := s.dial("tcp", string(address), timeout)
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	c.SetDeadline(deadline)
	tc := tls.Client(c, s.client)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.handshakeFailed(c.RemoteAddr(), false, err)
		c.Close()
		return nil, fmt.Errorf("raft peer %s: %w: %w", address, ErrHandshake, err)
	}
	var ready [1]byte
	if _, err := io.ReadFull(tc, ready[:]); err != nil || ready[0] != transportReady {
		if err == nil {
			err = fmt.Errorf("peer sent %#x, not the ready byte", ready[0])
		}
		err = fmt.Errorf("peer refused us: %w", err)
		s.handshakeFailed(c.RemoteAddr(), false, err)
		c.Close()
		return nil, fmt.Errorf("raft peer %s: %w: %w", address, ErrHandshake, err)
	}
	c.SetDeadline(time.Time{})
	return tc, nil
}

// failLimiter lets one handshake-failure log line through per interval and
// counts the rest, so a port scan cannot flood the log.
type failLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *failLimiter) allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < handshakeLogEvery {
		l.suppressed++
		return 0, false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n, true
}

// SlogHCLogger adapts a *slog.Logger to the hclog.Logger that raft wants:
// raft's key-value pairs become slog attributes and its logger name an
// attribute "logger". Levels map as trace→debug-4, debug, info, warn, error.
func SlogHCLogger(l *slog.Logger) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	lv := new(atomic.Int32)
	lv.Store(int32(hclog.Trace))
	return &slogHC{l: l, level: lv}
}

type slogHC struct {
	l       *slog.Logger
	name    string
	implied []any
	level   *atomic.Int32 // hclog.Level floor set by SetLevel; shared by derived loggers
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (h *slogHC) enabled(l hclog.Level) bool {
	floor := hclog.Level(h.level.Load())
	if floor == hclog.Off || (floor != hclog.NoLevel && l < floor) {
		return false
	}
	return h.l.Enabled(context.Background(), slogLevel(l))
}

func (h *slogHC) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	if !h.enabled(level) {
		return
	}
	l := h.l
	if h.name != "" {
		l = l.With("logger", h.name)
	}
	// raft passes errors and addresses as values; slog prints them alike.
	l.Log(context.Background(), slogLevel(level), msg, append(append([]any(nil), h.implied...), args...)...)
}

func (h *slogHC) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *slogHC) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *slogHC) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *slogHC) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *slogHC) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }
func (h *slogHC) IsTrace() bool                 { return h.enabled(hclog.Trace) }
func (h *slogHC) IsDebug() bool                 { return h.enabled(hclog.Debug) }
func (h *slogHC) IsInfo() bool                  { return h.enabled(hclog.Info) }
func (h *slogHC) IsWarn() bool                  { return h.enabled(hclog.Warn) }
func (h *slogHC) IsError() bool                 { return h.enabled(hclog.Error) }
func (h *slogHC) ImpliedArgs() []any            { return h.implied }
func (h *slogHC) Name() string                  { return h.name }
func (h *slogHC) SetLevel(l hclog.Level)        { h.level.Store(int32(l)) }
func (h *slogHC) GetLevel() hclog.Level         { return hclog.Level(h.level.Load()) }

func (h *slogHC) With(args ...any) hclog.Logger {
	c := *h
	c.implied = append(append([]any(nil), h.implied...), args...)
	return &c
}

func (h *slogHC) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *slogHC) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

func (h *slogHC) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *slogHC) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return &slogHCWriter{h: h, infer: opts != nil && (opts.InferLevels || opts.InferLevelsWithTimestamp)}
}

// slogHCWriter turns standard-logger lines into log records, reading an
// "[ERROR]"-style prefix as the level when asked to.
type slogHCWriter struct {
	h     *slogHC
	infer bool
}

func (w *slogHCWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	level := hclog.Info
	if w.infer {
		for _, p := range []struct {
			tag string
			l   hclog.Level
		}{{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info}, {"[WARN]", hclog.Warn}, {"[ERR]", hclog.Error}, {"[ERROR]", hclog.Error}} {
			if i := strings.Index(msg, p.tag); i >= 0 {
				level = p.l
				msg = strings.TrimSpace(msg[i+len(p.tag):])
				break
			}
		}
	}
	w.h.Log(level, msg)
	return len(p), nil
}
