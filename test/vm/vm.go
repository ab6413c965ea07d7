// Package vm runs Go test binaries inside a small qemu virtual machine whose Debian kernel has IPVS, for tests the host kernel cannot serve.
package vm

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors callers may branch on.
var (
	// ErrUnsupported is returned on systems other than Linux on amd64.
	ErrUnsupported = errors.New("vm: the IPVS virtual machine needs a Linux amd64 host")
	// ErrTimeout is returned by Run when the machine had to be killed.
	ErrTimeout = errors.New("vm: timed out, qemu killed")
	// ErrNoExit is returned by Run when the machine stopped without /init
	// reporting the test binary's exit code (a kernel panic, a crash).
	ErrNoExit = errors.New("vm: machine stopped without reporting an exit code")
	// ErrModule is returned by Run when a kernel module failed to load.
	ErrModule = errors.New("vm: kernel module failed to load")
)

// InVMEnv is the environment variable that /init sets to "1" for the test
// binary; tests that must only run inside the machine check it (InVM).
const InVMEnv = "HBGO_IN_VM"

// DefaultModules are loaded when Options.Modules is nil: IPVS with every
// scheduler, and what the network namespace labs need.
var DefaultModules = []string{
	"ip_vs",
	"ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sh", "ip_vs_sed", "ip_vs_nq", "ip_vs_mh", "ip_vs_fo",
	"ip_vs_ovf", // ip_vs_twos arrived in Linux 6.7, after Debian 12's kernel
	"veth", "bridge", "dummy",
}

// Defaults for the zero values of Options.
const (
	DefaultMemory  = "512M"
	DefaultTimeout = 10 * time.Minute
)

// AssetSet is what a machine is built from, all cached on the host.
type AssetSet struct {
	// Release is the kernel release, as `uname -r` prints it in the VM.
	Release string
	// Kernel is the bzImage qemu boots.
	Kernel string
	// ModulesDir is lib/modules/<Release> of the kernel, with modules.dep.
	ModulesDir string
	// Busybox is a statically linked busybox.
	Busybox string
	// Qemu is the qemu-system-x86_64 binary.
	Qemu string
}

// Options says what one run of the machine does.
type Options struct {
	// TestBinary is the host path of a statically linked program (usually
	// a Go test binary built with CGO_ENABLED=0) that /init runs.
	TestBinary string
	// Args are passed to TestBinary.
	Args []string
	// Env holds extra KEY=VALUE pairs for TestBinary; InVMEnv=1 is always set.
	Env []string
	// Dir is the working directory of TestBinary in the machine ("/" if
	// empty); it is created when missing.
	Dir string
	// Modules are loaded, with their dependencies, before TestBinary runs.
	// nil means DefaultModules; an empty non-nil slice loads none.
	Modules []string
	// Memory is qemu's -m (DefaultMemory if empty).
	Memory string
	// Timeout bounds the whole run (DefaultTimeout if zero); the context
	// passed to Run may end it sooner.
	Timeout time.Duration
	// Files are extra files copied into the initramfs: absolute path in
	// the machine → host path (a directory is copied with its contents).
	Files map[string]string
	// Console, when set, receives every console line as it arrives.
	Console io.Writer
}

// Result is what one run of the machine produced.
type Result struct {
	// ExitCode is TestBinary's exit status as /init saw it.
	ExitCode int
	// Output is the serial console without carriage returns and without
	// the harness's own marker lines.
	Output string
	// Boot is the time from starting qemu to /init's first line.
	Boot time.Duration
	// Total is the time from starting qemu to its exit.
	Total time.Duration
}

// String summarises a result for logs.
func (r *Result) String() string {
	return fmt.Sprintf("exit %d, boot %v, total %v", r.ExitCode, r.Boot.Round(time.Millisecond), r.Total.Round(time.Millisecond))
}
