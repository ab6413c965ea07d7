package peers

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"hbgo/test/netns"
)

// ARPEvery is how often the ARP watcher asks who has each virtual IP.
const ARPEvery = 10 * time.Millisecond

// DualRound is one question of the ARP watcher that two or more
// hardware addresses answered: two directors held the virtual IP at once.
type DualRound struct {
	At  time.Time // when the question was sent
	VIP netip.Addr
	// Who names each answering director (its hardware address when it
	// is not a director's).
	Who []string
}

// ARPWatch asks, from a host of its own on the directors' segment, who
// has each virtual IP every ARPEvery, and keeps every question that more
// than one hardware address answered. The questions are ARP probes
// (sender address 0.0.0.0, RFC 5227), so no host learns the watcher's
// address from them, and the answers come to the watcher's interface
// alone: the client's own neighbour cache (on another host) is untouched,
// and what the client sees of a failover is its own.
//
// A round is one question: the answers that arrive before the next
// question (ARPEvery later) count for it. An answer to a question is the
// holder's kernel replying at once; a gratuitous ARP is not an answer and
// is not counted.
type ARPWatch struct {
	conn  *packet.Conn
	mac   net.HardwareAddr
	names map[string]string // hardware address → director
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu     sync.Mutex
	rounds map[netip.Addr]*arpRound // the current round per VIP
	asked  map[netip.Addr]int       // rounds sent per VIP
	dual   []DualRound
}

type arpRound struct {
	at   time.Time
	macs []string
	dual int // 1 + its index in dual once two answered
}

// StartARPWatch starts the watcher on ifname of host h, asking for each
// of vips. names maps each director's hardware address (as
// net.HardwareAddr.String writes it) to its name. It stops at Close or
// when the lab closes.
func StartARPWatch(h *netns.Host, ifname string, names map[string]string, vips ...netip.Addr) (*ARPWatch, error) {
	w := &ARPWatch{names: names, stop: make(chan struct{}), rounds: map[netip.Addr]*arpRound{}, asked: map[netip.Addr]int{}}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		w.mac = ifi.HardwareAddr
		w.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("peers: ARP watcher in %s: %w", h.Name(), err)
	}
	frames := make(map[netip.Addr][]byte, len(vips))
	for _, v := range vips {
		frames[v] = arpProbe(w.mac, v)
	}
	w.wg.Add(2)
	go func() { // asker
		defer w.wg.Done()
		tick := time.NewTicker(ARPEvery)
		defer tick.Stop()
		bcast := &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
		for {
			for _, v := range vips {
				w.mu.Lock()
				w.rounds[v] = &arpRound{at: time.Now()}
				w.asked[v]++
				w.mu.Unlock()
				_, _ = w.conn.WriteTo(frames[v], bcast)
			}
			select {
			case <-tick.C:
			case <-w.stop:
				return
			case <-h.Lab().Done():
				return
			}
		}
	}()
	go func() { // listener
		defer w.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, _, err := w.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if vip, mac, ok := arpAnswer(buf[:n], w.mac); ok {
				w.answer(vip, mac)
			}
		}
	}()
	go func() {
		select {
		case <-w.stop:
		case <-h.Lab().Done():
		}
		w.conn.Close()
	}()
	return w, nil
}

// answer counts an answer from mac for vip in vip's current round.
func (w *ARPWatch) answer(vip netip.Addr, mac string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.rounds[vip]
	if r == nil {
		return // not a VIP asked about
	}
	for _, m := range r.macs {
		if m == mac {
			return
		}
	}
	r.macs = append(r.macs, mac)
	if len(r.macs) < 2 {
		return
	}
	who := make([]string, 0, len(r.macs))
	for _, m := range r.macs {
		if name, ok := w.names[m]; ok {
			m = name
		}
		who = append(who, m)
	}
	sort.Strings(who)
	if r.dual == 0 {
		w.dual = append(w.dual, DualRound{At: r.at, VIP: vip})
		r.dual = len(w.dual)
	}
	w.dual[r.dual-1].Who = who
}

// Dual returns the rounds asked in [from, to] that two or more hardware
// addresses answered.
func (w *ARPWatch) Dual(from, to time.Time) []DualRound {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []DualRound
	for _, d := range w.dual {
		if !d.At.Before(from) && !d.At.After(to) {
			out = append(out, DualRound{At: d.At, VIP: d.VIP, Who: append([]string(nil), d.Who...)})
		}
	}
	return out
}

// Asked is how many rounds the watcher has sent for vip.
func (w *ARPWatch) Asked(vip netip.Addr) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.asked[vip]
}

// Close stops the watcher.
func (w *ARPWatch) Close() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}

// ARP's fixed layout over Ethernet for IPv4 (RFC 826), offsets in the
// frame.
const (
	ethTypeARP = 0x0806
	arpOpOff   = 14 + 6  // operation
	arpShaOff  = 14 + 8  // sender hardware address
	arpSpaOff  = 14 + 14 // sender protocol address
	arpThaOff  = 14 + 18 // target hardware address
	arpTpaOff  = 14 + 24 // target protocol address
	arpFrame   = 14 + 28
)

// arpProbe is a broadcast ARP request for vip from mac with sender
// address 0.0.0.0, padded to Ethernet's 60-byte minimum.
func arpProbe(mac net.HardwareAddr, vip netip.Addr) []byte {
	f := make([]byte, 60)
	for i := 0; i < 6; i++ {
		f[i] = 0xff
	}
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:], ethTypeARP)
	// Ethernet (1), IPv4 (0x0800), lengths 6 and 4, request (1).
	copy(f[14:22], []byte{0, 1, 8, 0, 6, 4, 0, 1})
	copy(f[arpShaOff:], mac)
	tpa := vip.As4()
	copy(f[arpTpaOff:], tpa[:])
	return f
}

// arpAnswer reads frame as an ARP reply to one of mine (its target is my
// hardware address): the address it answers for and who answered.
func arpAnswer(frame []byte, mine net.HardwareAddr) (netip.Addr, string, bool) {
	if len(frame) < arpFrame || binary.BigEndian.Uint16(frame[12:]) != ethTypeARP ||
		binary.BigEndian.Uint16(frame[arpOpOff:]) != 2 || string(frame[arpThaOff:arpThaOff+6]) != string(mine) {
		return netip.Addr{}, "", false
	}
	spa := netip.AddrFrom4([4]byte(frame[arpSpaOff : arpSpaOff+4]))
	return spa, net.HardwareAddr(frame[arpShaOff : arpShaOff+6]).String(), true
}
