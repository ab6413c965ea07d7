package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"

	"hbgo/crm"
)

// Client speaks to the daemon over its control socket; it is a
// crm.Controller, so a command does not know which side of the socket it
// is on. Each call is one connection.
type Client struct {
	path string
}

var _ crm.Controller = (*Client)(nil)

// margin is how much sooner than the client the server gives up, so that
// the server's own timeout answer (which names what it was waiting for)
// arrives before the client stops listening.
const margin = 250 * time.Millisecond

// Dial checks that a socket exists at path and returns a client for it. It
// fails with ErrNotRunning ("hbgo is not running (no socket at PATH)") when
// there is none.
func Dial(path string) (*Client, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (no socket at %s)", ErrNotRunning, path)
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return nil, fmt.Errorf("%s is not a socket", path)
	}
	return &Client{path: path}, nil
}

// Path is the socket's path.
func (c *Client) Path() string { return c.path }

// Standby asks the daemon to give the groups of scope away and waits, as
// long as ctx allows, until they run elsewhere.
func (c *Client) Standby(ctx context.Context, scope crm.Scope) (*crm.MoveResult, error) {
	var resp response
	if err := c.call(ctx, request{Op: opStandby, Scope: scope}, &resp); err != nil {
		return nil, err
	}
	return moveOf(resp), nil
}

// Takeover asks the daemon to take the groups of scope and waits, as long
// as ctx allows, until they run here.
func (c *Client) Takeover(ctx context.Context, scope crm.Scope) (*crm.MoveResult, error) {
	var resp response
	if err := c.call(ctx, request{Op: opTakeover, Scope: scope}, &resp); err != nil {
		return nil, err
	}
	return moveOf(resp), nil
}

// Submit asks the daemon for a standby (takeover false) or takeover of
// scope without waiting for the move: it returns once the daemon has
// taken the request on, or with the reason it refused it. The daemon
// pursues the request for as long as ctx allows, whether or not this
// client is still there.
func (c *Client) Submit(ctx context.Context, takeover bool, scope crm.Scope) error {
	req := request{Op: opStandby, Scope: scope, NoWait: true}
	if takeover {
		req.Op = opTakeover
	}
	var resp response
	return c.call(ctx, req, &resp)
}

// Status asks the daemon how it sees the cluster.
func (c *Client) Status(ctx context.Context) (*crm.Status, error) {
	var resp response
	if err := c.call(ctx, request{Op: opStatus}, &resp); err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, errors.New("hbgo answered without a status")
	}
	return resp.Status, nil
}

// Reload asks the daemon to reread its configuration.
func (c *Client) Reload(ctx context.Context) error {
	var resp response
	return c.call(ctx, request{Op: opReload}, &resp)
}

func moveOf(resp response) *crm.MoveResult {
	if resp.Move == nil {
		return &crm.MoveResult{}
	}
	return resp.Move
}

// call sends req and reads the answer into resp, within ctx.
func (c *Client) call(ctx context.Context, req request, resp *response) error {
	var wait time.Duration // how long the caller allows, for messages
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return fmt.Errorf("%w before asking hbgo", crm.ErrTimeout)
		}
		wait = left.Round(time.Millisecond)
		if left > 4*margin {
			left -= margin
		}
		req.Timeout = crm.Duration(left)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return c.dialError(ctx, wait, err)
	}
	defer conn.Close()
	// Ending ctx wakes the read below at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return c.ioError(ctx, wait, err)
	}
	if err := json.NewDecoder(conn).Decode(resp); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("hbgo closed the connection without an answer")
		}
		return c.ioError(ctx, wait, err)
	}
	if resp.Error != nil {
		return &Error{Code: resp.Error.Code, Message: resp.Error.Message}
	}
	return nil
}

func (c *Client) dialError(ctx context.Context, wait time.Duration, err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w (no socket at %s)", ErrNotRunning, c.path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (nothing listens on %s)", ErrNotRunning, c.path)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w on %s (run as root or as a member of group %s)", fs.ErrPermission, c.path, DefaultGroup)
	}
	return c.ioError(ctx, wait, err)
}

func (c *Client) ioError(ctx context.Context, wait time.Duration, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w after %v waiting for hbgo", crm.ErrTimeout, wait)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("talking to hbgo on %s: %w", c.path, err)
}
