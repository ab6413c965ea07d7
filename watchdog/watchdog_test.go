//go:build linux

package watchdog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeNode's loop passes are set by the test.
type fakeNode struct{ last atomic.Int64 }

func (f *fakeNode) LastPass() time.Time { return time.Unix(0, f.last.Load()) }

// fifoReader collects what is written to a FIFO (the stand-in for
// /dev/watchdog: softdog would reboot the machine the tests run on).
type fifoReader struct {
	mu   sync.Mutex
	data []byte
	eof  chan struct{}
}

func newFifo(t *testing.T) (string, *fifoReader) {
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// O_RDWR would keep the FIFO open for writing too and hide the
	// writer's close; open read-only without blocking instead.
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.SetNonblock(fd, false)
	f := os.NewFile(uintptr(fd), path)
	r := &fifoReader{eof: make(chan struct{})}
	go func() {
		defer close(r.eof)
		buf := make([]byte, 64)
		for {
			n, err := f.Read(buf)
			r.mu.Lock()
			r.data = append(r.data, buf[:n]...)
			seen := len(r.data) > 0
			r.mu.Unlock()
			switch {
			case n > 0:
			case err == io.EOF && seen:
				return // the writer closed
			case err == io.EOF || err == nil:
				time.Sleep(5 * time.Millisecond) // no writer yet
			default:
				return
			}
		}
	}()
	t.Cleanup(func() { f.Close() })
	return path, r
}

func isAgain(err error) bool {
	return strings.Contains(err.Error(), "resource temporarily unavailable")
}

func (r *fifoReader) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.data...)
}

// The device is written every keepalive while the loop passes, not while
// it is silent for more than deadtime, again once it runs; a clean stop
// writes 'V' last and closes. The FIFO refuses the timeout ioctl, which is
// logged, not fatal.
func TestFeedsFIFO(t *testing.T) {
	path, r := newFifo(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	n := &fakeNode{}
	n.last.Store(time.Now().UnixNano())
	stopLoop := make(chan struct{})
	loopDone := make(chan struct{})
	var silent atomic.Bool
	go func() { // the node's loop, every 20ms
		defer close(loopDone)
		for {
			select {
			case <-stopLoop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if !silent.Load() {
				n.last.Store(time.Now().UnixNano())
			}
		}
	}()
	defer func() { close(stopLoop); <-loopDone }()

	keepalive := 50 * time.Millisecond
	w := Start(context.Background(), path, n, Options{Name: "n1", Logger: logger, Keepalive: keepalive, Deadtime: 200 * time.Millisecond})
	if w == nil {
		t.Fatalf("Start returned nothing; log:\n%s", logs.String())
	}
	time.Sleep(time.Second)
	got := len(r.bytes())
	// 1s at one write per 50ms: about 20, and surely more than 8.
	if got < 8 {
		t.Errorf("%d writes in 1s at keepalive %v", got, keepalive)
	}
	if bytes.ContainsRune(r.bytes(), 'V') {
		t.Error("'V' written while running")
	}

	silent.Store(true)
	time.Sleep(400 * time.Millisecond) // deadtime passes
	before := len(r.bytes())
	time.Sleep(500 * time.Millisecond)
	if after := len(r.bytes()); after != before {
		t.Errorf("%d writes while the loop was silent for longer than deadtime", after-before)
	}
	silent.Store(false)
	time.Sleep(500 * time.Millisecond)
	if after := len(r.bytes()); after-before < 3 {
		t.Errorf("only %d writes after the loop ran again", after-before)
	}

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.eof:
	case <-time.After(5 * time.Second):
		t.Fatal("the device was not closed")
	}
	b := r.bytes()
	if len(b) == 0 || b[len(b)-1] != 'V' {
		t.Errorf("last byte written %q, want 'V' (magic close)", b[max(0, len(b)-5):])
	}
	logMu.Lock()
	l := logs.String()
	logMu.Unlock()
	for _, want := range []string{"cannot set its timeout to 2s", "no longer feeding watchdog", "feeding watchdog " + path, "disarmed"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// A device that is missing is logged, and the daemon runs without it.
func TestMissingDevice(t *testing.T) {
	var logs bytes.Buffer
	w := Start(context.Background(), filepath.Join(t.TempDir(), "nope"), &fakeNode{}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Keepalive: time.Second, Deadtime: time.Second})
	if w != nil {
		t.Fatal("Start on a missing device returned a feeder")
	}
	if !strings.Contains(logs.String(), "Cannot open the watchdog") {
		t.Errorf("log: %s", logs.String())
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close on nil: %v", err)
	}
	if Start(context.Background(), "", &fakeNode{}, Options{}) != nil {
		t.Error("Start without a device returned a feeder")
	}
}

func TestTimeout(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{
		500 * time.Millisecond:  2 * time.Second,
		30 * time.Second:        30 * time.Second,
		2500 * time.Millisecond: 3 * time.Second,
	} {
		if got := Timeout(d); got != want {
			t.Errorf("Timeout(%v) = %v, want %v", d, got, want)
		}
	}
}
