// Package pipe drives a BGP speaker that runs in a process of its own
// (the hbgo-bgp program) over its standard input and output: one JSON
// request a line, one JSON reply a line, matched by id.
//
// The speaker lives apart because GoBGP, its engine, roughly doubles the
// memory of any process that links it (its packages' initialisation and
// their gRPC and protobuf dependencies), and most directors announce
// nothing: the daemon links only this package, which knows nothing of
// GoBGP, and starts the speaker when ha.cf has bgp_as.
package pipe

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Program is the speaker's program, looked for beside the running
// executable first, then in PATH.
const Program = "hbgo-bgp"

// Config is what the speaker is started with (bgp.Config's settings).
type Config struct {
	Node        string     `json:"node"`
	LocalAS     uint32     `json:"local_as"`
	RouterID    netip.Addr `json:"router_id"`
	ListenPort  int        `json:"listen_port"`
	Neighbors   []Neighbor `json:"neighbors"`
	Communities []string   `json:"communities"`
	Debug       bool       `json:"debug"`
}

// Neighbor is one router.
type Neighbor struct {
	Addr      netip.Addr    `json:"addr"`
	PeerAS    uint32        `json:"peer_as"`
	HoldTime  time.Duration `json:"hold_time"`
	Password  string        `json:"password,omitempty"`
	Port      uint16        `json:"port,omitempty"`
	LocalAddr netip.Addr    `json:"local_addr,omitzero"`
	Passive   bool          `json:"passive,omitempty"`
	// BFD, BFDInterval and BFDMultiplier: a BFD session beside the BGP
	// one (zero interval and multiplier: the speaker's defaults).
	BFD           bool          `json:"bfd,omitempty"`
	BFDInterval   time.Duration `json:"bfd_interval,omitempty"`
	BFDMultiplier int           `json:"bfd_multiplier,omitempty"`
}

// Session is one session's state (bgp.SessionStatus).
type Session struct {
	Neighbor  netip.Addr    `json:"neighbor"`
	PeerAS    uint32        `json:"peer_as"`
	State     string        `json:"state"`
	Uptime    time.Duration `json:"uptime"`
	HoldTime  time.Duration `json:"hold_time"`
	Sent      uint64        `json:"sent"`
	Received  uint64        `json:"received"`
	LastError string        `json:"last_error,omitempty"`
	BFD       string        `json:"bfd,omitempty"` // Up, Down, Init, AdminDown; empty without BFD
}

// Request is one line to the speaker.
type Request struct {
	ID      uint64        `json:"id"`
	Op      string        `json:"op"` // announce, withdraw, sessions, stop
	Prefix  netip.Prefix  `json:"prefix,omitzero"`
	Timeout time.Duration `json:"timeout"`
}

// Reply is one line from the speaker; ID 0 is its first line, when it has
// started (or could not: Error).
type Reply struct {
	ID       uint64    `json:"id"`
	Error    string    `json:"error,omitempty"`
	Sessions []Session `json:"sessions,omitempty"`
}

// Speaker is the running speaker process. It implements the daemon's
// resources.RouteAnnouncer.
type Speaker struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	log  *slog.Logger
	done chan struct{} // closed when the process's output ends

	wmu       sync.Mutex // one request line at a time
	mu        sync.Mutex
	id        uint64
	wait      map[uint64]chan Reply
	announced []netip.Prefix
	exitErr   error
	stopping  atomic.Bool
}

// ErrGone: the speaker process has ended.
var ErrGone = errors.New("the BGP speaker process has ended")

// Find returns the speaker program's path.
func Find() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), Program)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath(Program)
}

// Start runs the speaker program bin with cfg and waits until it says it
// runs. The process gets SIGTERM when this one dies (it then withdraws
// what it announced and closes its sessions); its standard error, GoBGP's
// own lines and its log, goes to this process's.
func Start(ctx context.Context, bin string, cfg Config, log *slog.Logger) (*Speaker, error) {
	if log == nil {
		log = slog.Default()
	}
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Speaker{cmd: cmd, in: in, log: log, done: make(chan struct{}), wait: map[uint64]chan Reply{}}
	first := make(chan Reply, 1)
	s.wait[0] = first
	go s.read(out)
	b, _ := json.Marshal(cfg)
	if _, err := in.Write(append(b, '\n')); err != nil {
		s.kill()
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	select {
	case r := <-first:
		if r.Error != "" {
			s.kill()
			return nil, errors.New(r.Error)
		}
		return s, nil
	case <-s.done:
		s.kill()
		return nil, fmt.Errorf("%s ended at start: %w", bin, s.err())
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}
}

func (s *Speaker) kill() {
	s.stopping.Store(true)
	_ = s.cmd.Process.Kill()
	<-s.done
}

func (s *Speaker) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exitErr != nil {
		return s.exitErr
	}
	return ErrGone
}

// read hands each reply to its caller until the output ends.
func (s *Speaker) read(out io.Reader) {
	defer close(s.done)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var r Reply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			s.log.Warn(fmt.Sprintf("BGP speaker: unreadable reply: %v", err))
			continue
		}
		s.mu.Lock()
		ch := s.wait[r.ID]
		delete(s.wait, r.ID)
		s.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
	err := s.cmd.Wait()
	s.mu.Lock()
	s.exitErr = fmt.Errorf("%w (%v)", ErrGone, err)
	s.mu.Unlock()
	if s.stopping.Load() {
		s.log.Info("BGP speaker stopped")
		return
	}
	s.log.Error(fmt.Sprintf("BGP speaker ended: %v", err))
}

// call sends one request and waits for its reply, by ctx's deadline (or
// 10 s).
func (s *Speaker) call(ctx context.Context, req Request) (Reply, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	req.Timeout = time.Until(dl)
	ch := make(chan Reply, 1)
	s.mu.Lock()
	s.id++
	req.ID = s.id
	s.wait[req.ID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.wait, req.ID)
		s.mu.Unlock()
	}()
	b, _ := json.Marshal(req)
	s.wmu.Lock()
	_, err := s.in.Write(append(b, '\n'))
	s.wmu.Unlock()
	if err != nil {
		return Reply{}, s.err()
	}
	select {
	case r := <-ch:
		if r.Error != "" {
			return r, errors.New(r.Error)
		}
		return r, nil
	case <-s.done:
		return Reply{}, s.err()
	case <-ctx.Done():
		return Reply{}, fmt.Errorf("BGP speaker: %s: %w", req.Op, ctx.Err())
	}
}

// Announce announces prefix (a /32 or /128) on every session of its
// family.
func (s *Speaker) Announce(ctx context.Context, prefix netip.Prefix) error {
	if _, err := s.call(ctx, Request{Op: "announce", Prefix: prefix}); err != nil {
		return err
	}
	s.mu.Lock()
	if !slices.Contains(s.announced, prefix) {
		s.announced = append(s.announced, prefix)
	}
	s.mu.Unlock()
	return nil
}

// Withdraw withdraws prefix.
func (s *Speaker) Withdraw(ctx context.Context, prefix netip.Prefix) error {
	if _, err := s.call(ctx, Request{Op: "withdraw", Prefix: prefix}); err != nil {
		return err
	}
	s.mu.Lock()
	s.announced = slices.DeleteFunc(s.announced, func(p netip.Prefix) bool { return p == prefix })
	s.mu.Unlock()
	return nil
}

// Announced lists what is announced.
func (s *Speaker) Announced() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.announced)
}

// Sessions reports every session.
func (s *Speaker) Sessions(ctx context.Context) ([]Session, error) {
	r, err := s.call(ctx, Request{Op: "sessions"})
	return r.Sessions, err
}

// Stop withdraws everything, closes the sessions and waits for the
// process to end (killing it at ctx's end).
func (s *Speaker) Stop(ctx context.Context) error {
	s.stopping.Store(true)
	_, err := s.call(ctx, Request{Op: "stop"})
	s.in.Close()
	select {
	case <-s.done:
	case <-ctx.Done():
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.mu.Lock()
	s.announced = nil
	s.mu.Unlock()
	return err
}
