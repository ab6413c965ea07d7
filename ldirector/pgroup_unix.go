//go:build unix

package ldirector

import (
	"os/exec"
	"syscall"
)

// inProcessGroup runs c in a process group of its own, killed whole when
// its context ends.
func inProcessGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
}
