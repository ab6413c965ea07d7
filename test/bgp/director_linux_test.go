//go:build linux

package bgptest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"hbgo/bgp"
	"hbgo/test/netns"
)

// A director's Speaker runs in a child process of the test binary started
// inside the director's namespace. GoBGP dials and accepts from goroutines
// of its own, which netns.Host.Do cannot keep in a namespace (a namespace
// belongs to an OS thread, and goroutines move between threads); a whole
// process in the namespace, as the daemon will be, keeps every socket
// there. The child reads one request a line on stdin, answers one line on
// stdout, and logs on stderr.

// directorEnv carries the child's bgp.Config, as JSON.
const directorEnv = "HBGO_BGP_DIRECTOR"

func TestMain(m *testing.M) {
	if spec := os.Getenv(directorEnv); spec != "" {
		os.Exit(runDirector(spec))
	}
	os.Exit(m.Run())
}

// request is one call of the parent into the child's Speaker.
type request struct {
	Op      string        // announce, withdraw, sessions, stop
	Prefix  netip.Prefix  `json:",omitzero"`
	Timeout time.Duration // the call's context deadline
}

// response is the child's answer to one request.
type response struct {
	Err      string
	Took     time.Duration
	Sessions []bgp.SessionStatus
}

// runDirector is the child: it starts a Speaker and serves requests until
// stdin closes, then stops it.
func runDirector(spec string) int {
	var cfg bgp.Config
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "director: %s: %v\n", directorEnv, err)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	enc := json.NewEncoder(os.Stdout)
	start := time.Now()
	sp, err := bgp.Start(context.Background(), cfg)
	if err != nil {
		_ = enc.Encode(response{Err: err.Error(), Took: time.Since(start)})
		return 1
	}
	_ = enc.Encode(response{Took: time.Since(start)})
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var req request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			_ = enc.Encode(response{Err: err.Error()})
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), req.Timeout)
		var resp response
		start := time.Now()
		switch req.Op {
		case "announce":
			err = sp.Announce(ctx, req.Prefix)
		case "withdraw":
			err = sp.Withdraw(ctx, req.Prefix)
		case "sessions":
			resp.Sessions, err = sp.Sessions(ctx)
		case "stop":
			err = sp.Stop(ctx)
		default:
			err = fmt.Errorf("unknown op %q", req.Op)
		}
		resp.Took = time.Since(start)
		cancel()
		if err != nil {
			resp.Err = err.Error()
		}
		_ = enc.Encode(resp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sp.Stop(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "director: stop at the end: %v\n", err)
		return 1
	}
	return 0
}

// director is the parent's handle on one child.
type director struct {
	t     *testing.T
	name  string
	host  *netns.Host
	addr  netip.Addr
	proc  *netns.Proc
	mu    sync.Mutex // one request at a time
	stdin *os.File
	resps chan response
}

// startDirector runs a Speaker with cfg in host and waits until it has
// started.
func startDirector(t *testing.T, host *netns.Host, cfg bgp.Config) *director {
	t.Helper()
	spec, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := host.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), directorEnv+"="+string(spec))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	d := &director{t: t, name: host.Name(), host: host, addr: host.Addr("eth0").Addr(), stdin: inW, resps: make(chan response, 1)}
	d.proc, err = host.Start(cmd)
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		t.Fatal(err)
	}
	logs := newTestLog(t)
	go func() {
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
			logs.log("%s: %s", d.name, sc.Text())
		}
		errR.Close()
	}()
	go func() {
		dec := json.NewDecoder(outR)
		for {
			var r response
			if err := dec.Decode(&r); err != nil {
				close(d.resps)
				outR.Close()
				return
			}
			d.resps <- r
		}
	}()
	t.Cleanup(func() {
		d.stdin.Close() // the child stops its speaker and exits
		select {
		case <-d.proc.Done():
		case <-time.After(10 * time.Second):
			t.Errorf("%s: director did not exit within 10s of its stdin closing", d.name)
			_ = d.proc.Kill()
		}
	})
	r, ok := d.await(30 * time.Second)
	if !ok || r.Err != "" {
		t.Fatalf("%s: director did not start: %q", d.name, r.Err)
	}
	return d
}

// await waits for the child's next answer.
func (d *director) await(timeout time.Duration) (response, bool) {
	select {
	case r, ok := <-d.resps:
		return r, ok
	case <-time.After(timeout):
		return response{Err: fmt.Sprintf("no answer within %v", timeout)}, false
	}
}

// do sends one request with the call's bound and returns the answer; the
// parent waits a little longer than the bound, so a call that overran it
// is seen as such, not lost.
func (d *director) do(op string, prefix netip.Prefix, bound time.Duration) response {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	line, err := json.Marshal(request{Op: op, Prefix: prefix, Timeout: bound})
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.stdin.Write(append(line, '\n')); err != nil {
		d.t.Fatalf("%s: %s: %v", d.name, op, err)
	}
	r, ok := d.await(bound + 5*time.Second)
	if !ok {
		d.t.Fatalf("%s: %s %v: %s", d.name, op, prefix, r.Err)
	}
	return r
}

// must does a request that has to succeed.
func (d *director) must(op string, prefix netip.Prefix) response {
	d.t.Helper()
	r := d.do(op, prefix, 5*time.Second)
	if r.Err != "" {
		d.t.Fatalf("%s: %s %v: %s", d.name, op, prefix, r.Err)
	}
	return r
}

// testLog passes a child's lines to the test log until the test's
// cleanups begin; later lines (a child's last words while it is killed)
// are dropped, since the test log is closed then.
type testLog struct {
	mu     sync.Mutex
	t      *testing.T
	closed bool
}

func newTestLog(t *testing.T) *testLog {
	l := &testLog{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
	})
	return l
}

func (l *testLog) log(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Logf(format, args...)
	}
}
