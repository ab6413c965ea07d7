package lvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// ErrUnsupported is returned by OpenKernel where there is no kernel IPVS
// to open (systems other than Linux).
var ErrUnsupported = errors.New("lvs: the kernel IPVS table needs Linux")

// Counters are the traffic counters and rate estimates of a service or
// real server, as ipvsadm --stats and --rate show them. Rates are per
// second, estimated by the kernel every two seconds.
type Counters struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
	CPS, InPPS, OutPPS, InBPS, OutBPS         uint64
}

// DestStats are the counters of one real server.
type DestStats struct {
	Addr         netip.AddrPort
	ActiveConns  int
	InactConns   int
	PersistConns int
	Counters
}

// ServiceStats are the counters of one virtual service and its servers.
type ServiceStats struct {
	ServiceKey
	Counters
	Dests []DestStats
}

// Counted is a table that keeps counters: the kernel's, and the memory
// table (whose counters stay zero).
type Counted interface {
	// Stats returns the counters of every service and server, sorted
	// as SortEntries sorts entries.
	Stats(ctx context.Context) ([]ServiceStats, error)
	// Zero clears the counters of service k, or of all when k is nil
	// (ipvsadm -Z).
	Zero(ctx context.Context, k *ServiceKey) error
}

var (
	_ Counted = (*Memory)(nil)
	_ Counted = (*Kernel)(nil)
)

// Timeouts are the connection timeouts of ipvsadm --set tcp tcpfin udp.
// In a call to SetTimeouts a zero leaves that timeout as it is.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// SyncState is the role of a connection-sync daemon.
type SyncState string

// The roles of the sync daemon: the master sends the connections of its
// table to the backups, which enter them in theirs.
const (
	SyncMaster SyncState = "master"
	SyncBackup SyncState = "backup"
)

// SyncDaemon is a running (or wanted) connection-sync daemon, as
// ipvsadm --start-daemon and --list-daemon see it.
type SyncDaemon struct {
	State     SyncState
	Interface string // multicast interface (--mcast-interface)
	SyncID    uint8  // --syncid; only peers with the same id listen to each other
}

func (d SyncDaemon) String() string {
	return fmt.Sprintf("%s sync daemon (mcast=%s, syncid=%d)", d.State, d.Interface, d.SyncID)
}

// SyncDaemons controls the IPVS connection-sync daemons of one network
// namespace: at most one master and one backup run at a time.
type SyncDaemons interface {
	// StartSyncDaemon starts a daemon; starting one of a role already
	// running fails with ErrSyncRunning.
	StartSyncDaemon(ctx context.Context, d SyncDaemon) error
	// StopSyncDaemon stops the daemon of a role; when none runs it fails
	// with ErrSyncNotRunning.
	StopSyncDaemon(ctx context.Context, state SyncState) error
	// ListSyncDaemons returns the running daemons.
	ListSyncDaemons(ctx context.Context) ([]SyncDaemon, error)
}

// Errors of the sync-daemon calls.
var (
	ErrSyncRunning    = errors.New("sync daemon already running")
	ErrSyncNotRunning = errors.New("sync daemon not running")
)

func (s SyncState) valid() error {
	if s != SyncMaster && s != SyncBackup {
		return fmt.Errorf("sync daemon state %q: %w (want master or backup)", s, ErrInvalid)
	}
	return nil
}

// Stats returns zero counters for every service and server of the table,
// in the order of List.
func (m *Memory) Stats(ctx context.Context) ([]ServiceStats, error) {
	es, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ServiceStats, 0, len(es))
	for _, e := range es {
		s := ServiceStats{ServiceKey: e.ServiceKey}
		for _, d := range e.Dests {
			s.Dests = append(s.Dests, DestStats{Addr: d.Addr})
		}
		out = append(out, s)
	}
	return out, nil
}

// Zero clears counters: of one service when k is not nil, of all
// otherwise. The memory table has none to clear; it checks k exists.
func (m *Memory) Zero(ctx context.Context, k *ServiceKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.svcs[k.normal()]; !ok {
		return fmt.Errorf("zero service %s: %w", k.normal(), ErrNoService)
	}
	return nil
}

// Timeouts returns the memory table's timeouts, the kernel's defaults
// (900 s, 120 s, 300 s) until set.
func (m *Memory) Timeouts(ctx context.Context) (Timeouts, error) {
	if err := ctx.Err(); err != nil {
		return Timeouts{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timeouts == (Timeouts{}) {
		m.timeouts = Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}
	}
	return m.timeouts, nil
}

// SetTimeouts sets the non-zero timeouts, in whole seconds.
func (m *Memory) SetTimeouts(ctx context.Context, t Timeouts) error {
	if _, err := m.Timeouts(ctx); err != nil {
		return err
	}
	if t.TCP < 0 || t.TCPFin < 0 || t.UDP < 0 {
		return fmt.Errorf("timeouts %v: %w", t, ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range []struct {
		dst *time.Duration
		v   time.Duration
	}{{&m.timeouts.TCP, t.TCP}, {&m.timeouts.TCPFin, t.TCPFin}, {&m.timeouts.UDP, t.UDP}} {
		if p.v > 0 {
			*p.dst = p.v.Truncate(time.Second)
		}
	}
	return nil
}

func (m *Memory) StartSyncDaemon(ctx context.Context, d SyncDaemon) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.State.valid(); err != nil {
		return err
	}
	if d.Interface == "" {
		return fmt.Errorf("start %s: no interface: %w", d, ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sync == nil {
		m.sync = map[SyncState]SyncDaemon{}
	}
	if _, ok := m.sync[d.State]; ok {
		return fmt.Errorf("start %s: %w", d, ErrSyncRunning)
	}
	m.sync[d.State] = d
	return nil
}

func (m *Memory) StopSyncDaemon(ctx context.Context, state SyncState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := state.valid(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sync[state]; !ok {
		return fmt.Errorf("stop %s sync daemon: %w", state, ErrSyncNotRunning)
	}
	delete(m.sync, state)
	return nil
}

// ListSyncDaemons returns the running daemons, master first.
func (m *Memory) ListSyncDaemons(ctx context.Context) ([]SyncDaemon, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SyncDaemon
	for _, s := range []SyncState{SyncMaster, SyncBackup} {
		if d, ok := m.sync[s]; ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// sortStats orders stats as SortEntries orders entries.
func sortStats(ss []ServiceStats) {
	sort.Slice(ss, func(i, j int) bool { return lessKey(ss[i].ServiceKey, ss[j].ServiceKey) })
	for _, s := range ss {
		sort.Slice(s.Dests, func(i, j int) bool { return s.Dests[i].Addr.Compare(s.Dests[j].Addr) < 0 })
	}
}
