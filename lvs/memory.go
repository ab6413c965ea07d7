package lvs

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
)

// Memory is an IPVS table held in memory, for --dry-run and unit tests.
// It checks and refuses what the kernel refuses, with the same errors,
// and stores services and servers in their normal form (Service.Normal,
// Dest.Normal), as List on the kernel returns them.
type Memory struct {
	mu       sync.Mutex
	svcs     map[ServiceKey]*memEntry
	timeouts Timeouts
	sync     map[SyncState]SyncDaemon
}

type memEntry struct {
	svc   Service
	dests []Dest // in insertion order
}

// NewMemory returns an empty in-memory table.
func NewMemory() *Memory { return &Memory{svcs: map[ServiceKey]*memEntry{}} }

var (
	_ Table       = (*Memory)(nil)
	_ SyncDaemons = (*Memory)(nil)
)

// List returns the table sorted by service and server (SortEntries).
func (m *Memory) List(ctx context.Context) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Entry, 0, len(m.svcs))
	for _, e := range m.svcs {
		s := e.svc
		s.SchedFlags = slices.Clone(s.SchedFlags)
		out = append(out, Entry{Service: s, Dests: slices.Clone(e.dests)})
	}
	SortEntries(out)
	return out, nil
}

func (m *Memory) AddService(ctx context.Context, s Service) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.validate(); err != nil {
		return err
	}
	s = s.Normal()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.svcs[s.ServiceKey]; ok {
		return fmt.Errorf("add service %s: %w", s.ServiceKey, ErrServiceExists)
	}
	m.svcs[s.ServiceKey] = &memEntry{svc: s}
	return nil
}

func (m *Memory) UpdateService(ctx context.Context, s Service) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.validate(); err != nil {
		return err
	}
	s = s.Normal()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.svcs[s.ServiceKey]
	if !ok {
		return fmt.Errorf("update service %s: %w", s.ServiceKey, ErrNoService)
	}
	e.svc = s
	return nil
}

func (m *Memory) DelService(ctx context.Context, k ServiceKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k = k.normal()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.svcs[k]; !ok {
		return fmt.Errorf("delete service %s: %w", k, ErrNoService)
	}
	delete(m.svcs, k)
	return nil
}

func (m *Memory) AddDest(ctx context.Context, k ServiceKey, d Dest) error {
	if err := d.validate(k.normal()); err != nil {
		return err
	}
	return m.dest(ctx, "add", k, d.Addr, func(e *memEntry, i int) error {
		if i >= 0 {
			return ErrDestExists
		}
		e.dests = append(e.dests, d.Normal())
		return nil
	})
}

func (m *Memory) UpdateDest(ctx context.Context, k ServiceKey, d Dest) error {
	if err := d.validate(k.normal()); err != nil {
		return err
	}
	return m.dest(ctx, "update", k, d.Addr, func(e *memEntry, i int) error {
		if i < 0 {
			return ErrNoDest
		}
		e.dests[i] = d.Normal()
		return nil
	})
}

func (m *Memory) DelDest(ctx context.Context, k ServiceKey, addr netip.AddrPort) error {
	return m.dest(ctx, "delete", k, addr, func(e *memEntry, i int) error {
		if i < 0 {
			return ErrNoDest
		}
		e.dests = slices.Delete(e.dests, i, i+1)
		return nil
	})
}

// dest finds service k and the index of server addr in it (-1 when
// absent) and calls f under the lock; f's error is wrapped with names.
func (m *Memory) dest(ctx context.Context, verb string, k ServiceKey, addr netip.AddrPort, f func(e *memEntry, i int) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k = k.normal()
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.svcs[k]
	if !ok {
		return fmt.Errorf("%s real server %s of service %s: %w", verb, addr, k, ErrNoService)
	}
	i := slices.IndexFunc(e.dests, func(d Dest) bool { return d.Addr == addr })
	if err := f(e, i); err != nil {
		return fmt.Errorf("%s real server %s of service %s: %w", verb, addr, k, err)
	}
	return nil
}
