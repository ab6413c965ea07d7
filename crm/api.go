// Package crm owns the cluster: the raft-replicated placement of resource
// groups with leases, the witness and two-node modes, standby, takeover and
// failback, and the control API the user commands speak.
package crm

import (
	"context"
	"errors"
	"time"

	"hbgo/heartbeat"
)

// Errors the control API returns and callers branch on.
var (
	ErrNoQuorum     = errors.New("no quorum")
	ErrNoPeer       = errors.New("no healthy peer to take the groups")
	ErrNotOwner     = errors.New("not the owner")
	ErrShuttingDown = errors.New("shutting down")
	ErrTimeout      = errors.New("timed out")
	ErrBadRequest   = errors.New("bad request")
)

// Scope is the argument of hb_standby and hb_takeover, with Heartbeat's
// meanings: all groups; local (the groups whose home is this node);
// foreign and failback (the groups whose home is another node).
type Scope string

const (
	ScopeAll      Scope = "all"
	ScopeLocal    Scope = "local"
	ScopeForeign  Scope = "foreign"
	ScopeFailback Scope = "failback"
)

// ParseScope reads a scope; "" is all.
func ParseScope(s string) (Scope, error) {
	switch Scope(s) {
	case "", ScopeAll:
		return ScopeAll, nil
	case ScopeLocal, ScopeForeign, ScopeFailback:
		return Scope(s), nil
	}
	return "", errors.Join(ErrBadRequest, errors.New("scope must be all, foreign, local or failback, not "+s))
}

// Controller is what the control socket serves; the daemon implements it.
type Controller interface {
	// Standby gives away the groups of scope that run here and returns
	// when they run elsewhere, or fails with a reason.
	Standby(ctx context.Context, scope Scope) (*MoveResult, error)
	// Takeover takes the groups of scope and returns when they run here.
	Takeover(ctx context.Context, scope Scope) (*MoveResult, error)
	// Status describes the cluster as this node sees it.
	Status(ctx context.Context) (*Status, error)
	// Reload rereads the configuration (as SIGHUP).
	Reload(ctx context.Context) error
}

type acceptedKey struct{}

// WithAccepted returns ctx carrying accepted, which Standby and Takeover
// call (through Accepted) once they have taken their request on and
// before they wait for the move, so that a caller that does not wait
// (hb_standby --no-wait) hears that the request was not refused. accepted
// may be called more than once.
func WithAccepted(ctx context.Context, accepted func()) context.Context {
	return context.WithValue(ctx, acceptedKey{}, accepted)
}

// Accepted calls the function WithAccepted put in ctx, if any.
func Accepted(ctx context.Context) {
	if f, ok := ctx.Value(acceptedKey{}).(func()); ok {
		f()
	}
}

// MoveResult says what a standby or takeover moved.
type MoveResult struct {
	Moved []GroupMove `json:"moved"`
	Took  Duration    `json:"took"`
}

// GroupMove is one group's move.
type GroupMove struct {
	Group string `json:"group"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Status is one node's view of the cluster, for cl_status and hbgo status.
type Status struct {
	Node    string    `json:"node"`
	Version string    `json:"version"`
	Role    string    `json:"role"` // director or witness
	Mode    string    `json:"mode"` // quorum, two-node or single
	Since   time.Time `json:"since"`

	Raft RaftStatus `json:"raft"`

	// Nodes lists every node of ha.cf (this one included), the witnesses,
	// and the ping nodes (Type "ping").
	Nodes  []NodeStatus  `json:"nodes"`
	Groups []GroupStatus `json:"groups"`
	// Resources is cl_status rscstatus: "all", "local", "foreign" or "none".
	Resources string `json:"resources"`
	// Params are ha.cf's values by directive name, for cl_status parameter.
	Params   map[string]string `json:"params"`
	Warnings []string          `json:"warnings,omitempty"`
	// Blocked says, per live peer whose claims cannot be compared with
	// this node's (its haresources or hbgo version differ), that no group
	// starts until they match; each line is also among Warnings.
	Blocked []string `json:"blocked,omitempty"`
	// Ldirectors are this node's ldirectors with their IPVS services, as
	// the daemon fills them in (crm knows nothing of them).
	Ldirectors []LdirectorStatus `json:"ldirectors,omitempty"`
	// BGP is this director's BGP speaker (anycast VIPs), as the daemon
	// fills it in; nil without bgp_as in ha.cf.
	BGP *BGPStatus `json:"bgp,omitempty"`
	// Links are the interfaces of this director's VIPs and their carrier,
	// which counts in its score (crm/carrier.go).
	Links []LinkCarrier `json:"links,omitempty"`
}

// BGPStatus is the BGP speaker of a director: its sessions and the VIPs it
// announces now.
type BGPStatus struct {
	Sessions  []BGPSession `json:"sessions"`
	Announced []string     `json:"announced"`
	// Withheld are the anycast VIPs of haresources this director does not
	// announce now, each with the reason.
	Withheld []WithheldVIP `json:"withheld,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// WithheldVIP is an anycast VIP not announced, and why.
type WithheldVIP struct {
	VIP string `json:"vip"`
	Why string `json:"why"`
}

// BGPSession is one session with a router.
type BGPSession struct {
	Neighbor  string   `json:"neighbor"`
	PeerAS    uint32   `json:"peer_as"`
	State     string   `json:"state"`
	Uptime    Duration `json:"uptime"`
	HoldTime  Duration `json:"hold_time"`
	Sent      uint64   `json:"prefixes_sent"`
	Received  uint64   `json:"prefixes_received"`
	LastError string   `json:"last_error,omitempty"`
	// BFD is the state of the BFD session beside it (Up, Down, Init,
	// AdminDown), empty when the neighbour has no bfd.
	BFD string `json:"bfd,omitempty"`
}

// LdirectorStatus is one ldirectord.cf's ldirector on this node.
type LdirectorStatus struct {
	Config string `json:"config"`
	// Error says why it does not run; "" while it runs.
	Error string `json:"error,omitempty"`
	// Table is "kernel", or "memory" where the kernel has no IPVS.
	Table    string          `json:"table"`
	Virtuals []VirtualStatus `json:"virtuals"`
}

// VirtualStatus is one virtual service, as ipvsadm -L -n shows it.
type VirtualStatus struct {
	Protocol   string       `json:"protocol"` // TCP, UDP, SCTP, FWM
	Addr       string       `json:"addr"`     // address:port, or the mark
	Scheduler  string       `json:"scheduler"`
	Persistent Duration     `json:"persistent,omitempty"`
	Reals      []RealStatus `json:"reals"`
}

// RealStatus is one real server of a virtual service: its line in the
// table and the ldirector's view of it.
type RealStatus struct {
	Addr    string `json:"addr"`
	Forward string `json:"forward"` // Route, Masq, Tunnel
	// Weight is the weight in the table, -1 when the server is not in it.
	Weight     int `json:"weight"`
	ActiveConn int `json:"active_conn"`
	InActConn  int `json:"inact_conn"`
	// Health is up, down, quiescent (down, left in the table at weight
	// 0), maintenance, or fallback (the fallback server).
	Health string `json:"health"`
	// LastCheck, LastResult ("ok" or why it failed) and Latency describe
	// the last check; LastCheck is zero before the first one.
	LastCheck  time.Time `json:"last_check,omitempty"`
	LastResult string    `json:"last_result,omitempty"`
	Latency    Duration  `json:"latency,omitempty"`
}

// RaftStatus is the placement log's state on this node.
type RaftStatus struct {
	State       string   `json:"state"` // Leader, Follower, Candidate, Shutdown, or "off" (two-node mode)
	Term        uint64   `json:"term"`
	Leader      string   `json:"leader"`
	CommitIndex uint64   `json:"commit_index"`
	Voters      []string `json:"voters"`
	LeaseValid  bool     `json:"lease_valid"`
	LeaseLeft   Duration `json:"lease_left"`
}

// NodeStatus is one node's state. Status follows Heartbeat's words:
// "active" (this node, or a peer that is up and running its groups),
// "up", "dead", "init"; ping nodes are "up" or "dead".
type NodeStatus struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"` // normal, witness, ping
	Status string            `json:"status"`
	Links  map[string]string `json:"links"` // link name -> up/dead/init
	// Ping is the node's connectivity score (ping nodes answering).
	Ping int `json:"ping"`
	// Key is the authkeys key the node signs its heartbeats with: this
	// node's own, a peer's as its newest heartbeat showed (0: not heard).
	Key     int               `json:"key,omitempty"`
	Version string            `json:"version,omitempty"`
	Digests map[string]string `json:"digests,omitempty"`
}

// GroupStatus is one resource group.
type GroupStatus struct {
	Name  string `json:"name"`
	Home  string `json:"home"`
	Owner string `json:"owner"`
	// Holders are every node (this one, and the peers heard alive) whose
	// claim holds the group (starting, running or stopping), sorted. More
	// than one is a fault the status warns about; Owner is then one of
	// them: a running one, home first, then by name.
	Holders   []string          `json:"holders,omitempty"`
	Epoch     uint64            `json:"epoch"`
	State     string            `json:"state"` // running, starting, stopping, stopped, failed
	Resources []string          `json:"resources"`
	Failed    map[string]string `json:"failed,omitempty"` // node -> reason
	// Anycast: the group (a BGPaddr) runs on every healthy director at
	// once; State and Owner say what it does here.
	Anycast bool `json:"anycast,omitempty"`
}

// HeartbeatCounters are the heartbeat layer's packet counters (sent and
// received per link, dropped per reason), for the metrics endpoint.
func (n *Node) HeartbeatCounters() heartbeat.Counters { return n.layer.HB.Counters() }

// Duration marshals as a Go duration string.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}
