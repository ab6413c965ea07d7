//go:build linux

package ptypair

import (
	"os"

	"golang.org/x/sys/unix"
)

const noctty = unix.O_NOCTTY

// setPipeSize shrinks a pipe to one page, the least Linux allows. It goes
// through SyscallConn: File.Fd would make the pipe blocking and end its
// deadlines.
func setPipeSize(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 4096)
	})
}
