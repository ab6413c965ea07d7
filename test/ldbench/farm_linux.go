package ldbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"hbgo/test/netns"
)

// Addresses of a farm's lab: the link between checker and farm, the real
// servers' range (local to the farm host as a whole, AnyIP) and the
// virtual services' addresses (entries of a table only, never routed).
var (
	LinkNet     = netip.MustParsePrefix("10.92.0.0/24")
	RealNet     = netip.MustParsePrefix("10.91.0.0/16")
	VirtualBase = netip.MustParseAddr("10.93.0.1")
)

// RealPort is the port every real server listens on.
const RealPort = 80

// MaxReals is how many real servers a farm can hold (10.91.0.1 up to
// 10.91.255.254).
const MaxReals = 65534

// State is what a real server of a farm does with a connection.
type State int

// The states of a real server.
const (
	// Up: accepts, reads a request, answers "HTTP/1.0 200 OK" and closes.
	Up State = iota
	// Killed: no listener; a SYN gets a RST (connection refused), as
	// from a host whose service died.
	Killed
	// Hung: accepts and then never answers nor closes, as a wedged
	// service; a connect check still passes, a negotiate check times out.
	Hung
	// Frozen: SYNs vanish (a blackhole route on the farm), as a hung or
	// powered-off host: a connect check waits for its timeout.
	Frozen
)

func (s State) String() string {
	return [...]string{"up", "killed", "hung", "frozen"}[s]
}

// server is one real server of a farm.
type server struct {
	addr    netip.Addr
	ln      net.Listener // nil while killed
	state   State
	frozen  bool
	accepts int64
	held    []net.Conn // connections a hung server keeps
}

// Farm is many real servers on one lab host: RealNet is local to the host
// (a local route on lo), and one TCP listener per address on RealPort,
// opened in the host's namespace by this process, serves each. A checker
// on another host of the lab reaches them through the farm's link
// address.
type Farm struct {
	Host *netns.Host
	// Gateway is the farm's address on the link, the checker's route to
	// RealNet.
	Gateway netip.Addr

	nl      *netlink.Handle
	lo      netlink.Link
	mu      sync.Mutex
	servers []*server
	wg      sync.WaitGroup
	closed  bool
}

// NewLab builds a lab of two hosts on one segment: "checker" (LinkNet .1,
// with a route to RealNet) and "farm" (LinkNet .2) with n real servers
// up. The lab is removed when the test ends.
func NewLab(tb testing.TB, n int) (checker *netns.Host, farm *Farm) {
	tb.Helper()
	lab := netns.NewT(tb)
	seg, err := lab.AddSegment("farm", LinkNet)
	if err != nil {
		tb.Fatal(err)
	}
	checker, err = lab.AddHost("checker")
	if err == nil {
		err = checker.Attach(seg, "eth0", seg.Addr(1))
	}
	if err != nil {
		tb.Fatal(err)
	}
	fh, err := lab.AddHost("farm")
	if err == nil {
		err = fh.Attach(seg, "eth0", seg.Addr(2))
	}
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := checker.Run("ip", "route", "add", RealNet.String(), "via", seg.Addr(2).Addr().String()); err != nil {
		tb.Fatal(err)
	}
	farm, err = NewFarm(fh, seg.Addr(2).Addr(), n)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(farm.Close)
	return checker, farm
}

// NewFarm makes RealNet local on h's loopback and starts n real servers,
// the first n addresses of RealNet, all up. gateway is h's address that
// checkers route RealNet through.
func NewFarm(h *netns.Host, gateway netip.Addr, n int) (*Farm, error) {
	if n < 1 || n > MaxReals {
		return nil, fmt.Errorf("ldbench: farm of %d real servers: want 1..%d", n, MaxReals)
	}
	ns, err := vnetns.GetFromName(h.NS())
	if err != nil {
		return nil, fmt.Errorf("ldbench: farm: open namespace %s: %w", h.NS(), err)
	}
	nl, err := netlink.NewHandleAt(ns)
	ns.Close()
	if err != nil {
		return nil, fmt.Errorf("ldbench: farm: netlink in %s: %w", h.NS(), err)
	}
	f := &Farm{Host: h, Gateway: gateway, nl: nl}
	if f.lo, err = nl.LinkByName("lo"); err != nil {
		nl.Close()
		return nil, fmt.Errorf("ldbench: farm: %w", err)
	}
	// AnyIP: every address of RealNet is local to the host.
	local := &netlink.Route{LinkIndex: f.lo.Attrs().Index, Dst: ipnet(RealNet), Table: unixRTTableLocal, Type: unixRTNLocal, Scope: netlink.SCOPE_HOST}
	if err := nl.RouteAdd(local); err != nil {
		nl.Close()
		return nil, fmt.Errorf("ldbench: farm: local route %v: %w", RealNet, err)
	}
	for i := range n {
		f.servers = append(f.servers, &server{addr: RealAddr(i), state: Killed})
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	if err := f.Revive(all...); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Linux's routing table and route type numbers (rtnetlink.h).
const (
	unixRTTableLocal = 255
	unixRTNLocal     = 2
	unixRTNBlackhole = 6
)

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// RealAddr is the address of real server i (0-based): 10.91.0.1 onwards.
func RealAddr(i int) netip.Addr {
	b := RealNet.Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n += uint32(i) + 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// N is the number of real servers.
func (f *Farm) N() int { return len(f.servers) }

// Addr is real server i's address and port.
func (f *Farm) Addr(i int) netip.AddrPort { return netip.AddrPortFrom(f.servers[i].addr, RealPort) }

// State is what real server i does now.
func (f *Farm) State(i int) State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.servers[i].state
}

// Accepts is how many connections real server i has accepted.
func (f *Farm) Accepts(i int) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.servers[i].accepts
}

// freeBind lets a listener bind an address that is local only through
// the AnyIP route (IP_FREEBIND), and reuse it at once after a kill.
func freeBind(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1); serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Revive brings servers back up: listening, answering, not frozen.
func (f *Farm) Revive(idx ...int) error {
	if err := f.setFrozen(false, idx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("ldbench: farm closed")
	}
	var need []*server
	for _, i := range idx {
		s := f.servers[i]
		for _, c := range s.held {
			c.Close()
		}
		s.held = nil
		if s.ln == nil {
			need = append(need, s)
		} else {
			s.state = Up
		}
	}
	if len(need) == 0 {
		return nil
	}
	lns := make([]net.Listener, len(need))
	err := f.Host.Do(func() error {
		lc := net.ListenConfig{Control: freeBind}
		for k, s := range need {
			ln, err := lc.Listen(context.Background(), "tcp4", netip.AddrPortFrom(s.addr, RealPort).String())
			if err != nil {
				for _, l := range lns[:k] {
					l.Close()
				}
				return fmt.Errorf("ldbench: farm: listen on %s: %w", s.addr, err)
			}
			lns[k] = ln
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, s := range need {
		s.ln, s.state = lns[k], Up
		f.wg.Add(1)
		go f.serve(s, lns[k])
	}
	return nil
}

// serve accepts on one server's listener until it is closed.
func (f *Farm) serve(s *server, ln net.Listener) {
	defer f.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		s.accepts++
		hung := s.state == Hung && s.ln == ln
		if hung {
			s.held = append(s.held, c)
		}
		f.mu.Unlock()
		if !hung {
			go answer(c)
		}
	}
}

// answer reads a request (or the client's close) and answers it as a
// web server would.
func answer(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return // a connect check: the client closed first
		}
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"))
}

// Kill closes the servers' listeners: connections are refused.
func (f *Farm) Kill(idx ...int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, i := range idx {
		s := f.servers[i]
		if s.ln != nil {
			s.ln.Close()
			s.ln = nil
		}
		for _, c := range s.held {
			c.Close()
		}
		s.held = nil
		if !s.frozen {
			s.state = Killed
		}
	}
	return nil
}

// KillAll kills every server.
func (f *Farm) KillAll() error {
	all := make([]int, f.N())
	for i := range all {
		all[i] = i
	}
	return f.Kill(all...)
}

// Hang makes servers accept and then never answer.
func (f *Farm) Hang(idx ...int) error {
	if err := f.Revive(idx...); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, i := range idx {
		f.servers[i].state = Hung
	}
	return nil
}

// Freeze makes SYNs to the servers vanish: a blackhole route for each
// address in the farm's local table, which wins over the AnyIP route.
func (f *Farm) Freeze(idx ...int) error { return f.setFrozen(true, idx) }

func (f *Farm) setFrozen(frozen bool, idx []int) error {
	for _, i := range idx {
		f.mu.Lock()
		s := f.servers[i]
		was := s.frozen
		f.mu.Unlock()
		if was == frozen {
			continue
		}
		r := &netlink.Route{Dst: ipnet(netip.PrefixFrom(s.addr, 32)), Table: unixRTTableLocal, Type: unixRTNBlackhole}
		var err error
		if frozen {
			err = f.nl.RouteAdd(r)
		} else {
			err = f.nl.RouteDel(r)
		}
		if err != nil {
			return fmt.Errorf("ldbench: farm: %s blackhole route for %s: %w", map[bool]string{true: "add", false: "delete"}[frozen], s.addr, err)
		}
		f.mu.Lock()
		s.frozen = frozen
		if frozen {
			s.state = Frozen
		} else if s.ln == nil {
			s.state = Killed
		} else {
			s.state = Up
		}
		f.mu.Unlock()
	}
	return nil
}

// Close stops every server. It is idempotent.
func (f *Farm) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	for _, s := range f.servers {
		if s.ln != nil {
			s.ln.Close()
			s.ln = nil
		}
		for _, c := range s.held {
			c.Close()
		}
		s.held = nil
	}
	f.mu.Unlock()
	f.wg.Wait()
	f.nl.Close()
}
