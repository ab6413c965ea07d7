//go:build linux

package resources

import (
	"errors"
	"strings"
	"testing"
)

func defaultRouteLine(t testing.TB, l *vipLab) string {
	t.Helper()
	out, err := l.d1.Run("ip", "route", "show", "default")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func TestIPsrcaddrNetns(t *testing.T) {
	l := newVIPLab(t)
	src := newAgent(t, "IPsrcaddr::192.0.2.100/24", Env{})
	if _, err := l.d1.Run("ip", "route", "add", "default", "via", "192.0.2.254"); err != nil {
		t.Fatal(err)
	}
	// Not on the host yet.
	var oe *OpError
	if err := in(t, l.d1, src.Start); !errors.As(err, &oe) || !strings.Contains(err.Error(), "not on this host") {
		t.Fatalf("start before the address: %v", err)
	}
	vip := newAgent(t, "IPaddr2::192.0.2.100/24/eth0", Env{})
	if err := in(t, l.d1, vip.Start); err != nil {
		t.Fatal(err)
	}
	for _, before := range []string{"", "192.0.2.1"} {
		if before != "" {
			if _, err := l.d1.Run("ip", "route", "replace", "default", "via", "192.0.2.254", "src", before); err != nil {
				t.Fatal(err)
			}
		}
		if st := status(t, l.d1, src); st != Stopped {
			t.Fatalf("status before start: %v", st)
		}
		for range 2 {
			if err := in(t, l.d1, src.Start); err != nil {
				t.Fatal(err)
			}
		}
		if got := defaultRouteLine(t, l); !strings.Contains(got, "via 192.0.2.254 dev eth0") || !strings.Contains(got, "src 192.0.2.100") {
			t.Fatalf("ip route show default after start: %q", got)
		}
		if st := status(t, l.d1, src); st != Running {
			t.Fatalf("status after start: %v", st)
		}
		for range 2 {
			if err := in(t, l.d1, src.Stop); err != nil {
				t.Fatal(err)
			}
		}
		got := defaultRouteLine(t, l)
		if strings.Contains(got, "192.0.2.100") || (before != "" && !strings.Contains(got, "src "+before)) || (before == "" && strings.Contains(got, "src")) {
			t.Fatalf("ip route show default after stop: %q, want the source it had (%q)", got, before)
		}
		if st := status(t, l.d1, src); st != Stopped {
			t.Fatalf("status after stop: %v", st)
		}
	}
	if err := in(t, l.d1, vip.Stop); err != nil {
		t.Fatal(err)
	}
}
