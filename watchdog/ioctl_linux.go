//go:build linux

package watchdog

import (
	"os"

	"golang.org/x/sys/unix"
)

// setTimeout asks the driver for a timeout in seconds and returns the one
// it granted (drivers round to what the hardware can do).
func setTimeout(f *os.File, secs int) (int, error) {
	fd := int(f.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, secs); err != nil {
		return 0, err
	}
	got, err := unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
	if err != nil {
		return secs, nil
	}
	return got, nil
}
