// Package control owns the daemon's control socket: the server that serves
// a crm.Controller to root and group haclient, and the client through which
// hb_standby, hb_takeover, cl_status and hbgo status speak to the daemon.
//
// The socket is RUNDIR/hbgo.sock (RUNDIR is /var/run/heartbeat unless told
// otherwise), owned by root and group haclient when that group exists, mode
// 0660. Every connection's peer credentials are checked as well, so that a
// loosened mode or a connection made before the mode was set cannot reach
// the Controller: uid 0 and members of the socket's group are served, anyone
// else gets a "permission denied" answer and the refusal is logged.
//
// One connection carries one request and one response, each a JSON object
// on a line:
//
//	→ {"op":"standby","scope":"all","timeout":"59.75s"}
//	← {"move":{"moved":[{"group":"web","from":"alice","to":"bob"}],"took":"1.2s"}}
//	→ {"op":"standby","scope":"all","timeout":"59.75s","no_wait":true}
//	← {"accepted":true}
//	→ {"op":"status"}
//	← {"status":{"node":"alice",...}}
//	→ {"op":"reload"}
//	← {}
//	← {"error":{"code":"no-quorum","message":"no quorum: 1 of 3 voters reachable"}}
//
// Ops are standby, takeover (both with a scope and an optional timeout),
// status and reload. An error's code names one of crm's sentinel errors
// (see codes), so errors.Is works on the client's side of the socket.
//
// A standby or takeover ends with its connection: a client that goes away
// withdraws it. One with no_wait is answered as soon as the daemon has
// taken it on (or refused it), and the daemon pursues it for its timeout
// whether or not the client is still there; how it ended is logged. A
// daemon from before no_wait ignores the field and answers when the move
// is done.
package control

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"

	"hbgo/crm"
)

// DefaultRunDir is where the socket lives unless --run-dir says otherwise;
// Heartbeat kept its FIFO and API sockets there too.
const DefaultRunDir = "/var/run/heartbeat"

// SocketName is the socket's file name within the run directory.
const SocketName = "hbgo.sock"

// DefaultGroup is the group whose members may use the socket besides root.
const DefaultGroup = "haclient"

// SocketPath is the socket's path within runDir.
func SocketPath(runDir string) string { return filepath.Join(runDir, SocketName) }

// ErrNotRunning says no daemon answers on the socket: it is missing, or
// nothing listens on it.
var ErrNotRunning = errors.New("hbgo is not running")

// request is what a client sends.
type request struct {
	Op    string    `json:"op"`
	Scope crm.Scope `json:"scope,omitempty"`
	// Timeout is how long the client waits; the server gives up a little
	// before, so that its own answer arrives. With NoWait it is how long
	// the server pursues the request. Zero means the server's default.
	Timeout crm.Duration `json:"timeout,omitempty"`
	// NoWait asks for a standby or takeover to be answered once taken on,
	// and not withdrawn when the client goes away.
	NoWait bool `json:"no_wait,omitempty"`
}

// Ops of request.
const (
	opStandby  = "standby"
	opTakeover = "takeover"
	opStatus   = "status"
	opReload   = "reload"
)

// response is what the server answers; at most one field is set.
type response struct {
	// Accepted answers a no_wait request the daemon took on.
	Accepted bool            `json:"accepted,omitempty"`
	Move     *crm.MoveResult `json:"move,omitempty"`
	Status   *crm.Status     `json:"status,omitempty"`
	Error    *wireError      `json:"error,omitempty"`
}

type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes on the wire.
const (
	codeNoQuorum     = "no-quorum"
	codeNoPeer       = "no-peer"
	codeNotOwner     = "not-owner"
	codeShuttingDown = "shutting-down"
	codeTimeout      = "timeout"
	codeBadRequest   = "bad-request"
	codePermission   = "permission-denied"
	codeInternal     = "internal"
)

// codes maps each wire code to the error it stands for, in the order the
// server tries them.
var codes = []struct {
	code string
	err  error
}{
	{codeNoQuorum, crm.ErrNoQuorum},
	{codeNoPeer, crm.ErrNoPeer},
	{codeNotOwner, crm.ErrNotOwner},
	{codeShuttingDown, crm.ErrShuttingDown},
	{codeTimeout, crm.ErrTimeout},
	{codeBadRequest, crm.ErrBadRequest},
	{codePermission, fs.ErrPermission},
}

// codeOf picks the wire code for err.
func codeOf(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codeTimeout
	case errors.Is(err, context.Canceled):
		return codeShuttingDown
	}
	return codeInternal
}

// Error is a failure the daemon reported. It unwraps to the sentinel its
// code names (crm.ErrNoQuorum, crm.ErrNoPeer, ..., fs.ErrPermission), so
// callers branch with errors.Is as they would in the daemon.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel error of e's code, or nil for codes without
// one.
func (e *Error) Unwrap() error {
	for _, c := range codes {
		if c.code == e.Code {
			return c.err
		}
	}
	return nil
}
