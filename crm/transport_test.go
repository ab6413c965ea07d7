package crm

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hbgo/conf"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// rtKey is a cluster key as the daemon derives it from an authkeys secret.
func rtKey(secret string) []byte {
	return conf.AuthKey{Num: 1, Method: conf.AuthSHA1, Secret: secret}.Derive(RaftKeyPurpose)
}

var rtLoopback = netip.MustParseAddrPort("127.0.0.1:0")

// rtLog collects the logs of a test's nodes and shows them if it fails;
// raft's goroutines may still log after the test, so it never calls t.Log
// from them.
type rtLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *rtLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func newRTLog(t testing.TB) *rtLog {
	l := &rtLog{}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			t.Logf("node logs:\n%s", l.buf.String())
			l.mu.Unlock()
		}
	})
	return l
}

func (l *rtLog) logger(name string) hclog.Logger {
	h := slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn})
	return SlogHCLogger(slog.New(h).With("node", name))
}

// rtFSM is a trivial state machine: the list of applied commands.
type rtFSM struct {
	mu      sync.Mutex
	applied []string
}

func (f *rtFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, string(l.Data))
	return len(f.applied)
}

func (f *rtFSM) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied)
}

func (f *rtFSM) Snapshot() (raft.FSMSnapshot, error) {
	return &rtSnap{data: []byte(strings.Join(f.list(), "\n"))}, nil
}

func (f *rtFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = nil
	if len(b) > 0 {
		f.applied = strings.Split(string(b), "\n")
	}
	return nil
}

type rtSnap struct{ data []byte }

func (s *rtSnap) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *rtSnap) Release() {}

// rtRaftConfig is the fast timing these tests run raft with.
func rtRaftConfig(id raft.ServerID, logger hclog.Logger) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.LeaderLeaseTimeout = 50 * time.Millisecond
	if rtLeaseOverride > 0 {
		c.LeaderLeaseTimeout = rtLeaseOverride
	}
	c.CommitTimeout = 10 * time.Millisecond
	c.Logger = logger
	return c
}

// rtLeaseOverride replaces the lease in rtRaftConfig for the soak test.
var rtLeaseOverride time.Duration

// rtNode is one raft voter with the real transport and stores.
type rtNode struct {
	id     raft.ServerID
	addr   raft.ServerAddress
	r      *raft.Raft
	trans  *raft.NetworkTransport
	fsm    *rtFSM
	stores *Stores
	fails  atomic.Int64 // handshake failures, in and out
}

// startRTCluster starts n voters with key on loopback, each bootstrapped
// with the same configuration.
func startRTCluster(t testing.TB, n int, key []byte) []*rtNode {
	t.Helper()
	logs := newRTLog(t)
	nodes := make([]*rtNode, n)
	var servers []raft.Server
	for i := range nodes {
		nd := &rtNode{id: raft.ServerID(fmt.Sprintf("n%d", i+1)), fsm: &rtFSM{}}
		tr, err := NewTransport(TransportConfig{
			Bind:             rtLoopback,
			Key:              key,
			Timeout:          time.Second,
			HandshakeTimeout: 300 * time.Millisecond,
			Logger:           logs.logger(string(nd.id)),
			OnHandshakeError: func(net.Addr, bool, error) { nd.fails.Add(1) },
		})
		if err != nil {
			t.Fatal(err)
		}
		nd.trans, nd.addr = tr, tr.LocalAddr()
		nodes[i] = nd
		servers = append(servers, raft.Server{ID: nd.id, Address: nd.addr})
	}
	for _, nd := range nodes {
		st, err := OpenStores(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		nd.stores = st
		cfg := rtRaftConfig(nd.id, logs.logger(string(nd.id)))
		if err := raft.BootstrapCluster(cfg, st.Log, st.Stable, st.Snapshots, nd.trans, raft.Configuration{Servers: servers}); err != nil {
			t.Fatal(err)
		}
		r, err := raft.NewRaft(cfg, nd.fsm, st.Log, st.Stable, st.Snapshots, nd.trans)
		if err != nil {
			t.Fatal(err)
		}
		nd.r = r
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			if err := nd.r.Shutdown().Error(); err != nil {
				t.Errorf("%s shutdown: %v", nd.id, err)
			}
			nd.trans.Close()
			nd.stores.Close()
		}
	})
	return nodes
}

// waitRTLeader waits until one node leads and every node names it.
func waitRTLeader(t testing.TB, nodes []*rtNode, within time.Duration) *rtNode {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, nd := range nodes {
			if nd.r.State() != raft.Leader {
				continue
			}
			agreed := true
			for _, o := range nodes {
				if o.r.Leader() != nd.addr {
					agreed = false
				}
			}
			if agreed {
				return nd
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no agreed leader within %v", within)
	return nil
}

// waitRTApplied waits until every node's FSM holds want.
func waitRTApplied(t testing.TB, nodes []*rtNode, want []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		done := true
		for _, nd := range nodes {
			if !slices.Equal(nd.fsm.list(), want) {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			for _, nd := range nodes {
				t.Errorf("%s applied %q", nd.id, nd.fsm.list())
			}
			t.Fatalf("not replicated within %v; want %q", within, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRaftClusterOverTLSTransport(t *testing.T) {
	start := time.Now()
	nodes := startRTCluster(t, 3, rtKey("cluster secret"))
	leader := waitRTLeader(t, nodes, 5*time.Second)
	t.Logf("leader %s elected %v after start", leader.id, time.Since(start).Round(time.Millisecond))

	applyStart := time.Now()
	if err := leader.r.Apply([]byte("hello"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitRTApplied(t, nodes, []string{"hello"}, 2*time.Second)
	t.Logf("apply replicated to all in %v", time.Since(applyStart).Round(time.Microsecond))
	for _, nd := range nodes {
		if n := nd.fails.Load(); n != 0 {
			t.Errorf("%s: %d handshake failures among cluster members", nd.id, n)
		}
	}
}

// rtView is what an intruder must not change.
type rtView struct {
	leader raft.ServerAddress
	terms  []uint64
	last   []uint64
	fsm    [][]string
}

func rtSnapshot(nodes []*rtNode) rtView {
	v := rtView{leader: nodes[0].r.Leader()}
	for _, nd := range nodes {
		v.terms = append(v.terms, nd.r.CurrentTerm())
		v.last = append(v.last, nd.r.LastIndex())
		v.fsm = append(v.fsm, nd.fsm.list())
	}
	return v
}

func (v rtView) equal(o rtView) bool {
	return v.leader == o.leader && slices.Equal(v.terms, o.terms) && slices.Equal(v.last, o.last) &&
		slices.EqualFunc(v.fsm, o.fsm, slices.Equal)
}

// rtEncodeRPC is what raft's NetworkTransport writes for one RPC: the type
// byte, then the msgpack request.
func rtEncodeRPC(t testing.TB, rpcType byte, req any) []byte {
	var b bytes.Buffer
	b.WriteByte(rpcType)
	if err := codec.NewEncoder(&b, &codec.MsgpackHandle{}).Encode(req); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rtSelfSignedTLS is a TLS client certificate that is not the cluster's.
func rtSelfSignedTLS(t testing.TB) tls.Certificate {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "hbgo raft"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
}

// rtExpectClosed reads from c until the peer closes it, and fails if that
// takes longer than within.
func rtExpectClosed(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within + time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		took := time.Since(start)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v", took)
		}
		if took > within {
			t.Errorf("closed after %v, want within %v", took, within)
		}
		return took
	}
}

func TestRaftTransportRejectsIntruders(t *testing.T) {
	nodes := startRTCluster(t, 3, rtKey("cluster secret"))
	leader := waitRTLeader(t, nodes, 5*time.Second)
	if err := leader.r.Apply([]byte("before"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitRTApplied(t, nodes, []string{"before"}, 2*time.Second)
	target := nodes[0]
	if target == leader {
		target = nodes[1]
	}

	wrongKey := rtKey("another secret")
	forgedTerm := leader.r.CurrentTerm() + 1000
	forgedVote := &raft.RequestVoteRequest{
		RPCHeader:    raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("evil"), Addr: []byte("127.0.0.1:1")},
		Term:         forgedTerm,
		LastLogIndex: 1 << 40,
		LastLogTerm:  forgedTerm,
	}
	forgedAppend := &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("evil"), Addr: []byte("127.0.0.1:1")},
		Term:              forgedTerm,
		PrevLogEntry:      leader.r.LastIndex(),
		PrevLogTerm:       leader.r.CurrentTerm(),
		Entries:           []*raft.Log{{Index: leader.r.LastIndex() + 1, Term: forgedTerm, Type: raft.LogCommand, Data: []byte("intruder")}},
		LeaderCommitIndex: leader.r.LastIndex() + 1,
	}

	tests := []struct {
		name string
		// run attacks target and returns how many handshake failures the
		// cluster must see from it (at least).
		run func(t *testing.T) int64
	}{{
		name: "wrong-key transport sends RequestVote and AppendEntries",
		run: func(t *testing.T) int64 {
			var outFails atomic.Int64
			rogue, err := NewTransport(TransportConfig{
				Bind: rtLoopback, Key: wrongKey, Timeout: time.Second,
				OnHandshakeError: func(_ net.Addr, inbound bool, _ error) {
					if !inbound {
						outFails.Add(1)
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer rogue.Close()
			var vr raft.RequestVoteResponse
			err = rogue.RequestVote(target.id, target.addr, forgedVote, &vr)
			if !errors.Is(err, ErrHandshake) {
				t.Errorf("RequestVote: err %v, want ErrHandshake", err)
			}
			var ar raft.AppendEntriesResponse
			err = rogue.AppendEntries(target.id, target.addr, forgedAppend, &ar)
			if !errors.Is(err, ErrHandshake) {
				t.Errorf("AppendEntries: err %v, want ErrHandshake", err)
			}
			if vr.Granted || ar.Success || vr.Term != 0 || ar.Term != 0 {
				t.Errorf("got answers: vote %+v append %+v", vr, ar)
			}
			if n := outFails.Load(); n != 2 {
				t.Errorf("rogue saw %d outgoing handshake failures, want 2", n)
			}
			return 2
		},
	}, {
		name: "wrong-key raft voter campaigns with the cluster's addresses",
		run: func(t *testing.T) int64 {
			rogueTr, err := NewTransport(TransportConfig{Bind: rtLoopback, Key: wrongKey, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			servers := []raft.Server{{ID: "evil", Address: rogueTr.LocalAddr()}}
			for _, nd := range nodes {
				servers = append(servers, raft.Server{ID: nd.id, Address: nd.addr})
			}
			st := raft.NewInmemStore()
			snaps := raft.NewInmemSnapshotStore()
			cfg := rtRaftConfig("evil", hclog.NewNullLogger())
			if err := raft.BootstrapCluster(cfg, st, st, snaps, rogueTr, raft.Configuration{Servers: servers}); err != nil {
				t.Fatal(err)
			}
			st.SetUint64([]byte("CurrentTerm"), forgedTerm)
			r, err := raft.NewRaft(cfg, &rtFSM{}, st, st, snaps, rogueTr)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second) // several election rounds
			if err := r.Shutdown().Error(); err != nil {
				t.Error(err)
			}
			rogueTr.Close()
			if r.State() == raft.Leader {
				t.Error("rogue became leader")
			}
			return 1
		},
	}, {
		name: "TLS client with its own self-signed certificate",
		run: func(t *testing.T) int64 {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", string(target.addr), &tls.Config{
				InsecureSkipVerify: true,
				Certificates:       []tls.Certificate{rtSelfSignedTLS(t)},
				MinVersion:         tls.VersionTLS13,
			})
			if err != nil {
				// Refused during the handshake: as good as later.
				t.Logf("handshake: %v", err)
				return 1
			}
			defer c.Close()
			// TLS 1.3 lets the client finish before the server has checked
			// its certificate; the RPC must still go nowhere.
			c.Write(rtEncodeRPC(t, 1, forgedVote))
			took := rtExpectClosed(t, c, 500*time.Millisecond)
			t.Logf("closed after %v", took)
			return 1
		},
	}, {
		name: "plain TCP client sends a RequestVote",
		run: func(t *testing.T) int64 {
			c, err := net.DialTimeout("tcp", string(target.addr), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(rtEncodeRPC(t, 1, forgedVote))
			t.Logf("closed after %v", rtExpectClosed(t, c, 500*time.Millisecond))
			return 1
		},
	}, {
		name: "plain TCP client sends AppendEntries type byte and msgpack garbage",
		run: func(t *testing.T) int64 {
			c, err := net.DialTimeout("tcp", string(target.addr), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			junk := make([]byte, 300)
			rand.Read(junk)
			c.Write(append([]byte{0, 0x85, 0xa4, 'T', 'e', 'r', 'm'}, junk...))
			t.Logf("closed after %v", rtExpectClosed(t, c, 500*time.Millisecond))
			return 1
		},
	}, {
		name: "silent TCP client is cut at the handshake timeout",
		run: func(t *testing.T) int64 {
			c, err := net.DialTimeout("tcp", string(target.addr), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			took := rtExpectClosed(t, c, 300*time.Millisecond+200*time.Millisecond)
			if took < 250*time.Millisecond {
				t.Errorf("closed after %v, before the 300ms handshake timeout", took)
			}
			t.Logf("closed after %v", took)
			return 1
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Every forged RPC carries forgedTerm, so any effect of one shows
			// as that term or the intruder's entry, checked on every attempt.
			// The stricter "nothing changed" can also fail by an election of
			// the cluster's own when the machine is loaded (100ms timeouts on
			// shared cores), so that one gets three attempts.
			const attempts = 3
			for attempt := 1; ; attempt++ {
				waitRTLeader(t, nodes, 2*time.Second)
				before := rtSnapshot(nodes)
				var failsBefore int64
				for _, nd := range nodes {
					failsBefore += nd.fails.Load()
				}
				want := tc.run(t)
				// Give a wrongly accepted RPC time to show.
				time.Sleep(200 * time.Millisecond)
				after := rtSnapshot(nodes)
				for _, nd := range nodes {
					if nd.r.CurrentTerm() >= forgedTerm {
						t.Errorf("%s adopted the forged term %d", nd.id, nd.r.CurrentTerm())
					}
					if slices.Contains(nd.fsm.list(), "intruder") {
						t.Errorf("%s applied the intruder's entry", nd.id)
					}
				}
				var failsAfter int64
				for _, nd := range nodes {
					failsAfter += nd.fails.Load()
				}
				if got := failsAfter - failsBefore; got < want {
					t.Errorf("cluster counted %d handshake failures, want at least %d", got, want)
				}
				if before.equal(after) || t.Failed() {
					break
				}
				if attempt == attempts {
					t.Errorf("cluster changed on every attempt:\nbefore %+v\nafter  %+v", before, after)
					break
				}
				t.Logf("attempt %d: cluster changed on its own (terms %v -> %v), again", attempt, before.terms, after.terms)
			}
		})
	}

	// The cluster still works.
	leader = waitRTLeader(t, nodes, 2*time.Second)
	if err := leader.r.Apply([]byte("after"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitRTApplied(t, nodes, []string{"before", "after"}, 2*time.Second)
}

// rtServe answers every RPC reaching tr with an empty response, until tr
// closes.
func rtServe(tr *raft.NetworkTransport) {
	go func() {
		for rpc := range tr.Consumer() {
			switch rpc.Command.(type) {
			case *raft.AppendEntriesRequest:
				rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
			case *raft.RequestVoteRequest:
				rpc.Respond(&raft.RequestVoteResponse{}, nil)
			default:
				rpc.Respond(nil, errors.New("unexpected"))
			}
		}
	}()
}

func TestRaftTransportKeys(t *testing.T) {
	oldK, newK := rtKey("old secret"), rtKey("new secret")
	tests := []struct {
		name           string
		client, server TransportConfig
		ok             bool
	}{
		{"same key", TransportConfig{Key: oldK}, TransportConfig{Key: oldK}, true},
		{"different keys", TransportConfig{Key: oldK}, TransportConfig{Key: newK}, false},
		{"rotation: old presenter, new presenter accepting old", TransportConfig{Key: oldK, AcceptKeys: [][]byte{newK}}, TransportConfig{Key: newK, AcceptKeys: [][]byte{oldK}}, true},
		{"rotation: new presenter to old node not yet accepting it", TransportConfig{Key: newK, AcceptKeys: [][]byte{oldK}}, TransportConfig{Key: oldK}, false},
		{"rotation: node done rotating refuses the old key", TransportConfig{Key: oldK, AcceptKeys: [][]byte{newK}}, TransportConfig{Key: newK}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var dials atomic.Int64
			tc.client.Bind, tc.server.Bind = rtLoopback, rtLoopback
			tc.client.Dial = func(network, addr string, timeout time.Duration) (net.Conn, error) {
				dials.Add(1)
				return net.DialTimeout(network, addr, timeout)
			}
			cl, err := NewTransport(tc.client)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			sv, err := NewTransport(tc.server)
			if err != nil {
				t.Fatal(err)
			}
			defer sv.Close()
			rtServe(sv)
			var resp raft.AppendEntriesResponse
			err = cl.AppendEntries("s", sv.LocalAddr(), &raft.AppendEntriesRequest{Term: 1}, &resp)
			if tc.ok && (err != nil || !resp.Success) {
				t.Errorf("RPC failed: %v", err)
			}
			if !tc.ok && (err == nil || !errors.Is(err, ErrHandshake)) {
				t.Errorf("RPC err %v, want ErrHandshake", err)
			}
			if dials.Load() != 1 {
				t.Errorf("Dial hook called %d times, want 1", dials.Load())
			}
		})
	}
}

func TestNewTransportConfigErrors(t *testing.T) {
	key := rtKey("s")
	tests := []struct {
		name string
		cfg  TransportConfig
		want string
	}{
		{"short key", TransportConfig{Bind: rtLoopback, Key: key[:16]}, "16 bytes, want 32"},
		{"no key", TransportConfig{Bind: rtLoopback}, "0 bytes, want 32"},
		{"short accept key", TransportConfig{Bind: rtLoopback, Key: key, AcceptKeys: [][]byte{{1}}}, "accept key 1"},
		{"no bind", TransportConfig{Key: key}, "no bind address"},
		{"unspecified bind, no advertise", TransportConfig{Bind: netip.MustParseAddrPort("0.0.0.0:0"), Key: key}, "set Advertise"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTransport(tc.cfg)
			if err == nil {
				tr.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
	adv := netip.MustParseAddrPort("192.0.2.7:694")
	tr, err := NewTransport(TransportConfig{Bind: netip.MustParseAddrPort("0.0.0.0:0"), Advertise: adv, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.LocalAddr() != raft.ServerAddress(adv.String()) {
		t.Errorf("LocalAddr %s, want %s", tr.LocalAddr(), adv)
	}
}

func TestDeriveTLSIdentity(t *testing.T) {
	a1, err := deriveTLSIdentity(rtKey("a"))
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := deriveTLSIdentity(rtKey("a"))
	b, _ := deriveTLSIdentity(rtKey("b"))
	if !a1.pub.Equal(a2.pub) || !bytes.Equal(a1.cert.Certificate[0], a2.cert.Certificate[0]) {
		t.Error("same key gave different identities")
	}
	if a1.pub.Equal(b.pub) {
		t.Error("different keys gave the same public key")
	}
	// The TLS key is not the cluster key itself.
	if bytes.Contains(a1.cert.PrivateKey.(ed25519.PrivateKey), rtKey("a")) {
		t.Error("cluster key used as the ed25519 seed")
	}
}

func TestRaftTransportBoundsPendingHandshakes(t *testing.T) {
	var fails atomic.Int64
	tr, err := NewTransport(TransportConfig{
		Bind: rtLoopback, Key: rtKey("s"), HandshakeTimeout: 5 * time.Second, MaxPendingAccepts: 2,
		OnHandshakeError: func(net.Addr, bool, error) { fails.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var silent []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", string(tr.LocalAddr()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	time.Sleep(50 * time.Millisecond) // both are in handshake
	c, err := net.Dial("tcp", string(tr.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if took := rtExpectClosed(t, c, 500*time.Millisecond); took > 500*time.Millisecond {
		t.Errorf("third connection closed after %v", took)
	}
	if fails.Load() != 1 {
		t.Errorf("%d failures counted, want 1", fails.Load())
	}
	// Close ends the pending handshakes at once.
	start := time.Now()
	tr.Close()
	for _, c := range silent {
		rtExpectClosed(t, c, 500*time.Millisecond)
	}
	t.Logf("pending handshakes ended %v after Close", time.Since(start))
}

func TestSlogHCLogger(t *testing.T) {
	var buf bytes.Buffer
	l := SlogHCLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	n := l.Named("raft").With("node", "n1")
	n.Info("hello", "peer", "n2")
	n.Trace("hidden")
	n.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[WARN] raft: careful")
	out := buf.String()
	for _, want := range []string{
		`level=INFO msg=hello logger=raft node=n1 peer=n2`,
		`level=WARN msg="raft: careful" logger=raft node=n1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("trace logged at debug level:\n%s", out)
	}
	if !n.IsDebug() || n.IsTrace() {
		t.Error("levels not taken from the slog handler")
	}
	l.SetLevel(hclog.Error)
	if n.IsWarn() || !n.IsError() {
		t.Error("SetLevel not shared with derived loggers")
	}
}

// BenchmarkRaftTransportDial measures a new authenticated connection: TCP
// connect plus the TLS 1.3 handshake on both ends.
func BenchmarkRaftTransportDial(b *testing.B) {
	key := rtKey("bench")
	srv, err := newTLSStreamLayer(TransportConfig{Bind: rtLoopback, Key: key})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cl, err := newTLSStreamLayer(TransportConfig{Bind: rtLoopback, Key: key})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	addr := raft.ServerAddress(srv.Addr().String())
	b.ResetTimer()
	for b.Loop() {
		c, err := cl.Dial(addr, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// TestRaftTransportSoak keeps a three-voter cluster idle over the real
// transport and counts elections, for each lease in the table; it runs only
// with HBGO_RAFT_SOAK set to a duration per case, e.g. HBGO_RAFT_SOAK=20s.
func TestRaftTransportSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("HBGO_RAFT_SOAK"))
	if err != nil {
		t.Skip("set HBGO_RAFT_SOAK=DURATION to run")
	}
	for _, lease := range []time.Duration{50 * time.Millisecond, 75 * time.Millisecond, 100 * time.Millisecond} {
		t.Run(lease.String(), func(t *testing.T) {
			rtLeaseOverride = lease
			defer func() { rtLeaseOverride = 0 }()
			nodes := startRTCluster(t, 3, rtKey("soak"))
			waitRTLeader(t, nodes, 5*time.Second)
			term0 := nodes[0].r.CurrentTerm()
			start := time.Now()
			var applies int
			var worst time.Duration
			for time.Since(start) < d {
				l := waitRTLeader(t, nodes, 5*time.Second)
				t0 := time.Now()
				if err := l.r.Apply([]byte("x"), time.Second).Error(); err == nil {
					applies++
					worst = max(worst, time.Since(t0))
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("lease %v: %d elections in %v, %d applies, slowest %v", lease,
				nodes[0].r.CurrentTerm()-term0, d, applies, worst)
		})
	}
}

// BenchmarkRaftTransportRPC measures one AppendEntries round trip on a
// pooled connection, over this transport and over raft's plain TCP one.
func BenchmarkRaftTransportRPC(b *testing.B) {
	key := rtKey("bench")
	kinds := []struct {
		name string
		make func() (*raft.NetworkTransport, error)
	}{
		{"tls", func() (*raft.NetworkTransport, error) {
			return NewTransport(TransportConfig{Bind: rtLoopback, Key: key})
		}},
		{"plain-tcp", func() (*raft.NetworkTransport, error) {
			return raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, time.Second, hclog.NewNullLogger())
		}},
	}
	req := &raft.AppendEntriesRequest{Term: 1, Entries: []*raft.Log{{Index: 1, Term: 1, Data: make([]byte, 100)}}}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			sv, err := k.make()
			if err != nil {
				b.Fatal(err)
			}
			defer sv.Close()
			rtServe(sv)
			cl, err := k.make()
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			var resp raft.AppendEntriesResponse
			for b.Loop() {
				if err := cl.AppendEntries("s", sv.LocalAddr(), req, &resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRaftTransportFloodKeepsVotersIn: 200 silent connections from
// addresses that are not voters (50 sources, 4 each) fill the shared
// handshake slots; a voter still connects at once through its own, a
// source gets no more than its share, and silent ones give their slot
// back at the first-byte timeout, not the handshake timeout.
func TestRaftTransportFloodKeepsVotersIn(t *testing.T) {
	voter := netip.MustParseAddr("127.0.0.1")
	cfg := TransportConfig{Bind: rtLoopback, Key: rtKey("flood"), HandshakeTimeout: 5 * time.Second,
		FirstByteTimeout: time.Second, Trusted: func(a netip.Addr) bool { return a == voter }}
	srv, err := newTLSStreamLayer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() { // raft's accept loop
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := srv.Addr().String()
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	refused := 0
	for i := range 50 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i+2))}}
		for range 5 { // one more than a source's share
			c, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			flood = append(flood, c)
		}
	}
	time.Sleep(200 * time.Millisecond)
	// The fifth of each source, and everything past the 32 shared
	// slots, was closed at once.
	for _, c := range flood {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			refused++
		}
	}
	if refused < 250-DefaultMaxPendingAccepts {
		t.Errorf("%d of 250 silent connections refused at once, want at least %d", refused, 250-DefaultMaxPendingAccepts)
	}
	cfg.Bind = netip.MustParseAddrPort("127.0.0.1:0")
	cli, err := newTLSStreamLayer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	start := time.Now()
	c, err := cli.Dial(raft.ServerAddress(addr), 2*time.Second)
	if err != nil {
		t.Fatalf("the voter could not connect during the flood: %v", err)
	}
	c.Close()
	t.Logf("voter connected in %v during a flood of 250", time.Since(start))
	// The silent ones that got a slot are closed at the first-byte
	// timeout.
	start = time.Now()
	for _, c := range flood {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		io.Copy(io.Discard, c)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("silent connections held their slots %v", took)
	}
}
