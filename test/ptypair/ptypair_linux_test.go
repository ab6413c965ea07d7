//go:build linux

package ptypair

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openRaw opens a cable end as a raw terminal.
func openRaw(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var terr error
	err = rc.Control(func(fd uintptr) {
		tio, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			terr = err
			return
		}
		tio.Iflag, tio.Oflag, tio.Lflag = 0, 0, 0
		tio.Cflag = unix.CS8 | unix.CREAD | unix.CLOCAL
		tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
		terr = unix.IoctlSetTermios(int(fd), unix.TCSETS, tio)
	})
	if err != nil || terr != nil {
		t.Fatal(err, terr)
	}
	return f
}

// readFor collects what arrives on f until want bytes came or d passed.
func readFor(f *os.File, want int, d time.Duration) []byte {
	var got []byte
	buf := make([]byte, 4096)
	end := time.Now().Add(d)
	for len(got) < want {
		_ = f.SetReadDeadline(end)
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	return got
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

func TestCablePacedBothWays(t *testing.T) {
	tests := []struct {
		baud, n int
		dir     Dir
	}{
		{9600, 480, AtoB},  // 0.5s of line
		{19200, 960, BtoA}, // 0.5s of line
		{115200, 5760, AtoB},
	}
	for _, tc := range tests {
		c := New(t, tc.baud)
		a, b := openRaw(t, c.A), openRaw(t, c.B)
		from, to := a, b
		if tc.dir == BtoA {
			from, to = b, a
		}
		msg := pattern(tc.n)
		start := time.Now()
		if _, err := from.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := readFor(to, len(msg), 10*time.Second)
		el := time.Since(start)
		if !bytes.Equal(got, msg) {
			t.Fatalf("%d baud %v: got %d bytes, want %d intact", tc.baud, tc.dir, len(got), len(msg))
		}
		line := time.Duration(tc.n) * time.Second * 10 / time.Duration(tc.baud)
		rate := float64(tc.n) / el.Seconds()
		t.Logf("%d baud %v: %d bytes in %v (line time %v), %.0f B/s of %d", tc.baud, tc.dir, tc.n, el.Round(time.Millisecond), line, rate, tc.baud/10)
		if el < line-line/50 {
			t.Errorf("%d baud: %d bytes took %v, faster than the line allows (%v)", tc.baud, tc.n, el, line)
		}
		if el > line+line/2+100*time.Millisecond {
			t.Errorf("%d baud: %d bytes took %v, far slower than the line (%v)", tc.baud, tc.n, el, line)
		}
		// The relay counts a piece after it wrote it: the reader may be
		// a moment ahead of the counter.
		deadline := time.Now().Add(time.Second)
		for c.Stats(tc.dir).Carried != uint64(tc.n) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if s := c.Stats(tc.dir); s.Carried != uint64(tc.n) {
			t.Errorf("stats %+v, want %d carried", s, tc.n)
		}
	}
}

func TestCableCutRestoreCorruptNoise(t *testing.T) {
	c := New(t, 115200)
	a, b := openRaw(t, c.A), openRaw(t, c.B)

	c.Cut()
	a.Write([]byte("lost"))
	if got := readFor(b, 1, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("cut cable carried %q", got)
	}
	if s := c.Stats(AtoB); s.Lost != 4 {
		t.Errorf("lost %d bytes, want 4", s.Lost)
	}
	c.Restore()
	b.Write([]byte("back"))
	if got := readFor(a, 4, 2*time.Second); string(got) != "back" {
		t.Fatalf("restored cable carried %q", got)
	}

	c.Corrupt(AtoB, 4)
	a.Write([]byte("abcdefgh"))
	got := readFor(b, 8, 2*time.Second)
	if want := "abc" + string('d'^0x10) + "efg" + string('h'^0x10); string(got) != want {
		t.Fatalf("corrupted %q, want %q", got, want)
	}
	c.Corrupt(AtoB, 0)

	c.Noise(BtoA, []byte{0xff, 0x00, 0x55})
	if got := readFor(a, 3, 2*time.Second); !bytes.Equal(got, []byte{0xff, 0x00, 0x55}) {
		t.Fatalf("noise arrived as %x", got)
	}
}

// TestCableSurvivesReopen: a device closed and opened again still works,
// as a daemon restart or hb_serialtest run after another needs.
func TestCableSurvivesReopen(t *testing.T) {
	c := New(t, 38400)
	a := openRaw(t, c.A)
	a.Close()
	a = openRaw(t, c.A)
	b := openRaw(t, c.B)
	b.Write([]byte("again"))
	if got := readFor(a, 5, 2*time.Second); string(got) != "again" {
		t.Fatalf("after reopen got %q", got)
	}
}

func TestCloseStopsSocat(t *testing.T) {
	c := New(t, 9600)
	pids := c.PIDs()
	if len(pids) != 2 {
		t.Fatalf("pids %v", pids)
	}
	c.Close()
	for _, pid := range pids {
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			t.Errorf("socat %d still exists after Close (%v)", pid, err)
		}
	}
	if _, err := os.Lstat(c.A); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s remains: %v", c.A, err)
	}
}

// TestCableDelay: a delayed direction carries every byte, in order, the
// latency later; the other direction and an ended delay are prompt again.
func TestCableDelay(t *testing.T) {
	c := New(t, 115200)
	a, b := openRaw(t, c.A), openRaw(t, c.B)
	const latency = 500 * time.Millisecond
	c.Delay(AtoB, latency)

	start := time.Now()
	a.Write([]byte("late"))
	b.Write([]byte("prompt"))
	if got := readFor(a, 6, 2*time.Second); string(got) != "prompt" {
		t.Fatalf("undelayed direction carried %q", got)
	}
	if el := time.Since(start); el > latency/2 {
		t.Errorf("undelayed direction took %v", el)
	}
	if got := readFor(b, 1, latency/2); len(got) != 0 {
		t.Fatalf("delayed bytes %q arrived before half the latency", got)
	}
	got := readFor(b, 4, 2*time.Second)
	el := time.Since(start)
	if string(got) != "late" {
		t.Fatalf("delayed direction carried %q", got)
	}
	if el < latency || el > latency+300*time.Millisecond {
		t.Errorf("delayed bytes took %v, want about %v", el, latency)
	}

	// Bytes held back when the delay ends still come first.
	a.Write([]byte("held"))
	c.Delay(AtoB, 0)
	time.Sleep(10 * time.Millisecond)
	a.Write([]byte("next"))
	if got := readFor(b, 8, 2*time.Second); string(got) != "heldnext" {
		t.Fatalf("after the delay ended: %q, want %q", got, "heldnext")
	}
	start = time.Now()
	a.Write([]byte("now"))
	if got := readFor(b, 3, 2*time.Second); string(got) != "now" || time.Since(start) > latency/2 {
		t.Fatalf("after the delay ended: %q in %v", got, time.Since(start))
	}
}

// A frame written the moment the cable is up still takes its full line
// time: the pacing starts with the first byte, not with the relay.
func TestCableFreshLineNotEarly(t *testing.T) {
	for range 5 {
		c := New(t, 9600)
		a, b := openRaw(t, c.A), openRaw(t, c.B)
		msg := pattern(20)
		start := time.Now()
		if _, err := a.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := readFor(b, len(msg), 5*time.Second)
		el := time.Since(start)
		if !bytes.Equal(got, msg) {
			t.Fatalf("got %d bytes, want %d intact", len(got), len(msg))
		}
		if line := 20 * time.Second * 10 / 9600; el < line {
			t.Errorf("20 bytes at 9600 baud on a fresh cable took %v, under the line time %v", el, line)
		}
		c.Close()
	}
}
