// Package deb tests the Debian package `make deb` builds: its contents,
// an install with dpkg into scratch roots (one with an operator's
// /etc/ha.d that must survive install, reinstall, remove and purge), and
// the installed binary checking the shipped examples.
package deb

import (
	"bufio"
	"bytes"

	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// need skips the test without root or a tool, or fails under CI.
func need(t *testing.T, tools ...string) {
	t.Helper()
	stop := t.Skipf
	if os.Getenv("CI") == "true" {
		stop = t.Fatalf
	}
	if os.Geteuid() != 0 {
		stop("deb: installing with dpkg into a scratch root needs root (euid %d)", os.Geteuid())
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			stop("deb: %s is needed: %v", tool, err)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// entry is one line of dpkg-deb -c.
type entry struct {
	mode, link string
}

func listing(t *testing.T, deb string) map[string]entry {
	m := map[string]entry{}
	sc := bufio.NewScanner(strings.NewReader(run(t, "dpkg-deb", "-c", deb)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		e := entry{mode: f[0]}
		path := strings.TrimPrefix(f[5], ".")
		if len(f) >= 8 && f[6] == "->" {
			e.link = f[7]
		}
		m[strings.TrimSuffix(path, "/")] = e
	}
	return m
}

// scratchRoot is an empty root with a dpkg database.
func scratchRoot(t *testing.T) string {
	r := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(r, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// dpkg runs dpkg on root. The maintainer scripts run outside the root with
// DPKG_ROOT set (the root has no shell to chroot into); they honour it.
func dpkg(t *testing.T, root string, args ...string) string {
	t.Helper()
	return run(t, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--log=/dev/null"}, args...)...)
}

func TestDebPackage(t *testing.T) {
	need(t, "make", "dpkg", "dpkg-deb")
	dist := t.TempDir()
	const version = "1.2.3-4-gabcdef"
	// Its own binary, so that other tests building bin/hbgo at the same
	// time do not race with the packager.
	out := run(t, "make", "-C", "../..", "deb", "VERSION="+version, "DEB_DIR="+dist, "BIN="+filepath.Join(dist, "hbgo"))
	deb := filepath.Join(dist, "hbgo_1.2.3+4+gabcdef_amd64.deb")
	if _, err := os.Stat(deb); err != nil {
		t.Fatalf("make deb made no %s: %v\n%s", filepath.Base(deb), err, out)
	}

	// Control fields; no conffiles at all.
	fields := run(t, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Conflicts")
	for _, want := range []string{"Package: hbgo", "Version: 1.2.3+4+gabcdef", "Architecture: amd64", "Conflicts: heartbeat, ldirectord"} {
		if !strings.Contains(fields, want) {
			t.Errorf("control lacks %q:\n%s", want, fields)
		}
	}
	info := run(t, "dpkg-deb", "-I", deb)
	if strings.Contains(info, "conffiles") {
		t.Errorf("the package has conffiles:\n%s", info)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if !strings.Contains(info, s) {
			t.Errorf("no %s script:\n%s", s, info)
		}
	}

	// Contents: the binary, the links, the unit, docs and examples, the
	// configuration directories and nothing in them.
	ls := listing(t, deb)
	for _, b := range []string{"/usr/sbin/hbgo", "/usr/sbin/hbgo-bgp"} {
		if e := ls[b]; e.mode != "-rwxr-xr-x" {
			t.Errorf("%s: %+v", b, e)
		}
	}
	for l, target := range map[string]string{
		"/usr/sbin/heartbeat": "hbgo", "/usr/sbin/ldirectord": "hbgo",
		"/usr/bin/hb_standby": "../sbin/hbgo", "/usr/bin/hb_takeover": "../sbin/hbgo",
		"/usr/bin/cl_status": "../sbin/hbgo", "/usr/bin/hb_serialtest": "../sbin/hbgo",
	} {
		if e := ls[l]; e.link != target {
			t.Errorf("%s links to %q, want %q", l, e.link, target)
		}
	}
	for _, p := range []string{"/lib/systemd/system/hbgo.service", "/usr/share/doc/hbgo/README.md", "/usr/share/doc/hbgo/install.md",
		"/usr/share/doc/hbgo/examples/README.txt", "/usr/share/doc/hbgo/examples/lvs-pair/ha.cf"} {
		if _, ok := ls[p]; !ok {
			t.Errorf("%s not in the package", p)
		}
	}
	if e := ls["/usr/share/doc/hbgo/examples/lvs-pair/authkeys"]; e.mode != "-rw-------" {
		t.Errorf("example authkeys mode %s, want -rw------- (check-config refuses others)", e.mode)
	}
	for p, e := range ls {
		if strings.HasPrefix(p, "/etc/") && e.mode[0] != 'd' {
			t.Errorf("the package ships %s: it could replace an operator's file", p)
		}
	}
	if e := ls["/etc/ha.d"]; e.mode != "drwxr-xr-x" {
		t.Errorf("/etc/ha.d: %+v", e)
	}

	t.Run("fresh", func(t *testing.T) {
		r := scratchRoot(t)
		if out := dpkg(t, r, "-i", deb); !strings.Contains(out, "examples are in /usr/share/doc/hbgo/examples") {
			t.Errorf("postinst on a machine without ha.cf says nothing of the examples:\n%s", out)
		}
		unit, err := os.ReadFile(filepath.Join(r, "lib/systemd/system/hbgo.service"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Type=notify", "ExecStart=/usr/sbin/hbgo daemon -c /etc/ha.d", "ExecReload=/bin/kill -HUP $MAINPID",
			"WatchdogSec=", "Restart=on-failure", "WantedBy=multi-user.target"} {
			if !bytes.Contains(unit, []byte("\n"+want)) {
				t.Errorf("hbgo.service lacks %q", want)
			}
		}
		hbgo := filepath.Join(r, "usr/sbin/hbgo")
		if out := run(t, hbgo, "version"); strings.TrimSpace(out) != "hbgo "+version {
			t.Errorf("installed hbgo version: %q", out)
		}
		// Every shipped example passes check-config where it lies.
		examples, _ := filepath.Glob(filepath.Join(r, "usr/share/doc/hbgo/examples/*/ha.cf"))
		if len(examples) < 3 {
			t.Fatalf("examples installed: %v", examples)
		}
		for _, ex := range examples {
			dir := filepath.Dir(ex)
			out, err := exec.Command(hbgo, "check-config", "-c", dir).CombinedOutput()
			if err != nil {
				t.Errorf("check-config -c %s: %v\n%s", strings.TrimPrefix(dir, r), err, out)
			}
		}
		// And as the examples' README says: copy one to /etc/ha.d, chmod,
		// check (through the heartbeat link).
		etc := filepath.Join(r, "etc/ha.d")
		run(t, "cp", "-r", filepath.Join(r, "usr/share/doc/hbgo/examples/lvs-pair")+"/.", etc)
		run(t, "chmod", "600", filepath.Join(etc, "authkeys"))
		if out, err := exec.Command(hbgo, "check-config", "-c", etc).CombinedOutput(); err != nil {
			t.Errorf("check-config -c /etc/ha.d after copying lvs-pair: %v\n%s", err, out)
		}
		out, err := exec.Command(filepath.Join(r, "usr/bin/cl_status"), "hbstatus", "--run-dir", t.TempDir()).CombinedOutput()
		if code := exitCode(err); code != 1 || !strings.Contains(string(out), "Heartbeat is stopped on this machine.") {
			t.Errorf("installed cl_status hbstatus without a daemon: exit %d, %q", code, out)
		}
		// Removing leaves the operator's copy.
		dpkg(t, r, "-P", "hbgo")
		if _, err := os.Stat(hbgo); !os.IsNotExist(err) {
			t.Errorf("hbgo still there after purge: %v", err)
		}
		if _, err := os.Stat(filepath.Join(etc, "ha.cf")); err != nil {
			t.Errorf("purge removed /etc/ha.d/ha.cf: %v", err)
		}
	})

	t.Run("existing-ha.d", func(t *testing.T) {
		r := scratchRoot(t)
		etc := filepath.Join(r, "etc/ha.d")
		mine := map[string]struct {
			body string
			mode os.FileMode
		}{
			"ha.cf":             {"# the operator's\nnode a b\n", 0o644},
			"authkeys":          {"auth 1\n1 sha1 theirs\n", 0o600},
			"haresources":       {"a 10.0.0.1\n", 0o640},
			"resource.d/theirs": {"#!/bin/sh\nexit 0\n", 0o750},
			"ldirectord.cf":     {"checktimeout=3\n", 0o644},
		}
		for name, f := range mine {
			p := filepath.Join(etc, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, f.mode)
		}
		os.Chmod(etc, 0o700)
		check := func(when string) {
			t.Helper()
			for name, f := range mine {
				p := filepath.Join(etc, name)
				b, err := os.ReadFile(p)
				fi, serr := os.Stat(p)
				if err != nil || serr != nil || string(b) != f.body || fi.Mode().Perm() != f.mode {
					t.Errorf("after %s: /etc/ha.d/%s changed (%v %v)", when, name, err, serr)
				}
			}
			if fi, err := os.Stat(etc); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("after %s: /etc/ha.d mode changed from 0700 (%v)", when, err)
			}
			entries, _ := os.ReadDir(etc)
			if len(entries) != 5 { // the four files and resource.d
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("after %s: /etc/ha.d holds %v", when, names)
			}
		}
		out := dpkg(t, r, "-i", deb)
		if strings.Contains(out, "examples are in") {
			t.Errorf("postinst speaks of examples on a machine with ha.cf:\n%s", out)
		}
		check("install")
		dpkg(t, r, "-i", deb) // reinstall: the upgrade path of the scripts
		check("reinstall")
		if out := run(t, filepath.Join(r, "usr/sbin/hbgo"), "check-config", "-c", filepath.Join(r, "usr/share/doc/hbgo/examples/lvs-witness")); strings.Contains(out, "error") {
			t.Errorf("check-config on lvs-witness: %s", out)
		}
		dpkg(t, r, "-r", "hbgo")
		check("remove")
		dpkg(t, r, "-P", "hbgo")
		check("purge")
	})
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
