package heartbeat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// SerialTest is hb_serialtest: it exercises a serial heartbeat cable with
// the daemon's own link code and framing, from one end (recv, send) or
// from both (ping against echo).
type SerialTest struct {
	Device string
	Baud   int // 0: 19200
	// Count is the number of probes of ping (0: 10); recv stops after
	// Count frames when it is set.
	Count int
	// Size is the length of a ping probe in bytes, header included
	// (0: 64).
	Size int
	// Timeout is how long ping waits for each reply (0: twice the line
	// time of a round trip plus a second); recv and echo stop after it
	// when it is set, and otherwise run until the context ends.
	Timeout time.Duration
	Out     io.Writer
}

// Probe layout: magic "hbST", kind 'P' (probe) or 'R' (reply), sequence
// (4, big-endian), send time (8, Unix nanoseconds), then a pattern that
// depends on the sequence so a reply carrying another probe's bytes, or a
// damaged one the CRC missed, shows.
const (
	probeMagic    = "hbST"
	probeKindPing = 'P'
	probeKindEcho = 'R'
	// MinProbeSize is the smallest probe: its header.
	MinProbeSize = 4 + 1 + 4 + 8
)

// DefaultSerialBaud is hb_serialtest's speed when none is given, and
// ha.cf's default.
const DefaultSerialBaud = 19200

func (s *SerialTest) baud() int {
	if s.Baud == 0 {
		return DefaultSerialBaud
	}
	return s.Baud
}

func (s *SerialTest) out() io.Writer {
	if s.Out == nil {
		return io.Discard
	}
	return s.Out
}

// open opens the device and closes it when ctx ends or the Timeout of
// recv and echo passes, which ends a blocked Recv.
func (s *SerialTest) open(ctx context.Context, runFor time.Duration) (*SerialLink, func(), error) {
	l, err := OpenSerial(s.Device, s.baud())
	if err != nil {
		return nil, nil, err
	}
	var cancel context.CancelFunc
	if runFor > 0 {
		ctx, cancel = context.WithTimeout(ctx, runFor)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	return l, func() { cancel(); l.Close() }, nil
}

func makeProbe(seq uint32, size int, sent time.Time) []byte {
	p := make([]byte, size)
	copy(p, probeMagic)
	p[4] = probeKindPing
	binary.BigEndian.PutUint32(p[5:], seq)
	binary.BigEndian.PutUint64(p[9:], uint64(sent.UnixNano()))
	for i := MinProbeSize; i < size; i++ {
		p[i] = probePattern(seq, i)
	}
	return p
}

func probePattern(seq uint32, i int) byte { return byte(uint32(i)*13 + seq*7) }

// parseProbe reads a probe or reply; intact is false when its pattern is
// wrong.
func parseProbe(p []byte) (kind byte, seq uint32, intact, ok bool) {
	if len(p) < MinProbeSize || string(p[:4]) != probeMagic {
		return 0, 0, false, false
	}
	kind, seq = p[4], binary.BigEndian.Uint32(p[5:])
	for i := MinProbeSize; i < len(p); i++ {
		if p[i] != probePattern(seq, i) {
			return kind, seq, false, true
		}
	}
	return kind, seq, true, true
}

// describe is how recv and echo print a frame that is not a probe.
func describe(p []byte) string {
	switch {
	case len(p) >= 2 && p[0] == 'h' && p[1] == 'B':
		return fmt.Sprintf("heartbeat packet, %d bytes", len(p))
	case utf8.Valid(p) && !bytes.ContainsFunc(p, func(r rune) bool { return r < 0x20 && r != '\t' }):
		return string(p)
	}
	const show = 32
	if len(p) > show {
		return fmt.Sprintf("%d bytes: % x ...", len(p), p[:show])
	}
	return fmt.Sprintf("%d bytes: % x", len(p), p)
}

func (s *SerialTest) summary(l *SerialLink) {
	st := l.Stats()
	fmt.Fprintf(s.out(), "%s: %d frames received, %d damaged, %d oversize, %d bytes of noise\n",
		s.Device, st.Frames, st.CRCErrors, st.Oversize, st.Garbage)
}

// Recv prints every frame that arrives, one a line, then a count of what
// the line carried.
func (s *SerialTest) Recv(ctx context.Context) error {
	l, done, err := s.open(ctx, s.Timeout)
	if err != nil {
		return err
	}
	defer done()
	buf := make([]byte, MaxPacket)
	for n := 0; s.Count == 0 || n < s.Count; n++ {
		m, _, err := l.Recv(buf)
		if errors.Is(err, ErrClosed) {
			break
		}
		if err != nil {
			return err
		}
		if kind, seq, _, ok := parseProbe(buf[:m]); ok {
			fmt.Fprintf(s.out(), "probe %c seq=%d, %d bytes\n", kind, seq, m)
			continue
		}
		fmt.Fprintln(s.out(), describe(buf[:m]))
	}
	s.summary(l)
	return nil
}

// Send sends each line of in as one frame and waits until the line has
// taken them.
func (s *SerialTest) Send(ctx context.Context, in io.Reader) error {
	l, done, err := s.open(ctx, 0)
	if err != nil {
		return err
	}
	defer done()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, MaxPacket+2), MaxPacket+2)
	var frames, wire int
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if len(line) > MaxPacket {
			return errLongLine(s.Device)
		}
		if err := sendPatiently(ctx, l, []byte(line)); err != nil {
			return err
		}
		frames++
		wire += FrameSize(len(line))
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return errLongLine(s.Device)
		}
		return fmt.Errorf("%s: reading input: %w", s.Device, err)
	}
	lineTime := time.Duration(wire) * 10 * time.Second / time.Duration(s.baud())
	if err := l.Drain(lineTime + 5*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(s.out(), "%s: sent %d frames, %d bytes on the wire\n", s.Device, frames, wire)
	return nil
}

func errLongLine(dev string) error {
	return fmt.Errorf("%s: a line is longer than %d bytes, the largest packet", dev, MaxPacket)
}

// sendPatiently waits for room on a full line, as a tool (unlike the
// daemon) should.
func sendPatiently(ctx context.Context, l *SerialLink, p []byte) error {
	for {
		err := l.Send(p)
		if !errors.Is(err, ErrLineFull) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Echo answers every probe with its reply and prints other frames.
func (s *SerialTest) Echo(ctx context.Context) error {
	l, done, err := s.open(ctx, s.Timeout)
	if err != nil {
		return err
	}
	defer done()
	fmt.Fprintf(s.out(), "%s: answering probes at %d baud\n", s.Device, s.baud())
	buf := make([]byte, MaxPacket)
	answered := 0
recv:
	for {
		m, _, err := l.Recv(buf)
		if errors.Is(err, ErrClosed) {
			break
		}
		if err != nil {
			return err
		}
		kind, seq, _, ok := parseProbe(buf[:m])
		switch {
		case ok && kind == probeKindPing:
			buf[4] = probeKindEcho
			if err := sendPatiently(ctx, l, buf[:m]); err != nil {
				if errors.Is(err, ErrClosed) || ctx.Err() != nil {
					break recv
				}
				return err
			}
			answered++
			fmt.Fprintf(s.out(), "answered probe seq=%d, %d bytes\n", seq, m)
		case ok:
			fmt.Fprintf(s.out(), "probe %c seq=%d, %d bytes\n", kind, seq, m)
		default:
			fmt.Fprintln(s.out(), describe(buf[:m]))
		}
	}
	fmt.Fprintf(s.out(), "%s: %d probes answered\n", s.Device, answered)
	s.summary(l)
	return nil
}

// PingResult is what ping measured.
type PingResult struct {
	Baud          int
	Size          int // probe bytes
	Sent          int
	Received      int // replies intact
	Corrupted     int // replies that passed the CRC with the wrong bytes
	Late          int // replies after their probe's timeout
	DamagedFrames uint64
	Noise         uint64 // bytes outside frames
	Min, Avg, Max time.Duration
	// LineRTT is the time a probe and its reply take on the wire alone.
	LineRTT time.Duration
	// Throughput is the bytes on the wire (frames both ways) of the
	// returned probes over the sum of their round trips: the line is busy
	// one direction at a time, so it compares with Nominal.
	Throughput float64 // bytes/s
	Nominal    float64 // Baud/10 bytes/s (8N1)
}

// OK is true when every probe came back intact.
func (r PingResult) OK() bool { return r.Sent > 0 && r.Received == r.Sent && r.Corrupted == 0 }

// Loss is the fraction of probes without an intact reply.
func (r PingResult) Loss() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Sent-r.Received) / float64(r.Sent)
}

// Ping sends Count probes of Size bytes one after another, each when the
// previous one returned or timed out, to an echo at the far end; it
// prints each round trip and the summary, and returns the measurements.
func (s *SerialTest) Ping(ctx context.Context) (PingResult, error) {
	count, size := s.Count, s.Size
	if count <= 0 {
		count = 10
	}
	if size == 0 {
		size = 64
	}
	r := PingResult{Baud: s.baud(), Size: size, Nominal: float64(s.baud()) / 10}
	if size < MinProbeSize || size > MaxPacket {
		return r, fmt.Errorf("probe size %d out of range %d..%d", size, MinProbeSize, MaxPacket)
	}
	frame, _ := AppendFrame(nil, makeProbe(1, size, time.Now()))
	wire := 2 * len(frame)
	r.LineRTT = time.Duration(wire) * 10 * time.Second / time.Duration(r.Baud)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 2*r.LineRTT + time.Second
	}
	l, done, err := s.open(ctx, 0)
	if err != nil {
		return r, err
	}
	defer done()
	replies := make(chan []byte, 64)
	go func() {
		defer close(replies)
		buf := make([]byte, MaxPacket)
		for {
			n, _, err := l.Recv(buf)
			if errors.Is(err, ErrClosed) {
				return
			}
			if err == nil {
				replies <- bytes.Clone(buf[:n])
			}
		}
	}()
	out := s.out()
	fmt.Fprintf(out, "PING %s: %d probes of %d bytes (%d on the wire each way) at %d baud, timeout %v\n",
		s.Device, count, size, len(frame), r.Baud, timeout)
	var total time.Duration
	var wireBack int
probes:
	for seq := uint32(1); int(seq) <= count; seq++ {
		start := time.Now()
		if err := sendPatiently(ctx, l, makeProbe(seq, size, start)); err != nil {
			if ctx.Err() != nil {
				break
			}
			return r, err
		}
		r.Sent++
		timer := time.NewTimer(timeout)
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				break probes
			case <-timer.C:
				fmt.Fprintf(out, "seq=%d lost: no reply within %v\n", seq, timeout)
				break wait
			case p, ok := <-replies:
				if !ok {
					timer.Stop()
					break probes
				}
				kind, rseq, intact, isProbe := parseProbe(p)
				switch {
				case !isProbe || kind != probeKindEcho:
					continue // not ours: a heartbeat, text, a probe from elsewhere
				case rseq != seq:
					r.Late++
					continue
				case !intact || len(p) != size:
					r.Corrupted++
					fmt.Fprintf(out, "seq=%d corrupted: reply of %d bytes does not match the probe\n", seq, len(p))
					timer.Stop()
					break wait
				}
				rtt := time.Since(start)
				timer.Stop()
				r.Received++
				total += rtt
				wireBack += wire
				if r.Received == 1 || rtt < r.Min {
					r.Min = rtt
				}
				r.Max = max(r.Max, rtt)
				fmt.Fprintf(out, "%d bytes from %s: seq=%d time=%s\n", len(p), s.Device, seq, ms(rtt))
				break wait
			}
		}
	}
	st := l.Stats()
	r.DamagedFrames, r.Noise = st.CRCErrors, st.Garbage
	if r.Received > 0 {
		r.Avg = total / time.Duration(r.Received)
		r.Throughput = float64(wireBack) / total.Seconds()
	}
	fmt.Fprintf(out, "--- %s ping statistics ---\n", s.Device)
	fmt.Fprintf(out, "%d probes sent, %d returned intact, %.0f%% loss, %d corrupted, %d late, %d damaged frames, %d bytes of noise\n",
		r.Sent, r.Received, 100*r.Loss(), r.Corrupted, r.Late, r.DamagedFrames, r.Noise)
	if r.Received > 0 {
		fmt.Fprintf(out, "rtt min/avg/max = %s/%s/%s ms (line time %s ms)\n",
			msNum(r.Min), msNum(r.Avg), msNum(r.Max), msNum(r.LineRTT))
		fmt.Fprintf(out, "throughput %.0f B/s on the wire, %.0f%% of %.0f B/s nominal at %d baud 8N1\n",
			r.Throughput, 100*r.Throughput/r.Nominal, r.Nominal, r.Baud)
		if r.Throughput > r.Nominal*1.05 {
			fmt.Fprintln(out, "faster than the baud rate: this line does not run at its nominal speed (a pty, or a link converted on the way)")
		}
	}
	return r, nil
}

func msNum(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
func ms(d time.Duration) string    { return msNum(d) + " ms" }
