package conf

import (
	"net/netip"
	"strings"
)

// weakSecrets are secrets found in sample and public configs; a key with
// one of them (or one of them with digits added) is as good as none.
var weakSecrets = []string{"secret", "password", "passwd", "heartbeat", "linux", "cluster",
	"changeme", "default", "admin", "test", "qwerty", "letmein", "hacluster", "ldirector", "abc", "mysecret"}

// minSecret is the length below which a secret draws a warning.
const minSecret = 16

// checkSecrets judges the authkeys secrets against what they protect: the
// heartbeats, and the keys of gossip and of the raft transport, derived
// from the secret. The raft port shows a certificate derived from it to
// whoever connects, so a guessable secret can be found offline. A crc
// key, which has no secret, is an error where raft runs (quorum mode:
// anyone could derive its key and join), a warning elsewhere.
func checkSecrets(c *Config, ds *Diags) {
	if c.Auth == nil {
		return
	}
	quorum := c.HA != nil && (len(c.HA.Witnesses) > 0 || len(c.HA.Nodes) >= 3)
	for _, k := range c.Auth.Defined() {
		switch {
		case k.Method == AuthCRC && quorum:
			ds.Errorf(c.Auth.File, k.Line, "key %d is crc, which has no secret: in quorum mode (%s lists a witness or three nodes) the raft and gossip keys derive from the secret, so anyone could join; use sha1 with a random secret", k.Num, c.HA.File)
		case k.Method == AuthCRC:
		case isWeakSecret(k.Secret):
			ds.Warnf(c.Auth.File, k.Line, "key %d: the secret is a common word; anyone who guesses it can sign heartbeats and join gossip and raft (whose port shows a certificate derived from it to whoever connects, so guesses can be tried offline); use 20 or more random characters (openssl rand -hex 20)", k.Num)
		case len(k.Secret) < minSecret:
			ds.Warnf(c.Auth.File, k.Line, "key %d: the secret has %d characters; the raft port shows a certificate derived from it to whoever connects, so a short one can be guessed offline; use 20 or more random characters (openssl rand -hex 20)", k.Num, len(k.Secret))
		}
	}
}

// isWeakSecret says whether s is a common word, in any case, with digits
// or punctuation around it.
func isWeakSecret(s string) bool {
	w := strings.ToLower(strings.Trim(s, "0123456789!._-#@$"))
	for _, weak := range weakSecrets {
		if w == weak {
			return true
		}
	}
	return false
}

// crossCheck finds the problems no single file shows: a haresources node
// that ha.cf does not list, a group homed on a witness, and an ldirectord.cf
// virtual address that no IP resource brings up (the typo that keeps a VIP
// dark).
func crossCheck(c *Config, ds *Diags) {
	checkSecrets(c, ds)
	if c.HA != nil && c.HA.CrmLine == 0 && (c.HA.Autojoin == "other" || c.HA.Autojoin == "any") {
		// Heartbeat refuses autojoin without a CRM (r1_style_valid): with
		// haresources every director is listed. hbgo places groups on
		// listed directors only, and a director must be listed to start.
		ds.Errorf(c.HA.File, c.HA.Lines["autojoin"], "autojoin %s: Heartbeat refuses it with haresources (no CRM), and hbgo runs groups only on the directors ha.cf lists; list every director and witness (node NAME, witness NAME) and remove this line", c.HA.Autojoin)
	}
	if c.HA != nil && c.Resources != nil && c.HA.CrmLine != 0 && len(c.Resources.Groups) > 0 {
		// Heartbeat with a CRM ignores haresources (Pacemaker's CIB holds
		// the resources): running its groups here would start what the
		// cluster did not run before.
		ds.Errorf(c.HA.File, c.HA.CrmLine, "crm %s: Heartbeat ignores haresources when a CRM runs, so its %d group(s) in %s were not what this cluster ran; move the resources from the CIB into haresources and remove this line (or set crm off) to run them with hbgo",
			c.HA.Crm, len(c.Resources.Groups), c.Resources.File)
	}
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
	checkBGP(c, ds)
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
				ds.Warnf(lc.File, v.Line, "virtual %s is not brought up by any IPaddr, IPaddr2, IPv6addr or BGPaddr resource in %s", a, c.Resources.File)
			}
		}
	}
}

// checkBGP: anycast groups need the BGP speaker (bgp_as and a
// bgp_neighbor of their family), and the speaker needs its AS and a
// neighbour; a speaker with nothing to announce is only a warning.
func checkBGP(c *Config, ds *Diags) {
	if c.HA == nil {
		return
	}
	b := c.HA.BGP
	if b != nil {
		switch {
		case b.AS == 0 && len(b.Neighbors) > 0:
			ds.Errorf(c.HA.File, b.Neighbors[0].Line, "bgp_neighbor without bgp_as: give this director's AS number (bgp_as AS)")
		case b.AS != 0 && len(b.Neighbors) == 0:
			ds.Errorf(c.HA.File, b.Line, "bgp_as without bgp_neighbor: name the routers to announce to (bgp_neighbor ADDR AS)")
		}
	}
	if c.Resources == nil {
		return
	}
	any := false
	for _, g := range c.Resources.Groups {
		for _, r := range g.Resources {
			if r.Name != AgentBGPaddr {
				continue
			}
			any = true
			p, err := ParseBGPaddrArgs(r.Args)
			if err != nil {
				continue
			}
			if b == nil || b.AS == 0 || len(b.Neighbors) == 0 {
				ds.Errorf(c.Resources.File, r.Line, "%s: an anycast VIP is announced by BGP, and %s sets no BGP speaker (bgp_as AS, bgp_neighbor ADDR AS)", clipArg(r.Raw), c.HA.File)
				continue
			}
			family := false
			for _, n := range b.Neighbors {
				family = family || n.Addr.Is4() == p.Addr().Is4()
			}
			if !family {
				ds.Errorf(c.Resources.File, r.Line, "%s: no bgp_neighbor in %s is of its family (IPv4 routes go to IPv4 neighbours, IPv6 to IPv6)", clipArg(r.Raw), c.HA.File)
			}
		}
	}
	// Behind ECMP every director must send one flow to the same real
	// server: IPVS's mh (a consistent hash over the same table) does,
	// the others choose per director.
	anycast := map[netip.Addr]bool{}
	for _, g := range c.Resources.Groups {
		for _, r := range g.Resources {
			if r.Name == AgentBGPaddr {
				if p, err := ParseBGPaddrArgs(r.Args); err == nil {
					anycast[p.Addr()] = true
				}
			}
		}
	}
	for _, lc := range c.Ldirectord {
		if lc == nil {
			continue
		}
		for _, v := range lc.Virtuals {
			if v == nil || !v.Addr.IsValid() || !anycast[v.Addr.Addr().Unmap()] || v.Scheduler == "mh" {
				continue
			}
			ds.Warnf(lc.File, v.Line, "virtual %s is an anycast VIP (BGPaddr): every director receives some of its flows, so each must send a flow to the same real server; use scheduler = mh (a consistent hash over the same table), not %s", v.Addr.Addr(), v.Scheduler)
		}
	}
	if b != nil && b.AS != 0 && !any {
		ds.Warnf(c.HA.File, b.Line, "bgp_as: no BGPaddr resource in %s, so the BGP speaker announces nothing", c.Resources.File)
	}
}
