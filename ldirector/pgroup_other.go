//go:build !unix

package ldirector

import "os/exec"

// inProcessGroup: process groups are a unix thing; the command alone is
// killed when its context ends.
func inProcessGroup(*exec.Cmd) {}
