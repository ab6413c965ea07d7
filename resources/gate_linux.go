//go:build linux

package resources

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// gateTable names the nftables tables of the gate, in families inet and
// arp. They belong to hbgo alone: the first use in a process replaces
// whatever a killed daemon left.
const gateTable = "hbgo"

// Names of the gate's sets: the VIPs this node holds, and those of them
// whose lease is live (elements that time out with the lease).
const (
	setHeld4 = "held4"
	setLive4 = "live4"
	setHeld6 = "held6"
	setLive6 = "live6"
)

// gate is the nftables gate of one network namespace. A VIP that is held
// but not live is dark: the node drops IP packets to it and from it and
// sends no ARP reply or neighbour advertisement for it. A live element
// times out on its own, in the kernel, when its lease is not renewed.
//
// The agents of a namespace share its gate; the last one to let go
// removes the tables and closes the connection, which holds the
// namespace.
type gate struct {
	key  string
	mu   sync.Mutex
	c    *nftables.Conn
	inet *nftables.Table
	arp  *nftables.Table

	users int // guarded by gates
}

var gates = struct {
	sync.Mutex
	m map[string]*gate // by namespace identity
}{m: map[string]*gate{}}

// gateIn returns the gate of the namespace ns, setting it up afresh on
// its first use (the first in this process, or the first since the last
// user let go). The caller puts it back with put.
func gateIn(ns netns.NsHandle) (*gate, error) {
	key := ns.UniqueId()
	gates.Lock()
	defer gates.Unlock()
	if g := gates.m[key]; g != nil {
		g.users++
		return g, nil
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)), nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	g := &gate{
		key:   key,
		c:     c,
		inet:  &nftables.Table{Name: gateTable, Family: nftables.TableFamilyINet},
		arp:   &nftables.Table{Name: gateTable, Family: nftables.TableFamilyARP},
		users: 1,
	}
	if err := g.setup(); err != nil {
		_ = c.CloseLasting()
		return nil, fmt.Errorf("nftables gate: %w", err)
	}
	gates.m[key] = g
	return g, nil
}

// existingGate returns the gate of ns if this process has it set up, for
// the caller to put back; nil otherwise.
func existingGate(ns netns.NsHandle) *gate {
	gates.Lock()
	defer gates.Unlock()
	g := gates.m[ns.UniqueId()]
	if g != nil {
		g.users++
	}
	return g
}

// put lets go of the gate. The last user removes its tables: a node
// that holds no VIP needs no gate.
func (g *gate) put() {
	gates.Lock()
	defer gates.Unlock()
	if g.users--; g.users > 0 {
		return
	}
	delete(gates.m, g.key)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.c.DelTable(g.inet)
	g.c.DelTable(g.arp)
	_ = g.c.Flush()
	_ = g.c.CloseLasting()
}

func gateSet(t *nftables.Table, name string, v6, timeout bool) *nftables.Set {
	kt := nftables.TypeIPAddr
	if v6 {
		kt = nftables.TypeIP6Addr
	}
	return &nftables.Set{Table: t, Name: name, KeyType: kt, HasTimeout: timeout}
}

// darkRule drops what matches pre and then carries, in the expressions
// that load register 1, a held VIP that is not live.
func darkRule(t *nftables.Table, ch *nftables.Chain, held, live *nftables.Set, load ...expr.Any) *nftables.Rule {
	e := append([]expr.Any(nil), load...)
	e = append(e,
		&expr.Lookup{SourceRegister: 1, SetName: held.Name, SetID: held.ID},
		&expr.Lookup{SourceRegister: 1, SetName: live.Name, SetID: live.ID, Invert: true},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
	return &nftables.Rule{Table: t, Chain: ch, Exprs: e}
}

func nfproto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func load(base expr.PayloadBase, off, n uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: base, Offset: off, Len: n}
}

// setup replaces the gate's tables in one transaction: a stale table of
// a killed daemon goes, the new one comes, with nothing in between.
func (g *gate) setup() error {
	c := g.c
	for _, t := range []*nftables.Table{g.inet, g.arp} {
		c.AddTable(t) // so that the delete finds it
		c.DelTable(t)
		c.AddTable(t)
	}
	held4, live4 := gateSet(g.inet, setHeld4, false, false), gateSet(g.inet, setLive4, false, true)
	held6, live6 := gateSet(g.inet, setHeld6, true, false), gateSet(g.inet, setLive6, true, true)
	aheld4, alive4 := gateSet(g.arp, setHeld4, false, false), gateSet(g.arp, setLive4, false, true)
	for _, s := range []*nftables.Set{held4, live4, held6, live6, aheld4, alive4} {
		if err := c.AddSet(s, nil); err != nil {
			return err
		}
	}
	accept := nftables.ChainPolicyAccept
	chain := func(t *nftables.Table, name string, hook *nftables.ChainHook) *nftables.Chain {
		return c.AddChain(&nftables.Chain{
			Name: name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: &accept,
		})
	}
	in := chain(g.inet, "input", nftables.ChainHookInput)
	out := chain(g.inet, "output", nftables.ChainHookOutput)
	// The arp family numbers its hooks on its own: NF_ARP_OUT is 1.
	aout := chain(g.arp, "output", nftables.ChainHookRef(1))
	nh, th := expr.PayloadBaseNetworkHeader, expr.PayloadBaseTransportHeader
	v4, v6 := nfproto(unix.NFPROTO_IPV4), nfproto(unix.NFPROTO_IPV6)
	rules := []*nftables.Rule{
		// ip daddr @held4 ip daddr != @live4 drop
		darkRule(g.inet, in, held4, live4, append(v4, load(nh, 16, 4))...),
		darkRule(g.inet, in, held6, live6, append(v6, load(nh, 24, 16))...),
		// ip saddr @held4 ip saddr != @live4 drop
		darkRule(g.inet, out, held4, live4, append(v4, load(nh, 12, 4))...),
		darkRule(g.inet, out, held6, live6, append(v6, load(nh, 8, 16))...),
		// icmpv6 type nd-neighbor-advert, target @held6, not @live6: drop
		// (an advertisement from the link-local address for the VIP).
		darkRule(g.inet, out, held6, live6, append(append([]expr.Any(nil), v6...),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoICMPv6}},
			load(th, 0, 1),
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{icmpv6NeighborAdvertisement}},
			load(th, 8, 16))...),
		// arp ptype ip, arp saddr ip @held4, not @live4: drop
		darkRule(g.arp, aout, aheld4, alive4,
			load(nh, 2, 2),
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x08, 0x00}},
			load(nh, 14, 4)),
	}
	for _, r := range rules {
		c.AddRule(r)
	}
	return c.Flush()
}

// sets returns the gate's sets that hold addr: held and live, in inet
// and, for IPv4, in arp.
func (g *gate) sets(addr netip.Addr) (held, live []*nftables.Set) {
	if addr.Is4() {
		return []*nftables.Set{gateSet(g.inet, setHeld4, false, false), gateSet(g.arp, setHeld4, false, false)},
			[]*nftables.Set{gateSet(g.inet, setLive4, false, true), gateSet(g.arp, setLive4, false, true)}
	}
	return []*nftables.Set{gateSet(g.inet, setHeld6, true, false)}, []*nftables.Set{gateSet(g.inet, setLive6, true, true)}
}

// leaseTimeout is a set element's timeout for a lease that has left
// left: whole milliseconds, at least one.
func leaseTimeout(left time.Duration) time.Duration {
	return max(left.Truncate(time.Millisecond), time.Millisecond)
}

// renewSlack: a renewal whose netlink round trip took longer than this is
// done again. The kernel starts an element's timeout when it takes the
// element, somewhere within the round trip, so a renewal may outlive the
// lease by as much as the round trip took (a goroutine preempted between
// reading the clock and sending, under load).
const renewSlack = 2 * time.Millisecond

// Hold puts addr in the gate, live until until.
func (g *gate) Hold(addr netip.Addr, until time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	held, _ := g.sets(addr)
	for _, s := range held {
		if err := g.c.SetAddElements(s, []nftables.SetElement{{Key: addr.AsSlice()}}); err != nil {
			return err
		}
	}
	if err := g.c.Flush(); err != nil {
		return fmt.Errorf("nftables: hold %s: %w", addr, err)
	}
	return g.renewLocked(addr, until)
}

// Renew makes addr live until until. The element is deleted and added
// again with its new timeout in one transaction, so the VIP is never
// dark in between; when the element has already timed out there is
// nothing to delete, and it is added alone. A renewal that took long is
// made again, so that the element does not outlive the lease by more
// than renewSlack; one for a lease already over takes the element out.
func (g *gate) Renew(addr netip.Addr, until time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.renewLocked(addr, until)
}

func (g *gate) renewLocked(addr netip.Addr, until time.Time) error {
	_, live := g.sets(addr)
	key := []nftables.SetElement{{Key: addr.AsSlice()}}
	batch := func(del bool, left time.Duration) error {
		for _, s := range live {
			if del {
				if err := g.c.SetDeleteElements(s, key); err != nil {
					return err
				}
			}
			if left > 0 {
				if err := g.c.SetAddElements(s, []nftables.SetElement{{Key: addr.AsSlice(), Timeout: leaseTimeout(left)}}); err != nil {
					return err
				}
			}
		}
		return g.c.Flush()
	}
	for range 3 {
		t0 := time.Now()
		left := until.Sub(t0)
		if left <= 0 {
			// Over: dark now. Each set alone, for one whose element
			// timed out already fails the delete.
			for _, s := range live {
				if err := g.c.SetDeleteElements(s, key); err == nil {
					_ = g.c.Flush()
				}
			}
			return nil
		}
		err := batch(true, left)
		if errors.Is(err, unix.ENOENT) {
			err = batch(false, left)
		}
		if err != nil {
			return fmt.Errorf("nftables: renew %s: %w", addr, err)
		}
		if time.Since(t0) <= renewSlack {
			return nil
		}
	}
	return nil
}

// Release takes addr out of the gate: neither held nor live.
func (g *gate) Release(addr netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	held, live := g.sets(addr)
	var errs []error
	for _, s := range append(live, held...) {
		if err := g.c.SetDeleteElements(s, []nftables.SetElement{{Key: addr.AsSlice()}}); err != nil {
			errs = append(errs, err)
			continue
		}
		// One transaction each: a live element that timed out is gone
		// already, and its delete fails alone.
		if err := g.c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("nftables: release %s from %s: %w", addr, s.Name, err))
		}
	}
	return errors.Join(errs...)
}

// gateState reports, from the kernel, whether addr is held in the gate of
// the namespace c talks to and whether it is live there. A namespace
// without the gate holds nothing, and neither does one whose gate goes
// away as it is read (ENOENT: the last VIP stopped, or a daemon starting
// replaces a former run's tables).
func gateState(c *nftables.Conn, addr netip.Addr) (held, live bool, err error) {
	held, live, err = gateStateOnce(c, addr)
	// The nftables library does not always wrap the errno.
	if errors.Is(err, unix.ENOENT) || err != nil && strings.HasSuffix(err.Error(), unix.ENOENT.Error()) {
		return false, false, nil
	}
	return held, live, err
}

func gateStateOnce(c *nftables.Conn, addr netip.Addr) (held, live bool, err error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, false, fmt.Errorf("nftables: list tables: %w", err)
	}
	var t *nftables.Table
	for _, tb := range tables {
		if tb.Name == gateTable {
			t = tb
		}
	}
	if t == nil {
		return false, false, nil
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return false, false, fmt.Errorf("nftables: sets of %s: %w", gateTable, err)
	}
	hn, ln := setHeld4, setLive4
	if addr.Is6() {
		hn, ln = setHeld6, setLive6
	}
	contains := func(name string) (bool, error) {
		for _, s := range sets {
			if s.Name != name {
				continue
			}
			els, err := c.GetSetElements(s)
			if err != nil {
				return false, fmt.Errorf("nftables: elements of %s: %w", name, err)
			}
			for _, e := range els {
				if bytes.Equal(e.Key, addr.AsSlice()) && (!s.HasTimeout || e.Timeout == 0 || e.Expires > 0) {
					return true, nil
				}
			}
		}
		return false, nil
	}
	if held, err = contains(hn); err != nil || !held {
		return false, false, err
	}
	live, err = contains(ln)
	return held, live, err
}
