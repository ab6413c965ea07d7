//go:build !linux

package resources

import (
	"context"
	"errors"
	"net/netip"

	"hbgo/conf"
)

var errVIPUnsupported = errors.New("VIP agents need Linux (netlink, nftables)")

type vipRun struct{}

// Start fails: VIP agents need Linux.
func (a *VIPAgent) Start(context.Context) error { return a.opErr("start", errVIPUnsupported) }

// Stop fails: VIP agents need Linux.
func (a *VIPAgent) Stop(context.Context) error { return a.opErr("stop", errVIPUnsupported) }

// Status fails: VIP agents need Linux.
func (a *VIPAgent) Status(context.Context) (State, error) {
	return Unknown, a.opErr("status", errVIPUnsupported)
}

// Announce fails: VIP agents need Linux.
func (a *VIPAgent) Announce(context.Context) error { return a.opErr("announce", errVIPUnsupported) }

// VIPServed fails: it needs Linux.
func VIPServed(netip.Addr) (bool, error) { return false, errVIPUnsupported }

// VIPDevices finds nothing: it needs Linux.
func VIPDevices([]conf.ResourceGroup) ([]string, []error) {
	return nil, []error{errVIPUnsupported}
}
