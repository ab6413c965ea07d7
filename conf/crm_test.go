package conf

import (
	"strings"
	"testing"
)

// TestCrmRefusesHaresources: with a CRM on, Heartbeat ignores haresources;
// hbgo refuses to run its groups rather than start what the cluster did
// not run, and says how to go on. crm off, or no groups, is fine.
func TestCrmRefusesHaresources(t *testing.T) {
	for _, c := range []struct {
		crm, hares string
		want       bool
	}{
		{"crm respawn\n", "a IPaddr::10.0.0.100\n", true},
		{"pacemaker on\n", "a IPaddr::10.0.0.100\n", true},
		{"crm off\n", "a IPaddr::10.0.0.100\n", false},
		{"", "a IPaddr::10.0.0.100\n", false},
		{"crm on\n", "", false},
	} {
		var ds Diags
		cfg := &Config{HA: ParseHACF("ha.cf", []byte("keepalive 1\ndeadtime 10\nbcast eth0\nnode a b\n"+c.crm), &ds)}
		if c.hares != "" {
			cfg.Resources = ParseHaresources("haresources", []byte(c.hares), &ds)
		}
		crossCheck(cfg, &ds)
		got := strings.Contains(ds.String(), "error: "+strings.TrimSpace(strings.Replace(c.crm, "pacemaker", "crm", 1)))
		if c.crm == "" {
			got = strings.Contains(ds.String(), "Heartbeat ignores haresources")
		}
		if got != c.want {
			t.Errorf("%q with %q: refused %v, want %v:\n%s", c.crm, c.hares, got, c.want, ds.String())
		}
	}
}

// TestAutojoinWithHaresources: autojoin other/any is refused without a
// CRM, as Heartbeat refuses it, so check-config and the daemon (which
// starts only as a listed member) agree.
func TestAutojoinWithHaresources(t *testing.T) {
	for _, c := range []struct {
		lines string
		want  bool
	}{
		{"autojoin any\n", true},
		{"autojoin other\nnode a b\n", true},
		{"autojoin none\nnode a b\n", false},
		{"autojoin any\ncrm on\n", false},
	} {
		var ds Diags
		cfg := &Config{HA: ParseHACF("ha.cf", []byte("keepalive 1\ndeadtime 10\nbcast eth0\n"+c.lines), &ds)}
		crossCheck(cfg, &ds)
		got := strings.Contains(ds.String(), "Heartbeat refuses it with haresources")
		if got != c.want {
			t.Errorf("%q: refused %v, want %v:\n%s", c.lines, got, c.want, ds.String())
		}
	}
}
