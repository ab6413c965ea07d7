package crm

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"hbgo/conf"
)

// carrierWatch follows the carrier of the interfaces this node's VIPs
// live on (keepalived's track_interface, on by default): each with
// carrier adds a point to the node's connectivity score, the score ping
// nodes add to (pinger). A director whose VIP interface loses its carrier
// (a pulled cable, a dead switch port) scores lower than a healthy peer
// at once, and its groups move to that peer by the handshake or the
// placement log, as for a lost ping node, well before deadtime when the
// two still hear each other on another link. The move is the ordinary
// one: the holder stops first, so nothing runs twice. A carrier that
// comes back counts again only after it has stayed up for hold, so that a
// flapping port does not toss the groups back and forth.
type carrierWatch struct {
	hold time.Duration
	log  *slog.Logger
	node string

	mu     sync.Mutex
	links  map[string]*carrierLink
	notify func() // set by start
}

type carrierLink struct {
	carrier bool
	since   time.Time // when carrier came back; zero: it had it at start
	known   bool
}

// LinkCarrier is one watched interface in the node's status.
type LinkCarrier struct {
	Name    string `json:"name"`
	Carrier bool   `json:"carrier"`
	// Counts is false while a carrier that came back waits out the hold.
	Counts bool `json:"counts"`
}

// hasVIPs says whether groups hold an address agent: then every node
// scores the carrier of its VIP interfaces (whether or not it found them),
// so that the nodes agree that scores count.
func hasVIPs(groups []conf.ResourceGroup) bool {
	for _, g := range groups {
		for _, r := range g.Resources {
			switch r.Name {
			case conf.AgentIPaddr, conf.AgentIPaddr2, conf.AgentIPv6addr:
				return true
			}
		}
	}
	return false
}

func newCarrierWatch(devs []string, hold time.Duration, log *slog.Logger, node string) *carrierWatch {
	w := &carrierWatch{hold: hold, log: log, node: node, links: map[string]*carrierLink{}}
	for _, d := range devs {
		w.links[d] = &carrierLink{}
	}
	return w
}

// set records a device's carrier as netlink reports it.
func (w *carrierWatch) set(dev string, carrier bool, now time.Time) {
	w.mu.Lock()
	l := w.links[dev]
	if l == nil || (l.known && l.carrier == carrier) {
		w.mu.Unlock()
		return
	}
	first := !l.known
	l.known, l.carrier = true, carrier
	if carrier && !first {
		l.since = now
	}
	notify := w.notify
	w.mu.Unlock()
	switch {
	case first && !carrier:
		w.log.Warn(fmt.Sprintf("Interface %s of a VIP has no carrier", dev), "node", w.node)
	case !first && !carrier:
		w.log.Warn(fmt.Sprintf("Interface %s of a VIP lost its carrier: this node's groups go to a peer that has it", dev), "node", w.node)
	case !first && carrier:
		w.log.Info(fmt.Sprintf("Interface %s of a VIP has its carrier again; it counts after %v", dev, w.hold), "node", w.node)
		time.AfterFunc(w.hold, func() {
			if notify != nil {
				notify()
			}
		})
	}
	if notify != nil {
		notify()
	}
}

// points is one per watched interface that has its carrier and has kept
// it for hold (or since start).
func (w *carrierWatch) points(now time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, l := range w.links {
		if l.carrier && (l.since.IsZero() || now.Sub(l.since) >= w.hold) {
			n++
		}
	}
	return n
}

// states lists the watched interfaces, by name.
func (w *carrierWatch) states(now time.Time) []LinkCarrier {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]LinkCarrier, 0, len(w.links))
	for name, l := range w.links {
		out = append(out, LinkCarrier{Name: name, Carrier: l.carrier, Counts: l.carrier && (l.since.IsZero() || now.Sub(l.since) >= w.hold)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
