package peers

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"hbgo/test/netns"
)

// EchoPort is the UDP port of the echo servers the probe asks.
const EchoPort = 7070

// ProbeEvery is how often the probe asks the virtual IP.
const ProbeEvery = 10 * time.Millisecond

// StartEcho starts, in host h, a UDP echo server on every address of h
// (the virtual IP included, once h holds it) that answers "SEQ NAME". It
// stops when the lab closes.
func StartEcho(h *netns.Host, name string) error {
	var conn *net.UDPConn
	err := h.Do(func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{Port: EchoPort})
		return err
	})
	if err != nil {
		return fmt.Errorf("peers: echo in %s: %w", name, err)
	}
	go func() {
		<-h.Lab().Done()
		conn.Close()
	}()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			seq, _, _ := strings.Cut(string(buf[:n]), " ")
			_, _ = conn.WriteToUDPAddrPort([]byte(seq+" "+name), from)
		}
	}()
	return nil
}

// Answer is one reply the probe received.
type Answer struct {
	At   time.Time
	Seq  uint64
	From string
}

// Probe asks a virtual IP every ProbeEvery from a client host and records
// every answer.
type Probe struct {
	conn *net.UDPConn
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	mu      sync.Mutex
	answers []Answer
	sent    uint64
}

// StartProbe starts asking vip from host h until Close or the lab closes.
func StartProbe(h *netns.Host, vip netip.Addr) (*Probe, error) {
	p := &Probe{stop: make(chan struct{})}
	err := h.Do(func() error {
		var err error
		p.conn, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("peers: probe: %w", err)
	}
	to := netip.AddrPortFrom(vip, EchoPort)
	p.wg.Add(2)
	go func() { // sender
		defer p.wg.Done()
		tick := time.NewTicker(ProbeEvery)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			_, _ = p.conn.WriteToUDPAddrPort([]byte(strconv.FormatUint(seq, 10)), to)
			p.mu.Lock()
			p.sent = seq
			p.mu.Unlock()
			select {
			case <-tick.C:
			case <-p.stop:
				return
			case <-h.Lab().Done():
				return
			}
		}
	}()
	go func() { // receiver
		defer p.wg.Done()
		buf := make([]byte, 64)
		for {
			n, _, err := p.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			now := time.Now()
			s, from, ok := strings.Cut(string(buf[:n]), " ")
			seq, err := strconv.ParseUint(s, 10, 64)
			if !ok || err != nil {
				continue
			}
			p.mu.Lock()
			p.answers = append(p.answers, Answer{At: now, Seq: seq, From: from})
			p.mu.Unlock()
		}
	}()
	go func() {
		select {
		case <-p.stop:
		case <-h.Lab().Done():
		}
		p.conn.Close()
	}()
	return p, nil
}

// Close stops the probe.
func (p *Probe) Close() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

// Answers returns the answers received in [from, to].
func (p *Probe) Answers(from, to time.Time) []Answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Answer
	for i := len(p.answers) - 1; i >= 0; i-- {
		a := p.answers[i]
		if a.At.Before(from) {
			break
		}
		if !a.At.After(to) {
			out = append(out, a)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Lost counts the questions left unanswered between the first and the
// last answer received in [from, to]: the sequence numbers missing among
// those answers. A client that stalls asks nothing meanwhile and loses
// nothing, so unlike Silence this counts only what the VIP failed to
// answer (or the network lost).
func (p *Probe) Lost(from, to time.Time) int {
	as := p.Answers(from, to)
	if len(as) == 0 {
		return 0
	}
	seen := map[uint64]bool{}
	lo, hi := as[0].Seq, as[0].Seq
	for _, a := range as {
		seen[a.Seq] = true
		lo, hi = min(lo, a.Seq), max(hi, a.Seq)
	}
	return int(hi-lo+1) - len(seen)
}

// ErrNoAnswer is returned when the awaited answer did not come in time.
var ErrNoAnswer = errors.New("peers: no answer in time")

// WaitFrom waits until an answer from name arrives after since, and
// returns the first such answer.
func (p *Probe) WaitFrom(name string, since time.Time, bound time.Duration) (Answer, error) {
	deadline := time.Now().Add(bound)
	for {
		for _, a := range p.Answers(since, time.Now()) {
			if a.From == name {
				return a, nil
			}
		}
		if time.Now().After(deadline) {
			return Answer{}, fmt.Errorf("%w: nothing from %s within %v after %s (last answer: %s)", ErrNoAnswer, name, bound, since.Format("15:04:05.000"), p.lastString())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitSteady waits until, for the last window, every probe was answered by
// name alone (at most two lost answers).
func (p *Probe) WaitSteady(name string, window, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		now := time.Now()
		as := p.Answers(now.Add(-window), now)
		ok := len(as) >= int(window/ProbeEvery)-2
		for _, a := range as {
			if a.From != name {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if now.After(deadline) {
			return fmt.Errorf("%w: not answered by %s alone for %v within %v (last answer: %s)", ErrNoAnswer, name, window, bound, p.lastString())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Holder is who answered last, or "".
func (p *Probe) Holder() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.answers) == 0 {
		return ""
	}
	return p.answers[len(p.answers)-1].From
}

func (p *Probe) lastString() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.answers) == 0 {
		return "none"
	}
	a := p.answers[len(p.answers)-1]
	return fmt.Sprintf("%s at %s", a.From, a.At.Format("15:04:05.000"))
}

// Gap is the longest time without an answer between the last answer
// before t0 and the first answer from to after t0, what a client sees of
// a move to node to that began at t0 (a crash or a command). It also
// returns when that first answer came.
func (p *Probe) Gap(t0 time.Time, to string, bound time.Duration) (gap time.Duration, first Answer, err error) {
	first, err = p.WaitFrom(to, t0, bound)
	if err != nil {
		return 0, first, err
	}
	as := p.Answers(t0.Add(-time.Second), first.At)
	// The last answer before t0 opens the window; without one, t0 does.
	prev := t0
	for _, a := range as {
		if a.At.Before(t0) {
			prev = a.At
		}
	}
	for _, a := range as {
		if a.At.Before(prev) {
			continue
		}
		gap = max(gap, a.At.Sub(prev))
		prev = a.At
	}
	return gap, first, nil
}

// Silence is the longest time without an answer within [from, to]: from
// the last answer at or before from (from itself when there is none),
// through every answer up to to, and on to to. A probe answered all along
// gives about ProbeEvery.
func (p *Probe) Silence(from, to time.Time) time.Duration {
	prev := from
	var gap time.Duration
	for _, a := range p.Answers(from.Add(-time.Second), to) {
		if !a.At.After(from) {
			prev = a.At
			continue
		}
		gap = max(gap, a.At.Sub(prev))
		prev = a.At
	}
	return max(gap, to.Sub(prev))
}
