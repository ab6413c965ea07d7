package conf

import (
	"slices"
	"testing"
	"time"
)

// TestHACFHeartbeatForms: forms Heartbeat's own parser takes that hbgo
// once refused or misread: values of list directives split on commas,
// times in msec and usec, and failfast.
func TestHACFHeartbeatForms(t *testing.T) {
	var ds Diags
	c := ParseHACF("ha.cf", []byte("keepalive 500msec\ndeadtime 3000MSEC\nwarntime 1500000usec\n"+
		"bcast eth0,eth1\nserial /dev/ttyS0, /dev/ttyS1\nnode alice,bob\nping 10.0.0.1,10.0.0.2\n"+
		"failfast hacluster /usr/lib/heartbeat/ipfail\n"), &ds)
	if ds.HasErrors() {
		t.Fatalf("errors:\n%s", ds.String())
	}
	if c.Keepalive != 500*time.Millisecond || c.Deadtime != 3*time.Second || c.Warntime != 1500*time.Millisecond {
		t.Errorf("times %v %v %v", c.Keepalive, c.Deadtime, c.Warntime)
	}
	if !slices.Equal(c.Nodes, []string{"alice", "bob"}) {
		t.Errorf("nodes %q", c.Nodes)
	}
	if !slices.Equal(c.Ping, []string{"10.0.0.1", "10.0.0.2"}) {
		t.Errorf("ping %q", c.Ping)
	}
	var ifaces []string
	for _, m := range c.Media {
		if m.Kind == MediumBcast {
			ifaces = append(ifaces, m.Iface)
		}
	}
	if !slices.Equal(ifaces, []string{"eth0", "eth1"}) {
		t.Errorf("bcast interfaces %q", ifaces)
	}
	serial := 0
	for _, m := range c.Media {
		if m.Kind == MediumSerial {
			serial++
		}
	}
	if serial != 2 {
		t.Errorf("%d serial media, want 2", serial)
	}
}

// TestNodeNamesCompareLowercased: as in Heartbeat, node names are
// lowercased in ha.cf and haresources, so their case need not agree.
func TestNodeNamesCompareLowercased(t *testing.T) {
	var ds Diags
	cfg := &Config{HA: ParseHACF("ha.cf", []byte("keepalive 1\ndeadtime 10\nbcast eth0\nnode LVS1 lvs2\n"), &ds),
		Resources: ParseHaresources("haresources", []byte("lvs1 IPaddr::10.0.0.100\nLVS2 IPaddr::10.0.0.101\n"), &ds)}
	crossCheck(cfg, &ds)
	if ds.HasErrors() {
		t.Fatalf("errors:\n%s", ds.String())
	}
	if !slices.Equal(cfg.HA.Nodes, []string{"lvs1", "lvs2"}) || cfg.Resources.Groups[1].Home != "lvs2" {
		t.Errorf("nodes %q, second group's home %q", cfg.HA.Nodes, cfg.Resources.Groups[1].Home)
	}
}
