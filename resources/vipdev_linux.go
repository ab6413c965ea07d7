//go:build linux

package resources

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"hbgo/conf"
)

// VIPDevices names the interface of every IPaddr, IPaddr2 and IPv6addr
// address of groups, each interface once, found as Start finds it: the
// one haresources names, else the one whose connected route holds the
// address. An address whose interface cannot be found now is left out,
// with the reason in unknown.
func VIPDevices(groups []conf.ResourceGroup) (devs []string, unknown []error) {
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, []error{fmt.Errorf("netlink: %w", err)}
	}
	defer nl.Close()
	seen := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Resources {
			var a Agent
			var err error
			switch r.Name {
			case conf.AgentIPaddr:
				a, err = newIPaddr(r, Env{}, vipIPaddr)
			case conf.AgentIPaddr2:
				a, err = newIPaddr(r, Env{}, vipIPaddr2)
			case conf.AgentIPv6addr:
				a, err = newIPv6addr(r, Env{})
			default:
				continue
			}
			if err != nil {
				unknown = append(unknown, fmt.Errorf("%s: %w", r.Raw, err))
				continue
			}
			link, _, err := a.(*VIPAgent).resolve(nl)
			if err != nil {
				unknown = append(unknown, fmt.Errorf("%s: %w", r.Raw, err))
				continue
			}
			if dev := link.Attrs().Name; !seen[dev] {
				seen[dev] = true
				devs = append(devs, dev)
			}
		}
	}
	return devs, unknown
}
