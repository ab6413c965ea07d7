package resources

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"hbgo/conf"
)

// Defaults of the announcements that follow a VIP, as Heartbeat's
// send_arp made them: 5 rounds, 200 ms apart, the first at once, no
// refresh.
const (
	DefaultArpCount    = 5
	DefaultArpInterval = 200 * time.Millisecond
)

// AnnounceOptions say how a VIP is announced: Count rounds Interval
// apart, the first at once; for IPv4 a round is a gratuitous ARP request
// and a gratuitous ARP reply, for IPv6 one unsolicited neighbour
// advertisement. When Refresh is above zero, one more round follows
// every Refresh for as long as the VIP is held. Zero Count and Interval
// mean the defaults; ha.cf sets them with arp_count, arp_interval and
// arp_refresh.
type AnnounceOptions struct {
	Count    int
	Interval time.Duration
	Refresh  time.Duration
}

// AnnounceOptionsOf takes the announcing directives of ha.cf (arp_count,
// arp_interval, arp_refresh) for Env.Announce.
func AnnounceOptionsOf(c *conf.HAConfig) AnnounceOptions {
	return AnnounceOptions{Count: c.ArpCount, Interval: c.ArpInterval, Refresh: c.ArpRefresh}
}

func (o AnnounceOptions) withDefaults() AnnounceOptions {
	if o.Count <= 0 {
		o.Count = DefaultArpCount
	}
	if o.Interval <= 0 {
		o.Interval = DefaultArpInterval
	}
	o.Refresh = max(o.Refresh, 0)
	return o
}

// ARP opcodes and the Ethernet types the announcements use.
const (
	arpRequest    = 1
	arpReply      = 2
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	// ethMinFrame is the shortest Ethernet frame without its checksum;
	// an ARP frame is padded to it.
	ethMinFrame = 60
)

var (
	ethBroadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	ethZero      = net.HardwareAddr{0, 0, 0, 0, 0, 0}
)

// garpFrame builds a gratuitous ARP frame for ip from mac, sent to the
// Ethernet broadcast address: a request (target hardware address zero)
// or a reply (target hardware address broadcast), sender and target
// protocol addresses both ip. Some neighbours update their caches from
// one form only, so both are sent, as Heartbeat's send_arp did.
func garpFrame(op uint16, mac net.HardwareAddr, ip netip.Addr) []byte {
	b := make([]byte, ethMinFrame)
	copy(b[0:6], ethBroadcast)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // hardware: Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // protocol: IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	ip4 := ip.As4()
	copy(a[8:14], mac)
	copy(a[14:18], ip4[:])
	if op == arpReply {
		copy(a[18:24], ethBroadcast)
	} else {
		copy(a[18:24], ethZero)
	}
	copy(a[24:28], ip4[:])
	return b
}

// arpPacket is an Ethernet ARP frame taken apart.
type arpPacket struct {
	EthDst, EthSrc net.HardwareAddr
	Op             uint16
	SenderMAC      net.HardwareAddr
	SenderIP       netip.Addr
	TargetMAC      net.HardwareAddr
	TargetIP       netip.Addr
}

// parseARP takes an Ethernet frame carrying IPv4-over-Ethernet ARP
// apart; ok is false for anything else.
func parseARP(b []byte) (p arpPacket, ok bool) {
	if len(b) < 14+28 || binary.BigEndian.Uint16(b[12:14]) != etherTypeARP {
		return p, false
	}
	a := b[14:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != 0x0800 || a[4] != 6 || a[5] != 4 {
		return p, false
	}
	p.EthDst = net.HardwareAddr(append([]byte(nil), b[0:6]...))
	p.EthSrc = net.HardwareAddr(append([]byte(nil), b[6:12]...))
	p.Op = binary.BigEndian.Uint16(a[6:8])
	p.SenderMAC = net.HardwareAddr(append([]byte(nil), a[8:14]...))
	p.SenderIP = netip.AddrFrom4([4]byte(a[14:18]))
	p.TargetMAC = net.HardwareAddr(append([]byte(nil), a[18:24]...))
	p.TargetIP = netip.AddrFrom4([4]byte(a[24:28]))
	return p, true
}

// frameWriter sends whole Ethernet frames on one interface.
type frameWriter interface {
	WriteFrame(frame []byte) error
	Close() error
}

// announcer sends a VIP's announcements: a round at once, the rest of the
// burst and the refreshes in the background until stopped. It knows
// nothing of who owns the VIP; the agents call it.
type announcer struct {
	w      frameWriter
	frames [][]byte // one round
	opts   AnnounceOptions
	// ok, when set, is asked before each round after the first; a round
	// is skipped while it says no (a lapsed lease: the VIP is dark).
	ok  func() bool
	log *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

func newAnnouncer(w frameWriter, frames [][]byte, opts AnnounceOptions, ok func() bool, log *slog.Logger) *announcer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &announcer{w: w, frames: frames, opts: opts.withDefaults(), ok: ok, log: log}
}

// round sends one round of frames.
func (a *announcer) round() error {
	var errs []error
	for _, f := range a.frames {
		if err := a.w.WriteFrame(f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Burst sends the first round now and returns its error; the other
// Count-1 rounds, then the refreshes, go on in the background. A burst
// still running is cancelled first.
func (a *announcer) Burst() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("announcer closed")
	}
	a.stopLocked()
	err := a.round()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	a.cancel, a.done = cancel, done
	go a.run(ctx, done)
	return err
}

func (a *announcer) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTimer(a.opts.Interval)
	defer t.Stop()
	failures := 0
	send := func() {
		if a.ok != nil && !a.ok() {
			return
		}
		if err := a.round(); err != nil {
			// Logged once per burst: a down link fails every frame.
			if failures == 0 {
				a.log.Warn("announcement failed", "err", err)
			}
			failures++
		}
	}
	for i := 1; i < a.opts.Count; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		send()
		t.Reset(a.opts.Interval)
	}
	if a.opts.Refresh <= 0 {
		return
	}
	t.Reset(a.opts.Refresh)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		send()
		t.Reset(a.opts.Refresh)
	}
}

// Active reports whether a burst or the refreshes are still going on.
func (a *announcer) Active() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil {
		return false
	}
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

func (a *announcer) stopLocked() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel, a.done = nil, nil
	}
}

// Close stops the background rounds and closes the writer.
func (a *announcer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopLocked()
	if a.closed {
		return nil
	}
	a.closed = true
	return a.w.Close()
}
