package conf

import "net/netip"

// crossCheck finds the problems no single file shows: a haresources node
// that ha.cf does not list, a group homed on a witness, and an ldirectord.cf
// virtual address that no IP resource brings up (the typo that keeps a VIP
// dark).
func crossCheck(c *Config, ds *Diags) {
	if c.HA != nil && c.Resources != nil {
		for _, g := range c.Resources.Groups {
			switch {
			case c.HA.IsWitness(g.Home):
				ds.Errorf(c.Resources.File, g.Line, "node %s is a witness in %s and cannot own a group", g.Home, c.HA.File)
			case !c.HA.IsNode(g.Home) && len(c.HA.Nodes) > 0:
				ds.Errorf(c.Resources.File, g.Line, "node %s is not a node of %s%s", g.Home, c.HA.File, didYouMean(g.Home, c.HA.Nodes))
			}
		}
	}
	if c.Resources == nil {
		return
	}
	vips := map[netip.Addr]bool{}
	for _, p := range c.Resources.VIPs() {
		vips[p.Addr().Unmap()] = true
	}
	for _, lc := range c.Ldirectord {
		if lc == nil {
			continue
		}
		for _, v := range lc.Virtuals {
			if v == nil || !v.Addr.IsValid() {
				continue // fwmark services have no address of their own
			}
			a := v.Addr.Addr().Unmap()
			if !vips[a] {
				ds.Warnf(lc.File, v.Line, "virtual %s is not brought up by any IPaddr, IPaddr2 or IPv6addr resource in %s", a, c.Resources.File)
			}
		}
	}
}
