package control

import (
	"fmt"
	"slices"
	"strings"

	"hbgo/crm"
)

// Mismatches finds what should agree across the cluster and does not: each
// configuration file whose digest differs between nodes, and the hbgo
// version. It names the nodes on each side, so an operator knows where to
// look: "haresources differs between nodes: alice, bob have 3f2a9c1e;
// carol has 77aa0011". Nodes that report nothing are left out.
func Mismatches(nodes []crm.NodeStatus) []string {
	var out []string
	var files []string
	for _, n := range nodes {
		for f := range n.Digests {
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	slices.Sort(files)
	for _, f := range files {
		if w := differs(f, nodes, func(n crm.NodeStatus) string { return n.Digests[f] }, 8); w != "" {
			out = append(out, w)
		}
	}
	if w := differs("hbgo version", nodes, func(n crm.NodeStatus) string { return n.Version }, 0); w != "" {
		out = append(out, w)
	}
	return out
}

// differs describes how value(n) splits nodes, or returns "" when all that
// report one agree. Values are cut to width when width > 0.
func differs(what string, nodes []crm.NodeStatus, value func(crm.NodeStatus) string, width int) string {
	var vals []string
	byVal := map[string][]string{}
	for _, n := range nodes {
		v := value(n)
		if v == "" {
			continue
		}
		if width > 0 && len(v) > width {
			v = v[:width]
		}
		if _, ok := byVal[v]; !ok {
			vals = append(vals, v)
		}
		byVal[v] = append(byVal[v], n.Name)
	}
	if len(vals) < 2 {
		return ""
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		verb := "has"
		if len(byVal[v]) > 1 {
			verb = "have"
		}
		parts[i] = fmt.Sprintf("%s %s %s", strings.Join(byVal[v], ", "), verb, v)
	}
	return fmt.Sprintf("%s differs between nodes: %s", what, strings.Join(parts, "; "))
}
