package conf

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseHACF feeds arbitrary text to ParseHACF. Whatever the input, the
// parser must not panic, must return a configuration, and must place every
// diagnostic on a line of the file; a file it accepts without error must
// satisfy the invariants the daemon relies on.
func FuzzParseHACF(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "hacf", "*.cf"))
	for _, in := range inputs {
		if data, err := os.ReadFile(in); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		"bcast eth0\nnode a b\nauto_failback on\n",
		"keepalive 100ms\ndeadtime 500ms\nwarntime 300ms\nucast eth0 10.0.0.1\nnode a\n",
		"mcast eth0 239.192.0.1 694 1 0\nmcast6 eth1 ff12::1 694 1 0\nwitness w\nnode a b\n",
		"udpport 700\nbcast eth0\nudpport 701\nserial /dev/ttyS0\nbaud 38400\nserial /dev/ttyS1\n",
		"ucast6 eth1 fe80::1%eth1\nping6 2001:db8::1\nping_group g 10.0.0.1 h.example\nautojoin any\n",
		"node 'a b' \"c\" \\\n d\nkeepalvie 2\nmetrics [::1]:9695\nraft_port 7000\ngossip_port 7000\n",
		"crm respawn\nrespawn hacluster /usr/lib/heartbeat/ipfail\napiauth x uid=a gid=b\nnice_failback on\n",
		"deadtime 1\ninitdead 0.5\ndeadping 1\ndebug 999\nrtprio 0\nbaud 1\n\x00\xff\n",
		"bcast eth0:0 'eth 1' ''\nnode ''\n\"\n",
		"mcast eth0 224.0.0.1 65535 255 1\nmetrics :65535\nlogfile rel\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ds Diags
		c := ParseHACF("ha.cf", data, &ds)
		if c == nil {
			t.Fatal("nil configuration")
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, d := range ds {
			if d.File != "ha.cf" || d.Line < 0 || d.Line > lines || d.Msg == "" {
				t.Fatalf("misplaced diagnostic %q (file has %d lines)", d, lines)
			}
			if strings.ContainsAny(d.Msg, "\n") {
				t.Fatalf("diagnostic spans lines: %q", d)
			}
		}
		for k, l := range c.Lines {
			if _, ok := hacfDirectives[k]; !ok || l < 1 || l > lines {
				t.Fatalf("Lines[%q] = %d", k, l)
			}
		}
		if ds.HasErrors() {
			return
		}
		// Accepted: what the rest of hbgo may take for granted.
		if c.Keepalive <= 0 || c.Deadtime <= c.Keepalive {
			t.Fatalf("accepted keepalive %v, deadtime %v", c.Keepalive, c.Deadtime)
		}
		if len(c.Media) == 0 {
			t.Fatal("accepted a file without media")
		}
		if len(c.Nodes) == 0 && c.Autojoin == "none" {
			t.Fatal("accepted a file without nodes")
		}
		for _, m := range c.Media {
			switch m.Kind {
			case MediumSerial:
				if !strings.HasPrefix(m.Device, "/") || !hacfValidBaud(m.Baud) {
					t.Fatalf("accepted serial medium %+v", m)
				}
			case MediumBcast, MediumUcast, MediumMcast:
				if _, ok := hacfCheckIface(m.Iface); !ok || m.Port < 1 || m.Port > 65535 {
					t.Fatalf("accepted UDP medium %+v", m)
				}
				if m.Kind == MediumMcast && (!m.Group.IsMulticast() || m.TTL < 1 || m.TTL > 255) {
					t.Fatalf("accepted mcast medium %+v", m)
				}
				if m.Kind == MediumUcast && m.Peer == "" {
					t.Fatalf("accepted ucast medium %+v", m)
				}
			default:
				t.Fatalf("unknown medium kind %q", m.Kind)
			}
		}
		for _, w := range c.Witnesses {
			for _, n := range c.Nodes {
				if strings.EqualFold(w, n) {
					t.Fatalf("accepted %s as node and witness", w)
				}
			}
		}
		if c.RaftPort == c.GossipPort || c.RaftPort < 1 || c.GossipPort < 1 {
			t.Fatalf("accepted raft_port %d, gossip_port %d", c.RaftPort, c.GossipPort)
		}
		switch c.AutoFailback {
		case "on", "off", "legacy":
		default:
			t.Fatalf("accepted auto_failback %q", c.AutoFailback)
		}
		if c.Debug < 0 || c.Debug > 255 {
			t.Fatalf("accepted debug %d", c.Debug)
		}
	})
}

func hacfValidBaud(b int) bool {
	for _, v := range ValidBauds {
		if v == b {
			return true
		}
	}
	return false
}
