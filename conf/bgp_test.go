package conf

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHACFBGP(t *testing.T) {
	runHACFCases(t, []hacfCase{
		{name: "speaker", lines: []string{
			"bgp_as 65001",
			"bgp_neighbor 10.0.0.254 65000 hold 3 password s3cret port 1179 source 10.0.0.1",
			"bgp_neighbor 2001:db8::fe 1.10 passive bfd",
			"bgp_neighbor 10.0.0.253 65000 bfd_interval 300ms bfd_multiplier 5 hold 9",
			"bgp_community 65000:100 NO-EXPORT",
		}, check: func(t *testing.T, c *HAConfig) {
			b := c.BGP
			if b == nil {
				t.Fatal("no BGP")
			}
			hacfWantEq(t, "AS", b.AS, uint32(65001))
			hacfWantEq(t, "line", b.Line, 1)
			hacfWantEq(t, "neighbours", b.Neighbors, []BGPNeighbor{
				{Addr: netip.MustParseAddr("10.0.0.254"), AS: 65000, Hold: 3 * time.Second, Password: "s3cret", Port: 1179, Source: netip.MustParseAddr("10.0.0.1"), Line: 2},
				{Addr: netip.MustParseAddr("2001:db8::fe"), AS: 1<<16 | 10, Passive: true, BFD: true, Line: 3},
				{Addr: netip.MustParseAddr("10.0.0.253"), AS: 65000, Hold: 9 * time.Second, BFD: true, BFDInterval: 300 * time.Millisecond, BFDMultiplier: 5, Line: 4},
			})
			hacfWantEq(t, "detection, defaults", b.Neighbors[1].BFDDetectTime(), 300*time.Millisecond)
			hacfWantEq(t, "detection, set", b.Neighbors[2].BFDDetectTime(), 1500*time.Millisecond)
			hacfWantEq(t, "detection, no BFD", b.Neighbors[0].BFDDetectTime(), time.Duration(0))
			hacfWantEq(t, "communities", b.Communities, []string{"65000:100", "no-export"})
		}},
		{name: "mistakes", lines: []string{
			"bgp_as 0",
			"bgp_as 4294967296",
			"bgp_neighbor 10.0.0.300 65000",
			"bgp_neighbor 10.0.0.254 65000 hold 1",
			"bgp_neighbor 10.0.0.254 65000 hold 2.5s",
			"bgp_neighbor 10.0.0.254 65000 source 2001:db8::1",
			"bgp_neighbor 10.0.0.254 65000 colour blue",
			"bgp_neighbor 10.0.0.254 65000 hold",
			"bgp_neighbor 10.0.0.254 65000",
			"bgp_neighbor 10.0.0.254 65001",
			"bgp_community 70000:1 no-such",
			"bgp_neighbor 10.0.0.1 65000 bfd_interval 5ms",
			"bgp_neighbor 10.0.0.2 65000 bfd_interval 100.5ms",
			"bgp_neighbor 10.0.0.3 65000 bfd_interval soon",
			"bgp_neighbor 10.0.0.4 65000 bfd_multiplier 1",
			"bgp_neighbor 10.0.0.5 65000 bfd_multiplier three",
			"bgp_neighbor 10.0.0.6 65000 bfd bfd_interval",
			"bgp_neighbor 10.0.0.7 65000 bfd_interval 1s",
			"bgp_neighbor 10.0.0.8 65000 hold 3 bfd_interval 500ms bfd_multiplier 10",
			"bgp_neighbor 10.0.0.9 65000 source 10.0.0.50 bfd",
		}, want: []string{
			`ha.cf:1: error: bgp_as: "0" is not an AS number (1-4294967295, or HIGH.LOW)`,
			`ha.cf:2: error: bgp_as: "4294967296" is not an AS number (1-4294967295, or HIGH.LOW)`,
			`ha.cf:3: error: bgp_neighbor: "10.0.0.300" is not the router's IP address`,
			`ha.cf:4: error: bgp_neighbor 10.0.0.254: hold 1: want whole seconds from 3s to 65535s`,
			`ha.cf:5: error: bgp_neighbor 10.0.0.254: hold 2.5s: want whole seconds from 3s to 65535s`,
			`ha.cf:6: error: bgp_neighbor 10.0.0.254: source "2001:db8::1" is not an address of the router's family`,
			`ha.cf:7: error: bgp_neighbor 10.0.0.254: unknown option "colour" (hold, password, port, source, bfd_interval, bfd_multiplier, passive, bfd)`,
			`ha.cf:8: error: bgp_neighbor 10.0.0.254: "hold" wants a value (hold SECONDS, password SECRET, port PORT, source ADDR, bfd_interval DURATION, bfd_multiplier N, passive, bfd)`,
			`ha.cf:10: error: bgp_neighbor 10.0.0.254: already given at line 9`,
			`ha.cf:11: error: bgp_community: "70000:1" is not ASN:VALUE (each 0-65535) or a well-known name (no-export, no-advertise, ...)`,
			`ha.cf:11: error: bgp_community: "no-such" is not ASN:VALUE (each 0-65535) or a well-known name (no-export, no-advertise, ...)`,
			`ha.cf:12: error: bgp_neighbor 10.0.0.1: bfd_interval 5ms: want whole milliseconds from 10ms to 60s`,
			`ha.cf:13: error: bgp_neighbor 10.0.0.2: bfd_interval 100.5ms: want whole milliseconds from 10ms to 60s`,
			`ha.cf:14: error: bgp_neighbor 10.0.0.3: bfd_interval: bad time value "soon" (want seconds like 2 or 0.5, or 500ms)`,
			`ha.cf:15: error: bgp_neighbor 10.0.0.4: bfd_multiplier 1: want a whole number from 2 to 255`,
			`ha.cf:16: error: bgp_neighbor 10.0.0.5: bfd_multiplier three: want a whole number from 2 to 255`,
			`ha.cf:17: error: bgp_neighbor 10.0.0.6: "bfd_interval" wants a value (hold SECONDS, password SECRET, port PORT, source ADDR, bfd_interval DURATION, bfd_multiplier N, passive, bfd)`,
			`ha.cf:18: warning: bgp_neighbor 10.0.0.7: BFD declares the router dead after 3s (bfd_interval x bfd_multiplier), no sooner than the BGP hold time 3s: BFD gains nothing here`,
			`ha.cf:19: warning: bgp_neighbor 10.0.0.8: BFD declares the router dead after 5s (bfd_interval x bfd_multiplier), no sooner than the BGP hold time 3s: BFD gains nothing here`,
			`ha.cf:20: warning: bgp_neighbor 10.0.0.9: BFD packets leave from the address the kernel picks toward the router, not from source 10.0.0.50: unless that is the address, the router's BFD session for 10.0.0.50 does not come up`,
		}},
	})
}

func TestBGPaddrArgs(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.100": "10.0.0.100/32", "10.0.0.100/32": "10.0.0.100/32", "2001:db8::100": "2001:db8::100/128",
		"2001:db8::100/128": "2001:db8::100/128", "10.0.0.100/24": "", "127.0.0.1": "", "224.0.0.1": "", "fe80::1": "", "eth0": "",
	} {
		p, err := ParseBGPaddrArgs([]string{in})
		got := ""
		if err == nil {
			got = p.String()
		}
		if got != want {
			t.Errorf("BGPaddr::%s = %q (%v), want %q", in, got, err, want)
		}
	}
	if _, err := ParseBGPaddrArgs([]string{"10.0.0.1", "lo"}); err == nil {
		t.Error("two arguments accepted")
	}
}

// TestCheckAnycastGroups: an anycast group holds only BGPaddr and
// ldirectord; it needs a speaker with a neighbour of its family; a
// speaker needs its AS and a neighbour, and with nothing to announce it
// is a warning.
func TestCheckAnycastGroups(t *testing.T) {
	load := func(hacf, hares string, more ...string) string {
		t.Helper()
		dir := t.TempDir()
		files := map[string]string{
			"ha.cf":       "keepalive 100ms\ndeadtime 1\ninitdead 2\nwarntime 500ms\nauto_failback on\nbcast eth0\nnode n1 n2 n3\nwitness w\n" + hacf,
			"authkeys":    "auth 1\n1 sha1 an-anycast-test-secret-of-some-length\n",
			"haresources": hares,
		}
		for i := 0; i+1 < len(more); i += 2 {
			files[more[i]] = more[i+1]
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, ds, err := Load(dir, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, filepath.Base(d.File)+":"+d.String()[strings.Index(d.String(), ":")+1:])
		}
		return strings.Join(out, "\n")
	}
	speaker := "bgp_as 65001\nbgp_neighbor 10.0.0.254 65000\n"
	for _, c := range []struct {
		name, hacf, hares string
		want              []string // substrings, each in the diagnostics
		not               []string
		files             []string // more files: name, content
	}{
		{"fine", speaker, "n1 BGPaddr::10.0.0.100/32\n", nil, []string{"error", "warning"}, nil},
		{"mixed", speaker, "n1 BGPaddr::10.0.0.100 IPaddr::10.0.0.101/24/eth0\n",
			[]string{"haresources:1: error: IPaddr::10.0.0.101/24/eth0 in anycast group BGPaddr::10.0.0.100: a group with a BGPaddr runs on every director at once"}, nil, nil},
		{"no speaker", "", "n1 BGPaddr::10.0.0.100\n",
			[]string{"haresources:1: error: BGPaddr::10.0.0.100: an anycast VIP is announced by BGP, and"}, nil, nil},
		{"wrong family", speaker, "n1 BGPaddr::2001:db8::100\n",
			[]string{"haresources:1: error: BGPaddr::2001:db8::100: no bgp_neighbor in"}, nil, nil},
		{"no neighbour", "bgp_as 65001\n", "n1 BGPaddr::10.0.0.100\n",
			[]string{"ha.cf:9: error: bgp_as without bgp_neighbor"}, nil, nil},
		{"no AS", "bgp_neighbor 10.0.0.254 65000\n", "n1 IPaddr::10.0.0.101/24/eth0\n",
			[]string{"ha.cf:9: error: bgp_neighbor without bgp_as"}, nil, nil},
		{"nothing to announce", speaker, "n1 IPaddr::10.0.0.101/24/eth0\n",
			[]string{"ha.cf:9: warning: bgp_as: no BGPaddr resource in"}, nil, nil},
		{"one address twice", speaker, "n1 BGPaddr::10.0.0.100\nn2 IPaddr::10.0.0.100/24/eth0\n",
			[]string{"10.0.0.100"}, nil, nil},
		{"mh", speaker, "n1 BGPaddr::10.0.0.100 ldirectord::ldirectord.cf\n", nil, []string{"warning"},
			[]string{"ldirectord.cf", "virtual = 10.0.0.100:80\n\tscheduler = mh\n\treal = 10.0.1.1:80 gate\n"}},
		{"not mh", speaker, "n1 BGPaddr::10.0.0.100 ldirectord::ldirectord.cf\n",
			[]string{"ldirectord.cf:1: warning: virtual 10.0.0.100 is an anycast VIP (BGPaddr): every director receives some of its flows", "use scheduler = mh", "not wrr"}, nil,
			[]string{"ldirectord.cf", "virtual = 10.0.0.100:80\n\treal = 10.0.1.1:80 gate\n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := load(c.hacf, c.hares, c.files...)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("diagnostics lack %q:\n%s", w, got)
				}
			}
			for _, w := range c.not {
				if strings.Contains(got, w) {
					t.Errorf("diagnostics have %q:\n%s", w, got)
				}
			}
		})
	}
}
