//go:build unix

package resources

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// processGroups says whether scripts can run in a process group of their
// own, which is what lets a timeout kill a script with its children.
const processGroups = true

var errNoProcessGroups error

// setProcessGroup makes the script the leader of a new process group.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup kills every process of the group led by pid.
func killProcessGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}
