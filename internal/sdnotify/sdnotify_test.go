package sdnotify

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hbgo/crm"
)

type fakeNode struct {
	settled atomic.Bool
	last    atomic.Int64
}

func (f *fakeNode) Settled() bool       { return f.settled.Load() }
func (f *fakeNode) LastPass() time.Time { return time.Unix(0, f.last.Load()) }
func (f *fakeNode) Status(context.Context) (*crm.Status, error) {
	return &crm.Status{Node: "n1", Role: "director", Mode: "two-node",
		Groups: []crm.GroupStatus{{Name: "a", Owner: "n1"}, {Name: "b", Owner: "n2"}, {Name: "c"}},
		Nodes:  []crm.NodeStatus{{Name: "n1"}, {Name: "n2", Status: "active"}, {Name: "n3", Status: "dead"}}}, nil
}

// No READY=1 while the node is not settled; then READY=1 with a status
// line; no WATCHDOG=1 while the loop is stale; STOPPING=1 on Close.
func TestNotifier(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var got []string
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, string(buf[:n]))
			mu.Unlock()
		}
	}()
	msgs := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(got, "|")
	}
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "100000")
	n := &fakeNode{}
	s := Start(context.Background(), n, Options{Name: "n1", Keepalive: 100 * time.Millisecond, Stale: 200 * time.Millisecond})
	time.Sleep(500 * time.Millisecond)
	if m := msgs(); strings.Contains(m, "READY=1") || strings.Contains(m, "WATCHDOG=1") {
		t.Fatalf("unsettled, stale node: %q", m)
	}
	n.last.Store(time.Now().Add(time.Hour).UnixNano()) // always fresh
	n.settled.Store(true)
	time.Sleep(500 * time.Millisecond)
	m := msgs()
	if !strings.Contains(m, "READY=1\nSTATUS=director n1 (two-node); running: a; elsewhere: b@n2; stopped: c; dead peers: n3") {
		t.Errorf("after settling: %q", m)
	}
	if strings.Count(m, "WATCHDOG=1") < 3 {
		t.Errorf("watchdog pings every 50ms with a fresh loop: %q", m)
	}
	s.Close()
	// Close has sent it; the reader goroutine reads it when it runs.
	for end := time.Now().Add(5 * time.Second); !strings.Contains(msgs(), "STOPPING=1") && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if m := msgs(); !strings.Contains(m, "STOPPING=1") {
		t.Errorf("no STOPPING=1 on close: %q", m)
	}
}

// Without NOTIFY_SOCKET nothing is sent and Close returns.
func TestDisabled(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	s := Start(context.Background(), &fakeNode{}, Options{})
	s.Close()
	s.Stopping()
}
