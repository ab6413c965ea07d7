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
// A round is one question, asked from a hardware address of its own
// (RoundMAC): a holder's kernel answers to the hardware address that
// asked, so every answer counts for the question it answers, however late
// the watcher reads it. (Counting answers for the question last sent, as
// this watcher once did, took a slow reader's late answer to the previous
// question, from the holder before a move, and the answer to the current
// one, from the holder after it, for two holders at once.) A gratuitous
// ARP is not an answer and is not counted.
type ARPWatch struct {
	conn  *packet.Conn
	mac   net.HardwareAddr
	names map[string]string // hardware address → director
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu     sync.Mutex
	rounds map[roundKey]*arpRound // the recent rounds per VIP
	asked  map[netip.Addr]int     // rounds sent per VIP
	dual   []DualRound
}

// roundKey names a round: the VIP and the round's tag (RoundMAC).
type roundKey struct {
	vip netip.Addr
	tag uint16
}

// keepRounds is how many rounds per VIP stay open to late answers:
// seconds of them at ARPEvery.
const keepRounds = 512

// RoundMAC is the hardware address an ARP watcher asks round n from:
// prefix (its interface's first four bytes, made locally administered)
// and n's low 16 bits, so that the answers, sent to the asker's hardware
// address, name their question.
func RoundMAC(prefix net.HardwareAddr, n int) net.HardwareAddr {
	return net.HardwareAddr{prefix[0]&^1 | 2, prefix[1], prefix[2], prefix[3], byte(n >> 8), byte(n)}
}

// RoundTag reads back what RoundMAC put in mac: the round's 16-bit tag,
// and whether mac is one of prefix's round addresses.
func RoundTag(prefix, mac net.HardwareAddr) (uint16, bool) {
	if len(mac) != 6 {
		return 0, false
	}
	want := RoundMAC(prefix, 0)
	if string(mac[:4]) != string(want[:4]) {
		return 0, false
	}
	return binary.BigEndian.Uint16(mac[4:]), true
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
	w := &ARPWatch{names: names, stop: make(chan struct{}), rounds: map[roundKey]*arpRound{}, asked: map[netip.Addr]int{}}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		w.mac = ifi.HardwareAddr
		w.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		if err != nil {
			return err
		}
		// The answers go to the rounds' own hardware addresses.
		if err := w.conn.SetPromiscuous(true); err != nil {
			w.conn.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("peers: ARP watcher in %s: %w", h.Name(), err)
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
				w.asked[v]++
				n := w.asked[v]
				w.rounds[roundKey{v, uint16(n)}] = &arpRound{at: time.Now()}
				delete(w.rounds, roundKey{v, uint16(n - keepRounds)})
				w.mu.Unlock()
				_, _ = w.conn.WriteTo(arpProbe(RoundMAC(w.mac, n), v), bcast)
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
			if vip, tag, mac, ok := arpAnswer(buf[:n], w.mac); ok {
				w.answer(vip, tag, mac)
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

// answer counts an answer from mac for vip in the round tagged tag.
func (w *ARPWatch) answer(vip netip.Addr, tag uint16, mac string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.rounds[roundKey{vip, tag}]
	if r == nil {
		return // not a VIP asked about, or a round long closed
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

// arpAnswer reads frame as an ARP reply to one of my rounds (its target
// is a RoundMAC of mine): the address it answers for, the round's tag and
// who answered.
func arpAnswer(frame []byte, mine net.HardwareAddr) (netip.Addr, uint16, string, bool) {
	if len(frame) < arpFrame || binary.BigEndian.Uint16(frame[12:]) != ethTypeARP ||
		binary.BigEndian.Uint16(frame[arpOpOff:]) != 2 {
		return netip.Addr{}, 0, "", false
	}
	tag, ok := RoundTag(mine, frame[arpThaOff:arpThaOff+6])
	if !ok {
		return netip.Addr{}, 0, "", false
	}
	spa := netip.AddrFrom4([4]byte(frame[arpSpaOff : arpSpaOff+4]))
	return spa, tag, net.HardwareAddr(frame[arpShaOff : arpShaOff+6]).String(), true
}
