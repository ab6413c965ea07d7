package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const kaTestdata = "../../kaimport/testdata/"

// TestImportKeepalivedThenCheckConfig runs the command as an operator
// would: import a pair into a directory, then check-config on it.
func TestImportKeepalivedThenCheckConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ha.d")
	var out, errb bytes.Buffer
	code := run([]string{"hbgo", "import", "keepalived", "-o", dir, kaTestdata + "dr-master.conf", kaTestdata + "dr-backup.conf"}, &out, &errb)
	if code != 0 {
		t.Fatalf("import exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "not carried (ldirectord.cf): "+kaTestdata+"dr-master.conf:44: delay_before_retry 2:") {
		t.Errorf("stderr lacks the not-carried list:\n%s", errb.String())
	}
	fi, err := os.Stat(filepath.Join(dir, "authkeys"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("authkeys mode %04o, want 0600", fi.Mode().Perm())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"hbgo", "check-config", "-c", dir}, &out, &errb); code != 0 {
		t.Fatalf("check-config exit %d\n%s%s", code, out.String(), errb.String())
	}

	// A second import into the same directory refuses to overwrite...
	errb.Reset()
	code = run([]string{"hbgo", "import", "keepalived", "-o", dir, kaTestdata + "web-sorry.conf"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "already has ha.cf, authkeys, haresources, ldirectord.cf; give --force") {
		t.Errorf("overwrite without --force: exit %d\n%s", code, errb.String())
	}
	// ...unless forced, flags after the file included.
	errb.Reset()
	if code := run([]string{"hbgo", "import", "keepalived", kaTestdata + "web-sorry.conf", "-o", dir, "--force", "--node-names", "web-a,web-b"}, &out, &errb); code != 0 {
		t.Fatalf("forced import exit %d\n%s", code, errb.String())
	}
	hacf, err := os.ReadFile(filepath.Join(dir, "ha.cf"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(hacf, []byte("node\t\tweb-a\nnode\t\tweb-b\n")) {
		t.Errorf("ha.cf does not name web-a and web-b:\n%s", hacf)
	}
	if code := run([]string{"hbgo", "check-config", "-c", dir}, &out, &errb); code != 0 {
		t.Fatalf("check-config after forced import exit %d\n%s", code, out.String())
	}
}

func TestImportKeepalivedStdout(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"hbgo", "import", "keepalived", kaTestdata + "include/keepalived.conf"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	for _, h := range []string{"==> ha.cf (mode 0644) <==", "==> authkeys (mode 0600) <==", "==> haresources (mode 0644) <==", "==> ldirectord.cf (mode 0644) <=="} {
		if !strings.Contains(out.String(), h) {
			t.Errorf("stdout lacks %q", h)
		}
	}
	if !strings.Contains(out.String(), "virtual=203.0.113.5:25\n") {
		t.Errorf("the service of the included conf.d/smtp.conf is missing:\n%s", out.String())
	}
}

func TestImportKeepalivedErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "keepalived.conf")
	text := "vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n\nvirtual_server 10.0.0.2 80 {\n    lb_algo rr\n}\n"
	if err := os.WriteFile(bad, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"hbgo", "import", "keepalived", "-o", filepath.Join(dir, "out"), bad}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errb.String())
	}
	for _, want := range []string{
		bad + ":1: error: unbalanced '{': the block of vrrp_instance is never closed (missing '}')",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("output directory made despite errors")
	}

	for _, args := range [][]string{
		{"hbgo", "import"},
		{"hbgo", "import", "heartbeat", bad},
		{"hbgo", "import", "keepalived"},
		{"hbgo", "import", "keepalived", bad, bad, bad},
		{"hbgo", "import", "keepalived", "--node-names", "a", bad},
		{"hbgo", "import", "keepalived", "--bogus", bad},
	} {
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args[1:], code)
		}
	}
}
