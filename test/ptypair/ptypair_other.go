//go:build !linux

package ptypair

import "os"

const noctty = 0

// setPipeSize leaves the pipe as the system made it.
func setPipeSize(f *os.File) {}
