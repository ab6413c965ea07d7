package vm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hbgo/test/vm"
)

// TestVMIPVS is the host half of the smoke test: it boots the machine and
// runs TestInVMIPVS there, failing when the inner half fails or skips.
func TestVMIPVS(t *testing.T) {
	res := vm.RunGoTests(t, "hbgo/test/vm", "^TestInVMIPVS$")
	if res != nil {
		t.Logf("boot %v, total %v", res.Boot, res.Total)
	}
}

// TestVMRun checks Run's contract with the machine: arguments, environment,
// working directory, extra files and modules reach the binary, its exit
// code comes back, and a hung machine is killed at the timeout.
func TestVMRun(t *testing.T) {
	vm.SkipUnlessRunnable(t)
	bin := vm.BuildTestBinary(t, "hbgo/test/vm")
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "x"), []byte("file x\n"), 0o644))
	must(t, os.MkdirAll(filepath.Join(src, "tree", "a"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "tree", "a", "b"), []byte("file b\n"), 0o600))
	must(t, os.Symlink("a/b", filepath.Join(src, "tree", "l")))

	t.Run("contract", func(t *testing.T) {
		res, err := vm.Run(context.Background(), vm.Options{
			TestBinary: bin,
			Args:       []string{"-test.run", "^TestInVMContract$", "-test.v"},
			Env:        []string{"HBGO_VM_T=it's ok"},
			Dir:        "/work dir",
			Modules:    []string{"veth"},
			Files:      map[string]string{"/data/x": filepath.Join(src, "x"), "/data/tree": filepath.Join(src, "tree")},
			Timeout:    5 * time.Minute,
		})
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		t.Logf("%v\n%s", res, res.Output)
		if res.ExitCode != 7 || !strings.Contains(res.Output, "contract held\n") {
			t.Errorf("exit %d, want 7 with \"contract held\" printed", res.ExitCode)
		}
		if res.Boot <= 0 || res.Total < res.Boot {
			t.Errorf("boot %v, total %v", res.Boot, res.Total)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		res, err := vm.Run(context.Background(), vm.Options{
			TestBinary: bin,
			Args:       []string{"-test.run", "^TestInVMHang$"},
			Modules:    []string{},
			Timeout:    4 * time.Second,
		})
		if !errors.Is(err, vm.ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		if took := time.Since(start); took > 30*time.Second || res == nil || res.ExitCode != -1 {
			t.Errorf("took %v, result %v; want a kill after about 4s and no exit code", took, res)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
