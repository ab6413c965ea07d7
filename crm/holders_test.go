package crm

import (
	"fmt"
	"slices"
	"testing"
)

// claimsOf builds each node's claims from its states of the groups, in
// group order.
func claimsOf(states map[string][]ClaimState) map[string]*Claims {
	out := map[string]*Claims{}
	for node, ss := range states {
		c := &Claims{}
		for i, s := range ss {
			c.Groups = append(c.Groups, Claim{State: s, Epoch: uint64(10 + i)})
		}
		out[node] = c
	}
	return out
}

func TestHolders(t *testing.T) {
	const (
		stopped  = ClaimStopped
		starting = ClaimStarting
		running  = ClaimRunning
		stopping = ClaimStopping
		failed   = ClaimFailed
	)
	for _, tc := range []struct {
		name    string
		claims  map[string][]ClaimState // node -> state of group 0, 1, ...
		group   int
		home    string
		holders []string
		owner   string
		warning string
	}{
		{name: "nobody", claims: map[string][]ClaimState{"alice": {stopped}, "bob": {stopped}},
			home: "alice"},
		{name: "failed and stopped hold nothing", claims: map[string][]ClaimState{"alice": {failed}, "bob": {stopped}},
			home: "alice"},
		{name: "one runs", claims: map[string][]ClaimState{"alice": {stopped}, "bob": {running}},
			home: "alice", holders: []string{"bob"}, owner: "bob"},
		{name: "one starts", claims: map[string][]ClaimState{"alice": {starting}, "bob": {stopped}},
			home: "bob", holders: []string{"alice"}, owner: "alice"},
		{name: "one stops", claims: map[string][]ClaimState{"alice": {stopped}, "bob": {stopping}},
			home: "bob", holders: []string{"bob"}, owner: "bob"},
		{name: "the running one owns, not home", claims: map[string][]ClaimState{"alice": {stopping}, "bob": {running}},
			home: "alice", holders: []string{"alice", "bob"}, owner: "bob",
			warning: "group g0 is held by alice and bob at once"},
		{name: "the running one owns, not the first name", claims: map[string][]ClaimState{"alice": {starting}, "bob": {running}},
			home: "carol", holders: []string{"alice", "bob"}, owner: "bob",
			warning: "group g0 is held by alice and bob at once"},
		{name: "both run: home owns", claims: map[string][]ClaimState{"alice": {running}, "bob": {running}},
			home: "bob", holders: []string{"alice", "bob"}, owner: "bob",
			warning: "group g0 is held by alice and bob at once"},
		{name: "both run, home elsewhere: first name owns", claims: map[string][]ClaimState{"bob": {running}, "alice": {running}, "carol": {stopped}},
			home: "carol", holders: []string{"alice", "bob"}, owner: "alice",
			warning: "group g0 is held by alice and bob at once"},
		{name: "none runs: home owns", claims: map[string][]ClaimState{"alice": {starting}, "bob": {stopping}},
			home: "bob", holders: []string{"alice", "bob"}, owner: "bob",
			warning: "group g0 is held by alice and bob at once"},
		{name: "three hold", claims: map[string][]ClaimState{"carol": {running}, "alice": {stopping}, "bob": {running}},
			home: "carol", holders: []string{"alice", "bob", "carol"}, owner: "carol",
			warning: "group g0 is held by alice, bob and carol at once"},
		{name: "the second group", claims: map[string][]ClaimState{"alice": {running, stopped}, "bob": {stopped, running}},
			group: 1, home: "alice", holders: []string{"bob"}, owner: "bob"},
		{name: "a claim without the group says nothing", claims: map[string][]ClaimState{"alice": {running}, "bob": {running, running}},
			group: 1, home: "alice", holders: []string{"bob"}, owner: "bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The map's order changes from run to run: the answer must not.
			for range 20 {
				claims := claimsOf(tc.claims)
				holders := holdersOf(claims, tc.group)
				if !slices.Equal(holders, tc.holders) {
					t.Fatalf("holders %q, want %q", holders, tc.holders)
				}
				if owner := ownerOf(claims, tc.group, holders, tc.home); owner != tc.owner {
					t.Fatalf("owner %q, want %q", owner, tc.owner)
				}
				if w := HoldersWarning(fmt.Sprintf("g%d", tc.group), holders); w != tc.warning {
					t.Fatalf("warning %q, want %q", w, tc.warning)
				}
			}
		})
	}
}
