package control_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hbgo/crm"
	"hbgo/crm/control"
	"hbgo/crm/control/controltest"
)

func dial(t *testing.T, runDir string) *control.Client {
	t.Helper()
	c, err := control.Dial(control.SocketPath(runDir))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestControlRoundTrip(t *testing.T) {
	dir := t.TempDir()
	moves := []crm.GroupMove{{Group: "web", From: "alice", To: "bob"}, {Group: "mail", From: "alice", To: "bob"}}
	fake := &controltest.Fake{StatusValue: controltest.QuorumStatus(), Moves: moves, Took: 1200 * time.Millisecond}
	controltest.Serve(t, dir, fake)
	c := dial(t, dir)
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, controltest.QuorumStatus()) {
		t.Errorf("status changed on the way:\n got %+v\nwant %+v", st, controltest.QuorumStatus())
	}
	for _, tc := range []struct {
		name string
		call func() (*crm.MoveResult, error)
	}{
		{"standby local", func() (*crm.MoveResult, error) { return c.Standby(ctx, crm.ScopeLocal) }},
		{"takeover failback", func() (*crm.MoveResult, error) { return c.Takeover(ctx, crm.ScopeFailback) }},
		{"standby all", func() (*crm.MoveResult, error) { return c.Standby(ctx, crm.ScopeAll) }},
	} {
		res, err := tc.call()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(res.Moved, moves) || time.Duration(res.Took) != 1200*time.Millisecond {
			t.Errorf("%s: got %+v", tc.name, res)
		}
	}
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"status", "standby local", "takeover failback", "standby all", "reload"}
	if got := fake.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// TestControlErrors checks that each error the daemon returns crosses the
// socket with its message and still matches its sentinel.
func TestControlErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		is      error
		message string
	}{
		{"no peer", fmt.Errorf("%w: bob is dead", crm.ErrNoPeer), crm.ErrNoPeer, "no healthy peer to take the groups: bob is dead"},
		{"no quorum", fmt.Errorf("%w: 1 of 3 voters reachable", crm.ErrNoQuorum), crm.ErrNoQuorum, "no quorum: 1 of 3 voters reachable"},
		{"not owner", crm.ErrNotOwner, crm.ErrNotOwner, "not the owner"},
		{"shutting down", crm.ErrShuttingDown, crm.ErrShuttingDown, "shutting down"},
		{"timeout", fmt.Errorf("%w: web still stopping on bob", crm.ErrTimeout), crm.ErrTimeout, "timed out: web still stopping on bob"},
		{"context deadline", context.DeadlineExceeded, crm.ErrTimeout, "timed out after 1m0s"},
		{"bad request", fmt.Errorf("%w: no group foo", crm.ErrBadRequest), crm.ErrBadRequest, "bad request: no group foo"},
		{"other", errors.New("raft: log store corrupt"), nil, "raft: log store corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			controltest.Serve(t, dir, &controltest.Fake{MoveErr: tc.err, StatusErr: tc.err, ReloadErr: tc.err})
			c := dial(t, dir)
			ctx := context.Background()
			_, errS := c.Standby(ctx, crm.ScopeAll)
			_, errT := c.Takeover(ctx, crm.ScopeAll)
			_, errStatus := c.Status(ctx)
			errR := c.Reload(ctx)
			for _, err := range []error{errS, errT, errStatus, errR} {
				if err == nil {
					t.Fatal("no error")
				}
				if err.Error() != tc.message {
					t.Errorf("message %q, want %q", err, tc.message)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("%v is not %v", err, tc.is)
				}
				var ce *control.Error
				if !errors.As(err, &ce) {
					t.Errorf("%v (%T) is not a *control.Error", err, err)
				}
				if tc.is == nil && ce != nil && ce.Unwrap() != nil {
					t.Errorf("%v unwraps to %v", err, ce.Unwrap())
				}
			}
		})
	}
}

func TestControlBadScope(t *testing.T) {
	dir := t.TempDir()
	fake := &controltest.Fake{}
	controltest.Serve(t, dir, fake)
	_, err := dial(t, dir).Standby(context.Background(), crm.Scope("sideways"))
	if !errors.Is(err, crm.ErrBadRequest) || !strings.Contains(err.Error(), "not sideways") {
		t.Errorf("got %v", err)
	}
	if len(fake.Calls()) != 0 {
		t.Errorf("the controller was called: %q", fake.Calls())
	}
}

// TestControlTimeout checks that the client's deadline reaches the server,
// which gives up first and says so.
func TestControlTimeout(t *testing.T) {
	dir := t.TempDir()
	controltest.Serve(t, dir, &controltest.Fake{Block: true})
	c := dial(t, dir)
	for _, d := range []time.Duration{300 * time.Millisecond, 1500 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		start := time.Now()
		_, err := c.Takeover(ctx, crm.ScopeAll)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, crm.ErrTimeout) {
			t.Fatalf("%v: got %v, want a timeout", d, err)
		}
		if !strings.HasPrefix(err.Error(), "timed out") {
			t.Errorf("%v: message %q", d, err)
		}
		if took < d-300*time.Millisecond || took > d+time.Second { // the server gives up a margin sooner
			t.Errorf("%v: returned after %v", d, took)
		}
	}
}

// TestControlCancel checks that cancelling the caller's context ends the
// call at once.
func TestControlCancel(t *testing.T) {
	dir := t.TempDir()
	fake := &controltest.Fake{Block: true, Ended: make(chan error, 1)}
	controltest.Serve(t, dir, fake)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := dial(t, dir).Standby(ctx, crm.ScopeAll)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
	// The client went away: the daemon withdraws the request at once,
	// not when its own timeout ends.
	select {
	case err := <-fake.Ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the request ended with %v, want canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the request still runs 3 s after its client went away")
	}
}

// TestControlCloseEndsRequests checks that closing the server answers the
// requests in progress with "shutting down" and removes the socket.
func TestControlCloseEndsRequests(t *testing.T) {
	dir := t.TempDir()
	s, _ := controltest.Serve(t, dir, &controltest.Fake{Block: true})
	c := dial(t, dir)
	done := make(chan error)
	go func() {
		_, err := c.Standby(context.Background(), crm.ScopeAll)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, crm.ErrShuttingDown) {
			t.Errorf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request still waiting after Close")
	}
	if _, err := os.Lstat(s.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestControlNotRunning(t *testing.T) {
	dir := t.TempDir()
	path := control.SocketPath(dir)
	_, err := control.Dial(path)
	if !errors.Is(err, control.ErrNotRunning) {
		t.Fatalf("got %v", err)
	}
	if want := "hbgo is not running (no socket at " + path + ")"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}

	// A socket nobody listens on, as a killed daemon leaves.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	c := dial(t, dir)
	_, err = c.Status(context.Background())
	if !errors.Is(err, control.ErrNotRunning) || !strings.Contains(err.Error(), "nothing listens on "+path) {
		t.Errorf("stale socket: got %v", err)
	}

	// A daemon starting replaces the stale socket, and a second one is
	// turned away while the first runs.
	controltest.Serve(t, dir, &controltest.Fake{StatusValue: controltest.TwoNodeStatus()})
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("after restart: %v", err)
	}
	_, err = control.Serve(context.Background(), path, &controltest.Fake{}, control.ServerOptions{Logger: discardLogger()})
	if err == nil || !strings.Contains(err.Error(), "another hbgo is running") {
		t.Errorf("second server: got %v", err)
	}
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("first server after the second tried: %v", err)
	}
}

func TestControlSocketMode(t *testing.T) {
	dir := t.TempDir()
	s, _ := controltest.Serve(t, dir, &controltest.Fake{})
	fi, err := os.Lstat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("mode %v, want socket 0660", fi.Mode())
	}
	wantGid := os.Getegid()
	if g, err := user.LookupGroup(control.DefaultGroup); err == nil {
		wantGid, _ = strconv.Atoi(g.Gid)
	}
	if gid := int(fi.Sys().(*syscall.Stat_t).Gid); gid != wantGid {
		t.Errorf("socket group %d, want %d", gid, wantGid)
	}
}

// requireRoot skips tests that change credentials; CI runs them as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

const childEnv = "HBGO_CONTROL_CHILD"

// TestControlChildHelper is the client that TestControlRootPeerCred runs
// as another user; alone it does nothing.
func TestControlChildHelper(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	c, err := control.Dial(path)
	if err == nil {
		_, err = c.Status(context.Background())
	}
	fmt.Printf("RESULT uid=%d permission=%v: %v\n", os.Getuid(), errors.Is(err, fs.ErrPermission), err)
}

// TestControlRootPeerCred runs a client as uid 65534. With the socket at
// 0660 the kernel turns it away; with the mode loosened to 0666 (an
// operator's chmod) the server's credential check refuses it and logs the
// refusal, while root is still served.
func TestControlRootPeerCred(t *testing.T) {
	requireRoot(t)
	// Both the test binary and the socket must be reachable by uid 65534.
	dir, err := os.MkdirTemp("", "hbgo-control-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "control.test")
	copyFile(t, self, bin)
	runDir := filepath.Join(dir, "run")
	s, log := controltest.Serve(t, runDir, &controltest.Fake{StatusValue: controltest.QuorumStatus()})
	if err := os.Chmod(runDir, 0o755); err != nil {
		t.Fatal(err)
	}

	child := func() string {
		cmd := exec.Command(bin, "-test.run=^TestControlChildHelper$", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"="+s.Path())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "RESULT ") {
				return strings.TrimPrefix(l, "RESULT ")
			}
		}
		t.Fatalf("child said nothing:\n%s", out)
		return ""
	}

	got := child()
	want := "uid=65534 permission=true: permission denied on " + s.Path() + " (run as root or as a member of group haclient)"
	if got != want {
		t.Errorf("at 0660:\n got %s\nwant %s", got, want)
	}

	if err := os.Chmod(s.Path(), 0o666); err != nil {
		t.Fatal(err)
	}
	got = child()
	if !strings.HasPrefix(got, "uid=65534 permission=true: permission denied: uid 65534 is not root and not in group ") {
		t.Errorf("at 0666: got %s", got)
	}
	if l := log.String(); !strings.Contains(l, "Control: refused status from uid 65534 (gid 65534, pid ") {
		t.Errorf("refusal not logged:\n%s", l)
	}
	if _, err := dial(t, runDir).Status(context.Background()); err != nil {
		t.Errorf("root refused: %v", err)
	}
	t.Logf("server log:\n%s", log)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestControlMismatches(t *testing.T) {
	n := func(name, version string, digests ...string) crm.NodeStatus {
		d := map[string]string{}
		for i := 0; i+1 < len(digests); i += 2 {
			d[digests[i]] = digests[i+1]
		}
		return crm.NodeStatus{Name: name, Version: version, Digests: d}
	}
	for _, tc := range []struct {
		name  string
		nodes []crm.NodeStatus
		want  []string
	}{
		{"agree", []crm.NodeStatus{n("a", "1", "ha.cf", "x"), n("b", "1", "ha.cf", "x")}, nil},
		{"silent nodes left out", []crm.NodeStatus{n("a", "1", "ha.cf", "x"), n("w", ""), {Name: "10.0.0.1"}}, nil},
		{"one file differs", []crm.NodeStatus{
			n("alice", "1", "ha.cf", "11111111aaaa", "haresources", "3f2a9c1e0000"),
			n("bob", "1", "ha.cf", "11111111aaaa", "haresources", "3f2a9c1e0000"),
			n("carol", "1", "ha.cf", "11111111aaaa", "haresources", "77aa00110000"),
		}, []string{"haresources differs between nodes: alice, bob have 3f2a9c1e; carol has 77aa0011"}},
		{"files sorted, version last", []crm.NodeStatus{
			n("a", "1.0", "z.cf", "1", "a.cf", "1"),
			n("b", "1.1", "z.cf", "2", "a.cf", "2"),
		}, []string{"a.cf differs between nodes: a has 1; b has 2", "z.cf differs between nodes: a has 1; b has 2", "hbgo version differs between nodes: a has 1.0; b has 1.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := control.Mismatches(tc.nodes); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
