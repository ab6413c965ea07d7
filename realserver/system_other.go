//go:build !linux

package realserver

import (
	"errors"
	"net/netip"
)

// ErrUnsupported is what the helper says off Linux.
var ErrUnsupported = errors.New("realserver: only Linux has these sysctls")

type noSys struct{}

// NewSystem off Linux returns a System that fails every call.
func NewSystem() System { return noSys{} }

func (noSys) ReadSysctl(string) (string, error) { return "", ErrUnsupported }
func (noSys) WriteSysctl(string, string) error  { return ErrUnsupported }
func (noSys) LoAddrs() ([]Addr, error)          { return nil, ErrUnsupported }
func (noSys) AddLo(Addr) error                  { return ErrUnsupported }
func (noSys) DelLo(netip.Prefix) error          { return ErrUnsupported }
