//go:build !unix

package resources

import (
	"errors"
	"os/exec"
)

const processGroups = false

var errNoProcessGroups = errors.New("script resources need process groups, which this system lacks")

func setProcessGroup(*exec.Cmd) {}

func killProcessGroup(int) error { return errNoProcessGroups }
