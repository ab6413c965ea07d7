//go:build linux

package sdnotify_test

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hbgo/test/cluster"
)

// notifySocket is what systemd listens on: a unix datagram socket whose
// messages the test keeps with their arrival times.
type notifySocket struct {
	mu   sync.Mutex
	msgs []msg
}

type msg struct {
	at   time.Time
	text string
}

func listenNotify(t *testing.T) (string, *notifySocket) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &notifySocket{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, msg{time.Now(), string(buf[:n])})
			s.mu.Unlock()
		}
	}()
	return path, s
}

// first is the first message holding line, after since.
func (s *notifySocket) first(line string, since time.Time) (msg, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if !m.at.Before(since) && hasLine(m.text, line) {
			return m, true
		}
	}
	return msg{}, false
}

func (s *notifySocket) count(line string, from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		if !m.at.Before(from) && m.at.Before(to) && hasLine(m.text, line) {
			n++
		}
	}
	return n
}

func (s *notifySocket) wait(t *testing.T, line string, since time.Time, bound time.Duration) msg {
	t.Helper()
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		if m, ok := s.first(line, since); ok {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q from the daemon within %v; got %q", line, bound, s.all())
	return msg{}
}

func (s *notifySocket) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		out = append(out, m.text)
	}
	return out
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line || (strings.HasSuffix(line, "=") && strings.HasPrefix(l, line)) {
			return true
		}
	}
	return false
}

// watchdogFIFO stands in for /dev/watchdog (softdog would reboot the
// machine the tests run on) and records every byte written with its time.
type watchdogFIFO struct {
	mu    sync.Mutex
	times []time.Time
	data  []byte
	eof   chan struct{}
}

func newWatchdogFIFO(t *testing.T) (string, *watchdogFIFO) {
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.SetNonblock(fd, false)
	f := os.NewFile(uintptr(fd), path)
	t.Cleanup(func() { f.Close() })
	w := &watchdogFIFO{eof: make(chan struct{})}
	go func() {
		defer close(w.eof)
		buf := make([]byte, 256)
		for {
			n, err := f.Read(buf)
			now := time.Now()
			w.mu.Lock()
			for _, b := range buf[:n] {
				w.data = append(w.data, b)
				w.times = append(w.times, now)
			}
			seen := len(w.data) > 0
			w.mu.Unlock()
			switch {
			case n > 0:
			case err == io.EOF && seen:
				return
			case err == io.EOF || err == nil:
				time.Sleep(5 * time.Millisecond)
			default:
				return
			}
		}
	}()
	return path, w
}

func (w *watchdogFIFO) count(from, to time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.times {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// TestDaemonSystemdAndWatchdog runs the real daemon on two directors in
// namespaces; n1 has NOTIFY_SOCKET and WATCHDOG_USEC as systemd sets them,
// and ha.cf's watchdog naming a FIFO. READY=1 comes after n1 has heard n2
// and started its group, WATCHDOG=1 and the watchdog writes keep coming,
// both stop while the daemon is frozen (SIGSTOP) and resume after; a
// SIGTERM brings STOPPING=1 and the magic close 'V'.
func TestDaemonSystemdAndWatchdog(t *testing.T) {
	c := cluster.New(t, cluster.Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1"}})
	sock, notes := listenNotify(t)
	dev, dog := newWatchdogFIFO(t)
	hacf := filepath.Join(c.Members["n1"].ConfDir, "ha.cf")
	f, err := os.OpenFile(hacf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("watchdog " + dev + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	c.Start("n2")
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "1000000") // WatchdogSec=1: a ping every 500ms
	t0 := time.Now()
	c.Start("n1")

	ready := notes.wait(t, "READY=1", t0, 30*time.Second)
	var started time.Time
	for _, r := range c.Records() {
		if r.Op == "START" && r.Node == "n1" && r.Group == "g1" {
			started = r.At
		}
	}
	if started.IsZero() || !started.Before(ready.at) {
		t.Fatalf("READY=1 at %v, before g1 started on n1 (%v)", ready.at.Format(time.StampMicro), started)
	}
	if !strings.Contains(ready.text, "STATUS=") || !strings.Contains(ready.text, "running: testres::g1") {
		t.Errorf("READY=1 without the status line naming g1: %q", ready.text)
	}
	t.Logf("READY=1 %v after start, %v after g1 started", ready.at.Sub(t0).Round(time.Millisecond), ready.at.Sub(started).Round(time.Millisecond))

	// Pings and writes keep coming: over 3s, about 6 pings and 30 writes.
	from := time.Now()
	time.Sleep(3 * time.Second)
	to := time.Now()
	if n := notes.count("WATCHDOG=1", from, to); n < 4 {
		t.Errorf("%d WATCHDOG=1 in 3s at WATCHDOG_USEC=1000000", n)
	}
	if n := dog.count(from, to); n < 10 {
		t.Errorf("%d watchdog writes in 3s at keepalive 100ms", n)
	}

	// Frozen: nothing for as long as it is frozen.
	frozeAt := c.Freeze("n1")
	time.Sleep(2 * time.Second)
	// The window ends before SIGCONT: the thawed daemon may ping before
	// Thaw returns. A message already on its way at the freeze may be
	// read a little after it on a loaded machine.
	frozenTo := time.Now()
	thawAt := c.Thaw("n1")
	if n := notes.count("WATCHDOG=1", frozeAt.Add(300*time.Millisecond), frozenTo); n != 0 {
		t.Errorf("%d WATCHDOG=1 while the daemon was frozen", n)
	}
	if n := dog.count(frozeAt.Add(300*time.Millisecond), frozenTo); n != 0 {
		t.Errorf("%d watchdog writes while the daemon was frozen", n)
	}
	time.Sleep(3 * time.Second)
	if n := notes.count("WATCHDOG=1", thawAt, time.Now()); n < 3 {
		t.Errorf("%d WATCHDOG=1 in 3s after the thaw", n)
	}
	if n := dog.count(thawAt, time.Now()); n < 10 {
		t.Errorf("%d watchdog writes in 3s after the thaw", n)
	}

	termAt := time.Now()
	c.Signal("n1", syscall.SIGTERM)
	notes.wait(t, "STOPPING=1", termAt, 10*time.Second)
	if err := c.WaitExit("n1", 60*time.Second); err != nil {
		t.Fatalf("n1 after SIGTERM: %v", err)
	}
	select {
	case <-dog.eof:
	case <-time.After(5 * time.Second):
		t.Fatal("the watchdog device is still open after the daemon exited")
	}
	dog.mu.Lock()
	last := dog.data[len(dog.data)-1]
	dog.mu.Unlock()
	if last != 'V' {
		t.Errorf("last byte written to the watchdog %q, want 'V' (magic close)", last)
	}
}

// BenchmarkReady measures, on two directors in namespaces, how long after
// its start a daemon tells systemd READY=1 when its peer runs and its
// group fails back to it (ms-to-ready), and how long after its group's
// start script ran (ms-after-group-start): the settling margin.
func BenchmarkReady(b *testing.B) {
	c := cluster.New(b, cluster.Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1"}})
	c.Start("n2")
	c.WaitOwner("g1", "n2", 30*time.Second)
	b.Setenv("WATCHDOG_USEC", "")
	var toReady, afterStart time.Duration
	for i := 0; i < b.N; i++ {
		path := filepath.Join(b.TempDir(), "notify.sock")
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
		if err != nil {
			b.Fatal(err)
		}
		b.Setenv("NOTIFY_SOCKET", path)
		got := make(chan time.Time, 1)
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := conn.Read(buf)
				if err != nil {
					return
				}
				if hasLine(string(buf[:n]), "READY=1") {
					got <- time.Now()
					return
				}
			}
		}()
		t0 := time.Now()
		c.Start("n1")
		var ready time.Time
		select {
		case ready = <-got:
		case <-time.After(60 * time.Second):
			b.Fatal("no READY=1 within 60s")
		}
		conn.Close()
		var started time.Time
		for _, r := range c.Records() {
			if r.Op == "START" && r.Node == "n1" && r.Group == "g1" && r.At.After(t0) {
				started = r.At
			}
		}
		if started.IsZero() {
			b.Fatal("READY=1 before g1 started on n1")
		}
		toReady += ready.Sub(t0)
		afterStart += ready.Sub(started)
		c.Signal("n1", syscall.SIGTERM)
		if err := c.WaitExit("n1", 60*time.Second); err != nil {
			b.Fatal(err)
		}
		c.WaitOwner("g1", "n2", 30*time.Second)
	}
	b.ReportMetric(float64(toReady.Milliseconds())/float64(b.N), "ms-to-ready")
	b.ReportMetric(float64(afterStart.Milliseconds())/float64(b.N), "ms-after-group-start")
}
