//go:build !linux

package lvs

import (
	"context"
	"net/netip"
)

// Kernel is the kernel's IPVS table; it exists only on Linux.
type Kernel struct{}

// OpenKernel fails with ErrUnsupported off Linux.
func OpenKernel(ns string) (*Kernel, error) { return nil, ErrUnsupported }

func (*Kernel) Close() error                                       { return nil }
func (*Kernel) List(context.Context) ([]Entry, error)              { return nil, ErrUnsupported }
func (*Kernel) AddService(context.Context, Service) error          { return ErrUnsupported }
func (*Kernel) UpdateService(context.Context, Service) error       { return ErrUnsupported }
func (*Kernel) DelService(context.Context, ServiceKey) error       { return ErrUnsupported }
func (*Kernel) AddDest(context.Context, ServiceKey, Dest) error    { return ErrUnsupported }
func (*Kernel) UpdateDest(context.Context, ServiceKey, Dest) error { return ErrUnsupported }
func (*Kernel) DelDest(context.Context, ServiceKey, netip.AddrPort) error {
	return ErrUnsupported
}
func (*Kernel) Stats(context.Context) ([]ServiceStats, error)         { return nil, ErrUnsupported }
func (*Kernel) Zero(context.Context, *ServiceKey) error               { return ErrUnsupported }
func (*Kernel) Timeouts(context.Context) (Timeouts, error)            { return Timeouts{}, ErrUnsupported }
func (*Kernel) SetTimeouts(context.Context, Timeouts) error           { return ErrUnsupported }
func (*Kernel) StartSyncDaemon(context.Context, SyncDaemon) error     { return ErrUnsupported }
func (*Kernel) StopSyncDaemon(context.Context, SyncState) error       { return ErrUnsupported }
func (*Kernel) ListSyncDaemons(context.Context) ([]SyncDaemon, error) { return nil, ErrUnsupported }
