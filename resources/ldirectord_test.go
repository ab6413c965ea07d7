package resources

import (
	"context"
	"errors"
	"strings"
	"testing"

	"hbgo/conf"
)

func TestLdirectordAgentFollowsTheDaemonsLdirector(t *testing.T) {
	ctx := context.Background()
	var asked string
	var broken error
	env := Env{Ldirector: func(config string) error { asked = config; return broken }}
	a, err := New(conf.Resource{Name: "ldirectord", Args: []string{"web.cf"}, Agent: "builtin:ldirectord"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Status(ctx); st != Stopped {
		t.Fatalf("before start: %v", st)
	}
	if err := a.Start(ctx); err != nil || asked != "web.cf" {
		t.Fatalf("start: %v (asked %q)", err, asked)
	}
	if st, _ := a.Status(ctx); st != Running {
		t.Fatalf("after start: %v", st)
	}
	broken = errors.New("config has errors")
	if st, _ := a.Status(ctx); st != Failed {
		t.Fatalf("ldirector down: %v", st)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err == nil || !strings.Contains(err.Error(), "ldirectord::web.cf start") || !strings.Contains(err.Error(), "config has errors") {
		t.Fatalf("start with the ldirector down: %v", err)
	}
	// Outside the daemon there is no ldirector to follow.
	b, _ := New(conf.Resource{Name: "ldirectord", Agent: "builtin:ldirectord"}, Env{})
	if err := b.Start(ctx); err == nil || !strings.Contains(err.Error(), "ldirectord start") {
		t.Fatalf("start outside the daemon: %v", err)
	}
}
