//go:build linux

package heartbeat

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/tarm/serial"
	"golang.org/x/sys/unix"
)

// OpenSerial opens a serial device as a heartbeat link: it checks the baud
// rate, takes the device's UUCP lock in SerialLockDir, and sets the line
// raw, 8N1, no flow control, through tarm/serial.
func OpenSerial(device string, baud int) (*SerialLink, error) {
	if err := checkBaud(device, baud); err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(device)
	if err != nil {
		return nil, openError(device, err)
	}
	if st, err := os.Stat(real); err == nil && st.Mode()&fs.ModeCharDevice == 0 {
		return nil, &SerialError{Device: device, Problem: "not a serial device"}
	}
	lock, err := lockDevice(SerialLockDir, device, real)
	if err != nil {
		return nil, err
	}
	// Our own descriptor, non-blocking and in the runtime's poller, gives
	// read and write deadlines and lets Close interrupt a blocked Recv;
	// tarm/serial sets the line discipline through a second descriptor,
	// which is per device, then lets go of it.
	f, err := os.OpenFile(real, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		unlockDevice(lock)
		return nil, openError(device, err)
	}
	port, err := serial.OpenPort(&serial.Config{Name: real, Baud: baud})
	if err != nil {
		f.Close()
		unlockDevice(lock)
		return nil, openError(device, err)
	}
	port.Close()
	// Bytes that waited in the driver before we came are from before us.
	// (Through SyscallConn: File.Fd would make the descriptor blocking.)
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIFLUSH)
		})
	}
	return newSerialLink(device, f, lock, baud), nil
}

// openError turns a failure to open a device into one line.
func openError(device string, err error) error {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case errors.Is(err, fs.ErrNotExist), errno == unix.ENXIO, errno == unix.ENODEV:
		return &SerialError{Device: device, Problem: "no such device", Err: err}
	case errors.Is(err, fs.ErrPermission):
		p := "permission denied"
		if g := deviceGroup(device); g != "" {
			p += " (the device belongs to group " + g + ")"
		}
		return &SerialError{Device: device, Problem: p, Err: err}
	case errno == unix.ENOTTY, errno == unix.EINVAL:
		return &SerialError{Device: device, Problem: "not a serial device", Err: err}
	case errno == unix.EBUSY:
		return &SerialError{Device: device, Problem: "device busy", Err: err}
	}
	return &SerialError{Device: device, Problem: errText(err), Err: err}
}

func deviceGroup(device string) string {
	st, err := os.Stat(device)
	if err != nil {
		return ""
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	gid := strconv.Itoa(int(sys.Gid))
	if g, err := user.LookupGroupId(gid); err == nil {
		return g.Name
	}
	return gid
}

// pidAlive reports whether a process exists; EPERM means it does, owned by
// someone else.
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
