package peers

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hbgo/test/netns"
)

// LdirectordBin is Debian's ldirectord, one Perl script.
const LdirectordBin = "/usr/sbin/ldirectord"

// LdirectordPackages is what EnsureLdirectord installs: ldirectord (its
// Perl modules come as its dependencies) and ipvsadm, whose program a
// stand-in may be bound over.
var LdirectordPackages = []string{LdirectordBin + ":ldirectord", "ipvsadm:ipvsadm", "perl:perl", "unshare:util-linux"}

// EnsureLdirectord installs ldirectord when it is missing (Ensure: no
// service is started) and fails when an ldirectord runs outside a lab
// namespace, as one an install started would.
func EnsureLdirectord() error {
	if err := Ensure(LdirectordPackages...); err != nil {
		return err
	}
	return checkNoStrayLdirectord()
}

// checkNoStrayLdirectord looks for an ldirectord process (a Perl script,
// so found by its command line) in this process's network namespace.
func checkNoStrayLdirectord() error {
	stray := strayProcesses(func(pid, exe string) string {
		if b := filepath.Base(exe); b != "perl" && !strings.HasPrefix(b, "perl5") {
			return ""
		}
		cmd, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), "ldirectord") {
			return ""
		}
		return pid
	})
	if len(stray) > 0 {
		return fmt.Errorf("peers: ldirectord running outside the lab (pid %s, started by a package install?); stop it before benchmarking", strings.Join(stray, ", "))
	}
	return nil
}

// LdirectordSpec is one ldirectord to run in a lab host.
type LdirectordSpec struct {
	// Config is the ldirectord.cf text. "supervised = yes" is put in
	// front, so ldirectord stays in the foreground and logs to its
	// stdout (daemon.log).
	Config string
	// Ipvsadm, when set, is a program bound over ipvsadm in the peer's
	// mount namespace, so ldirectord runs it for every table change and
	// listing (a stand-in on kernels without IPVS).
	Ipvsadm string
	// Env is added to ldirectord's environment (and so its ipvsadm's).
	Env []string
}

// Ldirectord is Debian's ldirectord running in a lab host, in a mount and
// UTS namespace of its own, with a temp dir bound over /run.
type Ldirectord struct {
	node *Node
	// Config is the path of its ldirectord.cf.
	Config string
}

// StartLdirectord starts ldirectord on h with its files in dir (made when
// missing): ldirectord.cf, daemon.log, run/. The process is ldirectord
// itself (ip netns exec, unshare and sh all exec), so PID is the Perl
// process whose CPU and memory are ldirectord's. The lab kills it when
// it closes; Stop kills it sooner.
func StartLdirectord(h *netns.Host, dir string, spec LdirectordSpec) (*Ldirectord, error) {
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		return nil, err
	}
	n := &Node{Name: h.Name(), Host: h, Dir: dir}
	l := &Ldirectord{node: n, Config: filepath.Join(dir, "ldirectord.cf")}
	if err := os.WriteFile(l.Config, []byte("supervised = yes\n"+spec.Config), 0o644); err != nil {
		return nil, err
	}
	var binds [][2]string
	if spec.Ipvsadm != "" {
		// ldirectord runs /sbin/ipvsadm when it is executable, else
		// /usr/sbin/ipvsadm; bind over the one it will take.
		target := ""
		for _, p := range []string{"/sbin/ipvsadm", "/usr/sbin/ipvsadm"} {
			if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
				target = p
				break
			}
		}
		if target == "" {
			return nil, errors.New("peers: ldirectord: no ipvsadm to bind a stand-in over (install ipvsadm)")
		}
		if err := copyFile(spec.Ipvsadm, filepath.Join(dir, "ipvsadm"), 0o755); err != nil {
			return nil, fmt.Errorf("peers: ldirectord: stand-in ipvsadm: %w", err)
		}
		binds = append(binds, [2]string{"ipvsadm", target})
	}
	var sh strings.Builder
	for _, e := range spec.Env {
		k, v, _ := strings.Cut(e, "=")
		fmt.Fprintf(&sh, "export %s=%s\n", k, shq(v))
	}
	fmt.Fprintf(&sh, "exec %s %s start\n", LdirectordBin, shq(l.Config))
	if err := launch(n, binds, sh.String()); err != nil {
		return nil, fmt.Errorf("peers: ldirectord on %s: %w", h.Name(), err)
	}
	return l, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// PID is ldirectord's process id.
func (l *Ldirectord) PID() int { return l.node.proc.PID() }

// Dir holds its files.
func (l *Ldirectord) Dir() string { return l.node.Dir }

// Exited reports whether ldirectord has exited.
func (l *Ldirectord) Exited() bool { return l.node.proc.Exited() }

// Done is closed when ldirectord has exited.
func (l *Ldirectord) Done() <-chan struct{} { return l.node.proc.Done() }

// Log is what ldirectord printed (its log, supervised).
func (l *Ldirectord) Log() string {
	b, _ := os.ReadFile(filepath.Join(l.node.Dir, "daemon.log"))
	return string(b)
}

// LogTail is the last n lines of the log.
func (l *Ldirectord) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(l.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitRunning waits until ldirectord has exec'd into Perl and logged its
// start, or fails with the log's tail when it exits or bound passes.
func (l *Ldirectord) WaitRunning(bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		if l.Exited() {
			return fmt.Errorf("peers: ldirectord exited: %v\n%s", l.node.proc.Wait(), l.LogTail(20))
		}
		if strings.Contains(l.Log(), "Starting Linux Director") {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("peers: ldirectord did not log its start within %v\n%s", bound, l.LogTail(20))
}

// Stop kills ldirectord (SIGKILL, with every process of its group, so
// no clean stop walks the table) and waits for it.
func (l *Ldirectord) Stop() error {
	err := l.node.proc.Kill()
	if l.node.log != nil {
		l.node.log.Close()
		l.node.log = nil
	}
	return err
}
