package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeInstall: `make install` puts the binary and every operator link
// under DESTDIR/PREFIX, and each link behaves as its command.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed: %v", err)
	}
	dest := t.TempDir()
	cmd := exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest, "PREFIX=/usr")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, p := range []string{"sbin/hbgo", "sbin/heartbeat", "sbin/ldirectord", "bin/hb_standby", "bin/hb_takeover", "bin/cl_status", "bin/hb_serialtest"} {
		path := filepath.Join(dest, "usr", p)
		if fi, err := os.Stat(path); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s: not installed as an executable (%v)", p, err)
		}
	}
	out, err := exec.Command(filepath.Join(dest, "usr/bin/cl_status"), "hbstatus", "--run-dir", t.TempDir()).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "Heartbeat is stopped on this machine.") {
		t.Errorf("installed cl_status hbstatus without a daemon: exit %d, %q", code, out)
	}
	out, err = exec.Command(filepath.Join(dest, "usr/sbin/hbgo"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "hbgo ") {
		t.Errorf("installed hbgo version: %v %q", err, out)
	}
}
