package kaimport

import (
	"sort"
	"strings"

	"hbgo/conf"
)

// pairIgnored are the settings in which the two configs of a pair differ
// by design.
var pairIgnored = map[string]bool{
	"state": true, "priority": true, "router_id": true, "lvs_id": true,
	"unicast_src_ip": true, "unicast_peer": true, "mcast_src_ip": true,
}

// entry is one statement of a config under its path, for the comparison.
type entry struct {
	n     *Node
	value string
}

// flatten indexes a config by path. A statement that opens a block, or that
// repeats in its block, is identified by its keyword and arguments; a
// single one by its keyword, with its arguments as its value.
func flatten(nodes []*Node, prefix string, out map[string]entry) {
	count := map[string]int{}
	for _, n := range nodes {
		count[n.Key]++
	}
	for _, n := range nodes {
		if pairIgnored[n.Key] {
			continue
		}
		id, val := n.Key, strings.Join(n.Args, " ")
		if n.HasBlock || count[n.Key] > 1 {
			id, val = n.Text(), ""
		}
		path := id
		if prefix != "" {
			path = prefix + " > " + id
		}
		out[path] = entry{n: n, value: val}
		flatten(n.Block, path, out)
	}
}

// ComparePair reports each difference between the two configs of a pair
// beyond state, priority and the addresses each side names itself by.
func comparePair(a, b *kaConf, ds *conf.Diags) {
	ea, eb := map[string]entry{}, map[string]entry{}
	flatten(a.nodes, "", ea)
	flatten(b.nodes, "", eb)
	var paths []string
	for p := range ea {
		paths = append(paths, p)
	}
	for p := range eb {
		if _, ok := ea[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		x, inA := ea[p]
		y, inB := eb[p]
		switch {
		case inA && !inB:
			if !parentMissing(p, eb) {
				ds.Errorf(x.n.File, x.n.Line, "pair: %s is not in %s", p, b.path)
			}
		case !inA && inB:
			if !parentMissing(p, ea) {
				ds.Errorf(y.n.File, y.n.Line, "pair: %s is not in %s", p, a.path)
			}
		case x.value != y.value:
			ds.Errorf(y.n.File, y.n.Line, "pair: %s is %q here but %q at %s", p, y.value, x.value, x.n.Pos())
		}
	}
	// Unicast: each side's source address must be among the other's peers.
	for _, ia := range a.instances {
		for _, ib := range b.instances {
			if ia.name != ib.name {
				continue
			}
			checkPeer(ia, ib, b.path, ds)
			checkPeer(ib, ia, a.path, ds)
		}
	}
}

// parentMissing is true when an ancestor of path is missing from the other
// side: then only the ancestor is reported.
func parentMissing(path string, other map[string]entry) bool {
	parts := strings.Split(path, " > ")
	for i := 1; i < len(parts); i++ {
		if _, ok := other[strings.Join(parts[:i], " > ")]; !ok {
			return true
		}
	}
	return false
}

func checkPeer(x, y *instance, yPath string, ds *conf.Diags) {
	if x.src == nil || len(x.src.Args) == 0 || len(y.peers) == 0 {
		return
	}
	for _, p := range y.peers {
		if p.Key == x.src.Args[0] {
			return
		}
	}
	var peers []string
	for _, p := range y.peers {
		peers = append(peers, p.Key)
	}
	ds.Errorf(x.src.File, x.src.Line, "pair: unicast_src_ip %s of vrrp_instance %s is not a unicast_peer in %s (%s)", x.src.Args[0], x.name, yPath, strings.Join(peers, " "))
}
