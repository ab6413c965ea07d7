package conf

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var updateHACF = flag.Bool("update-hacf", false, "rewrite testdata/hacf/*.golden")

// hacfBase completes a test file so that only the case's own problems show:
// a medium, two nodes and auto_failback.
var hacfBase = []string{"bcast eth9", "node n1 n2", "auto_failback on"}

type hacfCase struct {
	name  string
	lines []string // the case; hacfBase follows unless bare
	bare  bool
	want  []string // every diagnostic, in order
	check func(t *testing.T, c *HAConfig)
}

func runHACFCases(t *testing.T, cases []hacfCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines := tc.lines
			if !tc.bare {
				lines = append(slices.Clone(lines), hacfBase...)
			}
			var ds Diags
			c := ParseHACF("ha.cf", []byte(strings.Join(lines, "\n")+"\n"), &ds)
			if c == nil {
				t.Fatal("ParseHACF returned nil")
			}
			got := strings.Split(strings.TrimSuffix(ds.String(), "\n"), "\n")
			if ds.String() == "" {
				got = nil
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("diagnostics:\n got: %q\nwant: %q", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func hacfWantEq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestHACFTiming(t *testing.T) {
	runHACFCases(t, []hacfCase{
		{name: "defaults", check: func(t *testing.T, c *HAConfig) {
			hacfWantEq(t, "Keepalive", c.Keepalive, time.Second) // Heartbeat's default
			hacfWantEq(t, "Deadtime", c.Deadtime, 30*time.Second)
			hacfWantEq(t, "Warntime", c.Warntime, time.Duration(0))
			hacfWantEq(t, "EffectiveInitdead", c.EffectiveInitdead(), 30*time.Second)
			hacfWantEq(t, "EffectiveDeadping", c.EffectiveDeadping(), 30*time.Second)
			hacfWantEq(t, "ConnLogdTime", c.ConnLogdTime, 60*time.Second)
		}},
		{name: "all set", lines: []string{"keepalive 1", "deadtime 10", "warntime 5", "initdead 60", "deadping 20"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Keepalive", c.Keepalive, time.Second)
				hacfWantEq(t, "Deadtime", c.Deadtime, 10*time.Second)
				hacfWantEq(t, "Warntime", c.Warntime, 5*time.Second)
				hacfWantEq(t, "Initdead", c.Initdead, 60*time.Second)
				hacfWantEq(t, "Deadping", c.Deadping, 20*time.Second)
				hacfWantEq(t, "Lines[initdead]", c.Lines["initdead"], 4)
			}},
		{name: "units", lines: []string{"keepalive 100ms", "deadtime 0.5", "warntime 300ms"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Keepalive", c.Keepalive, 100*time.Millisecond)
				hacfWantEq(t, "Deadtime", c.Deadtime, 500*time.Millisecond)
			}},
		{name: "deadtime below keepalive", lines: []string{"deadtime 1"},
			want: []string{"ha.cf:1: error: deadtime 1s must exceed keepalive 1s"}},
		{name: "initdead defaults as Heartbeat's", lines: []string{"deadtime 5"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "EffectiveInitdead", c.EffectiveInitdead(), 12*time.Second)
			}},
		{name: "initdead default between 6 and 10 s", lines: []string{"deadtime 8"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "EffectiveInitdead", c.EffectiveInitdead(), 16*time.Second)
			}},
		{name: "deadtime equal keepalive reported at later line", lines: []string{"deadtime 2", "keepalive 2000ms"},
			want: []string{"ha.cf:2: error: deadtime 2s must exceed keepalive 2s"}},
		{name: "bad time", lines: []string{"keepalive 2x"},
			want:  []string{`ha.cf:1: error: keepalive: bad time value "2x" (want seconds like 2 or 0.5, or 500ms)`},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Keepalive", c.Keepalive, DefaultKeepalive) }},
		{name: "zero keepalive", lines: []string{"keepalive 0"},
			want: []string{"ha.cf:1: error: keepalive must be longer than 0"}},
		{name: "zero deadtime", lines: []string{"deadtime 0ms"},
			want: []string{"ha.cf:1: error: deadtime must be longer than 0"}},
		{name: "missing value", lines: []string{"deadtime"},
			want: []string{"ha.cf:1: error: deadtime: missing TIME (syntax: deadtime TIME)"}},
		{name: "extra value", lines: []string{"deadtime 30 seconds"},
			want: []string{`ha.cf:1: error: deadtime: unexpected extra value "seconds" (syntax: deadtime TIME)`}},
		{name: "warntime above deadtime", lines: []string{"warntime 40"},
			want: []string{"ha.cf:1: warning: warntime 40s should lie between keepalive 1s and deadtime 30s"}},
		{name: "warntime below keepalive", lines: []string{"keepalive 1", "warntime 500ms"},
			want: []string{"ha.cf:2: warning: warntime 500ms should lie between keepalive 1s and deadtime 30s"}},
		{name: "initdead short", lines: []string{"deadtime 10", "initdead 5"},
			want: []string{"ha.cf:2: warning: initdead 5s is shorter than deadtime 10s; make it at least twice deadtime (20s)"}},
		{name: "deadping not above keepalive", lines: []string{"deadping 1"},
			want: []string{"ha.cf:1: error: deadping 1s must exceed keepalive 1s"}},
		{name: "repeated", lines: []string{"keepalive 1", "# comment", "keepalive 3"},
			want: []string{"ha.cf:3: warning: keepalive repeated; this overrides line 1"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Keepalive", c.Keepalive, 3*time.Second)
				hacfWantEq(t, "Lines[keepalive]", c.Lines["keepalive"], 3)
			}},
		{name: "conn_logd_time", lines: []string{"conn_logd_time 30"},
			want:  []string{"ha.cf:1: warning: conn_logd_time ignored: hbgo writes its own log and never connects to logd"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "ConnLogdTime", c.ConnLogdTime, 30*time.Second) }},
		{name: "max_rexmit_delay", lines: []string{"max_rexmit_delay 250ms"},
			want: []string{"ha.cf:1: warning: max_rexmit_delay ignored: hbgo retransmits nothing on heartbeat links; cluster state travels by raft"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "MaxRexmitDelay", c.MaxRexmitDelay, 250*time.Millisecond)
			}},
	})
}

func TestHACFMedia(t *testing.T) {
	runHACFCases(t, []hacfCase{
		{name: "bcast several", bare: true, lines: []string{"bcast eth0 eth1", "node a", "auto_failback on"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Media", c.Media, []Medium{
					{Kind: MediumBcast, Line: 1, Iface: "eth0", Port: 694},
					{Kind: MediumBcast, Line: 1, Iface: "eth1", Port: 694},
				})
			}},
		{name: "udpport positional", bare: true, lines: []string{"udpport 700", "bcast eth0", "ucast eth1 10.0.0.2", "udpport 701", "bcast eth2", "node a", "auto_failback on"},
			want: []string{"ha.cf:4: warning: udpport 701 comes after bcast or ucast media (first at line 2); it applies only to media after it"},
			check: func(t *testing.T, c *HAConfig) {
				var ports []int
				for _, m := range c.Media {
					ports = append(ports, m.Port)
				}
				hacfWantEq(t, "ports", ports, []int{700, 700, 701})
				hacfWantEq(t, "UDPPort", c.UDPPort, 701)
			}},
		{name: "udpport repeated before media", lines: []string{"udpport 700", "udpport 701"},
			want: []string{"ha.cf:2: warning: udpport repeated; this overrides line 1"}},
		{name: "udpport range", lines: []string{"udpport 0", "udpport 65536", "udpport x"},
			want: []string{
				`ha.cf:1: error: udpport: "0" is not a port (1-65535)`,
				`ha.cf:2: error: udpport: "65536" is not a port (1-65535)`,
				`ha.cf:3: error: udpport: "x" is not a port (1-65535)`,
			}},
		{name: "udp alias", lines: []string{"udp eth0"},
			want: []string{"ha.cf:1: warning: udp is the old name of bcast; write bcast"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "kind", c.Media[0].Kind, MediumBcast)
				hacfWantEq(t, "Lines[bcast]", c.Lines["bcast"], 2)
			}},
		{name: "bad interface", lines: []string{"bcast eth/0 averyveryverylongname"},
			want: []string{
				`ha.cf:1: error: bcast: "eth/0" is not an interface name (contains a slash, colon or blank)`,
				`ha.cf:1: error: bcast: "averyveryverylongname" is not an interface name (longer than 15 bytes)`,
			}},
		{name: "alias label", lines: []string{"bcast eth0:1"},
			want:  []string{"ha.cf:1: warning: bcast: eth0:1 is an address label; heartbeats use device eth0"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Iface", c.Media[0].Iface, "eth0") }},
		{name: "repeated medium", lines: []string{"bcast eth9"},
			want: []string{"ha.cf:2: warning: bcast eth9 repeats line 1"}},
		{name: "mcast", lines: []string{"mcast eth0 239.192.0.42 694 1 0"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Media[0]", c.Media[0], Medium{Kind: MediumMcast, Line: 1, Iface: "eth0",
					Group: netip.MustParseAddr("239.192.0.42"), Port: 694, TTL: 1})
			}},
		{name: "mcast ignores udpport", lines: []string{"udpport 700", "mcast eth0 239.192.0.42 800 3 1"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Port", c.Media[0].Port, 800)
				hacfWantEq(t, "TTL", c.Media[0].TTL, 3)
				hacfWantEq(t, "Loop", c.Media[0].Loop, true)
			}},
		{name: "mcast not multicast", lines: []string{"mcast eth0 10.0.0.1 694 1 0"},
			want: []string{"ha.cf:1: error: mcast: 10.0.0.1 is not a multicast group (224.0.0.0-239.255.255.255)"}},
		{name: "mcast every field bad", lines: []string{"mcast eth0 nonsense 0 0 2"},
			want: []string{
				`ha.cf:1: error: mcast: "nonsense" is not an IP address`,
				`ha.cf:1: error: mcast: "0" is not a port (1-65535)`,
				"ha.cf:1: error: mcast ttl: 0 is out of range 1-255",
				`ha.cf:1: error: mcast: loop must be 0 or 1, not "2"`,
			},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "media", len(c.Media), 1) }},
		{name: "mcast ttl too high", lines: []string{"mcast eth0 239.0.0.1 694 256 0"},
			want: []string{"ha.cf:1: error: mcast ttl: 256 is out of range 1-255"}},
		{name: "mcast reserved group", lines: []string{"mcast eth0 224.0.0.18 694 1 0"},
			want: []string{"ha.cf:1: warning: mcast: 224.0.0.18 is reserved for local network control; choose from 239.192.0.0/14"}},
		{name: "mcast v6 group", lines: []string{"mcast eth0 ff12::1 694 1 0"},
			want: []string{"ha.cf:1: error: mcast: group ff12::1 is not IPv4 (use mcast6)"}},
		{name: "mcast missing loop", lines: []string{"mcast eth0 239.0.0.1 694 1"},
			want: []string{"ha.cf:1: error: mcast: missing LOOP (syntax: mcast IFACE GROUP PORT TTL LOOP)"}},
		{name: "mcast6", lines: []string{"mcast6 eth0 ff12::1:2:3:4 694 1 0"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Group", c.Media[0].Group, netip.MustParseAddr("ff12::1:2:3:4"))
				hacfWantEq(t, "Kind", c.Media[0].Kind, MediumMcast)
			}},
		{name: "mcast6 wrong family", lines: []string{"mcast6 eth0 239.0.0.1 694 1 0"},
			want: []string{"ha.cf:1: error: mcast6: group 239.0.0.1 is not IPv6 (use mcast)"}},
		{name: "mcast6 mapped v4", lines: []string{"mcast6 eth0 ::ffff:239.1.1.1 694 1 0"},
			want: []string{"ha.cf:1: error: mcast6: group ::ffff:239.1.1.1 is not IPv6 (use mcast)"}},
		{name: "mcast6 interface-local", lines: []string{"mcast6 eth0 ff01::1 694 1 0"},
			want: []string{"ha.cf:1: error: mcast6: ff01::1 is interface-local and never leaves this host"}},
		{name: "ucast", lines: []string{"udpport 1694", "ucast eth1 10.0.0.7", "ucast eth1 peer-b.example.com"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Media[0]", c.Media[0], Medium{Kind: MediumUcast, Line: 2, Iface: "eth1", Peer: "10.0.0.7", Port: 1694})
				hacfWantEq(t, "Peer", c.Media[1].Peer, "peer-b.example.com")
			}},
		{name: "ucast bad peer", lines: []string{"ucast eth1 10.0.0.7/24", "ucast eth1 239.1.1.1"},
			want: []string{
				`ha.cf:1: error: ucast: "10.0.0.7/24" is neither an IP address nor a host name`,
				"ha.cf:2: error: ucast: 239.1.1.1 is a multicast group; use mcast",
			}},
		{name: "ucast missing peer", lines: []string{"ucast eth1"},
			want: []string{"ha.cf:1: error: ucast: missing PEER (syntax: ucast IFACE PEER)"}},
		{name: "ucast extra", lines: []string{"ucast eth1 10.0.0.7 10.0.0.8"},
			want: []string{`ha.cf:1: error: ucast: unexpected extra value "10.0.0.8" (syntax: ucast IFACE PEER)`}},
		{name: "ucast6", lines: []string{"ucast6 eth1 fe80::5054:ff:fe29:3949%eth1", "ucast6 eth1 fe80::1%eth2", "ucast6 eth1 10.0.0.1"},
			want: []string{
				"ha.cf:2: error: ucast6: scope %eth2 of fe80::1%eth2 differs from device eth1",
				`ha.cf:3: error: ucast6: "10.0.0.1" is not an IPv6 address`,
			},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "media", len(c.Media), 2) }},
		{name: "serial and baud", lines: []string{"baud 38400", "serial /dev/ttyS0 /dev/ttyS1", "baud 115200", "serial /dev/ttyUSB0"},
			want: []string{"ha.cf:3: warning: baud 115200 comes after serial media (first at line 2); it applies only to media after it"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Media[:3]", c.Media[:3], []Medium{
					{Kind: MediumSerial, Line: 2, Device: "/dev/ttyS0", Baud: 38400},
					{Kind: MediumSerial, Line: 2, Device: "/dev/ttyS1", Baud: 38400},
					{Kind: MediumSerial, Line: 4, Device: "/dev/ttyUSB0", Baud: 115200},
				})
				hacfWantEq(t, "Name", c.Media[0].Name(), "/dev/ttyS0")
			}},
		{name: "serial default baud", lines: []string{"serial /dev/ttyS0"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Baud", c.Media[0].Baud, 19200) }},
		{name: "bad baud", lines: []string{"baud 14400", "baud fast"},
			want: []string{
				`ha.cf:1: error: baud: bad rate "14400", want 9600, 19200, 38400, 57600, 115200, 230400 or 460800`,
				`ha.cf:2: error: baud: bad rate "fast", want 9600, 19200, 38400, 57600, 115200, 230400 or 460800`,
			}},
		{name: "serial relative", lines: []string{"serial ttyS0"},
			want: []string{"ha.cf:1: error: serial: ttyS0 is not an absolute path"}},
		{name: "no media", bare: true, lines: []string{"node a b", "auto_failback on"},
			want: []string{"ha.cf: error: no heartbeat media: add a bcast, mcast, ucast or serial line"}},
		{name: "only bad media", bare: true, lines: []string{"bcast eth/0", "node a b", "auto_failback on"},
			want: []string{
				`ha.cf:1: error: bcast: "eth/0" is not an interface name (contains a slash, colon or blank)`,
				"ha.cf: error: no heartbeat media: add a bcast, mcast, ucast or serial line",
			}},
	})
}

func TestHACFMembers(t *testing.T) {
	runHACFCases(t, []hacfCase{
		{name: "nodes over lines", bare: true, lines: []string{"bcast eth0", "node alice bob", "node carol", "auto_failback on"},
			want: []string{"ha.cf:2: warning: no witness: a crash of the director that leads the placement log moves its groups after up to 90s (an election, then the wait for the leases it granted), not deadtime 30s; add a witness line (a small machine running hbgo as a witness, which then leads)"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Nodes", c.Nodes, []string{"alice", "bob", "carol"})
				hacfWantEq(t, "Lines[node]", c.Lines["node"], 3)
				hacfWantEq(t, "IsNode", c.IsNode("bob"), true)
			}},
		{name: "no node", bare: true, lines: []string{"bcast eth0", "auto_failback on"},
			want: []string{"ha.cf: error: no node line: list every director with node NAME (or set autojoin any)"}},
		{name: "no node with autojoin any", bare: true, lines: []string{"bcast eth0", "autojoin any", "auto_failback on"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Autojoin", c.Autojoin, "any") }},
		{name: "no node with autojoin other", bare: true, lines: []string{"bcast eth0", "autojoin Other", "auto_failback on"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Autojoin", c.Autojoin, "other") }},
		{name: "autojoin typo", lines: []string{"autojoin anny"},
			want: []string{`ha.cf:1: error: autojoin: bad value "anny", want none, other or any (did you mean any?)`}},
		{name: "duplicate node", lines: []string{"node n1"},
			want:  []string{"ha.cf:3: warning: node n1 repeats line 1"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Nodes", c.Nodes, []string{"n1", "n2"}) }},
		{name: "duplicate node case", lines: []string{"node N2"},
			want: []string{"ha.cf:3: warning: node n2 repeats line 1"}},
		{name: "bad node name", lines: []string{"node a/b -x"},
			want: []string{
				`ha.cf:1: error: node: "a/b" is not a valid node name (as uname -n prints it)`,
				`ha.cf:1: error: node: "-x" is not a valid node name (as uname -n prints it)`,
			}},
		{name: "missing node", lines: []string{"node"},
			want: []string{"ha.cf:1: error: node: missing NAME (syntax: node NAME...)"}},
		{name: "witness", lines: []string{"witness w1 w2"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Witnesses", c.Witnesses, []string{"w1", "w2"})
				hacfWantEq(t, "IsWitness", c.IsWitness("w2"), true)
				hacfWantEq(t, "IsNode", c.IsNode("w2"), false)
			}},
		{name: "witness is node", lines: []string{"witness n2"},
			want: []string{"ha.cf:1: error: n2 is both a node (line 3) and a witness"}},
		{name: "witness repeated", lines: []string{"witness w1", "witness w1"},
			want: []string{"ha.cf:2: warning: witness w1 repeats line 1"}},
		{name: "node twice on a line", lines: []string{"node n3 n3"},
			want: []string{"ha.cf:1: warning: node n3 is listed twice", "ha.cf:1: warning: no witness: a crash of the director that leads the placement log moves its groups after up to 90s (an election, then the wait for the leases it granted), not deadtime 30s; add a witness line (a small machine running hbgo as a witness, which then leads)"}},
	})
}

func TestHACFPolicy(t *testing.T) {
	runHACFCases(t, []hacfCase{
		{name: "auto_failback unset", bare: true, lines: []string{"bcast eth0", "node a"},
			want:  []string{"ha.cf: warning: auto_failback not set: Heartbeat's default legacy applies, which behaves as on; set auto_failback on or off"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "AutoFailback", c.AutoFailback, "legacy") }},
		{name: "auto_failback off", bare: true, lines: []string{"bcast eth0", "node a", "auto_failback off"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "AutoFailback", c.AutoFailback, "off")
				hacfWantEq(t, "Lines[auto_failback]", c.Lines["auto_failback"], 3)
			}},
		{name: "auto_failback boolean", bare: true, lines: []string{"bcast eth0", "node a", "auto_failback Yes"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "AutoFailback", c.AutoFailback, "on") }},
		{name: "auto_failback legacy", bare: true, lines: []string{"bcast eth0", "node a", "auto_failback legacy"},
			want:  []string{"ha.cf:3: warning: auto_failback legacy is deprecated and behaves as on; write auto_failback on"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "AutoFailback", c.AutoFailback, "legacy") }},
		{name: "auto_failback typo", bare: true, lines: []string{"bcast eth0", "node a", "auto_failback of"},
			want: []string{
				`ha.cf:3: error: auto_failback: bad value "of", want off, on or legacy (did you mean off?)`,
				"ha.cf: warning: auto_failback not set: Heartbeat's default legacy applies, which behaves as on; set auto_failback on or off",
			}},
		{name: "auto_failback twice", lines: []string{"auto_failback off"},
			want:  []string{"ha.cf:4: warning: auto_failback repeated; this overrides line 1"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "AutoFailback", c.AutoFailback, "on") }},
		{name: "nice_failback on", bare: true, lines: []string{"bcast eth0", "node a", "nice_failback on"},
			want:  []string{"ha.cf:3: warning: nice_failback is obsolete: nice_failback on means auto_failback off; write that"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "AutoFailback", c.AutoFailback, "off") }},
		{name: "nice_failback and auto_failback", lines: []string{"nice_failback off"},
			want: []string{
				"ha.cf:1: warning: nice_failback is obsolete: nice_failback off means auto_failback legacy; write auto_failback on",
				"ha.cf:4: warning: auto_failback repeated; this overrides line 1",
			}},
		{name: "ping", lines: []string{"ping 10.0.0.254 gw.example.net", "ping6 2001:db8::1", "ping 10.0.0.254"},
			want: []string{"ha.cf:3: warning: ping 10.0.0.254 repeats line 1"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Ping", c.Ping, []string{"10.0.0.254", "gw.example.net", "2001:db8::1"})
			}},
		{name: "ping bad", lines: []string{"ping 10.0.0.300/8", "ping6 10.0.0.1"},
			want: []string{
				`ha.cf:1: error: ping: "10.0.0.300/8" is neither an IP address nor a host name`,
				`ha.cf:2: error: ping6: "10.0.0.1" is not an IPv6 address`,
			}},
		{name: "ping a node", lines: []string{"ping n1"},
			want: []string{"ha.cf:1: warning: ping node n1 is a cluster node; ping a router or a host outside the cluster"}},
		{name: "ping_group", lines: []string{"ping_group uplink 10.0.0.1 10.0.0.2"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "PingGroups", c.PingGroups, []PingGroup{{Name: "uplink", Hosts: []string{"10.0.0.1", "10.0.0.2"}, Line: 1}})
			}},
		{name: "ping_group twice", lines: []string{"ping_group g 10.0.0.1", "ping_group G 10.0.0.2"},
			want: []string{"ha.cf:2: error: ping_group G is already defined at line 1"}},
		{name: "ping_group no host", lines: []string{"ping_group g"},
			want: []string{"ha.cf:1: error: ping_group: missing HOST (syntax: ping_group NAME HOST...)"}},
		{name: "ping_group named as node", lines: []string{"ping_group n1 10.0.0.1"},
			want: []string{"ha.cf:1: error: ping_group n1 has the name of a node"}},
		{name: "hbaping", lines: []string{"hbaping qlogic-qla2200-0"},
			want: []string{"ha.cf:1: warning: hbaping ignored: Fibre Channel ping is not supported; use ping or ping_group"}},
	})
}

func TestHACFLoggingAndProcess(t *testing.T) {
	runHACFCases(t, []hacfCase{
		{name: "logging", lines: []string{"logfile /var/log/ha-log", "debugfile /var/log/ha-debug", "logfacility LOCAL0", "debug 3"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "LogFile", c.LogFile, "/var/log/ha-log")
				hacfWantEq(t, "DebugFile", c.DebugFile, "/var/log/ha-debug")
				hacfWantEq(t, "LogFacility", c.LogFacility, "local0")
				hacfWantEq(t, "Debug", c.Debug, 3)
			}},
		{name: "logfacility none", lines: []string{"logfacility none"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "LogFacility", c.LogFacility, "none") }},
		{name: "logfacility typo", lines: []string{"logfacility local8", "logfacility deamon"},
			want: []string{
				`ha.cf:1: error: logfacility: bad value "local8", want auth, authpriv, cron, daemon, ftp, kern, lpr, mail, news, syslog, user, uucp, local0, local1, local2, local3, local4, local5, local6, local7 or none (did you mean local0?)`,
				`ha.cf:2: error: logfacility: bad value "deamon", want auth, authpriv, cron, daemon, ftp, kern, lpr, mail, news, syslog, user, uucp, local0, local1, local2, local3, local4, local5, local6, local7 or none (did you mean daemon?)`,
			}},
		{name: "relative logfile", lines: []string{"logfile ha-log"},
			want:  []string{"ha.cf:1: warning: logfile: ha-log is not an absolute path; it is taken from hbgo's working directory"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "LogFile", c.LogFile, "ha-log") }},
		{name: "debug range", lines: []string{"debug 256", "debug -1", "debug lots"},
			want: []string{
				"ha.cf:1: error: debug: 256 is out of range 0-255",
				"ha.cf:2: error: debug: -1 is out of range 0-255",
				`ha.cf:3: error: debug: "lots" is not a number`,
			}},
		{name: "watchdog", lines: []string{"watchdog /dev/watchdog"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Watchdog", c.Watchdog, "/dev/watchdog") }},
		{name: "watchdog twice", lines: []string{"watchdog /dev/watchdog", "watchdog /dev/watchdog0"},
			want: []string{"ha.cf:2: warning: watchdog repeated; this overrides line 1"}},
		{name: "watchdog relative", lines: []string{"watchdog watchdog"},
			want: []string{"ha.cf:1: error: watchdog: watchdog is not an absolute path"}},
		{name: "booleans", lines: []string{"realtime off", "coredumps Y", "log_badpack true", "syslogmsgfmt 1"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Realtime", c.Realtime, false)
				hacfWantEq(t, "Coredumps", c.Coredumps, true)
				hacfWantEq(t, "LogBadPack", c.LogBadPack, true)
				hacfWantEq(t, "SyslogMsgFmt", c.SyslogMsgFmt, true)
			}},
		{name: "realtime default", check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Realtime", c.Realtime, true) }},
		{name: "bad boolean", lines: []string{"realtime onn"},
			want: []string{`ha.cf:1: error: realtime: bad value "onn", want on or off (did you mean on?)`}},
		{name: "rtprio", lines: []string{"rtprio 5", "rtprio 100"},
			want: []string{
				"ha.cf:2: error: rtprio: 100 is out of range 1-99",
			},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Rtprio", c.Rtprio, 5) }},
		{name: "words", lines: []string{"uuidfrom nodename", "hbgenmethod time", "hopfudge 2", "cluster lvs-east", "coreroot /var/lib/heartbeat/cores"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "UUIDFrom", c.UUIDFrom, "nodename")
				hacfWantEq(t, "HBGenMethod", c.HBGenMethod, "time")
				hacfWantEq(t, "Hopfudge", c.Hopfudge, 2)
				hacfWantEq(t, "ClusterName", c.ClusterName, "lvs-east")
				hacfWantEq(t, "CoreRoot", c.CoreRoot, "/var/lib/heartbeat/cores")
			}},
		{name: "bad words", lines: []string{"uuidfrom disk", "hbgenmethod tim", "cluster a/b"},
			want: []string{
				`ha.cf:1: error: uuidfrom: bad value "disk", want file or nodename`,
				`ha.cf:2: error: hbgenmethod: bad value "tim", want file or time (did you mean time?)`,
				`ha.cf:3: error: cluster: "a/b" is not a valid cluster name (letters, digits, '-', '_', '.')`,
			}},
	})
}

func TestHACFReplaced(t *testing.T) {
	runHACFCases(t, []hacfCase{
		{name: "crm respawn", lines: []string{"crm respawn"},
			want:  []string{"ha.cf:1: warning: crm respawn ignored: hbgo places the groups of haresources itself, by raft, without Pacemaker"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Crm", c.Crm, "respawn") }},
		{name: "crm yes", lines: []string{"crm yes"},
			want: []string{"ha.cf:1: warning: crm yes ignored: hbgo places the groups of haresources itself, by raft, without Pacemaker"}},
		{name: "crm off is quiet", lines: []string{"crm off"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Crm", c.Crm, "off") }},
		{name: "pacemaker and crm", lines: []string{"pacemaker off", "crm no"},
			want: []string{"ha.cf:2: warning: crm repeated; this overrides line 1"}},
		{name: "crm typo", lines: []string{"crm respwn"},
			want: []string{`ha.cf:1: error: crm: bad value "respwn", want on, off, respawn, minimal, manual, ccm-only or valgrind (did you mean respawn?)`}},
		{name: "respawn ipfail", lines: []string{"respawn hacluster /usr/lib/heartbeat/ipfail"},
			want: []string{"ha.cf:1: warning: respawn of ipfail ignored: hbgo's ping and ping_group scores replace ipfail"}},
		{name: "respawn other", lines: []string{"respawn root /usr/sbin/mydaemon -f"},
			want: []string{"ha.cf:1: warning: respawn ignored: hbgo starts no other programs; run /usr/sbin/mydaemon as a systemd service"}},
		{name: "respawn missing program", lines: []string{"respawn root"},
			want: []string{"ha.cf:1: error: respawn: missing PROGRAM (syntax: respawn USER PROGRAM ARGS...)"}},
		{name: "apiauth", lines: []string{"apiauth ipfail gid=haclient uid=hacluster"},
			want: []string{"ha.cf:1: warning: apiauth ignored: hbgo's control socket admits only root and the haclient group"}},
		{name: "apiauth bad", lines: []string{"apiauth ping users=alan", "apiauth ping uid=a uid=b", "apiauth ping"},
			want: []string{
				`ha.cf:1: error: apiauth: "users=alan" is neither uid=LIST nor gid=LIST`,
				"ha.cf:2: error: apiauth: second uid list for client ping",
				"ha.cf:3: error: apiauth: missing IDS (syntax: apiauth CLIENT IDS...)",
			}},
		{name: "use_logd", lines: []string{"use_logd yes"},
			want:  []string{"ha.cf:1: warning: use_logd ignored: hbgo writes its own log (logfile, debugfile, logfacility)"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "UseLogd", c.UseLogd, true) }},
		{name: "use_logd off is quiet", lines: []string{"use_logd off"}},
		{name: "stonith", lines: []string{"stonith baytech /etc/ha.d/conf/stonith.baytech", "stonith_host * baytech 10.0.0.3 mylogin secret"},
			want: []string{
				"ha.cf:1: warning: stonith ignored: not needed: hbgo's leases keep a group from running on two nodes at once",
				"ha.cf:2: warning: stonith_host ignored: not needed: hbgo's leases keep a group from running on two nodes at once",
			}},
		{name: "msgfmt and compression", lines: []string{"msgfmt netstring", "compression bz2", "compression_threshold 20", "traditional_compression on"},
			want: []string{
				"ha.cf:1: warning: msgfmt ignored: hbgo's packet format is its own",
				"ha.cf:2: warning: compression ignored: hbgo's packets are small and never compressed",
				"ha.cf:3: warning: compression_threshold ignored: hbgo's packets are small and never compressed",
				"ha.cf:4: warning: traditional_compression ignored: hbgo's packets are small and never compressed",
			},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "MsgFmt", c.MsgFmt, "netstring")
				hacfWantEq(t, "Compression", c.Compression, "bz2")
				hacfWantEq(t, "CompressionThreshold", c.CompressionThreshold, 20)
				hacfWantEq(t, "TraditionalCompression", c.TraditionalCompression, true)
			}},
		{name: "bad value of an ignored directive is an error only", lines: []string{"msgfmt clasic"},
			want: []string{`ha.cf:1: error: msgfmt: bad value "clasic", want classic or netstring (did you mean classic?)`}},
		{name: "pacemaker-only", lines: []string{"crm_daemon_dir /usr/lib/pacemaker", "crmd_spawns_pengine off", "record_config_changes on", "record_pengine_inputs off", "enable_config_writes on"},
			want: []string{
				"ha.cf:1: warning: crm_daemon_dir ignored: hbgo runs no Pacemaker daemons",
				"ha.cf:2: warning: crmd_spawns_pengine ignored: hbgo runs no Pacemaker daemons",
				"ha.cf:3: warning: record_config_changes ignored: it concerns Pacemaker's CIB, which hbgo does not use",
				"ha.cf:4: warning: record_pengine_inputs ignored: it concerns Pacemaker's policy engine, which hbgo does not use",
				"ha.cf:5: warning: enable_config_writes ignored: it concerns Pacemaker's CIB, which hbgo does not use",
			}},
		{name: "misc", lines: []string{"memreserve 6500", "use_apphbd on", "env logpriority=debug", "quorum_server q.example.net"},
			want: []string{
				"ha.cf:1: warning: memreserve ignored: the Go runtime manages hbgo's memory",
				"ha.cf:2: warning: use_apphbd ignored: apphbd is not used; let systemd supervise hbgo",
				"ha.cf:3: warning: env ignored: hbgo starts no respawn clients to pass it to",
				"ha.cf:4: warning: quorum_server ignored: declare a witness instead",
			}},
	})
}

func TestHACFHbgoAdditions(t *testing.T) {
	runHACFCases(t, []hacfCase{
		{name: "defaults", check: func(t *testing.T, c *HAConfig) {
			hacfWantEq(t, "RaftPort", c.RaftPort, 695)
			hacfWantEq(t, "GossipPort", c.GossipPort, 696)
			hacfWantEq(t, "Metrics", c.Metrics, "")
		}},
		{name: "ports", lines: []string{"raft_port 7000", "gossip_port 7001"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "RaftPort", c.RaftPort, 7000)
				hacfWantEq(t, "GossipPort", c.GossipPort, 7001)
				hacfWantEq(t, "Lines[gossip_port]", c.Lines["gossip_port"], 2)
			}},
		{name: "bad ports", lines: []string{"raft_port 0", "gossip_port 99999"},
			want: []string{
				`ha.cf:1: error: raft_port: "0" is not a port (1-65535)`,
				`ha.cf:2: error: gossip_port: "99999" is not a port (1-65535)`,
			}},
		{name: "same ports", lines: []string{"raft_port 7000", "gossip_port 7000"},
			want: []string{"ha.cf:2: error: raft_port and gossip_port are both 7000; they must differ"}},
		{name: "gossip on heartbeat port", lines: []string{"gossip_port 694"},
			want: []string{"ha.cf:1: error: gossip_port 694 is also a heartbeat UDP port; give gossip_port another port"}},
		{name: "gossip on mcast port", lines: []string{"mcast eth0 239.192.0.1 696 1 0"},
			want: []string{"ha.cf:1: error: gossip_port 696 is also a heartbeat UDP port; give gossip_port another port"}},
		{name: "metrics", lines: []string{"metrics 127.0.0.1:9695"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Metrics", c.Metrics, "127.0.0.1:9695") }},
		{name: "metrics forms", lines: []string{"metrics [::1]:9695", "metrics :9695", "metrics lb1.example.net:9695"},
			want: []string{
				"ha.cf:2: warning: metrics repeated; this overrides line 1",
				"ha.cf:3: warning: metrics repeated; this overrides line 2",
			},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Metrics", c.Metrics, "lb1.example.net:9695") }},
		{name: "metrics off", lines: []string{"metrics off"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "Metrics", c.Metrics, "") }},
		{name: "metrics bad", lines: []string{"metrics 9695", "metrics 127.0.0.1:0", "metrics bad/host:80"},
			want: []string{
				`ha.cf:1: error: metrics: "9695" is not ADDR:PORT (like 127.0.0.1:9695, [::1]:9695 or :9695)`,
				`ha.cf:2: error: metrics: "0" is not a port (1-65535)`,
				`ha.cf:3: error: metrics: "bad/host" is neither an IP address nor a host name`,
			}},
		{name: "metrics on raft port", lines: []string{"metrics :695"},
			want: []string{"ha.cf:1: error: metrics port 695 is taken by raft_port or gossip_port"}},
	})
}

func TestHACFSyntax(t *testing.T) {
	runHACFCases(t, []hacfCase{
		{name: "unknown with suggestion", lines: []string{"keepalvie 2"},
			want: []string{"ha.cf:1: error: unknown directive keepalvie (did you mean keepalive?)"}},
		{name: "unknown without suggestion", lines: []string{"frobnicate yes"},
			want: []string{"ha.cf:1: error: unknown directive frobnicate"}},
		{name: "case matters", lines: []string{"Keepalive 2"},
			want: []string{"ha.cf:1: error: unknown directive Keepalive (did you mean keepalive?)"}},
		{name: "odd name is quoted", lines: []string{`"" 2`},
			want: []string{`ha.cf:1: error: unknown directive ""`}},
		{name: "comments, quotes and continuation", lines: []string{"# head", "node 'n3' \\", "   n4 # tail", "keepalive 1 # one second"},
			want: []string{"ha.cf:2: warning: no witness: a crash of the director that leads the placement log moves its groups after up to 120s (an election, then the wait for the leases it granted), not deadtime 30s; add a witness line (a small machine running hbgo as a witness, which then leads)"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "Nodes", c.Nodes, []string{"n3", "n4", "n1", "n2"})
				hacfWantEq(t, "Lines[keepalive]", c.Lines["keepalive"], 4)
			}},
		{name: "every problem reported", lines: []string{"keepalvie 2", "deadtime x", "udpport 0", "bcast"},
			want: []string{
				"ha.cf:1: error: unknown directive keepalvie (did you mean keepalive?)",
				`ha.cf:2: error: deadtime: bad time value "x" (want seconds like 2 or 0.5, or 500ms)`,
				`ha.cf:3: error: udpport: "0" is not a port (1-65535)`,
				"ha.cf:4: error: bcast: missing IFACE (syntax: bcast IFACE...)",
			}},
		{name: "empty file", bare: true,
			want: []string{
				"ha.cf: error: no heartbeat media: add a bcast, mcast, ucast or serial line",
				"ha.cf: error: no node line: list every director with node NAME (or set autojoin any)",
				"ha.cf: warning: auto_failback not set: Heartbeat's default legacy applies, which behaves as on; set auto_failback on or off",
			},
			check: func(t *testing.T, c *HAConfig) {
				want := NewHAConfig("ha.cf")
				if !reflect.DeepEqual(c, want) {
					t.Errorf("empty file gives %+v, want the defaults %+v", c, want)
				}
			}},
	})
}

// TestHACFEveryDirectiveDocumented keeps the directive table and the
// replacement table consistent: a replaced directive must be parseable.
func TestHACFEveryDirectiveDocumented(t *testing.T) {
	for name := range hacfReplacement {
		if _, ok := hacfDirectives[name]; !ok {
			t.Errorf("hacfReplacement names %s, which no directive handles", name)
		}
	}
	for alias, to := range hacfAliases {
		if _, ok := hacfDirectives[alias]; !ok {
			t.Errorf("alias %s is not a directive", alias)
		}
		if _, ok := hacfDirectives[to]; !ok {
			t.Errorf("alias %s points to %s, not a directive", alias, to)
		}
	}
	// Every directive the ha.cf(5) page of Heartbeat 3.0.6 lists.
	for _, name := range strings.Fields(`apiauth autojoin bcast compression compression_threshold
		conn_logd_time coredumps crm pacemaker crm_daemon_dir crmd_spawns_pengine deadtime debug
		hbgenmethod initdead keepalive logfacility mcast mcast6 msgfmt node realtime rtprio ucast
		ucast6 udpport use_logd uuidfrom warntime auto_failback baud deadping debugfile hbaping
		hopfudge logfile ping ping_group respawn serial stonith stonith_host traditional_compression
		watchdog`) {
		if _, ok := hacfDirectives[name]; !ok {
			t.Errorf("ha.cf(5) directive %s is not handled", name)
		}
	}
}

// TestHACFGolden parses complete ha.cf files and compares a dump of the
// result and its diagnostics with testdata/hacf/NAME.golden.
func TestHACFGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "hacf", "*.cf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d golden inputs, want at least 4", len(files))
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".cf")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var ds Diags
			c := ParseHACF(filepath.Base(in), data, &ds)
			got := dumpHACF(c) + "--- diagnostics\n" + ds.String()
			golden := strings.TrimSuffix(in, ".cf") + ".golden"
			checkGolden(t, golden, got, *updateHACF, "go test ./conf -run TestHACFGolden -update-hacf")
		})
	}
}

// dumpHACF renders every field of c, one a line, in declaration order, so a
// new field shows up in the golden files by itself.
func dumpHACF(c *HAConfig) string {
	var b strings.Builder
	v := reflect.ValueOf(c).Elem()
	ty := v.Type()
	for i := 0; i < ty.NumField(); i++ {
		f, fv := ty.Field(i), v.Field(i)
		switch val := fv.Interface().(type) {
		case time.Duration:
			fmt.Fprintf(&b, "%s: %s\n", f.Name, hacfDur(val))
		case []Medium:
			fmt.Fprintf(&b, "%s:\n", f.Name)
			for _, m := range val {
				fmt.Fprintf(&b, "  line %d: %s\n", m.Line, m)
			}
		case []PingGroup:
			fmt.Fprintf(&b, "%s:\n", f.Name)
			for _, g := range val {
				fmt.Fprintf(&b, "  line %d: %s %s\n", g.Line, g.Name, strings.Join(g.Hosts, " "))
			}
		case []string:
			fmt.Fprintf(&b, "%s: [%s]\n", f.Name, strings.Join(val, " "))
		case map[string]int:
			keys := make([]string, 0, len(val))
			for k := range val {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			fmt.Fprintf(&b, "%s:", f.Name)
			for _, k := range keys {
				fmt.Fprintf(&b, " %s=%d", k, val[k])
			}
			b.WriteByte('\n')
		case string:
			fmt.Fprintf(&b, "%s: %q\n", f.Name, val)
		default:
			fmt.Fprintf(&b, "%s: %v\n", f.Name, val)
		}
	}
	return b.String()
}

func TestHACFAnnounce(t *testing.T) {
	runHACFCases(t, []hacfCase{
		{name: "defaults", check: func(t *testing.T, c *HAConfig) {
			hacfWantEq(t, "ArpCount", c.ArpCount, 5)
			hacfWantEq(t, "ArpInterval", c.ArpInterval, 200*time.Millisecond)
			hacfWantEq(t, "ArpRefresh", c.ArpRefresh, time.Duration(0))
		}},
		{name: "set", lines: []string{"arp_count 3", "arp_interval 50ms", "arp_refresh 30"},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "ArpCount", c.ArpCount, 3)
				hacfWantEq(t, "ArpInterval", c.ArpInterval, 50*time.Millisecond)
				hacfWantEq(t, "ArpRefresh", c.ArpRefresh, 30*time.Second)
				hacfWantEq(t, "Lines[arp_refresh]", c.Lines["arp_refresh"], 3)
			}},
		{name: "refresh off", lines: []string{"arp_refresh 10s", "arp_refresh off"},
			want:  []string{"ha.cf:2: warning: arp_refresh repeated; this overrides line 1"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "ArpRefresh", c.ArpRefresh, time.Duration(0)) }},
		{name: "refresh zero", lines: []string{"arp_refresh 0"},
			check: func(t *testing.T, c *HAConfig) { hacfWantEq(t, "ArpRefresh", c.ArpRefresh, time.Duration(0)) }},
		{name: "bad", lines: []string{"arp_count 0", "arp_count many", "arp_interval 0", "arp_interval 11s", "arp_interval soon", "arp_refresh 200ms", "arp_count"},
			want: []string{
				"ha.cf:1: error: arp_count: 0 is out of range 1-100",
				`ha.cf:2: error: arp_count: "many" is not a number`,
				"ha.cf:3: error: arp_interval 0s is out of range: want more than 0 and at most 10s",
				"ha.cf:4: error: arp_interval 11s is out of range: want more than 0 and at most 10s",
				`ha.cf:5: error: arp_interval: bad time value "soon" (want seconds like 2 or 0.5, or 500ms)`,
				"ha.cf:6: error: arp_refresh 200ms is too short: want 0 (off) or at least 1s",
				"ha.cf:7: error: arp_count: missing COUNT (syntax: arp_count COUNT)",
			},
			check: func(t *testing.T, c *HAConfig) {
				hacfWantEq(t, "ArpCount", c.ArpCount, 5)
				hacfWantEq(t, "ArpInterval", c.ArpInterval, 200*time.Millisecond)
				hacfWantEq(t, "ArpRefresh", c.ArpRefresh, time.Duration(0))
			}},
	})
}
