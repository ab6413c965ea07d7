package crm

import (
	"testing"
	"time"

	"golang.org/x/net/icmp"
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
