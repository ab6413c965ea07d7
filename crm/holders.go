package crm

import (
	"sort"
	"strings"
)

// holdersOf names the nodes whose claim for group i holds it (starting,
// running or stopping), sorted by name. claims are this node's and those
// of the peers heard alive; a claim that lists fewer groups says nothing
// of group i.
func holdersOf(claims map[string]*Claims, i int) []string {
	var out []string
	for node, c := range claims {
		if c != nil && i < len(c.Groups) && c.Groups[i].State.Holds() {
			out = append(out, node)
		}
	}
	sort.Strings(out)
	return out
}

// ownerOf picks, among the holders of group i (sorted, as holdersOf gives
// them), the one the status names as the group's owner: a running holder
// before one that starts or stops, then the group's home, then the first
// by name. The choice never depends on the order claims came in, so two
// looks at the same claims name the same owner. "" without holders.
func ownerOf(claims map[string]*Claims, i int, holders []string, home string) string {
	rank := func(node string) int {
		r := 0
		if claims[node].Groups[i].State != ClaimRunning {
			r += 2
		}
		if node != home {
			r++
		}
		return r
	}
	owner := ""
	for _, h := range holders {
		if owner == "" || rank(h) < rank(owner) {
			owner = h
		}
	}
	return owner
}

// HoldersWarning is the status warning for a group several nodes hold at
// once ("group web is held by alice and bob at once"), or "" when at most
// one holds it. holders are sorted.
func HoldersWarning(group string, holders []string) string {
	if len(holders) < 2 {
		return ""
	}
	last := len(holders) - 1
	names := strings.Join(holders[:last], ", ") + " and " + holders[last]
	return "group " + group + " is held by " + names + " at once"
}
