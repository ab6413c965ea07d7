package heartbeat

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"hbgo/conf"
)

// SerialLockDir is where OpenSerial takes UUCP-style device locks
// (LCK..ttyS0), shared with other serial tools. Tests point it elsewhere.
var SerialLockDir = "/var/lock"

// Sentinel errors of the serial medium.
var (
	// ErrDeviceInUse: another live process holds the device's lock.
	ErrDeviceInUse = errors.New("serial device in use")
	// ErrLineFull: Send dropped a packet because the line is not keeping
	// up (a second of traffic is already queued).
	ErrLineFull = errors.New("serial line full, packet dropped")
)

// SerialError is a one-line error about a serial device: its Error is
// "/dev/ttyS9: no such device" or "device /dev/ttyS0 is in use by pid 42",
// and it unwraps to the cause (fs.ErrNotExist, fs.ErrPermission,
// ErrDeviceInUse, a syscall error).
type SerialError struct {
	Device  string
	Problem string // "no such device", "permission denied", ...
	PID     int    // holder of the lock, when in use
	Err     error
}

func (e *SerialError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("device %s is in use by pid %d", e.Device, e.PID)
	}
	return e.Device + ": " + e.Problem
}

func (e *SerialError) Unwrap() error { return e.Err }

// SerialBauds are the speeds OpenSerial accepts: those of ha.cf.
func SerialBauds() []int { return slices.Clone(conf.ValidBauds) }

func checkBaud(device string, baud int) error {
	if slices.Contains(conf.ValidBauds, baud) {
		return nil
	}
	s := make([]string, len(conf.ValidBauds))
	for i, b := range conf.ValidBauds {
		s[i] = strconv.Itoa(b)
	}
	return &SerialError{Device: device, Problem: fmt.Sprintf("unsupported baud rate %d (supported: %s)", baud, strings.Join(s, ", "))}
}

// SerialStats counts a serial link's traffic.
type SerialStats struct {
	FrameStats           // what the receiver saw
	SentFrames    uint64 // frames written whole
	SentBytes     uint64 // bytes written to the line, framing included
	Dropped       uint64 // packets refused by Send because the line was full
	WriteTimeouts uint64 // writes cut short because the line did not drain
	Superseded    uint64 // heartbeats replaced by a newer one before they went out (KeepLatest)
}

// SerialLink is a heartbeat medium over a serial cable, raw 8N1 without
// flow control. Send never blocks: it queues at most about one second of
// line time (and at least one largest frame) and refuses packets beyond
// that with ErrLineFull, so a slow or stuck line loses heartbeats, which
// liveness reports, instead of stalling the sender.
type SerialLink struct {
	name     string
	f        *os.File
	lockPath string
	byteTime time.Duration // one byte on the line: 10 bits
	limit    int           // queued bytes allowed, in flight included

	mu      sync.Mutex
	queue   []byte // frames waiting for the writer
	pending int    // bytes queued or being written
	frames  int    // frames in queue
	closed  bool
	latest  bool // KeepLatest
	stats   SerialStats
	wake    chan struct{}
	quit    chan struct{}
	written chan struct{} // closed when the writer exits

	rmu   sync.Mutex
	df    Deframer
	ready [][]byte
	rbuf  []byte
}

func newSerialLink(name string, f *os.File, lockPath string, baud int) *SerialLink {
	l := &SerialLink{
		name:     name,
		f:        f,
		lockPath: lockPath,
		byteTime: time.Second * 10 / time.Duration(baud),
		limit:    max(baud/10, FrameSize(MaxPacket)),
		wake:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		written:  make(chan struct{}),
		rbuf:     make([]byte, 4096),
	}
	go l.writer()
	return l
}

// Name is the device as configured.
func (l *SerialLink) Name() string { return l.name }

// KeepLatest makes the link carry heartbeats: a packet queued while an
// older one still waits replaces it (the newer one says everything the
// older said, newer), and the writer hands the line one batch at a time
// and waits its line time before the next, so that frames wait here,
// where a newer one can replace them, rather than in the device's buffer.
// A heartbeat then spends about two frame times on a busy line instead of
// up to a second behind older ones, which matters to every timing that
// counts a round trip over the cable.
func (l *SerialLink) KeepLatest() {
	l.mu.Lock()
	l.latest = true
	l.mu.Unlock()
}

// Send frames pkt and queues it for the line.
func (l *SerialLink) Send(pkt []byte) error {
	frame, err := AppendFrame(nil, pkt)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.latest && l.frames > 0 {
		// A newer heartbeat carries newer state: the older one, still
		// waiting, goes.
		l.pending -= len(l.queue)
		l.queue = l.queue[:0]
		l.stats.Superseded += uint64(l.frames)
		l.frames = 0
	}
	if l.pending+len(frame) > l.limit {
		l.stats.Dropped++
		return ErrLineFull
	}
	l.queue = append(l.queue, frame...)
	l.pending += len(frame)
	l.frames++
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

// writer moves queued frames to the device, one write per batch, each
// bounded by a deadline of twice its line time plus a second.
func (l *SerialLink) writer() {
	defer close(l.written)
	var batch []byte
	for {
		select {
		case <-l.quit:
			return
		case <-l.wake:
		}
		l.mu.Lock()
		batch = append(batch[:0], l.queue...)
		frames := l.frames
		l.queue = l.queue[:0]
		l.frames = 0
		l.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		deadline := time.Now().Add(2*time.Duration(len(batch))*l.byteTime + time.Second)
		_ = l.f.SetWriteDeadline(deadline) // a device without deadlines blocks instead
		n, err := l.f.Write(batch)
		l.mu.Lock()
		l.pending -= len(batch)
		l.stats.SentBytes += uint64(n)
		if n == len(batch) {
			l.stats.SentFrames += uint64(frames)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			l.stats.WriteTimeouts++
		}
		latest := l.latest
		l.mu.Unlock()
		if latest {
			// Let the line carry this batch before handing it the next.
			select {
			case <-l.quit:
				return
			case <-time.After(time.Duration(n) * l.byteTime):
			}
		}
	}
}

// Drain waits until every queued frame has been handed to the device, or
// the timeout passes.
func (l *SerialLink) Drain(timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		pending, closed := l.pending, l.closed
		l.mu.Unlock()
		if pending == 0 {
			return nil
		}
		if closed {
			return ErrClosed
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s: %d bytes still queued after %v", l.name, pending, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Recv returns the next intact packet from the line. Corrupt frames and
// noise are counted in Stats, never returned.
func (l *SerialLink) Recv(buf []byte) (int, string, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	for len(l.ready) == 0 {
		n, err := l.f.Read(l.rbuf)
		if n > 0 {
			l.df.Feed(l.rbuf[:n], func(p []byte) {
				l.ready = append(l.ready, append([]byte(nil), p...))
			})
			l.mu.Lock()
			l.stats.FrameStats = l.df.Stats()
			l.mu.Unlock()
		}
		if err != nil {
			if l.isClosed() {
				return 0, l.name, ErrClosed
			}
			if errors.Is(err, io.EOF) {
				return 0, l.name, fmt.Errorf("%s: hangup", l.name)
			}
			return 0, l.name, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	p := l.ready[0]
	l.ready[0] = nil
	l.ready = l.ready[1:]
	n := copy(buf, p)
	if n < len(p) {
		return n, l.name, io.ErrShortBuffer
	}
	return n, l.name, nil
}

func (l *SerialLink) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Stats returns the link's counters.
func (l *SerialLink) Stats() SerialStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Close drops what is still queued, closes the device (a blocked Recv
// returns ErrClosed) and releases the lock.
func (l *SerialLink) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.quit)
	err := l.f.Close()
	<-l.written
	unlockDevice(l.lockPath)
	if err != nil {
		return fmt.Errorf("%s: close: %w", l.name, err)
	}
	return nil
}

// lockName is the UUCP lock file name of a device: LCK.. and the path
// below /dev with slashes as underscores (LCK..ttyS0, LCK..pts_3), so the
// names other tools use for the same device agree.
func lockName(real string) string {
	rel, ok := strings.CutPrefix(real, "/dev/")
	if !ok {
		rel = filepath.Base(real)
	}
	return "LCK.." + strings.ReplaceAll(rel, "/", "_")
}

// lockDevice takes the UUCP lock of a device whose symlinks are resolved
// in real: the lock file holds our PID as ten ASCII digits and a newline.
// It is made under a temporary name and hard-linked into place, so no
// other process ever reads a half-written lock. A lock whose process is
// gone is removed; a live one is ErrDeviceInUse.
func lockDevice(dir, device, real string) (string, error) {
	path := filepath.Join(dir, lockName(real))
	tmp, err := os.CreateTemp(dir, "LTMP.")
	if err != nil {
		return "", &SerialError{Device: device, Problem: "cannot create lock: " + errText(err), Err: err}
	}
	defer os.Remove(tmp.Name())
	_, err = fmt.Fprintf(tmp, "%10d\n", os.Getpid())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return "", &SerialError{Device: device, Problem: "cannot write lock: " + errText(err), Err: err}
	}
	for range 3 {
		err := os.Link(tmp.Name(), path)
		if err == nil {
			return path, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", &SerialError{Device: device, Problem: "cannot lock: " + errText(err), Err: err}
		}
		pid, ok := readLockPID(path)
		if ok && pidAlive(pid) {
			return "", &SerialError{Device: device, PID: pid, Err: ErrDeviceInUse}
		}
		// Stale (dead process or unreadable contents): take it over.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", &SerialError{Device: device, Problem: "cannot remove stale lock: " + errText(err), Err: err}
		}
	}
	return "", &SerialError{Device: device, Problem: "lock keeps changing hands", Err: ErrDeviceInUse}
}

// readLockPID reads an HDB-style (ASCII) lock; ok is false for a file
// that holds no positive PID.
func readLockPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 64 {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// unlockDevice removes a lock only if it is still ours.
func unlockDevice(path string) {
	if path == "" {
		return
	}
	if pid, ok := readLockPID(path); ok && pid == os.Getpid() {
		os.Remove(path)
	}
}

// errText is the cause of a file error without the operation and path,
// which the caller's message already names.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}
