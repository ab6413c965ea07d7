package resources

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
)

// loAddr puts p on lo (add) or takes it off; either is done when it is
// already so.
func loAddr(p netip.Prefix, add bool) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	a := &netlink.Addr{IPNet: prefixIPNet(p)}
	if add {
		if err := netlink.AddrReplace(lo, a); err != nil {
			return fmt.Errorf("add %s to lo: %w", p, err)
		}
		return nil
	}
	if err := netlink.AddrDel(lo, a); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("remove %s from lo: %w", p, err)
	}
	return nil
}

// loHas reports whether p's address is on lo.
func loHas(p netip.Prefix) (bool, error) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return false, fmt.Errorf("lo: %w", err)
	}
	fam := netlink.FAMILY_V4
	if p.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	list, err := netlink.AddrList(lo, fam)
	if err != nil {
		return false, fmt.Errorf("list lo's addresses: %w", err)
	}
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == p.Addr() {
			return true, nil
		}
	}
	return false, nil
}
