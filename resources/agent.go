package resources

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// Agent manages one resource of a haresources group on this node.
//
// The contract every agent keeps, built-in or script:
//
//   - Idempotent. Start on a running resource and Stop on a stopped one
//     succeed without doing anything, so a node that restarts, or a
//     group that is started again after a partial failure, converges
//     instead of failing.
//   - Bounded. Every call returns once ctx is done, at the latest; an
//     agent also applies its own default bound when ctx has none, so a
//     hung address or script cannot hold a failover forever.
//   - Named errors. Every error names the resource as haresources writes
//     it and the operation: "resource IPaddr::10.0.0.100/24 start: ...".
//     [OpError] does that; a timeout wraps [ErrTimeout].
//   - Status tells, it does not act. It returns Running, Stopped or
//     Failed; an error means the state could not be found out (then the
//     state is Unknown).
//
// An agent is used by one [Chain] at a time, which serializes calls.
type Agent interface {
	// Name is the resource as haresources writes it, NAME::ARG::ARG
	// (see ResourceName).
	Name() string
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Status(ctx context.Context) (State, error)
}

// State is what a resource is doing on this node.
type State int

const (
	// Unknown is the zero State: the state could not be found out.
	Unknown State = iota
	// Running: the resource is held by this node.
	Running
	// Stopped: the resource is not held by this node.
	Stopped
	// Failed: the resource is neither cleanly running nor cleanly
	// stopped (LSB "dead but pid file exists", an agent error). It may
	// hold something, so it is stopped before the group moves.
	Failed
)

func (s State) String() string {
	switch s {
	case Unknown:
		return "unknown"
	case Running:
		return "running"
	case Stopped:
		return "stopped"
	case Failed:
		return "failed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Sentinel errors callers branch on, with errors.Is.
var (
	// ErrTimeout: an operation ran out of time (its own timeout or the
	// deadline of its context). For a script, its process group was
	// killed.
	ErrTimeout = errors.New("timed out")
	// ErrNoAgent: a resource has no agent this build can run (a built-in
	// not compiled in, or a resource that was never resolved).
	ErrNoAgent = errors.New("no agent")
)

// OpError is the error of one operation on one resource.
type OpError struct {
	Resource string // NAME::ARG::ARG, as ResourceName gives it
	Op       string // start, stop or status
	Err      error
}

func (e *OpError) Error() string {
	return "resource " + e.Resource + " " + e.Op + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// ResourceName writes a resource as haresources does: NAME, or
// NAME::ARG::ARG. A bare address parsed into IPaddr comes out as
// IPaddr::ADDRESS, the name Heartbeat's logs used for it.
func ResourceName(name string, args []string) string {
	if len(args) == 0 {
		return name
	}
	return name + "::" + strings.Join(args, "::")
}

// Announcer is an agent that tells the network where its resource is (a
// VIP's gratuitous ARP or neighbour advertisements). The cluster calls
// Announce on the groups this node runs when a peer comes back or a link
// heals, so that a neighbour that learnt a wrong owner during a split
// learns the right one at once. Announce on a resource that is not
// running does nothing.
type Announcer interface {
	Announce(ctx context.Context) error
}

// Preparer is an agent whose resource has an active state on a node that
// does not hold its group (the backup sync daemon of LVSSyncDaemonSwap).
// The cluster calls Prepare once on every director when the daemon
// starts, before any start, so a standby is ready without ever having
// held the group. Prepare must leave a resource that is already running
// in either state as it is.
type Preparer interface {
	Prepare(ctx context.Context) error
}
