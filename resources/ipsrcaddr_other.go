//go:build !linux

package resources

import (
	"context"
	"errors"
)

var errSrcUnsupported = errors.New("IPsrcaddr needs Linux (netlink)")

// Start fails: IPsrcaddr needs Linux.
func (a *IPsrcaddrAgent) Start(context.Context) error { return a.opErr("start", errSrcUnsupported) }

// Stop fails: IPsrcaddr needs Linux.
func (a *IPsrcaddrAgent) Stop(context.Context) error { return a.opErr("stop", errSrcUnsupported) }

// Status fails: IPsrcaddr needs Linux.
func (a *IPsrcaddrAgent) Status(context.Context) (State, error) {
	return Unknown, a.opErr("status", errSrcUnsupported)
}
