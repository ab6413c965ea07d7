package main

import (
	"testing"
	"time"

	"hbgo/crm"
	"hbgo/crm/control/controltest"
)

func TestStatusGolden(t *testing.T) {
	dirs := daemons(t)
	dirs["ipvs"] = t.TempDir()
	controltest.Serve(t, dirs["ipvs"], &controltest.Fake{StatusValue: ipvsStatus()})
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	defer func(f func() time.Time) { statusNow = f }(statusNow)
	statusNow = func() time.Time { return now }
	for _, tc := range []struct {
		name, daemon string
		args         []string
	}{
		{"quorum", "quorum", nil},
		{"twonode", "twonode", nil},
		{"split", "split", nil},
		{"json-split", "split", []string{"--json"}},
		{"json", "twonode", []string{"--json"}},
		{"stopped", "none", nil},
		{"extra-argument", "quorum", []string{"now"}},
		{"ipvs", "ipvs", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, "status-"+tc.name, "hbgo status", statusMain, dirs[tc.daemon], tc.args)
		})
	}
}

// ipvsStatus is a director with two ldirectors: one whose services show
// every health a real server can have, one that does not run.
func ipvsStatus() *crm.Status {
	st := controltest.QuorumStatus()
	at := time.Date(2025, 3, 1, 9, 59, 58, 700_000_000, time.UTC)
	st.Ldirectors = []crm.LdirectorStatus{
		{Config: "/etc/ha.d/ldirectord.cf", Table: "kernel", Virtuals: []crm.VirtualStatus{
			{Protocol: "TCP", Addr: "10.0.0.100:80", Scheduler: "wrr", Reals: []crm.RealStatus{
				{Addr: "10.0.0.11:80", Forward: "Route", Weight: 3, ActiveConn: 12, InActConn: 40, Health: "up",
					LastCheck: at, LastResult: "ok", Latency: crm.Duration(1234 * time.Microsecond)},
				{Addr: "10.0.0.12:80", Forward: "Route", Weight: 0, Health: "quiescent", ActiveConn: 1, InActConn: 2,
					LastCheck: at, LastResult: "dial tcp 10.0.0.12:80: connect: connection refused", Latency: crm.Duration(300 * time.Microsecond)},
				{Addr: "10.0.0.13:80", Forward: "Route", Weight: -1, Health: "down",
					LastCheck: at.Add(-5 * time.Second), LastResult: "timeout after 5s"},
				{Addr: "10.0.0.14:80", Forward: "Route", Weight: -1, Health: "maintenance"},
			}},
			{Protocol: "UDP", Addr: "10.0.0.100:53", Scheduler: "rr", Persistent: crm.Duration(300 * time.Second), Reals: []crm.RealStatus{
				{Addr: "10.0.0.21:53", Forward: "Masq", Weight: -1, Health: "down", LastCheck: at, LastResult: "no answer"},
				{Addr: "127.0.0.1:53", Forward: "Route", Weight: 1, Health: "fallback"},
			}},
			{Protocol: "FWM", Addr: "5", Scheduler: "sh", Reals: []crm.RealStatus{
				{Addr: "[2001:db8::11]:0", Forward: "Tunnel", Weight: 1, Health: "up", LastCheck: at, LastResult: "ok", Latency: crm.Duration(2 * time.Second)},
			}},
		}},
		{Config: "/etc/ha.d/other.cf", Table: "kernel", Error: "virtual 10.0.0.200:80: no such address"},
	}
	return st
}
