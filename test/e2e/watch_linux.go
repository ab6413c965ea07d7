package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"hbgo/resources"
	"hbgo/test/netns"
	"hbgo/test/peers"
)

// Serves says whether director d's namespace serves the VIP now (the
// address up and live in the lease gate).
func (s *Site) Serves(d string) bool {
	var ok bool
	err := s.C.Members[d].Host.Do(func() error {
		var err error
		ok, err = resources.VIPServed(VIP)
		return err
	})
	if err != nil && !errors.Is(err, netns.ErrClosed) {
		s.T.Errorf("asking %s whether it serves %s: %v", d, VIP, err)
	}
	return ok
}

// Overlap is an instant at which more than one director held the VIP.
type Overlap struct {
	At   time.Time
	Who  []string
	Seen string // "namespaces" or "client ARP"
}

func (o Overlap) String() string {
	return fmt.Sprintf("%s: %s held by %s (seen in %s)", o.At.Format("15:04:05.000"), VIP, strings.Join(o.Who, " and "), o.Seen)
}

// Sampler asks every director's namespace every 10 ms whether it serves
// the VIP, and keeps each instant at which several did (sampleServing).
type Sampler struct {
	s    *Site
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	samples  int
	overlaps []Overlap
	dark     []Window // stretches in which no director served the VIP
	darkFrom time.Time
}

// StartSampler starts sampling.
func (s *Site) StartSampler() *Sampler {
	sm := &Sampler{s: s, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(sm.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			at := time.Now()
			on, both := s.sampleServing()
			sm.mu.Lock()
			sm.samples++
			if len(both) > 1 {
				sm.overlaps = append(sm.overlaps, Overlap{At: at, Who: both, Seen: "namespaces"})
			}
			if len(on) == 0 && sm.darkFrom.IsZero() {
				sm.darkFrom = at
			} else if len(on) > 0 && !sm.darkFrom.IsZero() {
				sm.dark = append(sm.dark, Window{sm.darkFrom, at})
				sm.darkFrom = time.Time{}
			}
			sm.mu.Unlock()
			select {
			case <-sm.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return sm
}

// sampleServing asks every director whether it serves the VIP, in turn
// (on: those that do), and then every director but the last once more.
// One director's answer and another's are moments apart (a busy test
// process, entering namespaces), and a move made between them would read
// as two holders; so both holds only the directors known to serve at the
// moment of the last one's answer: the last, if it serves, and every
// other that served both before and after it (no holder stops and starts
// again within a sample).
func (s *Site) sampleServing() (on, both []string) {
	first := make([]bool, len(Directors))
	for i, d := range Directors {
		if first[i] = s.Serves(d); first[i] {
			on = append(on, d)
		}
	}
	last := len(Directors) - 1
	for i, d := range Directors[:last] {
		if first[i] && s.Serves(d) {
			both = append(both, d)
		}
	}
	if first[last] {
		both = append(both, Directors[last])
	}
	return on, both
}

// Dark returns the stretches so far in which no director served the VIP
// (from the first sample that found none to the next that found one).
func (sm *Sampler) Dark() []Window {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	out := append([]Window(nil), sm.dark...)
	if !sm.darkFrom.IsZero() {
		out = append(out, Window{sm.darkFrom, time.Now()})
	}
	return out
}

// Stop stops sampling and returns the number of samples and the overlaps.
func (sm *Sampler) Stop() (int, []Overlap) {
	select {
	case <-sm.stop:
	default:
		close(sm.stop)
	}
	<-sm.done
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return sm.samples, sm.overlaps
}

// ARPWatch is the client's link asking "who has the VIP?" every 20 ms
// and listening to every ARP reply for the VIP: two directors' MACs
// answering the same question means both held the VIP. It asks as a
// host of its own (WatchAddr, heard in promiscuous mode), so the answers
// never reach the client's own neighbour table: the client must learn a
// move from the directors' gratuitous ARP as any client. Each question
// comes from a hardware address of its own (peers.RoundMAC of WatchMAC)
// and the answers go to it, so an answer counts for the question it
// answers even when the listener reads it after the next was asked.
type ARPWatch struct {
	fd    int
	stop  chan struct{}
	wg    sync.WaitGroup
	names map[string]string // MAC -> director

	mu       sync.Mutex
	asked    int
	replies  map[int]map[string]bool // question -> MACs that answered it
	overlaps []Overlap
	byMAC    map[string]int
}

// The ARP watch's own address and (locally administered) MAC.
var (
	WatchAddr = netip.MustParseAddr("10.81.0.21")
	WatchMAC  = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0xe2, 0x01}
)

// ARPEvery is how often the ARP watch asks.
const ARPEvery = 20 * time.Millisecond

// StartARPWatch starts the watch in the client's namespace.
func (s *Site) StartARPWatch() (*ARPWatch, error) {
	w := &ARPWatch{stop: make(chan struct{}), names: map[string]string{},
		replies: map[int]map[string]bool{}, byMAC: map[string]int{}}
	for _, d := range Directors {
		w.names[s.C.Members[d].Host.MAC("eth0").String()] = d
	}
	client := s.Client
	ifi := -1
	err := client.Do(func() error {
		i, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		ifi = i.Index
		w.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return err
		}
		if err := unix.Bind(w.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi}); err != nil {
			unix.Close(w.fd)
			return err
		}
		mreq := &unix.PacketMreq{Ifindex: int32(ifi), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(w.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
			unix.Close(w.fd)
			return err
		}
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		return unix.SetsockoptTimeval(w.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		return nil, fmt.Errorf("e2e: ARP watch: %w", err)
	}
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	w.wg.Add(2)
	go func() { // asker
		defer w.wg.Done()
		tick := time.NewTicker(ARPEvery)
		defer tick.Stop()
		for {
			w.mu.Lock()
			w.asked++
			q := w.asked
			w.mu.Unlock()
			_ = unix.Sendto(w.fd, arpRequest(peers.RoundMAC(WatchMAC, q), WatchAddr, VIP), 0, to)
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	go func() { // listener
		defer w.wg.Done()
		buf := make([]byte, 1500)
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			n, _, err := unix.Recvfrom(w.fd, buf, 0)
			if err != nil || n < 42 {
				continue
			}
			w.seen(buf[:n], WatchAddr)
		}
	}()
	return w, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// arpRequest is a broadcast "who has target? tell sender" frame.
func arpRequest(mac net.HardwareAddr, sender, target netip.Addr) []byte {
	b := make([]byte, 42)
	copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_ARP)
	binary.BigEndian.PutUint16(b[14:], 1)      // Ethernet
	binary.BigEndian.PutUint16(b[16:], 0x0800) // IPv4
	b[18], b[19] = 6, 4
	binary.BigEndian.PutUint16(b[20:], 1) // request
	copy(b[22:28], mac)
	s4, t4 := sender.As4(), target.As4()
	copy(b[28:32], s4[:])
	copy(b[38:42], t4[:])
	return b
}

// seen takes one ARP frame: a reply from the VIP to the watch counts for
// the question it answers (its target hardware address names it).
func (w *ARPWatch) seen(b []byte, client netip.Addr) {
	if binary.BigEndian.Uint16(b[12:]) != unix.ETH_P_ARP || binary.BigEndian.Uint16(b[20:]) != 2 {
		return
	}
	sip, _ := netip.AddrFromSlice(b[28:32])
	tip, _ := netip.AddrFromSlice(b[38:42])
	tag, ours := peers.RoundTag(WatchMAC, b[32:38])
	if sip != VIP || tip != client || !ours {
		return
	}
	mac := net.HardwareAddr(b[22:28]).String()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.byMAC[mac]++
	// The newest question with this tag: tags repeat every 65536
	// questions, 20 minutes at ARPEvery.
	q := w.asked - int(uint16(w.asked)-tag)
	if q <= w.asked-5 {
		return // a question whose record is gone
	}
	if w.replies[q] == nil {
		w.replies[q] = map[string]bool{}
	}
	w.replies[q][mac] = true
	if len(w.replies[q]) == 2 {
		var who []string
		for m := range w.replies[q] {
			n := w.names[m]
			if n == "" {
				n = m
			}
			who = append(who, n)
		}
		w.overlaps = append(w.overlaps, Overlap{At: time.Now(), Who: who, Seen: "client ARP"})
	}
	for old := range w.replies {
		if old <= w.asked-5 {
			delete(w.replies, old)
		}
	}
}

// Stop stops the watch and returns the questions asked, the replies by
// director and the overlaps.
func (w *ARPWatch) Stop() (asked int, replies map[string]int, overlaps []Overlap) {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
	unix.Close(w.fd)
	w.mu.Lock()
	defer w.mu.Unlock()
	replies = map[string]int{}
	for m, n := range w.byMAC {
		name := w.names[m]
		if name == "" {
			name = m
		}
		replies[name] += n
	}
	return w.asked, replies, w.overlaps
}

// ProcStats is what /proc says of a daemon: open descriptors, resident
// memory and threads.
type ProcStats struct {
	PID     int
	FDs     int
	RSSKiB  int
	Threads int
}

// ReadProcStats reads pid's stats.
func ReadProcStats(pid int) (ProcStats, error) {
	st := ProcStats{PID: pid}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return st, err
	}
	st.FDs = len(ents)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			st.RSSKiB, _ = strconv.Atoi(f[0])
		case "Threads":
			st.Threads, _ = strconv.Atoi(f[0])
		}
	}
	return st, nil
}

// DaemonPID is the PID of node's running daemon, or 0.
func (s *Site) DaemonPID(node string) int {
	return s.C.PID(node)
}
