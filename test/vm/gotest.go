package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// InVM reports whether this process runs inside the machine (its /init
// set InVMEnv). Inner halves of VM tests skip unless it is true.
func InVM() bool { return os.Getenv(InVMEnv) == "1" }

// CI reports whether the tests run under CI, where nothing may skip.
func CI() bool { return os.Getenv("CI") == "true" }

// SkipUnlessRunnable skips t when the machine cannot run here and this is
// not CI: in -short mode, inside the machine already, or without root and
// without qemu. Under CI=true it never skips (Assets installs what is
// missing, or the test fails).
func SkipUnlessRunnable(t testing.TB) {
	t.Helper()
	if InVM() {
		t.Skip("already inside the VM")
	}
	if CI() {
		return
	}
	if testing.Short() {
		t.Skip("VM tests boot qemu; skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
			t.Skip("VM tests need qemu-system-x86_64, or root to install it")
		}
	}
}

var (
	vmFailRE = regexp.MustCompile(`^\s*--- FAIL: (\S+)`)
	vmPassRE = regexp.MustCompile(`^\s*--- PASS: (\S+)`)
)

// RunGoTests builds the tests of package pkg (an import path, or a path
// relative to the caller's directory) as a static binary, runs those
// matching the -test.run pattern run inside the machine with the default
// modules, streams the machine's console into t.Log, and fails t when any
// test there fails, when none passes, or when the machine does not report
// an exit code. The package's testdata directory, if any, goes along, and
// the binary runs in the package's directory as go test would. It skips
// as SkipUnlessRunnable says.
func RunGoTests(t *testing.T, pkg string, run string) *Result {
	t.Helper()
	SkipUnlessRunnable(t)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("vm: the go command is needed to build %s: %v", pkg, err)
	}
	dirOut, err := exec.Command(goTool, "list", "-f", "{{.Dir}}\n{{.ImportPath}}", pkg).Output()
	if err != nil {
		t.Fatalf("vm: go list %s: %v", pkg, errText(err))
	}
	info := strings.Split(strings.TrimSpace(string(dirOut)), "\n")
	if len(info) != 2 {
		t.Fatalf("vm: go list %s: want one package, got %q", pkg, dirOut)
	}
	pkgDir, importPath := info[0], info[1]

	bin := BuildTestBinary(t, pkg)

	// Leave the host's -timeout room to report, and the inner binary
	// room to print its own goroutine dump before the machine is killed.
	timeout := DefaultTimeout
	if dl, ok := t.Deadline(); ok {
		timeout = time.Until(dl) - 30*time.Second
		if timeout < time.Minute {
			timeout = time.Until(dl) * 9 / 10
		}
	}
	inner := timeout - 20*time.Second
	if inner < timeout/2 {
		inner = timeout / 2
	}
	guestDir := "/hbgo/src/" + importPath
	opts := Options{
		TestBinary: bin,
		Args:       []string{"-test.v", "-test.run", run, "-test.timeout", inner.String(), "-test.count", "1"},
		Timeout:    timeout,
		Dir:        guestDir,
		Console:    tLogWriter{t},
	}
	if st, err := os.Stat(filepath.Join(pkgDir, "testdata")); err == nil && st.IsDir() {
		opts.Files = map[string]string{guestDir + "/testdata": filepath.Join(pkgDir, "testdata")}
	}
	res, err := Run(context.Background(), opts)
	if res != nil {
		t.Logf("vm: %s %s: %v", importPath, run, res)
	}
	if err != nil {
		t.Fatalf("vm: %s: %v", importPath, err)
	}
	var failed, passed []string
	for _, l := range strings.Split(res.Output, "\n") {
		if m := vmFailRE.FindStringSubmatch(l); m != nil {
			failed = append(failed, m[1])
		} else if m := vmPassRE.FindStringSubmatch(l); m != nil {
			passed = append(passed, m[1])
		}
	}
	switch {
	case len(failed) > 0:
		t.Errorf("vm: failed inside the VM: %s (exit %d)", strings.Join(failed, ", "), res.ExitCode)
	case res.ExitCode != 0:
		t.Errorf("vm: test binary exited %d inside the VM", res.ExitCode)
	case len(passed) == 0:
		t.Errorf("vm: no test matching %q passed inside the VM (all skipped, or none matched)", run)
	}
	return res
}

// BuildTestBinary compiles the tests of package pkg into a static
// linux/amd64 binary in a temporary directory of t and returns its path.
func BuildTestBinary(t testing.TB, pkg string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("vm: the go command is needed to build %s: %v", pkg, err)
	}
	bin := filepath.Join(t.TempDir(), "vm.test")
	build := exec.Command(goTool, "test", "-c", "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("vm: go test -c %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// tLogWriter sends each console line to t.Log as it arrives.
type tLogWriter struct{ t *testing.T }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log("vm| " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func errText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err.Error()
}
