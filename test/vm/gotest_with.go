package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NetnsModules are the modules the network-namespace harness (test/netns)
// needs in the machine besides DefaultModules: its netlink handles open
// xfrm and netfilter sockets in every namespace.
var NetnsModules = []string{"xfrm_user", "nfnetlink"}

// GoTestOptions adjust RunGoTestsWith.
type GoTestOptions struct {
	// Modules are loaded after DefaultModules.
	Modules []string
	// Bench is the -test.bench pattern; "" runs no benchmarks. With it
	// set, the run pattern usually selects no test ("XXX"), and the
	// result counts as passed when a benchmark reported.
	Bench string
	// BenchTime is -test.benchtime ("1x" when empty).
	BenchTime string
	// Memory is qemu's -m (DefaultMemory if empty).
	Memory string
	// Files are more files for the machine, as Options.Files.
	Files map[string]string
	// Env holds extra KEY=VALUE pairs for the test binary.
	Env []string
}

// RunGoTestsWith is RunGoTests for tests and benchmarks alike, with more
// modules and, for benchmarks, a -test.bench pattern. The benchmark
// lines the machine printed ("BenchmarkX  1  123 ns/op  4.5 metric")
// are in Result.Output, and BenchLines picks them out.
func RunGoTestsWith(tb testing.TB, pkg, run string, o GoTestOptions) *Result {
	tb.Helper()
	SkipUnlessRunnable(tb)
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("vm: the go command is needed to build %s: %v", pkg, err)
	}
	dirOut, err := exec.Command(goTool, "list", "-f", "{{.Dir}}\n{{.ImportPath}}", pkg).Output()
	if err != nil {
		tb.Fatalf("vm: go list %s: %v", pkg, errText(err))
	}
	info := strings.Split(strings.TrimSpace(string(dirOut)), "\n")
	if len(info) != 2 {
		tb.Fatalf("vm: go list %s: want one package, got %q", pkg, dirOut)
	}
	pkgDir, importPath := info[0], info[1]
	bin := BuildTestBinary(tb, pkg)

	timeout := DefaultTimeout
	if t, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := t.Deadline(); ok {
			timeout = time.Until(dl) - 30*time.Second
			if timeout < time.Minute {
				timeout = time.Until(dl) * 9 / 10
			}
		}
	}
	inner := timeout - 20*time.Second
	if inner < timeout/2 {
		inner = timeout / 2
	}
	args := []string{"-test.v", "-test.run", run, "-test.timeout", inner.String(), "-test.count", "1"}
	if o.Bench != "" {
		bt := o.BenchTime
		if bt == "" {
			bt = "1x"
		}
		args = append(args, "-test.bench", o.Bench, "-test.benchtime", bt)
	}
	guestDir := "/hbgo/src/" + importPath
	opts := Options{
		TestBinary: bin,
		Args:       args,
		Timeout:    timeout,
		Dir:        guestDir,
		Console:    tbLogWriter{tb},
		Modules:    append(append([]string(nil), DefaultModules...), o.Modules...),
		Memory:     o.Memory,
	}
	opts.Files = map[string]string{}
	if st, err := os.Stat(filepath.Join(pkgDir, "testdata")); err == nil && st.IsDir() {
		opts.Files[guestDir+"/testdata"] = filepath.Join(pkgDir, "testdata")
	}
	for k, v := range o.Files {
		opts.Files[k] = v
	}
	opts.Env = o.Env
	res, err := Run(context.Background(), opts)
	if res != nil {
		tb.Logf("vm: %s %s: %v", importPath, run, res)
	}
	if err != nil {
		tb.Fatalf("vm: %s: %v", importPath, err)
	}
	var failed, passed []string
	for _, l := range strings.Split(res.Output, "\n") {
		if m := vmFailRE.FindStringSubmatch(l); m != nil {
			failed = append(failed, m[1])
		} else if m := vmPassRE.FindStringSubmatch(l); m != nil {
			passed = append(passed, m[1])
		}
	}
	benched := len(BenchLines(res.Output)) > 0
	switch {
	case len(failed) > 0:
		tb.Errorf("vm: failed inside the VM: %s (exit %d)", strings.Join(failed, ", "), res.ExitCode)
	case res.ExitCode != 0:
		tb.Errorf("vm: test binary exited %d inside the VM", res.ExitCode)
	case o.Bench != "" && !benched:
		tb.Errorf("vm: no benchmark matching %q reported inside the VM", o.Bench)
	case o.Bench == "" && len(passed) == 0:
		tb.Errorf("vm: no test matching %q passed inside the VM (all skipped, or none matched)", run)
	}
	return res
}

// BenchLines returns the result lines of benchmarks in a machine's
// output, each split into its fields: name, iterations, then value and
// unit pairs.
func BenchLines(output string) [][]string {
	var out [][]string
	for _, l := range strings.Split(output, "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && strings.HasPrefix(f[0], "Benchmark") && len(f)%2 == 0 {
			out = append(out, f)
		}
	}
	return out
}

// tbLogWriter sends each console line to tb.Log as it arrives.
type tbLogWriter struct{ tb testing.TB }

func (w tbLogWriter) Write(p []byte) (int, error) {
	w.tb.Log("vm| " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// HostProgram returns the files that carry a dynamically linked program
// of the host into the machine, for GoTestOptions.Files: the program at
// the same path, and each library ldd names (symbolic links resolved) at
// the path the loader looks for it. It fails when the program or ldd is
// missing.
func HostProgram(prog string) (map[string]string, error) {
	p, err := lookTool(prog)
	if err != nil {
		return nil, err
	}
	files := map[string]string{p: p}
	out, err := exec.Command("ldd", p).Output()
	if err != nil {
		return nil, fmt.Errorf("vm: ldd %s: %v", p, errText(err))
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		var lib string
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0] // the loader
		default:
			continue
		}
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			return nil, fmt.Errorf("vm: %s needs %s: %w", p, lib, err)
		}
		files[lib] = real
	}
	return files, nil
}
