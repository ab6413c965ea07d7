package ldirector

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hbgo/conf"
	"hbgo/lvs"
)

// realServer is a TCP listener on a loopback address that counts the
// connections it accepts.
type realServer struct {
	addr     netip.AddrPort
	ln       net.Listener
	accepted atomic.Int64
	done     chan struct{}
}

func startReal(t testing.TB, addr string) *realServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := &realServer{ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String()), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// Close kills the server: new connections are refused.
func (s *realServer) Close() {
	s.ln.Close()
	<-s.done
}

// freePort finds a port free on the given loopback addresses.
func freePort(t testing.TB, addrs ...string) uint16 {
	t.Helper()
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", addrs[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := netip.MustParseAddrPort(ln.Addr().String()).Port()
		ln.Close()
		ok := true
		for _, a := range addrs[1:] {
			l2, err := net.Listen("tcp", fmt.Sprintf("%s:%d", a, port))
			if err != nil {
				ok = false
				break
			}
			l2.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// logBuf collects log messages.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		b.lines = append(b.lines, l)
	}
	return len(p), nil
}

func (b *logBuf) has(sub string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// msgHandler logs the message alone, one a line.
type msgHandler struct{ w *logBuf }

func (h msgHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h msgHandler) Handle(_ context.Context, r slog.Record) error {
	_, err := h.w.Write([]byte(r.Message + "\n"))
	return err
}
func (h msgHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h msgHandler) WithGroup(string) slog.Handler      { return h }

// recTable is an in-memory table that records every change and checks,
// after each, that no service that had a live server lost its last one.
type recTable struct {
	*lvs.Memory
	mu      sync.Mutex
	ops     []string
	live    map[lvs.ServiceKey]bool // had a server with weight > 0
	gaps    []string                // instants a live service had none
	changed chan struct{}
}

func newRecTable() *recTable {
	return &recTable{Memory: lvs.NewMemory(), live: map[lvs.ServiceKey]bool{}, changed: make(chan struct{}, 1)}
}

func (r *recTable) record(op string) {
	es, _ := r.Memory.List(context.Background())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	for _, e := range es {
		n := 0
		for _, d := range e.Dests {
			if d.Weight > 0 {
				n++
			}
		}
		if n == 0 && r.live[e.ServiceKey] {
			r.gaps = append(r.gaps, op)
		}
		r.live[e.ServiceKey] = n > 0
	}
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recTable) Ops() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ops...)
}

func (r *recTable) Gaps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.gaps...)
}

func (r *recTable) AddService(ctx context.Context, s lvs.Service) error {
	err := r.Memory.AddService(ctx, s)
	if err == nil {
		r.record(lvs.Change{Op: lvs.AddService, Service: s}.Ipvsadm())
	}
	return err
}

func (r *recTable) UpdateService(ctx context.Context, s lvs.Service) error {
	err := r.Memory.UpdateService(ctx, s)
	if err == nil {
		r.record(lvs.Change{Op: lvs.EditService, Service: s}.Ipvsadm())
	}
	return err
}

func (r *recTable) DelService(ctx context.Context, k lvs.ServiceKey) error {
	err := r.Memory.DelService(ctx, k)
	if err == nil {
		r.record(lvs.Change{Op: lvs.DelService, Service: lvs.Service{ServiceKey: k}}.Ipvsadm())
	}
	return err
}

func (r *recTable) AddDest(ctx context.Context, k lvs.ServiceKey, d lvs.Dest) error {
	err := r.Memory.AddDest(ctx, k, d)
	if err == nil {
		r.record(lvs.Change{Op: lvs.AddDest, Service: lvs.Service{ServiceKey: k}, Dest: d}.Ipvsadm())
	}
	return err
}

func (r *recTable) UpdateDest(ctx context.Context, k lvs.ServiceKey, d lvs.Dest) error {
	err := r.Memory.UpdateDest(ctx, k, d)
	if err == nil {
		r.record(lvs.Change{Op: lvs.EditDest, Service: lvs.Service{ServiceKey: k}, Dest: d}.Ipvsadm())
	}
	return err
}

func (r *recTable) DelDest(ctx context.Context, k lvs.ServiceKey, a netip.AddrPort) error {
	err := r.Memory.DelDest(ctx, k, a)
	if err == nil {
		r.record(lvs.Change{Op: lvs.DelDest, Service: lvs.Service{ServiceKey: k}, Dest: lvs.Dest{Addr: a}}.Ipvsadm())
	}
	return err
}

// dests returns the table's servers of the service on vip as
// "addr:port weight" strings, sorted.
func (r *recTable) dests(t testing.TB, vip string) map[string]int {
	t.Helper()
	es, err := r.Memory.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range es {
		if e.Addr.String() != vip {
			continue
		}
		for _, d := range e.Dests {
			out[d.Addr.String()] = d.Weight
		}
		return out
	}
	return nil
}

// rig is a Director under test with its table and log.
type rig struct {
	t      testing.TB
	d      *Director
	table  *recTable
	log    *logBuf
	cancel context.CancelFunc
	done   chan error
	file   string
}

func parseCfg(t testing.TB, file, text string) *conf.LdirectordConfig {
	t.Helper()
	var ds conf.Diags
	cfg := conf.ParseLdirectord(file, []byte(text), &ds)
	if ds.HasErrors() {
		t.Fatalf("config errors:\n%s\n%s", ds, text)
	}
	return cfg
}

// startRig writes text to a config file and runs a Director on it.
func startRig(t testing.TB, text string) *rig {
	t.Helper()
	return startRigWith(t, text, nil)
}

// startRigWith is startRig with a change to the parsed configuration.
func startRigWith(t testing.TB, text string, edit func(*conf.LdirectordConfig)) *rig {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ldirectord.cf")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, table: newRecTable(), log: &logBuf{}, done: make(chan error, 1), file: file}
	cfg := parseCfg(t, file, text)
	if edit != nil {
		edit(cfg)
	}
	d, err := New(cfg, Options{Table: r.table, Logger: slog.New(msgHandler{r.log}), Hostname: "test"})
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("log:\n%s\nops:\n%s", r.log, strings.Join(r.table.Ops(), "\n"))
		}
	})
	return r
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		r.t.Errorf("Run did not return 30s after its context was cancelled")
	}
}

// waitFor polls cond until it holds or a generous bound passes.
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("timed out waiting for %s; table %v", what, r.table.Ops())
}

func (r *rig) waitLog(line string) {
	r.t.Helper()
	r.waitFor("log line "+line, func() bool { return r.log.has(line) })
}

func (r *rig) waitDests(vip string, want map[string]int) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%s to hold %v", vip, want), func() bool {
		got := r.table.dests(r.t, vip)
		if len(got) != len(want) {
			return false
		}
		for k, w := range want {
			if gw, ok := got[k]; !ok || gw != w {
				return false
			}
		}
		return true
	})
}

func (r *rig) passes() int {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	return r.d.stats.passes
}

// cfgHead is a global section for fast tests.
const cfgHead = "checkinterval = 200ms\nchecktimeout = 1s\n"

func ap(addr string, port uint16) string { return fmt.Sprintf("%s:%d", addr, port) }

var _ = bytes.MinRead
