package resources

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
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

// AnycastSysctls sets what a director behind ECMP needs in its network
// namespace, where IPVS is loaded: net.ipv4.vs.sloppy_tcp and sloppy_sctp
// to 1, so that IPVS schedules a packet that does not open a connection
// (a flow another director began, sent here once the routers rehash it)
// instead of dropping it; with the mh scheduler over the same table it
// goes to the same real server. Without IPVS it does nothing.
func AnycastSysctls() error {
	var errs []error
	for _, name := range []string{"sloppy_tcp", "sloppy_sctp"} {
		p := "/proc/sys/net/ipv4/vs/" + name
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("net.ipv4.vs.%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
