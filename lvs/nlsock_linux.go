package lvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nlSock is a blocking generic netlink socket: a request is one sendto
// and the replies are read with recvfrom, bounded by SO_RCVTIMEO. It
// spares each request the runtime poller's round trips, which a table of
// a thousand services, read one service at a time, pays a thousand
// times. Replies that do not carry the request's sequence number are
// dropped.
type nlSock struct {
	fd      int
	seq     uint32
	buf     []byte
	timeout time.Duration // SO_RCVTIMEO as last set
}

// Request flags of netlink headers.
const (
	nlmFRequest = unix.NLM_F_REQUEST
	nlmFAck     = unix.NLM_F_ACK
	nlmFDump    = unix.NLM_F_DUMP
)

// recvSlice is the longest single wait in recvfrom, so that a cancelled
// context is seen soon even when it has no deadline.
const recvSlice = 250 * time.Millisecond

// openNLSock opens a generic netlink socket in the network namespace
// whose file is ns ("" for the caller's).
func openNLSock(ns string) (*nlSock, error) {
	var fd int
	var err error
	if ns == "" {
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	} else {
		fd, err = socketIn(ns)
	}
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netlink socket: %w", err)
	}
	// Extended acknowledgements carry the kernel's reason with an error;
	// strict checking refuses attributes the kernel does not know.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	return &nlSock{fd: fd, seq: uint32(time.Now().UnixNano()), buf: make([]byte, 256<<10)}, nil
}

// socketIn makes the socket on a thread switched into namespace ns; the
// socket stays in it for its life.
func socketIn(ns string) (int, error) {
	target, err := os.Open(ns)
	if err != nil {
		return -1, err
	}
	defer target.Close()
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("enter namespace: %w", err)}
			return
		}
		fd, serr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked and ends with this goroutine, so
			// no other goroutine runs in the wrong namespace.
			if serr == nil {
				unix.Close(fd)
			}
			ch <- result{-1, fmt.Errorf("leave namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{fd, serr}
	}()
	r := <-ch
	return r.fd, r.err
}

func (s *nlSock) close() error { return unix.Close(s.fd) }

// setTimeout sets SO_RCVTIMEO when it differs from the last one set.
func (s *nlSock) setTimeout(d time.Duration) error {
	if d < time.Millisecond {
		d = time.Millisecond
	}
	d = d.Round(time.Millisecond)
	if d == s.timeout {
		return nil
	}
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	s.timeout = d
	return nil
}

// request sends one generic netlink request and returns the attribute
// data of every reply (after the generic header). With nlmFAck it waits
// for the acknowledgement, with nlmFDump for the end of the dump, with
// neither for the first reply. It gives up at deadline with ErrTimeout,
// or when ctx ends with its error.
func (s *nlSock) request(ctx context.Context, deadline time.Time, family uint16, cmd uint8, flags uint16, attrs []byte) ([][]byte, error) {
	s.seq++
	seq := s.seq
	msg := make([]byte, unix.NLMSG_HDRLEN+4+len(attrs))
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], family)
	binary.NativeEndian.PutUint16(msg[6:], nlmFRequest|flags)
	binary.NativeEndian.PutUint32(msg[8:], seq)
	msg[16], msg[17] = cmd, 1 // generic header: command, version
	copy(msg[20:], attrs)
	if err := unix.Sendto(s.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var out [][]byte
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, ErrTimeout
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.setTimeout(min(wait, recvSlice)); err != nil {
			return nil, err
		}
		n, _, err := unix.Recvfrom(s.fd, s.buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		b := s.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return nil, fmt.Errorf("netlink: malformed reply of %d bytes in %d", l, len(b))
			}
			typ := binary.NativeEndian.Uint16(b[4:])
			mflags := binary.NativeEndian.Uint16(b[6:])
			mseq := binary.NativeEndian.Uint32(b[8:])
			data := b[unix.NLMSG_HDRLEN:l]
			if next := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1); next < len(b) {
				b = b[next:]
			} else {
				b = nil
			}
			if mseq != seq {
				continue // a late reply to a request that timed out
			}
			switch typ {
			case unix.NLMSG_ERROR:
				if len(data) < 4 {
					return nil, fmt.Errorf("netlink: short error reply")
				}
				if e := int32(binary.NativeEndian.Uint32(data)); e != 0 {
					return nil, unix.Errno(-e)
				}
				return out, nil // the acknowledgement
			case unix.NLMSG_DONE:
				return out, nil
			default:
				if len(data) < 4 {
					return nil, fmt.Errorf("netlink: short reply")
				}
				out = append(out, append([]byte(nil), data[4:]...))
				if flags&(nlmFAck|nlmFDump) == 0 && mflags&unix.NLM_F_MULTI == 0 {
					return out, nil
				}
			}
		}
	}
}

// familyID asks the generic netlink controller for a family's number.
func (s *nlSock) familyID(ctx context.Context, name string) (uint16, error) {
	const (
		genlIDCtrl         = 0x10
		ctrlCmdGetFamily   = 3
		ctrlAttrFamilyID   = 1
		ctrlAttrFamilyName = 2
	)
	ae := netlink.NewAttributeEncoder()
	ae.String(ctrlAttrFamilyName, name)
	attrs, err := ae.Encode()
	if err != nil {
		return 0, err
	}
	replies, err := s.request(ctx, time.Now().Add(CallTimeout), genlIDCtrl, ctrlCmdGetFamily, 0, attrs)
	if err != nil {
		return 0, err
	}
	for _, r := range replies {
		ad, err := netlink.NewAttributeDecoder(r)
		if err != nil {
			return 0, err
		}
		for ad.Next() {
			if ad.Type() == ctrlAttrFamilyID {
				return ad.Uint16(), nil
			}
		}
	}
	return 0, fmt.Errorf("no family id in the controller's reply")
}
