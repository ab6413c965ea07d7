// Package ptypair wires two pseudo-terminals into a null-modem cable paced to a baud rate, for serial tests.
package ptypair

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Dir is one direction of the cable.
type Dir int

const (
	AtoB Dir = iota // bytes written to A arrive at B
	BtoA            // bytes written to B arrive at A
)

func (d Dir) String() string {
	if d == AtoB {
		return "A->B"
	}
	return "B->A"
}

// LaneStats counts the bytes of one direction.
type LaneStats struct {
	Carried   uint64 // bytes delivered to the far end
	Lost      uint64 // bytes that crossed while the cable was cut
	Corrupted uint64 // bytes delivered with a flipped bit
	Noise     uint64 // bytes injected by Noise
	Overrun   uint64 // bytes the far end did not take in time (nobody reading)
}

// Cable is a null-modem cable between the pseudo-terminals A and B. Two
// socat processes each own one pty and relay it to a pipe; the cable moves
// bytes between the pipes no faster than Baud/10 bytes per second each way
// (8N1: ten bits a byte), since a pty has no speed of its own. Like a real
// line without flow control, a cut or an absent reader loses bytes rather
// than holding up the sender.
type Cable struct {
	A, B string // device paths (links to /dev/pts/N)
	Baud int

	t      testing.TB
	procs  [2]*exec.Cmd
	stderr [2]*syncBuffer
	keep   [2]*os.File // slave ends held open so the ptys outlive their users
	lanes  [2]*lane
	wg     sync.WaitGroup
	once   sync.Once
}

// lane is one direction: it reads what one socat took from its pty and
// writes it, paced, into the other socat, which puts it on its pty.
type lane struct {
	from    *os.File
	to      *os.File
	perByte time.Duration
	piece   int

	mu      sync.Mutex
	wmu     sync.Mutex // one writer at a time on to: relay or Noise
	cut     bool
	every   int // corrupt one byte in every; 0: none
	counter int
	stats   LaneStats
	latency time.Duration  // extra time on the wire; see Cable.Delay
	late    chan latePiece // pieces held back by latency, in order
	pending int            // pieces in late not yet delivered
}

// latePiece is a piece of the line held back until due.
type latePiece struct {
	b   []byte
	due time.Time
}

// socatMissing fails under CI, where every test must run, and skips
// elsewhere.
func socatMissing(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ptypair: socat is not installed (apt-get install socat): %v", err)
		}
		t.Skipf("ptypair: socat is not installed: %v", err)
	}
}

// New starts a cable at baud and stops it when the test ends.
func New(t testing.TB, baud int) *Cable {
	t.Helper()
	socatMissing(t)
	if baud <= 0 {
		t.Fatalf("ptypair: baud %d", baud)
	}
	dir := t.TempDir()
	c := &Cable{A: filepath.Join(dir, "ttyA"), B: filepath.Join(dir, "ttyB"), Baud: baud, t: t}
	t.Cleanup(c.Close)
	var outs, ins [2]*os.File
	for i, link := range []string{c.A, c.B} {
		out, in, err := c.start(i, link)
		if err != nil {
			c.Close()
			t.Fatalf("ptypair: %v", err)
		}
		outs[i], ins[i] = out, in
	}
	perByte := time.Second * 10 / time.Duration(baud)
	// Pieces of about 2ms of line time: fine enough that a frame trickles
	// in as it would from a UART, coarse enough for the timer.
	piece := max(1, baud/10/500)
	c.lanes[AtoB] = &lane{from: outs[0], to: ins[1], perByte: perByte, piece: piece}
	c.lanes[BtoA] = &lane{from: outs[1], to: ins[0], perByte: perByte, piece: piece}
	for _, l := range c.lanes {
		// Ten seconds of line time in pieces: room for any latency a test
		// sets before the reader is held up.
		l.late = make(chan latePiece, 10*baud/10/piece+1)
		c.wg.Add(2)
		go func() {
			defer c.wg.Done()
			defer close(l.late)
			l.run()
		}()
		go func() {
			defer c.wg.Done()
			l.deliverLate()
		}()
	}
	return c
}

// start runs one socat owning a new pty linked at link; it returns the
// pipe end carrying what the pty's user writes and the one feeding it.
func (c *Cable) start(i int, link string) (out, in *os.File, err error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, err
	}
	// Small pipes keep the backlog near what a UART driver holds.
	setPipeSize(outW)
	setPipeSize(inW)
	c.stderr[i] = new(syncBuffer)
	cmd := exec.Command("socat", "-b", "256", "PTY,link="+link+",rawer", "STDIO")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, c.stderr[i]
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		outR.Close()
		inW.Close()
		return nil, nil, fmt.Errorf("start socat: %w", err)
	}
	c.procs[i] = cmd
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Readlink(link); err == nil {
			break
		}
		if time.Now().After(deadline) {
			outR.Close()
			inW.Close()
			return nil, nil, fmt.Errorf("socat made no pty at %s within 5s: %s", link, c.stderr[i].String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Hold the slave open: when the last user of a pty slave closes it,
	// socat reads EIO from the master and exits, and the cable would not
	// survive a device being closed and opened again.
	keep, err := os.OpenFile(link, os.O_RDWR|noctty, 0)
	if err != nil {
		outR.Close()
		inW.Close()
		return nil, nil, fmt.Errorf("hold %s open: %w", link, err)
	}
	c.keep[i] = keep
	return outR, inW, nil
}

func (l *lane) run() {
	buf := make([]byte, l.piece)
	// The schedule starts with the first byte, not when the lane starts: a
	// lane made moments before its first byte would otherwise count those
	// moments as line time already spent and pass the byte early.
	var next time.Time
	for {
		n, err := l.from.Read(buf)
		if n > 0 {
			now := time.Now()
			// A lane idle for a while starts its schedule afresh; a busy one
			// keeps it, so timer lateness is made up and the long-run rate is
			// exactly the baud rate, never above it.
			if now.Sub(next) > 5*time.Millisecond {
				next = now
			}
			next = next.Add(time.Duration(n) * l.perByte)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			l.pass(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// pass delivers a piece that has crossed the line, at once or, under a
// latency (or while earlier pieces are still held back), later and in
// order.
func (l *lane) pass(b []byte) {
	l.mu.Lock()
	lat, held := l.latency, l.pending > 0
	if lat > 0 || held {
		l.pending++
	}
	l.mu.Unlock()
	if lat == 0 && !held {
		l.deliver(b)
		return
	}
	l.late <- latePiece{b: append([]byte(nil), b...), due: time.Now().Add(lat)}
}

// deliverLate delivers the pieces pass held back, each when it is due.
func (l *lane) deliverLate() {
	for p := range l.late {
		if d := time.Until(p.due); d > 0 {
			time.Sleep(d)
		}
		l.deliver(p.b)
		l.mu.Lock()
		l.pending--
		l.mu.Unlock()
	}
}

func (l *lane) deliver(b []byte) {
	l.mu.Lock()
	if l.cut {
		l.stats.Lost += uint64(len(b))
		l.mu.Unlock()
		return
	}
	for i := range b {
		if l.every > 0 {
			l.counter++
			if l.counter%l.every == 0 {
				b[i] ^= 0x10
				l.stats.Corrupted++
			}
		}
	}
	l.mu.Unlock()
	n := l.write(b)
	l.mu.Lock()
	l.stats.Carried += uint64(n)
	l.stats.Overrun += uint64(len(b) - n)
	l.mu.Unlock()
}

// write hands bytes to the far socat; a far end that takes nothing for
// 100ms (its pty full, nobody reading) overruns, as a UART's would.
func (l *lane) write(b []byte) int {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_ = l.to.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, _ := l.to.Write(b)
	return n
}

// Cut disconnects the cable both ways: bytes sent are lost.
func (c *Cable) Cut() { c.setCut(true) }

// Restore reconnects the cable.
func (c *Cable) Restore() { c.setCut(false) }

func (c *Cable) setCut(cut bool) {
	for _, l := range c.lanes {
		l.mu.Lock()
		l.cut = cut
		l.mu.Unlock()
	}
}

// Delay makes every byte crossing in direction dir arrive latency later than the
// baud rate alone would (a modem link, a serial-over-IP bridge, a
// congested converter): the rate stays the baud rate, order is kept, and
// nothing is lost. Zero ends the delay; bytes already held back still
// arrive when due, before any sent after.
func (c *Cable) Delay(dir Dir, latency time.Duration) {
	l := c.lanes[dir]
	l.mu.Lock()
	l.latency = max(latency, 0)
	l.mu.Unlock()
}

// Corrupt flips one bit in every n-th byte crossing in direction d; n 0
// stops it.
func (c *Cable) Corrupt(d Dir, n int) {
	l := c.lanes[d]
	l.mu.Lock()
	l.every, l.counter = max(n, 0), 0
	l.mu.Unlock()
}

// Noise puts bytes on the line in direction d, between whatever bytes the
// sender is transmitting, as line noise would.
func (c *Cable) Noise(d Dir, b []byte) {
	l := c.lanes[d]
	n := l.write(append([]byte(nil), b...))
	l.mu.Lock()
	l.stats.Noise += uint64(n)
	l.mu.Unlock()
}

// Stats returns the counters of direction d.
func (c *Cable) Stats(d Dir) LaneStats {
	l := c.lanes[d]
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// PIDs are the socat processes the cable started.
func (c *Cable) PIDs() []int {
	var pids []int
	for _, p := range c.procs {
		if p != nil && p.Process != nil {
			pids = append(pids, p.Process.Pid)
		}
	}
	return pids
}

// Close stops the socat processes this cable started, by PID, and waits
// for them; the pty links go with them and the directory with the test.
func (c *Cable) Close() {
	c.once.Do(func() {
		for _, p := range c.procs {
			if p != nil && p.Process != nil {
				_ = p.Process.Kill()
			}
		}
		for _, p := range c.procs {
			if p != nil && p.Process != nil {
				err := p.Wait()
				var ee *exec.ExitError
				if err != nil && !errors.As(err, &ee) {
					c.t.Logf("ptypair: wait socat %d: %v", p.Process.Pid, err)
				}
			}
		}
		for _, f := range c.keep {
			if f != nil {
				f.Close()
			}
		}
		for _, l := range c.lanes {
			if l != nil {
				l.to.Close()
			}
		}
		c.wg.Wait()
		for _, l := range c.lanes {
			if l != nil {
				l.from.Close()
			}
		}
		for _, link := range []string{c.A, c.B} {
			if link != "" {
				_ = os.Remove(link)
			}
		}
	})
}

// syncBuffer collects a process's stderr while the test may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
