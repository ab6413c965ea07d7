package main

import (
	"testing"

	"hbgo/conf"
)

// TestLocalNodeName: the daemon's own name is uname -n as Heartbeat takes
// it, the whole of it lowercased, and ha.cf's names are lowercased too; a
// member listed by the first label of an FQDN host name is still found.
func TestLocalNodeName(t *testing.T) {
	var ds conf.Diags
	ha := conf.ParseHACF("ha.cf", []byte("keepalive 1\ndeadtime 10\nbcast eth0\nnode LVS1.example.com lvs2\nwitness Quorum1\n"), &ds)
	if ds.HasErrors() {
		t.Fatal(ds.String())
	}
	for _, c := range []struct{ host, want string }{
		{"LVS1.example.com", "lvs1.example.com"}, // uname -n as written in ha.cf, any case
		{"lvs1.EXAMPLE.com", "lvs1.example.com"},
		{"lvs2.example.com", "lvs2"},               // listed by its first label
		{"QUORUM1", "quorum1"},                     // a witness
		{"other.example.com", "other.example.com"}, // not a member: the daemon says so with this name
	} {
		got := localNodeName(c.host, ha)
		if got != c.want {
			t.Errorf("host %s: node %q, want %q", c.host, got, c.want)
		}
		if c.want != "other.example.com" && !ha.IsNode(got) && !ha.IsWitness(got) {
			t.Errorf("host %s: %q is not found in ha.cf", c.host, got)
		}
	}
}
