//go:build unix

package resources

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type heard struct {
	mu  sync.Mutex
	ops []string
}

func (h *heard) ResourceDone(group, resource, op string, took time.Duration, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	res := "ok"
	if err != nil {
		res = "failed"
	}
	if took <= 0 {
		res += " (no time)"
	}
	h.ops = append(h.ops, fmt.Sprintf("%s %s %s %s", group, resource, op, res))
}

// TestChainObserver: the observer hears each start and each stop attempt
// of real script resources, with its outcome and a duration.
func TestChainObserver(t *testing.T) {
	h := &heard{}
	f := newChainFixture(t, "n1 svc::A svc::B svc::C\n", ScriptOptions{}, WithObserver(h))
	f.file(t, "B.fail-start", "")
	f.file(t, "A.fail-stop", "always")
	if err := f.c.Start(context.Background()); err == nil {
		t.Fatal("start succeeded")
	}
	want := []string{
		"svc::A svc::A start ok",
		"svc::A svc::B start failed",
		"svc::A svc::C stop ok",
		"svc::A svc::B stop ok",
		"svc::A svc::A stop failed",
		"svc::A svc::A stop failed",
		"svc::A svc::A stop failed",
	}
	if got := strings.Join(h.ops, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("heard\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}
