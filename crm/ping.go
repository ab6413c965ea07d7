package crm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"hbgo/conf"
)

// pinger watches ha.cf's ping nodes and ping groups and turns them into a
// connectivity score: one point per ping node answering, one per ping group
// with any member answering. A node whose score is lower than a healthy
// peer's gives its groups away (the job ipfail did).
type pinger struct {
	every, dead time.Duration
	log         *slog.Logger
	node        string

	// token is this run's random payload and seq the sequence of the
	// last round sent: a reply counts only when it carries the token and
	// the sequence of a round recent enough to count, so that neither a
	// forged reply nor an old one keeps a dead ping node up.
	token [8]byte
	seq   atomic.Uint32

	has6 bool // an IPv6 socket was opened at start

	// carrier, when the groups hold VIPs, adds the carrier of their
	// interfaces to the score (carrierWatch).
	carrier *carrierWatch

	// reportMu orders the reports; last is the score reported last and
	// pingKnown says the first ping round ended (guarded by mu).
	reportMu  sync.Mutex
	last      int
	onChange  func(int)
	pingKnown bool

	mu      sync.Mutex
	targets map[netip.Addr]*pingTarget
	singles []netip.Addr
	groups  [][]netip.Addr
	names   map[netip.Addr]string
}

type pingTarget struct {
	lastReply time.Time
	up        bool
}

func newPinger(ha *conf.HAConfig, node string, log *slog.Logger) (*pinger, error) {
	p := &pinger{every: ha.Keepalive, dead: ha.EffectiveDeadping(), log: log, node: node, last: PingUnknown,
		targets: map[netip.Addr]*pingTarget{}, names: map[netip.Addr]string{}}
	resolve := func(h string) (netip.Addr, error) {
		if a, err := netip.ParseAddr(h); err == nil {
			return a, nil
		}
		ips, err := net.LookupIP(h)
		if err != nil || len(ips) == 0 {
			return netip.Addr{}, fmt.Errorf("ping node %s: %v", h, err)
		}
		a, _ := netip.AddrFromSlice(ips[0])
		return a.Unmap(), nil
	}
	for _, h := range ha.Ping {
		a, err := resolve(h)
		if err != nil {
			return nil, err
		}
		p.singles = append(p.singles, a)
		p.targets[a] = &pingTarget{}
		p.names[a] = h
	}
	for _, g := range ha.PingGroups {
		var members []netip.Addr
		for _, h := range g.Hosts {
			a, err := resolve(h)
			if err != nil {
				return nil, err
			}
			members = append(members, a)
			p.targets[a] = &pingTarget{}
			p.names[a] = h
		}
		p.groups = append(p.groups, members)
	}
	return p, nil
}

// reconfigure takes ha's ping nodes and groups (a reload), keeping what is
// known of the nodes that stay. Going from none to some, or from some to
// none, changes what the cluster decides on and needs a restart; so does a
// first IPv6 ping node (no socket for it).
func (p *pinger) reconfigure(ha *conf.HAConfig) (changed bool, err error) {
	np, err := newPinger(ha, p.node, p.log)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if (len(np.targets) > 0) != (len(p.targets) > 0) {
		return false, errors.New("ping nodes where there were none, or none left: that takes a restart")
	}
	same := len(np.targets) == len(p.targets)
	for a := range np.targets {
		if a.Is6() && !p.has6 {
			return false, errors.New("a first IPv6 ping node takes a restart")
		}
		if p.targets[a] == nil {
			same = false
		}
	}
	if same && fmt.Sprint(np.singles, np.groups) == fmt.Sprint(p.singles, p.groups) {
		return false, nil
	}
	for a, t := range np.targets {
		if old := p.targets[a]; old != nil {
			*t = *old
		}
	}
	p.targets, p.singles, p.groups, p.names = np.targets, np.singles, np.groups, np.names
	return true, nil
}

// configured reports whether connectivity is scored: there is anything
// to ping, or carrier to watch.
func (p *pinger) configured() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.targets) > 0 || p.carrier != nil
}

// score is the current connectivity score: the ping nodes' points, then
// the carriers'.
func (p *pinger) score() int {
	n := p.pingPoints()
	if p.carrier != nil {
		n += p.carrier.points(time.Now())
	}
	return n
}

// report tells onChange the score when it changed since the last report:
// PingUnknown while the first ping round has not ended.
func (p *pinger) report() {
	p.reportMu.Lock()
	defer p.reportMu.Unlock()
	p.mu.Lock()
	known := p.pingKnown || len(p.targets) == 0
	p.mu.Unlock()
	s := PingUnknown
	if known {
		s = p.score()
	}
	if s != p.last {
		p.last = s
		if p.onChange != nil {
			p.onChange(s)
		}
	}
}

// pingPoints is one point per ping node answering and per ping group
// with a member answering.
func (p *pinger) pingPoints() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.singles {
		if p.targets[a].up {
			n++
		}
	}
	for _, g := range p.groups {
		for _, a := range g {
			if p.targets[a].up {
				n++
				break
			}
		}
	}
	return n
}

// ours says whether an echo reply answers one of this run's recent
// rounds: it carries the run's token and the sequence of a round sent no
// longer ago than deadping.
func (p *pinger) ours(e *icmp.Echo) bool {
	if len(e.Data) < len(p.token) || !bytes.Equal(e.Data[:len(p.token)], p.token[:]) {
		return false
	}
	rounds := uint32(1)
	if p.every > 0 {
		rounds += uint32(p.dead / p.every)
	}
	age := (p.seq.Load() - uint32(e.Seq)) & 0xffff
	return age <= rounds
}

// states lists each ping node and whether it answers.
func (p *pinger) states() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]bool{}
	for a, t := range p.targets {
		out[p.names[a]] = t.up
	}
	return out
}

// start opens the ICMP sockets (in the caller's network namespace) and
// pings every target each keepalive until ctx ends; onChange hears score
// changes.
func (p *pinger) start(ctx context.Context, onChange func(int)) error {
	p.reportMu.Lock()
	p.onChange = onChange
	p.reportMu.Unlock()
	if p.carrier != nil {
		p.carrier.start(ctx, p.report)
	}
	p.mu.Lock()
	pings := len(p.targets) > 0
	p.mu.Unlock()
	if !pings {
		p.report() // the carriers are known at once
		return nil
	}
	c4, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	var c6 *icmp.PacketConn
	for a := range p.targets {
		if a.Is6() && c6 == nil {
			if c6, err = icmp.ListenPacket("ip6:ipv6-icmp", "::"); err != nil {
				c4.Close()
				return fmt.Errorf("ping6: %w", err)
			}
			p.has6 = true
		}
	}
	go func() {
		<-ctx.Done()
		c4.Close()
		if c6 != nil {
			c6.Close()
		}
	}()
	id := os.Getpid() & 0xffff
	if _, err := rand.Read(p.token[:]); err != nil {
		c4.Close()
		return fmt.Errorf("ping: %w", err)
	}
	go p.recv(ctx, c4, 1, id)
	if c6 != nil {
		go p.recv(ctx, c6, 58, id)
	}
	go p.loop(ctx, c4, c6, id)
	return nil
}

func (p *pinger) loop(ctx context.Context, c4, c6 *icmp.PacketConn, id int) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	started := time.Now()
	for seq := 0; ; seq++ {
		p.seq.Store(uint32(seq & 0xffff))
		p.mu.Lock()
		addrs := make([]netip.Addr, 0, len(p.targets))
		for a := range p.targets {
			addrs = append(addrs, a)
		}
		p.mu.Unlock()
		for _, a := range addrs {
			var msg icmp.Message
			data := binary.BigEndian.AppendUint64(append([]byte(nil), p.token[:]...), uint64(time.Now().UnixNano()))
			body := &icmp.Echo{ID: id, Seq: seq & 0xffff, Data: data}
			conn := c4
			if a.Is6() {
				msg = icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: body}
				conn = c6
			} else {
				msg = icmp.Message{Type: ipv4.ICMPTypeEcho, Body: body}
			}
			b, _ := msg.Marshal(nil)
			conn.WriteTo(b, &net.IPAddr{IP: a.AsSlice()})
		}
		now := time.Now()
		p.mu.Lock()
		for a, tg := range p.targets {
			up := !tg.lastReply.IsZero() && now.Sub(tg.lastReply) < p.dead
			if up != tg.up {
				tg.up = up
				word := "dead"
				if up {
					word = "up"
				}
				p.log.Info(fmt.Sprintf("Ping node %s is %s", p.names[a], word), "node", p.node)
			}
		}
		// The score is unknown until every target answered once or
		// deadping passed: a score of 0 before the first replies could
		// arrive would tell the peer this node lost its uplink.
		known := now.Sub(started) >= p.dead
		if !known {
			known = true
			for _, tg := range p.targets {
				known = known && tg.up
			}
		}
		p.mu.Unlock()
		if !known {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			continue
		}
		p.mu.Lock()
		p.pingKnown = true
		p.mu.Unlock()
		p.report()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *pinger) recv(ctx context.Context, c *icmp.PacketConn, proto, id int) {
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok || echo.ID != id || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) || !p.ours(echo) {
			continue
		}
		ip, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		a, _ := netip.AddrFromSlice(ip.IP)
		p.mu.Lock()
		if t := p.targets[a.Unmap()]; t != nil {
			t.lastReply = time.Now()
		}
		p.mu.Unlock()
	}
}
