//go:build linux

package heartbeat

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hbgo/test/ptypair"
)

// lockDirForTest points SerialLockDir at a fresh directory for one test.
func lockDirForTest(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	old := SerialLockDir
	SerialLockDir = dir
	t.Cleanup(func() { SerialLockDir = old })
	return dir
}

func openSerialT(t *testing.T, dev string, baud int) *SerialLink {
	t.Helper()
	l, err := OpenSerial(dev, baud)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// receiver delivers a link's packets on a channel until the link closes.
func receiver(l Link) <-chan []byte {
	ch := make(chan []byte, 256)
	go func() {
		defer close(ch)
		buf := make([]byte, MaxPacket)
		for {
			n, _, err := l.Recv(buf)
			if errors.Is(err, ErrClosed) {
				return
			}
			if err == nil {
				ch <- bytes.Clone(buf[:n])
			}
		}
	}()
	return ch
}

// collect takes packets from ch until want arrived or d passed.
func collect(ch <-chan []byte, want int, d time.Duration) [][]byte {
	var got [][]byte
	timeout := time.After(d)
	for len(got) < want {
		select {
		case p, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, p)
		case <-timeout:
			return got
		}
	}
	return got
}

func hbPacket(tag string, i int) []byte {
	p := fmt.Appendf(nil, "%s %03d ", tag, i)
	for len(p) < 150 {
		p = append(p, byte(len(p)*13)) // zeros and 0xFF included
	}
	return p
}

func TestSerialLinkBothWays(t *testing.T) {
	lockDirForTest(t)
	c := ptypair.New(t, 19200)
	a, b := openSerialT(t, c.A, 19200), openSerialT(t, c.B, 19200)
	ra, rb := receiver(a), receiver(b)
	for i := range 10 {
		if err := a.Send(hbPacket("a", i)); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(hbPacket("b", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, side := range []struct {
		tag string
		ch  <-chan []byte
	}{{"a", rb}, {"b", ra}} {
		got := collect(side.ch, 10, 5*time.Second)
		if len(got) != 10 {
			t.Fatalf("%d of 10 packets from %s arrived", len(got), side.tag)
		}
		for i, p := range got {
			if !bytes.Equal(p, hbPacket(side.tag, i)) {
				t.Fatalf("packet %d from %s: %q", i, side.tag, p)
			}
		}
	}
	sa := a.Stats()
	if sa.SentFrames != 10 || sa.SentBytes != 10*uint64(FrameSize(150)) || sa.Frames != 10 || sa.CRCErrors != 0 {
		t.Errorf("stats of a: %+v", sa)
	}
	t.Logf("heartbeat-sized packet: 150 bytes -> %d on the wire", FrameSize(150))
	if a.Name() != c.A {
		t.Errorf("Name %q", a.Name())
	}
}

func TestSerialLinkCutRestore(t *testing.T) {
	lockDirForTest(t)
	c := ptypair.New(t, 19200)
	a, b := openSerialT(t, c.A, 19200), openSerialT(t, c.B, 19200)
	rb := receiver(b)
	send := func(tag string, n int) {
		for i := range n {
			if err := a.Send(hbPacket(tag, i)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	send("before", 3)
	if got := collect(rb, 3, 3*time.Second); len(got) != 3 {
		t.Fatalf("before the cut %d of 3 arrived", len(got))
	}
	c.Cut()
	send("cut", 5)
	if got := collect(rb, 1, time.Second); len(got) != 0 {
		t.Fatalf("cut cable delivered %q", got[0])
	}
	c.Restore()
	send("after", 5)
	got := collect(rb, 5, 3*time.Second)
	if len(got) != 5 {
		t.Fatalf("after restore %d of 5 arrived", len(got))
	}
	for i, p := range got {
		if !bytes.Equal(p, hbPacket("after", i)) {
			t.Fatalf("after restore packet %d = %q", i, p)
		}
	}
	if lost := c.Stats(ptypair.AtoB).Lost; lost == 0 {
		t.Error("cable counted no lost bytes while cut")
	}
}

func TestSerialLinkCorruptionAndNoise(t *testing.T) {
	lockDirForTest(t)
	c := ptypair.New(t, 115200)
	a, b := openSerialT(t, c.A, 115200), openSerialT(t, c.B, 115200)
	rb := receiver(b)

	c.Corrupt(ptypair.AtoB, 400) // about one frame in three
	for i := range 30 {
		a.Send(hbPacket("c", i))
		time.Sleep(5 * time.Millisecond)
	}
	got := collect(rb, 30, time.Second)
	for _, p := range got {
		if !strings.HasPrefix(string(p), "c ") || !bytes.Equal(p, hbPacket("c", int(p[2]-'0')*100+int(p[3]-'0')*10+int(p[4]-'0'))) {
			t.Fatalf("corrupted packet delivered: %q", p)
		}
	}
	s := b.Stats()
	if len(got) == 30 || s.CRCErrors == 0 {
		t.Fatalf("corruption not seen: %d of 30 delivered, stats %+v", len(got), s)
	}
	if uint64(len(got))+s.CRCErrors < 30 {
		t.Errorf("%d delivered + %d damaged < 30 sent", len(got), s.CRCErrors)
	}
	c.Corrupt(ptypair.AtoB, 0)

	// Noise on the idle line: short bursts are garbage, a long one looks
	// like a damaged frame; neither costs the frame after it.
	before := b.Stats()
	for i, noise := range []string{"\xff\x13", "\x80", "\x01\x02\x03\x04\x05\x06\x07"} {
		c.Noise(ptypair.AtoB, []byte(noise))
		a.Send(hbPacket("n", i))
		if got := collect(rb, 1, 2*time.Second); len(got) != 1 || !bytes.Equal(got[0], hbPacket("n", i)) {
			t.Fatalf("after noise %q: got %q", noise, got)
		}
	}
	s = b.Stats()
	if s.Garbage-before.Garbage != 3 || s.CRCErrors-before.CRCErrors != 1 {
		t.Errorf("noise counted as %d garbage bytes and %d damaged frames, want 3 and 1", s.Garbage-before.Garbage, s.CRCErrors-before.CRCErrors)
	}
}

// TestSerialSendNeverBlocks floods a 9600-baud line: Send returns at once
// and refuses what the line cannot carry within a second.
func TestSerialSendNeverBlocks(t *testing.T) {
	lockDirForTest(t)
	c := ptypair.New(t, 9600)
	a := openSerialT(t, c.A, 9600)
	pkt := bytes.Repeat([]byte{0x42}, MaxPacket)
	var full int
	var slowest time.Duration
	for range 100 {
		start := time.Now()
		err := a.Send(pkt)
		slowest = max(slowest, time.Since(start))
		if errors.Is(err, ErrLineFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if slowest > 50*time.Millisecond {
		t.Errorf("slowest Send took %v", slowest)
	}
	if full == 0 || a.Stats().Dropped != uint64(full) {
		t.Errorf("%d ErrLineFull, stats %+v", full, a.Stats())
	}
	if err := a.Send(make([]byte, MaxPacket+1)); err == nil {
		t.Error("oversize packet accepted")
	}
}

func TestSerialCloseUnblocksRecvAndUnlocks(t *testing.T) {
	dir := lockDirForTest(t)
	c := ptypair.New(t, 19200)
	l, err := OpenSerial(c.A, 19200)
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(c.A)
	lock := filepath.Join(dir, "LCK.."+strings.ReplaceAll(strings.TrimPrefix(real, "/dev/"), "/", "_"))
	b, err := os.ReadFile(lock)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%10d\n", os.Getpid()); string(b) != want {
		t.Errorf("lock %s holds %q, want %q", lock, b, want)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := l.Recv(make([]byte, MaxPacket))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Recv after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Recv still blocked 2s after Close")
	}
	if _, err := os.Stat(lock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock remains after Close: %v", err)
	}
	if err := l.Send([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	// The device opens again.
	openSerialT(t, c.A, 19200)
}

// deadPID is the PID of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestSerialOpenErrors(t *testing.T) {
	dir := lockDirForTest(t)
	c := ptypair.New(t, 19200)
	held := openSerialT(t, c.A, 19200)
	_ = held
	real, _ := filepath.EvalSymlinks(c.B)
	staleLock := filepath.Join(dir, lockName(real))
	if err := os.WriteFile(staleLock, fmt.Appendf(nil, "%10d\n", deadPID(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	// A lock held by another live process.
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	other := filepath.Join(t.TempDir(), "ttyO")
	if err := os.Symlink("/dev/tty", other); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "LCK..tty"), fmt.Appendf(nil, "%10d\n", sleeper.Process.Pid), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dev  string
		baud int
		want string // whole message; empty: opens
		is   error
	}{
		{name: "missing", dev: "/dev/ttyS-hbgo-none", baud: 19200, want: "/dev/ttyS-hbgo-none: no such device", is: fs.ErrNotExist},
		{name: "missing dir", dev: filepath.Join(dir, "nodir", "tty"), baud: 19200, want: filepath.Join(dir, "nodir", "tty") + ": no such device", is: fs.ErrNotExist},
		{name: "bad baud", dev: c.B, baud: 12345, want: c.B + ": unsupported baud rate 12345 (supported: 9600, 19200, 38400, 57600, 115200, 230400, 460800)"},
		{name: "in use", dev: c.A, baud: 19200, want: fmt.Sprintf("device %s is in use by pid %d", c.A, os.Getpid()), is: ErrDeviceInUse},
		{name: "in use by another", dev: other, baud: 19200, want: fmt.Sprintf("device %s is in use by pid %d", other, sleeper.Process.Pid), is: ErrDeviceInUse},
		{name: "not a tty", dev: "/dev/null", baud: 19200, want: "/dev/null: not a serial device"},
		{name: "regular file", dev: staleLock, baud: 19200, want: staleLock + ": not a serial device"},
		{name: "stale lock taken over", dev: c.B, baud: 38400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := OpenSerial(tc.dev, tc.baud)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				if b, _ := os.ReadFile(staleLock); string(b) != fmt.Sprintf("%10d\n", os.Getpid()) {
					t.Errorf("stale lock not taken over: it holds %q", b)
				}
				return
			}
			if err == nil {
				l.Close()
				t.Fatalf("opened %s", tc.dev)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q\nwant  %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
}

func TestSerialErrorText(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&fs.PathError{Op: "open", Path: "/dev/ttyS1", Err: fs.ErrPermission}, "/dev/ttyS1: permission denied"},
		{&fs.PathError{Op: "open", Path: "/dev/ttyS1", Err: fs.ErrNotExist}, "/dev/ttyS1: no such device"},
	}
	for _, tc := range tests {
		if got := openError("/dev/ttyS1", tc.err).Error(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("openError(%v) = %q, want prefix %q", tc.err, got, tc.want)
		}
	}
	if !errors.Is(openError("/dev/ttyS1", &fs.PathError{Err: fs.ErrPermission}), fs.ErrPermission) {
		t.Error("permission error lost its cause")
	}
	for dev, want := range map[string]string{"/dev/ttyS0": "LCK..ttyS0", "/dev/pts/3": "LCK..pts_3", "/tmp/x/ttyA": "LCK..ttyA"} {
		if got := lockName(dev); got != want {
			t.Errorf("lockName(%s) = %s, want %s", dev, got, want)
		}
	}
}

// TestSerialKeepLatest: on a 9600-baud cable (some 170 ms a 150-byte
// frame), one heartbeat goes on the line, then nineteen are queued at
// once: only the newest of them follows, each having replaced the one
// waiting.
func TestSerialKeepLatest(t *testing.T) {
	lockDirForTest(t)
	cable := ptypair.New(t, 9600)
	a := openSerialT(t, cable.A, 9600)
	b := openSerialT(t, cable.B, 9600)
	a.KeepLatest()
	ch := receiver(b)
	t0 := time.Now()
	for i := 0; i < 20; i++ {
		if i == 1 {
			time.Sleep(50 * time.Millisecond) // the writer has taken hb 000
		}
		if err := a.Send(hbPacket("hb", i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	got := collect(ch, 2, 10*time.Second)
	took := time.Since(t0)
	if len(got) != 2 || !bytes.Equal(got[1], hbPacket("hb", 19)) {
		var tags []string
		for _, p := range got {
			tags = append(tags, string(p[:6]))
		}
		t.Fatalf("received %v, want the first and the newest (hb 019)", tags)
	}
	if more := collect(ch, 1, 2*time.Second); len(more) != 0 {
		t.Fatalf("a replaced heartbeat arrived too: %q", more[0][:6])
	}
	if st := a.Stats(); st.Superseded != 18 {
		t.Fatalf("superseded %d, want 18", st.Superseded)
	}
	t.Logf("the newest of 20 heartbeats arrived after %v at 9600 baud", took.Round(time.Millisecond))
}
