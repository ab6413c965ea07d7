package main

import "testing"

func TestStatusGolden(t *testing.T) {
	dirs := daemons(t)
	for _, tc := range []struct {
		name, daemon string
		args         []string
	}{
		{"quorum", "quorum", nil},
		{"twonode", "twonode", nil},
		{"json", "twonode", []string{"--json"}},
		{"stopped", "none", nil},
		{"extra-argument", "quorum", []string{"now"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, "status-"+tc.name, "hbgo status", statusMain, dirs[tc.daemon], tc.args)
		})
	}
}
