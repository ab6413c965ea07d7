package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Programs of the peers and the Debian packages that ship them.
const (
	KeepalivedBin   = "/usr/sbin/keepalived"
	HeartbeatBin    = "/usr/libexec/heartbeat/heartbeat"
	HeartbeatShare  = "/usr/share/heartbeat"
	installDeadline = 10 * time.Minute
)

// KeepalivedPackages and HeartbeatPackages are what Ensure is given: the
// program that must exist and its package. Heartbeat's IPaddr agent calls
// ifconfig (net-tools is only recommended by resource-agents).
var (
	KeepalivedPackages = []string{KeepalivedBin + ":keepalived", "unshare:util-linux"}
	HeartbeatPackages  = []string{HeartbeatBin + ":heartbeat", "ifconfig:net-tools", "nsenter:util-linux", "unshare:util-linux"}
)

// policyRC tells invoke-rc.d not to start any service during an install.
const (
	policyRC     = "/usr/sbin/policy-rc.d"
	policyRCDeny = "#!/bin/sh\n# written by an hbgo benchmark for the time of one apt-get install\nexit 101\n"
)

var installMu sync.Mutex

// Ensure installs, with apt-get, the package of each "program:package"
// pair whose program is missing (a path, or a name looked up in PATH and
// the sbin dirs). During the install /usr/sbin/policy-rc.d denies every
// service start, and what was there before is put back. It then checks
// that no peer daemon runs outside a lab namespace. It needs root.
func Ensure(pairs ...string) error {
	installMu.Lock()
	defer installMu.Unlock()
	var missing []string
	for _, p := range pairs {
		prog, pkg, ok := strings.Cut(p, ":")
		if !ok {
			return fmt.Errorf("peers: ensure %q: want program:package", p)
		}
		if !have(prog) && !contains(missing, pkg) {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	// resource-agents (Heartbeat's) depends on inetutils-ping or
	// iputils-ping and apt takes the first, which replaces iputils' ping
	// (and ping -6) that the tests use: name iputils-ping so it stays.
	missing = append(missing, "iputils-ping")
	if os.Geteuid() != 0 {
		return fmt.Errorf("peers: %s missing and not root to install it", strings.Join(missing, ", "))
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("peers: %s missing and no apt-get to install it", strings.Join(missing, ", "))
	}
	restore, err := denyServiceStarts()
	if err != nil {
		return err
	}
	defer restore()
	ctx, cancel := context.WithTimeout(context.Background(), installDeadline)
	defer cancel()
	out, err := aptGet(ctx, append([]string{"install", "-y", "--no-install-recommends"}, missing...)...)
	if err != nil {
		// The package lists may be missing or stale: update once and retry.
		if o, e := aptGet(ctx, "update"); e != nil {
			return fmt.Errorf("peers: apt-get update: %v\n%s", e, tail(o))
		}
		if out, err = aptGet(ctx, append([]string{"install", "-y", "--no-install-recommends"}, missing...)...); err != nil {
			return fmt.Errorf("peers: apt-get install %s: %v\n%s", strings.Join(missing, " "), err, tail(out))
		}
	}
	for _, p := range pairs {
		if prog, pkg, _ := strings.Cut(p, ":"); !have(prog) {
			return fmt.Errorf("peers: %s still missing after installing %s", prog, pkg)
		}
	}
	return CheckNoStrayDaemons()
}

func have(prog string) bool {
	if strings.Contains(prog, "/") {
		st, err := os.Stat(prog)
		return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
	}
	if _, err := exec.LookPath(prog); err == nil {
		return true
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if st, err := os.Stat(filepath.Join(d, prog)); err == nil && st.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func aptGet(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// denyServiceStarts writes a policy-rc.d that denies every start and
// returns what puts the previous state back.
func denyServiceStarts() (func(), error) {
	old, err := os.ReadFile(policyRC)
	existed := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("peers: read %s: %w", policyRC, err)
	}
	var mode os.FileMode = 0o755
	if st, err := os.Stat(policyRC); err == nil {
		mode = st.Mode().Perm()
	}
	if err := os.WriteFile(policyRC, []byte(policyRCDeny), 0o755); err != nil {
		return nil, fmt.Errorf("peers: write %s: %w", policyRC, err)
	}
	return func() {
		if existed {
			_ = os.WriteFile(policyRC, old, mode)
			_ = os.Chmod(policyRC, mode)
		} else {
			_ = os.Remove(policyRC)
		}
	}, nil
}

// CheckNoStrayDaemons fails when a keepalived or heartbeat process runs in
// this process's own network namespace, as a service an install started
// would: benchmarks run them only inside lab namespaces. It stops nothing.
func CheckNoStrayDaemons() error {
	stray := strayProcesses(func(pid, exe string) string {
		if exe != KeepalivedBin && exe != HeartbeatBin {
			return ""
		}
		return pid + " " + filepath.Base(exe)
	})
	if len(stray) > 0 {
		return fmt.Errorf("peers: daemons running outside the lab (started by a package install?): %s; stop them before benchmarking", strings.Join(stray, ", "))
	}
	return nil
}

// strayProcesses lists, for every process in this process's own network
// namespace, what name says of it (pid and its executable's path);
// processes name returns "" for are left out. It finds nothing when /proc
// cannot be read.
func strayProcesses(name func(pid, exe string) string) []string {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var stray []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err != nil {
			continue
		}
		n := name(e.Name(), exe)
		if n == "" {
			continue
		}
		if ns, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && ns == self {
			stray = append(stray, n)
		}
	}
	return stray
}
