//go:build !linux

package resources

import (
	"errors"
	"net/netip"
)

var errBGPaddrUnsupported = errors.New("BGPaddr needs Linux (netlink)")

func loAddr(netip.Prefix, bool) error  { return errBGPaddrUnsupported }
func loHas(netip.Prefix) (bool, error) { return false, errBGPaddrUnsupported }

// AnycastSysctls does nothing off Linux.
func AnycastSysctls() error { return nil }
