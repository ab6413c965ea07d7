package heartbeat

import (
	"fmt"
	"sort"
	"time"
)

// LinkState is the state of one (peer, local link) pair.
type LinkState int

const (
	LinkInit LinkState = iota // not heard yet, initdead not passed
	LinkUp
	LinkDead
)

func (s LinkState) String() string {
	switch s {
	case LinkUp:
		return "up"
	case LinkDead:
		return "dead"
	}
	return "init"
}

// NodeState is the state of a peer node.
type NodeState int

const (
	NodeInit NodeState = iota // not heard yet, initdead not passed
	NodeUp
	NodeDead
)

func (s NodeState) String() string {
	switch s {
	case NodeUp:
		return "up"
	case NodeDead:
		return "dead"
	}
	return "init"
}

// EventKind tells what changed.
type EventKind int

const (
	EventLinkUp EventKind = iota + 1
	EventLinkDead
	EventNodeUp
	EventNodeDead
	EventNodeLate
	EventNodeRestarted
)

func (k EventKind) String() string {
	return [...]string{"", "link-up", "link-dead", "node-up", "node-dead", "node-late", "node-restarted"}[k]
}

// Event is one change of liveness, delivered to the cluster layer.
type Event struct {
	Kind EventKind
	Node string
	Link string // for link events
	Time time.Time
	// Gap is, for a late heartbeat, the time since the node was last heard.
	Gap time.Duration
	// Left is true when a NodeDead comes from the node saying it is leaving.
	Left bool
}

// String renders the event as the log line a Heartbeat operator knows.
func (e Event) String() string {
	switch e.Kind {
	case EventLinkUp:
		return fmt.Sprintf("Link %s:%s up.", e.Node, e.Link)
	case EventLinkDead:
		return fmt.Sprintf("Link %s:%s dead.", e.Node, e.Link)
	case EventNodeUp:
		return fmt.Sprintf("node %s: is up", e.Node)
	case EventNodeDead:
		if e.Left {
			return fmt.Sprintf("node %s: is dead (it left the cluster)", e.Node)
		}
		return fmt.Sprintf("node %s: is dead", e.Node)
	case EventNodeLate:
		return fmt.Sprintf("WARN: Late heartbeat: Node %s: interval %d ms", e.Node, e.Gap.Milliseconds())
	case EventNodeRestarted:
		return fmt.Sprintf("node %s: restarted (new generation)", e.Node)
	}
	return "unknown event"
}

// Timing holds the ha.cf times that liveness uses.
type Timing struct {
	Keepalive time.Duration
	Warntime  time.Duration
	Deadtime  time.Duration
	Initdead  time.Duration
}

// Tracker decides the liveness of every (peer, link) and every peer from
// the times packets were heard. It is a plain state machine: callers pass
// the time, so tests step it without a clock.
type Tracker struct {
	timing Timing
	start  time.Time
	links  []string
	nodes  map[string]*nodeLive
}

type nodeLive struct {
	state NodeState
	late  bool
	last  time.Time
	links map[string]*linkLive
}

type linkLive struct {
	state LinkState
	last  time.Time
}

// NewTracker starts tracking peers over the named local links from start.
func NewTracker(t Timing, start time.Time, links []string, peers []string) *Tracker {
	tr := &Tracker{timing: t, start: start, links: append([]string(nil), links...), nodes: map[string]*nodeLive{}}
	for _, p := range peers {
		tr.add(p)
	}
	return tr
}

func (tr *Tracker) add(node string) *nodeLive {
	n := &nodeLive{links: map[string]*linkLive{}}
	for _, l := range tr.links {
		n.links[l] = &linkLive{}
	}
	tr.nodes[node] = n
	return n
}

// Known reports whether node is tracked.
func (tr *Tracker) Known(node string) bool { _, ok := tr.nodes[node]; return ok }

// Heard records a valid packet from node on the local link at now.
func (tr *Tracker) Heard(node, link string, status Status, restarted bool, now time.Time) []Event {
	n := tr.nodes[node]
	if n == nil {
		n = tr.add(node)
	}
	var evs []Event
	if status == StatusLeaving {
		return tr.leave(node, n, now)
	}
	if restarted && n.state == NodeUp {
		evs = append(evs, Event{Kind: EventNodeRestarted, Node: node, Time: now})
	}
	l := n.links[link]
	if l == nil {
		l = &linkLive{}
		n.links[link] = l
	}
	// Packets are dated by their arrival (the kernel's stamp), and one
	// read later may have arrived earlier on another link.
	if now.After(l.last) {
		l.last = now
	}
	if l.state != LinkUp {
		l.state = LinkUp
		evs = append(evs, Event{Kind: EventLinkUp, Node: node, Link: link, Time: now})
	}
	if now.After(n.last) {
		n.last = now
	}
	n.late = false
	if n.state != NodeUp {
		n.state = NodeUp
		evs = append(evs, Event{Kind: EventNodeUp, Node: node, Time: now})
	}
	return evs
}

// leave marks a node that announced its shutdown dead on every link at once.
func (tr *Tracker) leave(node string, n *nodeLive, now time.Time) []Event {
	var evs []Event
	for _, name := range sortedLinks(n) {
		if l := n.links[name]; l.state != LinkDead {
			l.state = LinkDead
			evs = append(evs, Event{Kind: EventLinkDead, Node: node, Link: name, Time: now})
		}
	}
	if n.state != NodeDead {
		n.state = NodeDead
		evs = append(evs, Event{Kind: EventNodeDead, Node: node, Time: now, Left: true})
	}
	return evs
}

// Tick advances time to now and returns the changes it causes.
func (tr *Tracker) Tick(now time.Time) []Event {
	var evs []Event
	names := make([]string, 0, len(tr.nodes))
	for name := range tr.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	initOver := now.Sub(tr.start) >= tr.timing.Initdead
	for _, name := range names {
		n := tr.nodes[name]
		alive := 0
		for _, ln := range sortedLinks(n) {
			l := n.links[ln]
			switch l.state {
			case LinkUp:
				if now.Sub(l.last) >= tr.timing.Deadtime {
					l.state = LinkDead
					evs = append(evs, Event{Kind: EventLinkDead, Node: name, Link: ln, Time: now})
				}
			case LinkInit:
				if initOver {
					l.state = LinkDead
					evs = append(evs, Event{Kind: EventLinkDead, Node: name, Link: ln, Time: now})
				}
			}
			if l.state != LinkDead {
				alive++
			}
		}
		switch {
		case n.state == NodeUp && alive == 0:
			n.state = NodeDead
			evs = append(evs, Event{Kind: EventNodeDead, Node: name, Time: now})
		case n.state == NodeInit && alive == 0 && initOver:
			n.state = NodeDead
			evs = append(evs, Event{Kind: EventNodeDead, Node: name, Time: now})
		case n.state == NodeUp && !n.late && now.Sub(n.last) >= tr.timing.Warntime:
			n.late = true
			evs = append(evs, Event{Kind: EventNodeLate, Node: name, Time: now, Gap: now.Sub(n.last)})
		}
	}
	return evs
}

// NextDue is the earliest time after which Tick may report a change
// (a link or node dead, a node late, initdead over); zero when nothing is
// pending. Heard only ever makes it later or adds a new one, which the
// caller learns from Heard's events.
func (tr *Tracker) NextDue() time.Time {
	var due time.Time
	at := func(t time.Time) {
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	initEnd := tr.start.Add(tr.timing.Initdead)
	for _, n := range tr.nodes {
		for _, l := range n.links {
			switch l.state {
			case LinkUp:
				at(l.last.Add(tr.timing.Deadtime))
			case LinkInit:
				at(initEnd)
			}
		}
		switch {
		case n.state == NodeInit:
			at(initEnd)
		case n.state == NodeUp && !n.late:
			at(n.last.Add(tr.timing.Warntime))
		}
	}
	return due
}

// NodeStatus is a snapshot of one peer.
type NodeStatus struct {
	Name     string
	State    NodeState
	Late     bool
	LastSeen time.Time
	Links    map[string]LinkState
	Key      int // the authkeys key its newest heartbeat was signed with (0: none heard)
	// Heartbeat3: its newest message was Linux-HA Heartbeat 3's, not hbgo's.
	Heartbeat3 bool
}

// Snapshot returns every peer's state, sorted by name.
func (tr *Tracker) Snapshot() []NodeStatus {
	var out []NodeStatus
	for name, n := range tr.nodes {
		ns := NodeStatus{Name: name, State: n.state, Late: n.late, LastSeen: n.last, Links: map[string]LinkState{}}
		for ln, l := range n.links {
			ns.Links[ln] = l.state
		}
		out = append(out, ns)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedLinks(n *nodeLive) []string {
	out := make([]string, 0, len(n.links))
	for l := range n.links {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}
