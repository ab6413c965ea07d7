package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseCommunity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Community
		str  string
		bad  bool
	}{
		{in: "64512:100", want: 64512<<16 | 100, str: "64512:100"},
		{in: "0:0", want: 0, str: "0:0"},
		{in: "65535:65535", want: 0xffffffff, str: "65535:65535"},
		{in: "no-export", want: 0xffffff01, str: "no-export"},
		{in: "NO-ADVERTISE", want: 0xffffff02, str: "no-advertise"},
		{in: "65536:1", bad: true},
		{in: "1:65536", bad: true},
		{in: "1:", bad: true},
		{in: ":1", bad: true},
		{in: "-1:1", bad: true},
		{in: "100", bad: true},
		{in: "no-such", bad: true},
	} {
		got, err := ParseCommunity(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseCommunity(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("ParseCommunity(%q) = %v (%d), %v; want %s (%d)", tc.in, got, got, err, tc.str, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := func() Config {
		return Config{
			LocalAS:  64513,
			RouterID: netip.MustParseAddr("192.0.2.11"),
			Neighbors: []Neighbor{
				{Addr: netip.MustParseAddr("192.0.2.1"), PeerAS: 64512},
				{Addr: netip.MustParseAddr("2001:db8::1"), PeerAS: 64512, HoldTime: 9 * time.Second, Password: "secret",
					BFD: true, BFDInterval: 300 * time.Millisecond, BFDMultiplier: 5},
			},
		}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		what string
		edit func(*Config)
		want []string // every one must be in the error
	}{
		{"no AS", func(c *Config) { c.LocalAS = 0 }, []string{"local AS"}},
		{"IPv6 router id", func(c *Config) { c.RouterID = netip.MustParseAddr("2001:db8::11") }, []string{"router id"}},
		{"no router id", func(c *Config) { c.RouterID = netip.Addr{} }, []string{"router id"}},
		{"port", func(c *Config) { c.ListenPort = 70000 }, []string{"listen port"}},
		{"no neighbour", func(c *Config) { c.Neighbors = nil }, []string{"no neighbour"}},
		{"twice", func(c *Config) { c.Neighbors = append(c.Neighbors, c.Neighbors[0]) }, []string{"192.0.2.1 listed twice"}},
		{"peer AS", func(c *Config) { c.Neighbors[0].PeerAS = 0 }, []string{"192.0.2.1: peer AS"}},
		{"hold 2s", func(c *Config) { c.Neighbors[0].HoldTime = 2 * time.Second }, []string{"hold time 2s"}},
		{"hold 3.5s", func(c *Config) { c.Neighbors[0].HoldTime = 3500 * time.Millisecond }, []string{"whole seconds"}},
		{"hold long", func(c *Config) { c.Neighbors[0].HoldTime = 65536 * time.Second }, []string{"hold time"}},
		{"password", func(c *Config) { c.Neighbors[0].Password = strings.Repeat("x", 81) }, []string{"81 bytes"}},
		{"local family", func(c *Config) { c.Neighbors[0].LocalAddr = netip.MustParseAddr("2001:db8::11") }, []string{"other family"}},
		{"passive", func(c *Config) { c.Neighbors[0].Passive = true }, []string{"passive"}},
		{"mapped", func(c *Config) { c.Neighbors[0].Addr = netip.MustParseAddr("::ffff:192.0.2.1") }, []string{"want an IPv4 or IPv6"}},
		{"BFD interval short", func(c *Config) { c.Neighbors[1].BFDInterval = 5 * time.Millisecond }, []string{"BFD interval 5ms"}},
		{"BFD interval long", func(c *Config) { c.Neighbors[1].BFDInterval = time.Minute + time.Second }, []string{"BFD interval 1m1s"}},
		{"BFD interval ns", func(c *Config) { c.Neighbors[1].BFDInterval = 10*time.Millisecond + 1 }, []string{"whole microseconds"}},
		{"BFD multiplier", func(c *Config) { c.Neighbors[1].BFDMultiplier = 1 }, []string{"BFD multiplier 1"}},
		{"BFD multiplier byte", func(c *Config) { c.Neighbors[1].BFDMultiplier = 256 }, []string{"BFD multiplier 256"}},
		{"BFD off", func(c *Config) { c.Neighbors[1].BFD = false }, []string{"BFD is off"}},
		{"timeout", func(c *Config) { c.CallTimeout = -time.Second }, []string{"call timeout"}},
		{"all at once", func(c *Config) { c.LocalAS = 0; c.Neighbors[1].PeerAS = 0 }, []string{"local AS", "2001:db8::1: peer AS"}},
	} {
		c := good()
		tc.edit(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: no error", tc.what)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.what, err, w)
			}
		}
	}
}

func TestHostPrefix(t *testing.T) {
	for in, ok := range map[string]bool{
		"203.0.113.10/32": true, "2001:db8::10/128": true,
		"203.0.113.0/24": false, "2001:db8::/64": false, "::ffff:203.0.113.10/128": false,
	} {
		_, err := hostPrefix(netip.MustParsePrefix(in))
		if (err == nil) != ok {
			t.Errorf("hostPrefix(%s): %v", in, err)
		}
	}
	if _, err := hostPrefix(netip.Prefix{}); err == nil {
		t.Error("hostPrefix of the zero prefix: no error")
	}
}
