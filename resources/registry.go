package resources

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"hbgo/conf"
)

// DefaultRscTmp is where Heartbeat's resource scripts keep their state
// between calls (HA_RSCTMP), emptied at boot.
const DefaultRscTmp = "/run/heartbeat/rsctmp"

// Env is what agents need to know about the node they run on.
type Env struct {
	ConfDir string // the ha.d directory: HA_DIR, HA_FUNCS, HA_RESOURCEDIR
	Node    string // this node's name as ha.cf gives it: HA_CURHOST
	RscTmp  string // HA_RSCTMP; DefaultRscTmp when empty
	// Vars are more variables for scripts, KEY=value, such as the ha.cf
	// directives Heartbeat exported as HA_<directive>.
	Vars []string
	// Logger is the agents' logger; nil discards.
	Logger *slog.Logger
	// Script holds the timeouts and output bound of script agents; its
	// Env and Logger are filled from this Env.
	Script ScriptOptions
	// Lease, when set, says until when this node may hold its groups:
	// ok is false when it holds no lease now. Agents whose resource the
	// kernel can expire on its own (a VIP's address lifetime and its
	// nftables gate) renew it from Lease only, so a daemon killed with -9
	// or frozen loses the resource without any process acting. nil means
	// no lease (a node alone): resources are held until stopped.
	Lease func() (until time.Time, ok bool)
	// LeaseResumed, when set, gives a channel that is closed the next
	// time the lease holds again after it lapsed (a two-node survivor
	// once its silent peer is declared dead), so that a VIP's gate opens
	// at once rather than at its next periodic renewal.
	LeaseResumed func() <-chan struct{}
	// Announce says how VIP agents announce their address (gratuitous
	// ARP, neighbour advertisements): ha.cf's arp_count, arp_interval
	// and arp_refresh. The zero value means Heartbeat's defaults.
	Announce AnnounceOptions
	// Mail says how MailTo sends: SMTP server, sender, timeout. The zero
	// value is the node's own MTA (localhost:25), root@NODE, 10s.
	Mail MailOptions
	// LVSSync says where LVSSyncDaemonSwap runs the IPVS sync daemons:
	// multicast interface, sync id, table. The zero value is eth0, sync
	// id 0, the kernel's table of this namespace.
	LVSSync LVSSyncOptions
	// Ldirector reports whether the ldirector of an ldirectord.cf (a path,
	// as the resource names it, relative to ConfDir or absolute) runs in
	// this daemon: nil when it does, else why not. The daemon runs every
	// ldirector on every director all the time (warm standby); nil means
	// this process runs none.
	Ldirector func(config string) error
	// BGP announces the host routes of anycast VIPs (BGPaddr): the
	// daemon's BGP speaker, nil when ha.cf sets none.
	BGP RouteAnnouncer
	// BGPDrain is how long a withdrawn anycast VIP stays on lo, so that
	// the flows the routers still send while they converge are served;
	// zero means DefaultBGPDrain.
	BGPDrain time.Duration
	// VIPServed says whether this director's ldirectors have a virtual
	// service on vip (known) and whether one of them has a real server
	// up or a fallback (served): an anycast VIP is announced only while
	// served, or while no ldirector knows it. nil: always announced.
	VIPServed func(vip netip.Addr) (served, known bool)
	// BGPHealthEvery is how often a running anycast VIP looks at
	// VIPServed; zero means DefaultBGPHealthEvery.
	BGPHealthEvery time.Duration
}

// RouteAnnouncer announces and withdraws host routes by BGP (bgp.Speaker).
type RouteAnnouncer interface {
	Announce(ctx context.Context, prefix netip.Prefix) error
	Withdraw(ctx context.Context, prefix netip.Prefix) error
	Announced() []netip.Prefix
}

// ScriptEnv is the environment Heartbeat gave resource scripts, as far
// as it means something here: HA_DIR, HA_FUNCS (ha.d/shellfuncs, which
// Heartbeat's own scripts source), HA_RESOURCEDIR, HA_CURHOST, HA_RSCTMP,
// then Vars.
func (e Env) ScriptEnv() []string {
	var env []string
	if e.ConfDir != "" {
		env = append(env,
			"HA_DIR="+e.ConfDir,
			"HA_FUNCS="+filepath.Join(e.ConfDir, "shellfuncs"),
			"HA_RESOURCEDIR="+filepath.Join(e.ConfDir, "resource.d"))
	}
	if e.Node != "" {
		env = append(env, "HA_CURHOST="+e.Node)
	}
	tmp := e.RscTmp
	if tmp == "" {
		tmp = DefaultRscTmp
	}
	env = append(env, "HA_RSCTMP="+tmp)
	return append(env, e.Vars...)
}

// Factory makes the agent of a built-in for one resource of haresources.
// It checks the resource's arguments; New puts the resource's name in
// front of its error, so the error says only what is wrong.
type Factory func(res conf.Resource, env Env) (Agent, error)

var registry = struct {
	sync.RWMutex
	m map[string]Factory
}{m: map[string]Factory{}}

// Register plugs in the built-in agent name (conf.AgentIPaddr, ...). It
// is meant for init functions; registering a name twice, or a nil
// factory, panics.
func Register(name string, f Factory) {
	if f == nil {
		panic("resources: Register " + name + " with a nil factory")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[name]; dup {
		panic("resources: built-in agent " + name + " registered twice")
	}
	registry.m[name] = f
}

// Registered returns the names of the built-in agents in this build,
// sorted.
func Registered() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// builtinPrefix marks conf.Resource.Agent values that name a built-in.
const builtinPrefix = "builtin:"

// New makes the agent of a resource resolved by conf.ResolveResources:
// the registered built-in for "builtin:NAME", a Script for a path.
func New(res conf.Resource, env Env) (Agent, error) {
	name := ResourceName(res.Name, res.Args)
	switch {
	case strings.HasPrefix(res.Agent, builtinPrefix):
		b := strings.TrimPrefix(res.Agent, builtinPrefix)
		registry.RLock()
		f := registry.m[b]
		registry.RUnlock()
		if f == nil {
			return nil, fmt.Errorf("resource %s: built-in agent %s is not in this build: %w", name, b, ErrNoAgent)
		}
		a, err := f(res, env)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", name, err)
		}
		return a, nil
	case res.Agent == "":
		return nil, fmt.Errorf("resource %s: not resolved to a built-in or a script: %w", name, ErrNoAgent)
	}
	opts := env.Script
	opts.Env = append(env.ScriptEnv(), opts.Env...)
	if env.Logger != nil {
		opts.Logger = env.Logger
	}
	return NewScript(res.Agent, res.Name, res.Args, opts), nil
}
