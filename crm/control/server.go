package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hbgo/crm"
)

// ServerOptions tunes Serve; the zero value is what the daemon uses.
type ServerOptions struct {
	// Group may use the socket besides root; DefaultGroup when empty. When
	// the group does not exist, the socket keeps the daemon's group.
	Group string
	// Node names this node in log lines.
	Node   string
	Logger *slog.Logger
	// DefaultTimeout bounds a request that names no timeout; 60s when 0.
	DefaultTimeout time.Duration
}

// ioTimeout bounds reading a request and writing an answer, so a client
// that connects and says nothing cannot hold a goroutine.
const ioTimeout = 5 * time.Second

// maxRequest bounds a request's size.
const maxRequest = 64 << 10

// Server serves one Controller on a unix socket.
type Server struct {
	path   string
	c      crm.Controller
	opts   ServerOptions
	log    *slog.Logger
	ln     *net.UnixListener
	group  string   // name of the group served besides root, for messages
	gids   []uint32 // groups whose members are served
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Serve listens on path and serves c until ctx ends or Close is called.
// A stale socket (nothing listening) is replaced; a live one is an error,
// since another daemon owns it. The parent directory is made if missing.
func Serve(ctx context.Context, path string, c crm.Controller, opts ServerOptions) (*Server, error) {
	if opts.Group == "" {
		opts.Group = DefaultGroup
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = 60 * time.Second
	}
	if err := clearStale(path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	s := &Server{path: path, c: c, opts: opts, log: opts.Logger, ln: ln}
	// Connections that arrive before the mode is set wait in the backlog
	// and meet the credential check like any other.
	gid, err := s.own()
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.gids = []uint32{gid}
	s.ctx, s.cancel = context.WithCancel(ctx)
	context.AfterFunc(s.ctx, func() { s.ln.Close() })
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// clearStale removes a socket at path that nothing listens on.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("control: %s: another hbgo is running and answers there", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("control: removing stale socket: %w", err)
	}
	return nil
}

// own gives the socket to opts.Group (when it exists) with mode 0660, and
// returns the socket's group.
func (s *Server) own() (uint32, error) {
	gid := uint32(os.Getegid())
	s.group = "gid " + strconv.Itoa(int(gid))
	if g, err := user.LookupGroup(s.opts.Group); err == nil {
		n, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("control: group %s has gid %q", s.opts.Group, g.Gid)
		}
		gid = uint32(n)
		s.group = s.opts.Group
		if err := os.Chown(s.path, -1, int(gid)); err != nil {
			return 0, fmt.Errorf("control: giving %s to group %s: %w", s.path, s.opts.Group, err)
		}
	} else {
		if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
			s.group = g.Name
		}
		s.log.Info(fmt.Sprintf("Control: group %s does not exist; %s is for root and group %s only.", s.opts.Group, s.path, s.group), "node", s.opts.Node)
	}
	if err := os.Chmod(s.path, 0o660); err != nil {
		return 0, fmt.Errorf("control: %w", err)
	}
	return gid, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops accepting, cancels the requests in progress, waits for their
// answers and removes the socket.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.ln.Close()
	})
	s.wg.Wait()
	return nil
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: say so, breathe, go on.
			s.log.Warn(fmt.Sprintf("Control: accept on %s: %v.", s.path, err), "node", s.opts.Node)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(conn)
		}()
	}
}

func (s *Server) handle(conn *net.UnixConn) {
	defer conn.Close()
	p, perr := peerOf(conn)

	conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var req request
	derr := json.NewDecoder(io.LimitReader(conn, maxRequest)).Decode(&req)

	var resp response
	switch {
	case perr != nil:
		s.log.Warn(fmt.Sprintf("Control: refused a client whose credentials are unknown: %v.", perr), "node", s.opts.Node)
		resp.Error = &wireError{codePermission, "permission denied: " + perr.Error()}
	case !s.allowed(p):
		what := req.Op
		if what == "" {
			what = "a connection"
		}
		s.log.Warn(fmt.Sprintf("Control: refused %s from uid %d (gid %d, pid %d): not root and not in group %s.", strings.TrimSpace(what+" "+string(req.Scope)), p.uid, p.gid, p.pid, s.group), "node", s.opts.Node)
		resp.Error = &wireError{codePermission, fmt.Sprintf("permission denied: uid %d is not root and not in group %s", p.uid, s.group)}
	case errors.Is(derr, io.EOF):
		return // a probe, such as clearStale's
	case derr != nil:
		resp.Error = &wireError{codeBadRequest, "bad request: " + derr.Error()}
	case req.NoWait && (req.Op == opStandby || req.Op == opTakeover):
		resp = s.submit(req, p)
	default:
		ctx, cancel := context.WithCancel(s.ctx)
		defer cancel()
		var gone atomic.Bool
		if req.Op == opStandby || req.Op == opTakeover {
			// A client that goes away (hb_standby interrupted) withdraws
			// its request: the connection's end cancels it. A client
			// sends nothing after its request; the read returns when it
			// closes, or when this handler does.
			conn.SetReadDeadline(time.Time{})
			go func() {
				buf := make([]byte, 64)
				for {
					if _, err := conn.Read(buf); err != nil {
						if ctx.Err() == nil {
							gone.Store(true)
						}
						cancel()
						return
					}
				}
			}()
		}
		resp = s.do(ctx, req, p)
		if gone.Load() {
			s.log.Info(fmt.Sprintf("Control: %s %s withdrawn: the client went away.", req.Op, req.Scope), "node", s.opts.Node)
			return
		}
	}
	conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	b, _ := json.Marshal(resp)
	conn.Write(append(b, '\n'))
}

// submit runs a standby or takeover that its client does not wait for:
// under the server's context rather than the connection's, so that the
// client's going away does not withdraw it, for the request's timeout.
// The answer goes out once the Controller has taken the request on
// (crm.Accepted), or as soon as the request ends if that is sooner (a
// refusal); how it ends is logged by do.
func (s *Server) submit(req request, p peer) response {
	taken := make(chan struct{})
	var once sync.Once
	ctx := crm.WithAccepted(s.ctx, func() { once.Do(func() { close(taken) }) })
	ended := make(chan response, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ended <- s.do(ctx, req, p)
	}()
	select {
	case resp := <-ended:
		return resp
	case <-taken:
		return response{Accepted: true}
	}
}

// allowed says whether p may use the socket.
func (s *Server) allowed(p peer) bool {
	if p.uid == 0 || slices.Contains(s.gids, p.gid) {
		return true
	}
	for _, g := range p.groups {
		if slices.Contains(s.gids, g) {
			return true
		}
	}
	return false
}

// do runs one request against the Controller.
func (s *Server) do(ctx context.Context, req request, p peer) response {
	timeout := time.Duration(req.Timeout)
	if timeout <= 0 {
		timeout = s.opts.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var resp response
	var err error
	switch req.Op {
	case opStandby, opTakeover:
		var scope crm.Scope
		if scope, err = crm.ParseScope(string(req.Scope)); err != nil {
			break
		}
		how := ""
		if req.NoWait {
			how = ", not waiting"
		}
		s.log.Info(fmt.Sprintf("Control: %s %s asked by uid %d (pid %d%s).", req.Op, scope, p.uid, p.pid, how), "node", s.opts.Node)
		if req.Op == opStandby {
			resp.Move, err = s.c.Standby(ctx, scope)
		} else {
			resp.Move, err = s.c.Takeover(ctx, scope)
		}
		if err == nil {
			if resp.Move == nil {
				resp.Move = &crm.MoveResult{}
			}
			s.log.Info(fmt.Sprintf("Control: %s %s done: %s.", req.Op, scope, describeMoves(resp.Move)), "node", s.opts.Node)
		} else {
			s.log.Warn(fmt.Sprintf("Control: %s %s failed: %v.", req.Op, scope, err), "node", s.opts.Node)
		}
	case opStatus:
		resp.Status, err = s.c.Status(ctx)
		if err == nil && resp.Status == nil {
			err = errors.New("the daemon has no status yet")
		}
	case opReload:
		s.log.Info(fmt.Sprintf("Control: reload asked by uid %d (pid %d).", p.uid, p.pid), "node", s.opts.Node)
		err = s.c.Reload(ctx)
	default:
		err = fmt.Errorf("%w: unknown op %q", crm.ErrBadRequest, req.Op)
	}
	if err != nil {
		msg := err.Error()
		if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, crm.ErrTimeout) {
			msg = fmt.Sprintf("%v after %v", crm.ErrTimeout, timeout.Round(time.Millisecond))
		}
		return response{Error: &wireError{codeOf(err), msg}}
	}
	return resp
}

func describeMoves(m *crm.MoveResult) string {
	if len(m.Moved) == 0 {
		return "nothing to move"
	}
	parts := make([]string, len(m.Moved))
	for i, g := range m.Moved {
		parts[i] = fmt.Sprintf("%s %s->%s", g.Group, g.From, g.To)
	}
	return strings.Join(parts, ", ") + " in " + time.Duration(m.Took).String()
}

// peer is a connection's credentials as the kernel saw them at connect.
type peer struct {
	uid, gid uint32
	pid      int32
	groups   []uint32 // supplementary groups
}
