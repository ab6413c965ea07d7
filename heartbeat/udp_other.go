//go:build !linux

package heartbeat

import (
	"errors"
	"net/netip"
)

var errNoUDP = errors.New("heartbeat: UDP media need Linux (SO_BINDTODEVICE)")

// OpenBcast is only available on Linux.
func OpenBcast(iface string, port int) (Link, error) { return nil, errNoUDP }

// OpenMcast is only available on Linux.
func OpenMcast(iface string, group netip.Addr, port, ttl int, loop bool) (Link, error) {
	return nil, errNoUDP
}

// OpenUcast is only available on Linux.
func OpenUcast(iface string, port int, peers []netip.Addr) (Link, error) { return nil, errNoUDP }

func interfaceV4(name string) (any, []netip.Prefix, error) { return nil, nil, errNoUDP }

func interfaceAddrs(name string) (any, []netip.Prefix, error) { return nil, nil, errNoUDP }
