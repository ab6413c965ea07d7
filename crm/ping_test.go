package crm

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/icmp"

	"hbgo/conf"
)

// TestPingRepliesAreOurs: a reply counts only with this run's token and
// the sequence of a recent round; a forged reply (right ID and source,
// no token) or one from long ago keeps no ping node up.
func TestPingRepliesAreOurs(t *testing.T) {
	p := &pinger{every: 100 * time.Millisecond, dead: 500 * time.Millisecond}
	copy(p.token[:], "8bytes!!")
	p.seq.Store(40)
	data := append(p.token[:], 1, 2, 3, 4, 5, 6, 7, 8)
	cases := []struct {
		name string
		echo icmp.Echo
		want bool
	}{
		{"this round", icmp.Echo{Seq: 40, Data: data}, true},
		{"a round deadping ago", icmp.Echo{Seq: 34, Data: data}, true},
		{"older than deadping", icmp.Echo{Seq: 33, Data: data}, false},
		{"a round not sent yet", icmp.Echo{Seq: 41, Data: data}, false},
		{"no token", icmp.Echo{Seq: 40, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}, false},
		{"another run's token", icmp.Echo{Seq: 40, Data: append([]byte("other ru"), 0)}, false},
		{"empty", icmp.Echo{Seq: 40}, false},
	}
	for _, c := range cases {
		if got := p.ours(&c.echo); got != c.want {
			t.Errorf("%s: ours = %v, want %v", c.name, got, c.want)
		}
	}
	// Across the wrap of the 16-bit sequence.
	p.seq.Store(2)
	if !p.ours(&icmp.Echo{Seq: 0xffff, Data: data}) {
		t.Error("a reply from just before the sequence wrapped is refused")
	}
}

// TestPingReconfigure: a reload takes new ping nodes and keeps what is
// known of those that stay; none to some, some to none, and a first IPv6
// node take a restart.
func TestPingReconfigure(t *testing.T) {
	ha := func(lines string) *conf.HAConfig {
		var ds conf.Diags
		h := conf.ParseHACF("ha.cf", []byte("keepalive 1\ndeadtime 10\nbcast eth0\nnode a b\n"+lines), &ds)
		if ds.HasErrors() {
			t.Fatal(ds.String())
		}
		return h
	}
	p, err := newPinger(ha("ping 10.0.0.1 10.0.0.2\n"), "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	p.targets[netip.MustParseAddr("10.0.0.1")].up = true
	if changed, err := p.reconfigure(ha("ping 10.0.0.1 10.0.0.2\n")); changed || err != nil {
		t.Errorf("the same nodes: changed %v, %v", changed, err)
	}
	if changed, err := p.reconfigure(ha("ping 10.0.0.1 10.0.0.3\n")); !changed || err != nil {
		t.Fatalf("a node replaced: changed %v, %v", changed, err)
	}
	if !p.targets[netip.MustParseAddr("10.0.0.1")].up || p.targets[netip.MustParseAddr("10.0.0.3")].up {
		t.Error("the node that stayed lost its state, or the new one has some")
	}
	if p.score() != 1 {
		t.Errorf("score %d, want 1", p.score())
	}
	if _, err := p.reconfigure(ha("")); err == nil {
		t.Error("every ping node removed without a restart")
	}
	if _, err := p.reconfigure(ha("ping fd00::1\n")); err == nil {
		t.Error("a first IPv6 ping node without a socket for it")
	}
	q, _ := newPinger(ha(""), "a", nil)
	if _, err := q.reconfigure(ha("ping 10.0.0.1\n")); err == nil {
		t.Error("ping nodes where there were none without a restart")
	}
}
