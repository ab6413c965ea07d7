package vm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
	return RunGoTestsWith(t, pkg, run, GoTestOptions{})
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

func errText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err.Error()
}
