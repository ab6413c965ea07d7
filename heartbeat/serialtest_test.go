//go:build linux

package heartbeat

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hbgo/test/ptypair"
)

// lockedBuffer is an Out shared between a running command and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startEcho runs echo on dev until the test ends and returns once it holds
// the device.
func startEcho(t *testing.T, dev string, baud int) *lockedBuffer {
	t.Helper()
	out := new(lockedBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&SerialTest{Device: dev, Baud: baud, Out: out}).Echo(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("echo: %v", err)
		}
	})
	waitFor(t, "echo to start", func() bool { return strings.Contains(out.String(), "answering probes") })
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSerialPingThroughEcho(t *testing.T) {
	lockDirForTest(t)
	tests := []struct {
		baud, size, count int
	}{
		{19200, 64, 20},
		{19200, 150, 10},
		{115200, 1400, 5},
	}
	for _, tc := range tests {
		c := ptypair.New(t, tc.baud)
		echo := startEcho(t, c.B, tc.baud)
		var out bytes.Buffer
		r, err := (&SerialTest{Device: c.A, Baud: tc.baud, Count: tc.count, Size: tc.size, Out: &out}).Ping(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d baud, %d-byte probes:\n%s", tc.baud, tc.size, out.String())
		if !r.OK() || r.Loss() != 0 || r.Received != tc.count || r.DamagedFrames != 0 {
			t.Fatalf("ping not clean: %+v", r)
		}
		// The pacing is real: a round trip cannot beat the wire, and the
		// link adds little beyond it.
		if r.Throughput > r.Nominal {
			t.Errorf("throughput %.0f B/s above the nominal %.0f B/s", r.Throughput, r.Nominal)
		}
		if r.Min < r.LineRTT {
			t.Errorf("min rtt %v below the line time %v", r.Min, r.LineRTT)
		}
		if r.Throughput < r.Nominal/2 {
			t.Errorf("throughput %.0f B/s, under half the nominal %.0f B/s", r.Throughput, r.Nominal)
		}
		for _, want := range []string{"0% loss", "rtt min/avg/max", "throughput"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if n := strings.Count(echo.String(), "answered probe"); n != tc.count {
			t.Errorf("echo answered %d probes", n)
		}
	}
}

func TestSerialPingFailures(t *testing.T) {
	lockDirForTest(t)
	c := ptypair.New(t, 115200)

	t.Run("no echo", func(t *testing.T) {
		var out bytes.Buffer
		r, err := (&SerialTest{Device: c.A, Baud: 115200, Count: 2, Timeout: 200 * time.Millisecond, Out: &out}).Ping(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() || r.Loss() != 1 || !strings.Contains(out.String(), "seq=1 lost") || !strings.Contains(out.String(), "100% loss") {
			t.Fatalf("%+v\n%s", r, out.String())
		}
	})

	t.Run("corrupting cable", func(t *testing.T) {
		startEcho(t, c.B, 115200)
		c.Corrupt(ptypair.AtoB, 150)
		defer c.Corrupt(ptypair.AtoB, 0)
		var out bytes.Buffer
		r, err := (&SerialTest{Device: c.A, Baud: 115200, Count: 10, Size: 200, Timeout: 300 * time.Millisecond, Out: &out}).Ping(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() || r.Received == r.Sent {
			t.Fatalf("every probe came back through a corrupting cable: %+v", r)
		}
		// Damage shows at the echo, which drops the probes; nothing
		// corrupt is delivered to ping.
		if r.Corrupted != 0 {
			t.Errorf("corrupted replies delivered: %+v", r)
		}
	})

	t.Run("bad size", func(t *testing.T) {
		for _, size := range []int{MinProbeSize - 1, MaxPacket + 1} {
			if _, err := (&SerialTest{Device: c.A, Size: size}).Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("size %d: %v", size, err)
			}
		}
	})

	t.Run("missing device", func(t *testing.T) {
		dev := filepath.Join(t.TempDir(), "ttyS9")
		_, err := (&SerialTest{Device: dev}).Ping(context.Background())
		if err == nil || err.Error() != dev+": no such device" {
			t.Errorf("error %v", err)
		}
	})

	t.Run("device in use", func(t *testing.T) {
		held := openSerialT(t, c.A, 115200)
		defer held.Close()
		_, err := (&SerialTest{Device: c.A}).Ping(context.Background())
		if err == nil || !strings.Contains(err.Error(), "is in use by pid") {
			t.Errorf("error %v", err)
		}
	})
}

func TestSerialSendRecv(t *testing.T) {
	lockDirForTest(t)
	c := ptypair.New(t, 19200)
	var got bytes.Buffer
	done := make(chan error, 1)
	recv := &SerialTest{Device: c.B, Count: 4, Timeout: 10 * time.Second, Out: &got}
	go func() { done <- recv.Recv(context.Background()) }()
	real, _ := filepath.EvalSymlinks(c.B)
	waitFor(t, "recv to open", func() bool {
		_, err := os.Stat(filepath.Join(SerialLockDir, lockName(real)))
		return err == nil
	})
	var sent bytes.Buffer
	in := strings.NewReader("first line\nsecond line\r\n\x01\x02 binary\n" + string(makeProbe(7, 40, time.Unix(1, 0))) + "\n")
	if err := (&SerialTest{Device: c.A, Out: &sent}).Send(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "first line\nsecond line\n9 bytes: 01 02 20 62 69 6e 61 72 79\nprobe P seq=7, 40 bytes\n" +
		c.B + ": 4 frames received, 0 damaged, 0 oversize, 0 bytes of noise\n"
	if got.String() != want {
		t.Errorf("recv printed\n%s\nwant\n%s", got.String(), want)
	}
	if !strings.Contains(sent.String(), "sent 4 frames") {
		t.Errorf("send printed %q", sent.String())
	}

	long := strings.Repeat("x", MaxPacket+1)
	err := (&SerialTest{Device: c.A}).Send(context.Background(), strings.NewReader(long))
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("long line: %v", err)
	}
}

func TestProbeParse(t *testing.T) {
	p := makeProbe(42, 64, time.Unix(1, 0))
	tests := []struct {
		name           string
		mod            func([]byte) []byte
		kind           byte
		intact, isProb bool
	}{
		{"probe", func(b []byte) []byte { return b }, 'P', true, true},
		{"reply", func(b []byte) []byte { b[4] = 'R'; return b }, 'R', true, true},
		{"pattern broken", func(b []byte) []byte { b[40] ^= 1; return b }, 'P', false, true},
		{"short", func(b []byte) []byte { return b[:MinProbeSize-1] }, 0, false, false},
		{"not a probe", func(b []byte) []byte { b[0] = 'x'; return b }, 0, false, false},
	}
	for _, tc := range tests {
		kind, seq, intact, ok := parseProbe(tc.mod(bytes.Clone(p)))
		if kind != tc.kind || intact != tc.intact || ok != tc.isProb || (ok && seq != 42) {
			t.Errorf("%s: kind %c seq %d intact %v ok %v", tc.name, kind, seq, intact, ok)
		}
	}
}
