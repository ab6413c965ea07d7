//go:build linux

package realserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// procSys is a System on the calling thread's network namespace:
// sysctls through /proc/sys, addresses through netlink.
type procSys struct {
	root string
}

// NewSystem is the real System. The sysctls under net/ are those of the
// network namespace the process runs in.
func NewSystem() System { return procSys{root: "/proc/sys"} }

func (p procSys) ReadSysctl(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join(p.root, key))
	return strings.TrimSpace(string(b)), err
}

func (p procSys) WriteSysctl(key, value string) error {
	return os.WriteFile(filepath.Join(p.root, key), []byte(value+"\n"), 0o644)
}

func (procSys) lo() (netlink.Link, error) {
	l, err := netlink.LinkByName(Loopback)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Loopback, err)
	}
	return l, nil
}

func (p procSys) LoAddrs() ([]Addr, error) {
	l, err := p.lo()
	if err != nil {
		return nil, err
	}
	list, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", Loopback, err)
	}
	var out []Addr
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, Addr{Prefix: netip.PrefixFrom(ip.Unmap(), ones), Label: a.Label})
	}
	return out, nil
}

func toNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func (p procSys) AddLo(a Addr) error {
	l, err := p.lo()
	if err != nil {
		return err
	}
	na := &netlink.Addr{IPNet: toNet(a.Prefix), Label: a.Label}
	if a.Prefix.Addr().Is6() {
		na.Flags = unix.IFA_F_NODAD
	}
	err = netlink.AddrAdd(l, na)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

func (p procSys) DelLo(pr netip.Prefix) error {
	l, err := p.lo()
	if err != nil {
		return err
	}
	err = netlink.AddrDel(l, &netlink.Addr{IPNet: toNet(pr)})
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil
	}
	return err
}
