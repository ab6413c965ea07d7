package main

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updateCheckConfig = flag.Bool("update-checkconfig", false, "rewrite testdata/checkconfig/*/expected")

// Files of a case directory that describe the case and are not copied into
// the configuration directory.
const (
	ccExpected = "expected" // the lines check-config must print
	ccRemove   = "remove"   // names of base files the case deletes, one a line
	ccInitDir  = "initdir"  // passed as --initdir when present
)

// ccCopyTree copies the regular files under src into dst, keeping their
// permission bits (a script's executable bit matters), and skipping the
// top-level names in skip.
func ccCopyTree(t *testing.T, src, dst string, skip ...string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel != "." && slices.Contains(skip, strings.Split(filepath.ToSlash(rel), "/")[0]) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, data, 0o600); err != nil {
			return err
		}
		// WriteFile's mode is subject to the umask; Chmod is not.
		return os.Chmod(target, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ccRun runs `hbgo check-config ARGS...` and returns its exit code and
// output, with dir (the configuration directory) written as DIR.
func ccRun(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"hbgo", "check-config"}, args...), &out, &errOut)
	clean := func(s string) string {
		if dir == "" {
			return s
		}
		return strings.ReplaceAll(s, dir+string(filepath.Separator), "DIR/")
	}
	return code, clean(out.String()), clean(errOut.String())
}

// TestCheckConfigExamples checks that every shipped example passes with
// no error and no warning, once its authkeys has the mode an operator
// must give it.
func TestCheckConfigExamples(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			dir := t.TempDir()
			ccCopyTree(t, filepath.Join("..", "..", "examples", e.Name()), dir)
			if err := os.Chmod(filepath.Join(dir, "authkeys"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := ccRun(t, dir, "-c", dir, "--initdir", t.TempDir())
			if code != 0 || stdout != "" || stderr != "" {
				t.Errorf("exit %d, want 0 and no output; stdout:\n%sstderr:\n%s", code, stdout, stderr)
			}
		})
	}
	if n < 3 {
		t.Errorf("found %d example directories, want at least 3", n)
	}
}

// TestCheckConfigCases runs check-config on each case of
// testdata/checkconfig: the files of base/, replaced or removed as the case
// directory says, compared with the case's expected output. Exit 1 when it
// lists an error, 0 otherwise; with -q only the errors are printed.
func TestCheckConfigCases(t *testing.T) {
	type ccCase struct {
		name     string
		authMode fs.FileMode // 0 means 0600
	}
	cases := []ccCase{
		{name: "base"},
		{name: "hacf-misspelled"},
		{name: "ldirectord-misspelled"},
		{name: "bad-time"},
		{name: "port-out-of-range"},
		{name: "weight-out-of-range"},
		{name: "unknown-scheduler"},
		{name: "unknown-forwarding-method"},
		{name: "unterminated-quote"},
		{name: "deadtime-not-above-keepalive"},
		{name: "warntime-outside"},
		{name: "initdead-short"},
		{name: "node-not-in-hacf"},
		{name: "group-on-witness"},
		{name: "resource-no-agent"},
		{name: "scripts-resolve"},
		{name: "vip-not-brought-up"},
		{name: "real-listed-twice"},
		{name: "fallback-is-real"},
		{name: "authkeys-mode", authMode: 0o644},
		{name: "authkeys-key-missing"},
		{name: "missing-authkeys"},
		{name: "ldirectord-config-missing"},
		{name: "warnings-only"},
		{name: "ldirectord-logfile-dir"},
		{name: "ldirectord-default-missing"},
	}
	root := filepath.Join("testdata", "checkconfig")

	// Every case directory is in the table, so none is silently skipped.
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && !slices.ContainsFunc(cases, func(c ccCase) bool { return c.name == e.Name() }) {
			t.Errorf("testdata/checkconfig/%s is not in the table of cases", e.Name())
		}
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			caseDir := filepath.Join(root, tc.name)
			dir := t.TempDir()
			ccCopyTree(t, filepath.Join(root, "base"), dir)
			if tc.name != "base" {
				ccCopyTree(t, caseDir, dir, ccExpected, ccRemove, ccInitDir)
			}
			if data, err := os.ReadFile(filepath.Join(caseDir, ccRemove)); err == nil {
				for _, name := range strings.Fields(string(data)) {
					if err := os.Remove(filepath.Join(dir, name)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "authkeys")); err == nil {
				mode := tc.authMode
				if mode == 0 {
					mode = 0o600
				}
				if err := os.Chmod(filepath.Join(dir, "authkeys"), mode); err != nil {
					t.Fatal(err)
				}
			}
			initDir := t.TempDir()
			if _, err := os.Stat(filepath.Join(caseDir, ccInitDir)); err == nil {
				ccCopyTree(t, filepath.Join(caseDir, ccInitDir), initDir)
			}

			code, stdout, stderr := ccRun(t, dir, "-c", dir, "--initdir", initDir)
			if stderr != "" {
				t.Errorf("stderr: %s", stderr)
			}
			expectedFile := filepath.Join(caseDir, ccExpected)
			if *updateCheckConfig {
				if err := os.WriteFile(expectedFile, []byte(stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(expectedFile)
			if err != nil {
				t.Fatalf("%v (run with -update-checkconfig to write it)", err)
			}
			if stdout != string(want) {
				t.Errorf("output differs from %s\ngot:\n%swant:\n%s", expectedFile, stdout, want)
			}
			wantCode := 0
			if strings.Contains(string(want), ": error: ") {
				wantCode = 1
			}
			if code != wantCode {
				t.Errorf("exit %d, want %d", code, wantCode)
			}

			// -q prints the errors only, with the same exit code.
			var errorsOnly strings.Builder
			for _, l := range strings.SplitAfter(string(want), "\n") {
				if strings.Contains(l, ": error: ") {
					errorsOnly.WriteString(l)
				}
			}
			qcode, qout, _ := ccRun(t, dir, "-q", "-c", dir, "--initdir", initDir)
			if qout != errorsOnly.String() || qcode != wantCode {
				t.Errorf("-q: exit %d, output:\n%swant exit %d, output:\n%s", qcode, qout, wantCode, errorsOnly.String())
			}
		})
	}
}

// TestCheckConfigCannotRun checks exit 2, and a message on stderr only,
// when check-config cannot do its work.
func TestCheckConfigCannotRun(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "ha.cf")
	if err := os.WriteFile(file, []byte("keepalive 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"missing directory", []string{"-c", filepath.Join(tmp, "nope")}, "check-config: configuration directory not readable"},
		{"not a directory", []string{"-c", file}, "is not a directory"},
		{"bad flag", []string{"--frobnicate"}, "flag provided but not defined: -frobnicate"},
		{"flag without value", []string{"-c"}, "flag needs an argument: -c"},
		{"extra argument", []string{"-c", tmp, "extra"}, `check-config: unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := ccRun(t, "", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantStderr)
			}
		})
	}
}

// TestCheckConfigDispatch checks that check-config is reached as a
// subcommand of hbgo whatever path hbgo is called by, and that an unknown
// command exits 2 with the usage.
func TestCheckConfigDispatch(t *testing.T) {
	dir := t.TempDir()
	ccCopyTree(t, filepath.Join("testdata", "checkconfig", "base"), dir)
	if err := os.Chmod(filepath.Join(dir, "authkeys"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		argv       []string
		wantCode   int
		wantStderr string
	}{
		{"hbgo", []string{"hbgo", "check-config", "-c", dir, "--initdir", dir}, 0, ""},
		{"path to hbgo", []string{"/usr/local/sbin/hbgo", "check-config", "-c", dir, "--initdir", dir}, 0, ""},
		{"unknown command", []string{"hbgo", "check-confg", "-c", dir}, 2, `hbgo: unknown command "check-confg"`},
		{"unknown link name", []string{"/usr/sbin/check-config", "-c", dir}, 2, `hbgo: unknown command "-c"`},
		{"no command", []string{"hbgo"}, 2, "usage: hbgo COMMAND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tc.argv, &out, &errOut)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.wantCode, errOut.String())
			}
			if tc.wantStderr == "" {
				if out.Len() != 0 || errOut.Len() != 0 {
					t.Errorf("stdout %q, stderr %q, want no output", out.String(), errOut.String())
				}
				return
			}
			if !strings.Contains(errOut.String(), tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tc.wantStderr)
			}
		})
	}
}
