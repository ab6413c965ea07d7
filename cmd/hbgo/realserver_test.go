package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// Bad usage exits 2 with the reason, before anything is touched; status
// with nothing set up exits 3 (the namespace test in realserver/ covers
// start and stop on a real kernel).
func TestRealserverUsage(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage: hbgo realserver"},
		{[]string{"start"}, 2, "no VIP given"},
		{[]string{"start", "10.0.0.1/24"}, 2, "host address"},
		{[]string{"restart", "10.0.0.1"}, 2, `unknown action "restart"`},
		{[]string{"stop", "vip"}, 2, "not an IP address"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"hbgo", "realserver", "--state", state}, tc.args...), &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.msg) {
			t.Errorf("realserver %q: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.msg)
		}
	}
}
