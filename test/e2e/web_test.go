package e2e

import (
	"net/netip"
	"testing"
)

// TestDryRunLines reads the daemon's dry-run log lines as the forwarder
// does.
func TestDryRunLines(t *testing.T) {
	rs := netip.MustParseAddrPort("10.81.0.11:80")
	for _, c := range []struct {
		line, op string
		real     netip.AddrPort
		weight   int
	}{
		{"Nov 29 14:35:20.055 lvs1 heartbeat: [2248]: info: ipvsadm (dry run) 2026-11-29 14:35:20.054 -a -t 10.81.0.100:80 -r 10.81.0.11:80 -g -w 1", "-a", rs, 1},
		{`time=x level=INFO msg="ipvsadm (dry run) -e -t 10.81.0.100:80 -r 10.81.0.11:80 -g -w 0"`, "-e", rs, 0},
		{"info: ipvsadm (dry run) 2026-11-29 14:35:21.000 -d -t 10.81.0.100:80 -r 10.81.0.11:80", "-d", rs, 1},
		{"info: ipvsadm (dry run) 2026-11-29 14:35:20.054 -A -t 10.81.0.100:80 -s rr", "-A", netip.AddrPort{}, 1},
	} {
		cmd, ok := dryRunCommand(c.line)
		if !ok {
			t.Errorf("%q: no command found", c.line)
			continue
		}
		op, real, w, err := ParseIpvsadm(cmd)
		if err != nil || op != c.op || real != c.real || w != c.weight {
			t.Errorf("%q: got %s %v %d %v, want %s %v %d", c.line, op, real, w, err, c.op, c.real, c.weight)
		}
	}
	for _, bad := range []string{"info: Added real server", "info: ipvsadm (dry run) 2026-11-29", "info: ipvsadm (dry run) -a -t 10.81.0.100:80", "info: ipvsadm (dry run) -x"} {
		if cmd, ok := dryRunCommand(bad); ok {
			if _, _, _, err := ParseIpvsadm(cmd); err == nil {
				t.Errorf("%q: accepted", bad)
			}
		}
	}
}
