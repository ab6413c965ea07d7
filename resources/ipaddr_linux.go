//go:build linux

package resources

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// vipRun is what Start set going for a VIP: handles bound to the network
// namespace Start ran in (so goroutines use them from any thread), the
// announcer, and the lease renewal.
type vipRun struct {
	ns   netns.NsHandle
	nl   *netlink.Handle
	link netlink.Link
	ann  *announcer // nil when the interface cannot carry frames
	gate *gate      // nil without a lease

	stop chan struct{}
	done chan struct{}
}

func (a *VIPAgent) family() int {
	if a.addr.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// Start adds the address, unless it is there already, then announces it:
// it returns once the first frame is sent, the rest of the burst goes on
// in the background. With a lease, the gate and the address lifetime are
// set from it and renewed while it is fresh.
func (a *VIPAgent) Start(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.opErr("start", a.start(ctx))
}

func (a *VIPAgent) start(ctx context.Context) error {
	if r := a.run; r != nil {
		cur, err := findAddr(r.nl, a.addr)
		if err != nil {
			return err
		}
		if cur != nil {
			// Running already: renew, nothing else.
			return a.renewNow(r, cur, true)
		}
		// The address went (its lifetime ran out, or someone removed
		// it): start again from scratch.
		a.log.Warn("address gone while held; adding it again", "addr", a.addr)
		a.teardown(r)
		a.run = nil
	}
	ns, err := netns.Get()
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	r := &vipRun{ns: ns}
	ok := false
	defer func() {
		if !ok {
			if r.gate != nil {
				_ = r.gate.Release(a.addr)
			}
			a.teardown(r)
		}
	}()
	if r.nl, err = netlink.NewHandleAt(ns); err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	cur, err := findAddr(r.nl, a.addr)
	if err != nil {
		return err
	}
	var left time.Duration
	if a.env.Lease != nil {
		until, ok := a.env.Lease()
		left = time.Until(until)
		if !ok || left <= 0 {
			return errors.New("no lease: this node may not hold its groups now")
		}
		if r.gate, err = gateIn(ns); err != nil {
			return err
		}
		if err := r.gate.Hold(a.addr, until); err != nil {
			return err
		}
	}
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if cur != nil {
		if r.link, err = r.nl.LinkByIndex(cur.LinkIndex); err != nil {
			return fmt.Errorf("interface %d of %s: %w", cur.LinkIndex, a.addr, err)
		}
		if err := a.renewNow(r, cur, false); err != nil {
			return err
		}
	} else {
		na, link, err := a.newAddr(r.nl)
		if err != nil {
			return err
		}
		r.link = link
		if a.env.Lease != nil {
			na.ValidLft = addrLifetime(left)
			na.PreferedLft = na.ValidLft
		}
		if err := r.nl.AddrAdd(link, na); err != nil {
			return fmt.Errorf("add %s to %s: %w", describeAddr(na), link.Attrs().Name, err)
		}
		a.log.Info("address added", "addr", describeAddr(na), "iface", link.Attrs().Name)
	}
	if err := ctxErr(ctx); err != nil {
		return err
	}
	a.openAnnouncer(r)
	// Announce whether the address was added or found (a daemon that
	// restarts after -9 finds its VIP still there, while neighbours may
	// have learnt the peer's MAC meanwhile).
	if r.ann != nil {
		if err := r.ann.Burst(); err != nil {
			a.log.Warn("announcement failed", "err", err)
		}
	}
	if a.env.Lease != nil {
		r.stop, r.done = make(chan struct{}), make(chan struct{})
		go a.renewLoop(r, renewEvery(left))
	}
	a.run, ok = r, true
	return nil
}

// leaseOK reports whether the node holds its lease now.
func (a *VIPAgent) leaseOK() bool {
	if a.env.Lease == nil {
		return true
	}
	until, ok := a.env.Lease()
	return ok && time.Now().Before(until)
}

func (a *VIPAgent) openAnnouncer(r *vipRun) {
	w, mac, err := openFrameWriter(r.link.Attrs().Index)
	if err != nil {
		a.log.Warn("cannot announce the address", "err", err)
		return
	}
	var frames [][]byte
	if a.addr.Is4() {
		frames = [][]byte{garpFrame(arpRequest, mac, a.addr), garpFrame(arpReply, mac, a.addr)}
	} else {
		frames = [][]byte{unsolicitedNA(mac, a.addr)}
	}
	r.ann = newAnnouncer(w, frames, a.env.Announce, a.leaseOK, a.log)
}

// newAddr is the address to add, on the interface it goes to.
func (a *VIPAgent) newAddr(nl *netlink.Handle) (*netlink.Addr, netlink.Link, error) {
	link, bits, err := a.resolve(nl)
	if err != nil {
		return nil, nil, err
	}
	p := netip.PrefixFrom(a.addr, bits)
	na := &netlink.Addr{IPNet: prefixIPNet(p)}
	if a.kind == vipIPv6addr {
		na.Flags = unix.IFA_F_NODAD
		return na, link, nil
	}
	bc := a.bcast
	if !bc.IsValid() {
		bc = broadcastOf(p.Masked())
	}
	if bc.IsValid() {
		na.Broadcast = bc.AsSlice()
	}
	switch dev := link.Attrs().Name; {
	case a.iface != ifaceDevice(a.iface):
		na.Label = a.iface
	case a.kind == vipIPaddr:
		cur, err := nl.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			return nil, nil, fmt.Errorf("addresses of %s: %w", dev, err)
		}
		var used []string
		for _, c := range cur {
			used = append(used, c.Label)
		}
		na.Label = freeLabel(dev, used)
	}
	return na, link, nil
}

// resolve finds the interface and prefix length of the address: those
// given, else from the connected route (no gateway) of the main table
// that holds the address, the longest prefix first, then the lowest
// metric.
func (a *VIPAgent) resolve(nl *netlink.Handle) (netlink.Link, int, error) {
	var link netlink.Link
	if a.iface != "" {
		dev := ifaceDevice(a.iface)
		l, err := nl.LinkByName(dev)
		if err != nil {
			return nil, 0, fmt.Errorf("interface %s: %w", dev, err)
		}
		link = l
		if a.prefix >= 0 {
			return link, a.prefix, nil
		}
	}
	routes, err := nl.RouteListFiltered(a.family(), &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, 0, fmt.Errorf("routes: %w", err)
	}
	var best *netlink.Route
	bestBits := -1
	for i := range routes {
		rt := &routes[i]
		if rt.Dst == nil || rt.Gw != nil || len(rt.MultiPath) > 0 || rt.Type != unix.RTN_UNICAST {
			continue
		}
		p, ok := ipNetPrefix(rt.Dst)
		if !ok || p.Bits() == 0 || !p.Contains(a.addr) {
			continue
		}
		if link != nil && rt.LinkIndex != link.Attrs().Index {
			continue
		}
		if p.Bits() > bestBits || (p.Bits() == bestBits && rt.Priority < best.Priority) {
			best, bestBits = rt, p.Bits()
		}
	}
	if best == nil {
		if link != nil {
			return nil, 0, fmt.Errorf("no route on %s holds %s, so its prefix is unknown; give it as ADDR/PREFIX/IFACE", link.Attrs().Name, a.addr)
		}
		return nil, 0, fmt.Errorf("no connected route holds %s, so its interface is unknown; give it as ADDR/PREFIX/IFACE", a.addr)
	}
	if link == nil {
		if link, err = nl.LinkByIndex(best.LinkIndex); err != nil {
			return nil, 0, fmt.Errorf("interface %d: %w", best.LinkIndex, err)
		}
	}
	bits := a.prefix
	if bits < 0 {
		bits = bestBits
	}
	return link, bits, nil
}

// renewNow renews the lease of a held address at once: the gate element
// and the address lifetime. Without a lease it makes an address that a
// leased run left with a lifetime permanent again.
func (a *VIPAgent) renewNow(r *vipRun, cur *netlink.Addr, gateToo bool) error {
	if a.env.Lease == nil {
		if cur.ValidLft > 0 && uint32(cur.ValidLft) != infinityLifetime {
			return r.nl.AddrReplace(r.link, keptAddr(cur, 0))
		}
		return nil
	}
	until, ok := a.env.Lease()
	left := time.Until(until)
	if !ok || left <= 0 {
		return errors.New("no lease: this node may not hold its groups now")
	}
	if gateToo && r.gate != nil {
		if err := r.gate.Renew(a.addr, until); err != nil {
			return err
		}
	}
	if err := r.nl.AddrReplace(r.link, keptAddr(cur, addrLifetime(left))); err != nil {
		return fmt.Errorf("renew lifetime of %s: %w", a.addr, err)
	}
	return nil
}

// infinityLifetime is the kernel's "forever" (INFINITY_LIFE_TIME).
const infinityLifetime = 0xffffffff

// keptAddr is cur as it is, with a new lifetime in seconds (0: forever).
func keptAddr(cur *netlink.Addr, lft int) *netlink.Addr {
	na := &netlink.Addr{IPNet: cur.IPNet, Label: cur.Label, Broadcast: cur.Broadcast}
	if cur.IP.To4() == nil {
		na.Flags = unix.IFA_F_NODAD
	}
	if lft > 0 {
		na.ValidLft, na.PreferedLft = lft, lft
	} else {
		// Lifetimes are only sent when one is set: ask for forever.
		na.ValidLft, na.PreferedLft = infinityLifetime, infinityLifetime
	}
	return na
}

// renewLoop renews the gate element to the lease's end, and, on a
// goroutine of its own, the address lifetime when less than
// addrRenewBelow is left of it: address changes wait for the kernel's
// global routing lock, which namespaces coming and going can hold for
// long, and must not hold up the gate. While the lease is not fresh
// neither does anything: the gate and then the kernel darken the VIP on
// their own, and the cluster stops it.
//
// The gate is looked at when half of the life it was last given has
// passed (maxRenewLook at most, so that a lease that moved back is
// followed soon), then every eighth of it until the lease has moved: at
// rest the lease moves with every acknowledgement, a keepalive apart, and
// half a lease is about that, so one wakeup renews it. every is the pace
// while nothing was renewed yet (and of the address lifetime's checks).
func (a *VIPAgent) renewLoop(r *vipRun, every time.Duration) {
	defer close(r.done)
	lim := newLogLimiter(a.log, 10*time.Second)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.renewLifetime(r, every, lim)
	}()
	defer wg.Wait()
	t := time.NewTimer(every)
	defer t.Stop()
	resumed := a.leaseBell
	bell := resumed()
	var renewed time.Time  // the lease's end the gate was last renewed to
	var life time.Duration // what that renewal gave it
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if bell == nil {
				bell = resumed()
			}
		case <-bell:
			bell = resumed()
		}
		t.Stop()
		next := every
		if life > 0 {
			next = min(max(life/8, minRenewLook), maxRenewLook)
		}
		until, ok := a.env.Lease()
		now := time.Now()
		switch d := until.Sub(renewed); {
		case !ok || !now.Before(until):
		case d < time.Millisecond && d > -time.Millisecond:
			// The lease has not moved since the last renewal: the
			// element already ends when it does.
		default:
			if err := r.gate.Renew(a.addr, until); err != nil {
				lim.warn("lease renewal of the gate failed", err)
				break
			}
			renewed, life = until, until.Sub(now)
			next = min(max(life/2, minRenewLook), maxRenewLook)
		}
		t.Reset(next)
	}
}

// minRenewLook and maxRenewLook bound the wait between two looks at the
// lease.
const (
	minRenewLook = 5 * time.Millisecond
	maxRenewLook = 100 * time.Millisecond
)

// leaseBell is the channel closed when the lease holds again (nil when
// the agent is not told).
func (a *VIPAgent) leaseBell() <-chan struct{} {
	if a.env.LeaseResumed == nil {
		return nil
	}
	return a.env.LeaseResumed()
}

// addrCheckEvery is how often a held VIP checks its address lifetime.
const addrCheckEvery = 250 * time.Millisecond

// renewLifetime is renewLoop's half for the address lifetime.
func (a *VIPAgent) renewLifetime(r *vipRun, every time.Duration, lim *logLimiter) {
	expiry := time.Time{} // of the address lifetime as last set here
	if cur, err := findAddr(r.nl, a.addr); err == nil && cur != nil && cur.ValidLft > 0 {
		expiry = time.Now().Add(time.Duration(cur.ValidLft) * time.Second)
	}
	// The lifetime is whole seconds, two at least, renewed below 1.5 s
	// left: the agent wakes when that comes, or every quarter second
	// while it does not know the lifetime or waits for the lease.
	check := max(every, addrCheckEvery)
	t := time.NewTimer(check)
	defer t.Stop()
	bell := a.leaseBell()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if bell == nil {
				bell = a.leaseBell()
			}
		case <-bell:
			bell = a.leaseBell()
		}
		t.Stop()
		if wait := time.Until(expiry) - addrRenewBelow; wait > 0 {
			t.Reset(max(wait, check))
			continue
		}
		t.Reset(check)
		until, ok := a.env.Lease()
		now := time.Now()
		left := until.Sub(now)
		if !ok || left <= 0 {
			continue
		}
		cur, err := findAddr(r.nl, a.addr)
		switch {
		case err != nil:
			lim.warn("lease renewal: cannot list addresses", err)
		case cur == nil && !expiry.IsZero() && !now.Before(expiry):
			// Its lifetime ran out while the lease had lapsed (a
			// two-node survivor keeps its groups through the moment
			// between its lease's end and its silent peer's death):
			// the address is this agent's to add back.
			na, link, err := a.newAddr(r.nl)
			if err != nil {
				lim.warn("lease renewal: cannot add the address back", err)
				continue
			}
			lft := addrLifetime(left)
			na.ValidLft, na.PreferedLft = lft, lft
			if err := r.nl.AddrAdd(link, na); err != nil {
				lim.warn("lease renewal: cannot add the address back", err)
				continue
			}
			expiry = now.Add(time.Duration(lft) * time.Second)
			a.log.Info("address added again: its lifetime ran out while the lease had lapsed", "addr", describeAddr(na), "iface", link.Attrs().Name)
			if r.ann != nil {
				if err := r.ann.Burst(); err != nil {
					a.log.Warn("announcement failed", "err", err)
				}
			}
		case cur == nil:
			// Gone: not added back behind the cluster's back; Status
			// tells it.
			lim.warn("lease renewal: the address is gone", errors.New("not on any interface"))
		default:
			lft := addrLifetime(left)
			if err := r.nl.AddrReplace(r.link, keptAddr(cur, lft)); err != nil {
				lim.warn("lease renewal of the address lifetime failed", err)
				continue
			}
			expiry = now.Add(time.Duration(lft) * time.Second)
		}
		if wait := time.Until(expiry) - addrRenewBelow; wait > 0 {
			t.Stop()
			t.Reset(max(wait, check))
		}
	}
}

// Stop removes the address wherever it is, takes it out of the gate and
// stops its announcements and renewal.
func (a *VIPAgent) Stop(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.opErr("stop", a.stop(ctx))
}

func (a *VIPAgent) stop(ctx context.Context) error {
	r := a.run
	if r == nil {
		ns, err := netns.Get()
		if err != nil {
			return fmt.Errorf("network namespace: %w", err)
		}
		r = &vipRun{ns: ns}
		if r.nl, err = netlink.NewHandleAt(ns); err != nil {
			ns.Close()
			return fmt.Errorf("netlink: %w", err)
		}
		// A gate set up by this process earlier may hold the address.
		r.gate = existingGate(ns)
	}
	a.quiesce(r)
	cur, err := findAddr(r.nl, a.addr)
	if err == nil && cur != nil {
		if err = r.nl.AddrDel(nil, &netlink.Addr{IPNet: cur.IPNet, LinkIndex: cur.LinkIndex}); errors.Is(err, unix.EADDRNOTAVAIL) {
			err = nil // gone meanwhile (its lifetime ran out)
		} else if err == nil {
			a.log.Info("address removed", "addr", describeAddr(cur))
		}
	}
	if err != nil {
		if a.run == nil {
			a.teardown(r)
		}
		return err
	}
	if r.gate != nil {
		if err := r.gate.Release(a.addr); err != nil {
			a.log.Warn("gate release failed", "err", err)
		}
	}
	a.teardown(r)
	a.run = nil
	return ctxErr(ctx)
}

// quiesce stops the renewal and the announcements.
func (a *VIPAgent) quiesce(r *vipRun) {
	if r.stop != nil {
		close(r.stop)
		<-r.done
		r.stop = nil
	}
	if r.ann != nil {
		_ = r.ann.Close()
		r.ann = nil
	}
}

// teardown quiesces r and closes its handles.
func (a *VIPAgent) teardown(r *vipRun) {
	a.quiesce(r)
	if r.nl != nil {
		r.nl.Close()
		r.nl = nil
	}
	if r.gate != nil {
		r.gate.put()
		r.gate = nil
	}
	if r.ns.IsOpen() {
		r.ns.Close()
	}
}

// Status is Running when the address is on an interface, usable (not
// tentative, no failed duplicate detection) and, under a lease, live in
// the gate; Failed when it is there but not usable or dark; Stopped when
// it is on no interface.
func (a *VIPAgent) Status(ctx context.Context) (State, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	var nl *netlink.Handle
	var g *gate
	if a.run != nil {
		nl, g = a.run.nl, a.run.gate
	} else {
		h, err := netlink.NewHandle()
		if err != nil {
			return Unknown, a.opErr("status", fmt.Errorf("netlink: %w", err))
		}
		defer h.Close()
		nl = h
	}
	cur, err := findAddr(nl, a.addr)
	if err != nil {
		return Unknown, a.opErr("status", err)
	}
	if cur == nil {
		return Stopped, nil
	}
	if cur.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
		return Failed, nil
	}
	if g != nil {
		g.mu.Lock()
		_, live, err := gateState(g.c, a.addr)
		g.mu.Unlock()
		if err != nil {
			return Unknown, a.opErr("status", err)
		}
		if !live {
			return Failed, nil
		}
	}
	return Running, a.opErr("status", ctxErr(ctx))
}

// Announce sends the burst of announcements again if the address is
// held.
func (a *VIPAgent) Announce(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.run == nil || a.run.ann == nil || !a.leaseOK() {
		return nil
	}
	return a.opErr("announce", a.run.ann.Burst())
}

// findAddr returns the address addr on whichever interface holds it, or
// nil.
func findAddr(nl *netlink.Handle, addr netip.Addr) (*netlink.Addr, error) {
	fam := netlink.FAMILY_V4
	if addr.Is6() {
		fam = netlink.FAMILY_V6
	}
	var list []netlink.Addr
	var err error
	if nl == nil {
		list, err = netlink.AddrList(nil, fam)
	} else {
		list, err = nl.AddrList(nil, fam)
	}
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for i := range list {
		if ip, ok := netip.AddrFromSlice(list[i].IP); ok && ip.Unmap() == addr {
			return &list[i], nil
		}
	}
	return nil, nil
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func ipNetPrefix(n *net.IPNet) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

func describeAddr(a *netlink.Addr) string {
	s := a.IPNet.String()
	if a.Broadcast != nil {
		s += " brd " + a.Broadcast.String()
	}
	if a.Label != "" {
		s += " label " + a.Label
	}
	return s
}

// VIPServed reports whether this host, as the calling thread's network
// namespace sees it, serves addr: the address is on an interface, not
// tentative, and live in the gate when the gate holds it. Tests sample
// it from inside a namespace (netns Host.Do).
func VIPServed(addr netip.Addr) (bool, error) {
	// The gate first, then the address: a VIP stops with its address
	// removed before its gate is released, and starts with its gate held
	// before its address is added, so reading in this order never sees
	// a stopping VIP's address beside a gate already gone.
	c, err := nftables.New()
	if err != nil {
		return false, err
	}
	held, live, err := gateState(c, addr)
	if err != nil {
		return false, err
	}
	if held && !live {
		return false, nil
	}
	cur, err := findAddr(nil, addr)
	if err != nil || cur == nil {
		return false, err
	}
	return cur.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0, nil
}

// logLimiter logs a repeated failure at most once per period, with the
// count of those it held back.
type logLimiter struct {
	mu     sync.Mutex
	log    interface{ Warn(string, ...any) }
	period time.Duration
	last   time.Time
	held   int
}

func newLogLimiter(log interface{ Warn(string, ...any) }, period time.Duration) *logLimiter {
	return &logLimiter{log: log, period: period}
}

func (l *logLimiter) warn(msg string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); now.Sub(l.last) >= l.period {
		l.log.Warn(msg, "err", err, "suppressed", l.held)
		l.last, l.held = now, 0
		return
	}
	l.held++
}
