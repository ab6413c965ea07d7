package control

import (
	"errors"
	"fmt"
	"net"
	"os/user"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peerOf reads the credentials the kernel recorded when the client
// connected: SO_PEERCRED for uid, gid and pid, SO_PEERGROUPS (Linux 4.13)
// for the supplementary groups, or the user database when the kernel is
// older.
func peerOf(c *net.UnixConn) (peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return peer{}, err
	}
	var (
		cred       *unix.Ucred
		groups     []uint32
		cerr, gerr error
	)
	err = raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if cerr == nil {
			groups, gerr = peerGroups(int(fd))
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return peer{}, fmt.Errorf("SO_PEERCRED: %w", err)
	}
	p := peer{uid: cred.Uid, gid: cred.Gid, pid: cred.Pid, groups: groups}
	if gerr != nil {
		p.groups = userGroups(cred.Uid)
	}
	return p, nil
}

// peerGroups asks for SO_PEERGROUPS, growing the buffer when the kernel
// says it is too small.
func peerGroups(fd int) ([]uint32, error) {
	buf := make([]uint32, 32)
	for range 4 {
		n := uint32(len(buf) * 4)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch e {
		case 0:
			return buf[:n/4], nil
		case unix.ERANGE:
			buf = make([]uint32, n/4+1)
		default:
			return nil, e
		}
	}
	return nil, errors.New("SO_PEERGROUPS: group list keeps growing")
}

// userGroups is the user database's idea of uid's groups.
func userGroups(uid uint32) []uint32 {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil
	}
	var gs []uint32
	for _, id := range ids {
		if n, err := strconv.ParseUint(id, 10, 32); err == nil {
			gs = append(gs, uint32(n))
		}
	}
	return gs
}
