package resources

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"hbgo/conf"
	"hbgo/lvs"
)

// daemons renders the running sync daemons as text.
func daemons(t *testing.T, d lvs.SyncDaemons) string {
	t.Helper()
	ds, err := d.ListSyncDaemons(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, x := range ds {
		s = append(s, x.String())
	}
	return strings.Join(s, "; ")
}

func TestLVSSyncSwap(t *testing.T) {
	ctx := context.Background()
	for _, role := range []string{"master", "backup"} {
		t.Run(role, func(t *testing.T) {
			other := map[string]string{"master": "backup", "backup": "master"}[role]
			m := lvs.NewMemory()
			a, err := New(conf.Resource{Name: conf.AgentLVSSyncDaemonSwap, Args: []string{role}, Agent: "builtin:" + conf.AgentLVSSyncDaemonSwap},
				Env{LVSSync: LVSSyncOptions{Interface: "eth1", SyncID: 7, Daemons: m}})
			if err != nil {
				t.Fatal(err)
			}
			if a.Name() != "LVSSyncDaemonSwap::"+role {
				t.Errorf("Name() = %q", a.Name())
			}
			mine := fmt.Sprintf("%s sync daemon (mcast=eth1, syncid=7)", role)
			theirs := fmt.Sprintf("%s sync daemon (mcast=eth1, syncid=7)", other)
			// A standby director runs the other role from boot.
			if err := m.StartSyncDaemon(ctx, lvs.SyncDaemon{State: lvs.SyncState(other), Interface: "eth1", SyncID: 7}); err != nil {
				t.Fatal(err)
			}
			step := func(what string, f func(context.Context) error, want string, st State) {
				t.Helper()
				if err := f(ctx); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if got := daemons(t, m); got != want {
					t.Errorf("after %s: daemons %q, want %q", what, got, want)
				}
				if got, err := a.Status(ctx); got != st || err != nil {
					t.Errorf("after %s: status %v, %v; want %v", what, got, err, st)
				}
			}
			step("start", a.Start, mine, Running)
			step("start again", a.Start, mine, Running)
			step("stop", a.Stop, theirs, Stopped)
			step("stop again", a.Stop, theirs, Stopped)
			// Settings changed under it: start restarts with the agent's.
			if err := m.StopSyncDaemon(ctx, lvs.SyncState(other)); err != nil {
				t.Fatal(err)
			}
			if err := m.StartSyncDaemon(ctx, lvs.SyncDaemon{State: lvs.SyncState(role), Interface: "eth9", SyncID: 1}); err != nil {
				t.Fatal(err)
			}
			step("start over other settings", a.Start, mine, Running)
		})
	}
}

func TestLVSSyncErrors(t *testing.T) {
	_, err := New(conf.Resource{Name: conf.AgentLVSSyncDaemonSwap, Args: []string{"primary"}, Agent: "builtin:" + conf.AgentLVSSyncDaemonSwap}, Env{})
	if err == nil || !strings.Contains(err.Error(), "LVSSyncDaemonSwap::primary") {
		t.Errorf("bad role: error %v, want one naming the resource", err)
	}
	m := lvs.NewMemory()
	a := NewLVSSync("LVSSyncDaemonSwap::master", lvs.SyncMaster, Env{LVSSync: LVSSyncOptions{Daemons: m}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = a.Start(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "resource LVSSyncDaemonSwap::master start: ") {
		t.Errorf("start with a dead context: %v", err)
	}
	// The default interface is ipvsadm's.
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := daemons(t, m); got != "master sync daemon (mcast=eth0, syncid=0)" {
		t.Errorf("defaults: %q", got)
	}
}

// TestLVSSyncPrepare: a director that starts without holding the group
// runs the backup daemon at once; one that already runs a daemon (an
// owner whose daemon restarted) keeps it.
func TestLVSSyncPrepare(t *testing.T) {
	ctx := context.Background()
	m := lvs.NewMemory()
	g := conf.ResourceGroup{Name: "IPaddr::10.0.0.100", Resources: []conf.Resource{
		{Name: conf.AgentLVSSyncDaemonSwap, Args: []string{"master"}, Agent: "builtin:" + conf.AgentLVSSyncDaemonSwap}}}
	c, err := NewChain(g, Env{LVSSync: LVSSyncOptions{Interface: "eth1", SyncID: 7, Daemons: m}})
	if err != nil {
		t.Fatal(err)
	}
	backup := "backup sync daemon (mcast=eth1, syncid=7)"
	master := "master sync daemon (mcast=eth1, syncid=7)"
	if err := c.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if got := daemons(t, m); got != backup {
		t.Fatalf("after prepare: %q, want %q", got, backup)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if got := daemons(t, m); got != master {
		t.Fatalf("prepare on a running master changed it: %q", got)
	}
}

// TestLVSSyncBoth: ::both starts the master and the backup daemon, stops
// both, reports one alone as failed, restarts one with other settings,
// and prepares nothing.
func TestLVSSyncBoth(t *testing.T) {
	ctx := context.Background()
	m := lvs.NewMemory()
	a, err := New(conf.Resource{Name: conf.AgentLVSSyncDaemonSwap, Args: []string{"both"}, Agent: "builtin:" + conf.AgentLVSSyncDaemonSwap},
		Env{LVSSync: LVSSyncOptions{Interface: "eth0", SyncID: 3, Daemons: m}})
	if err != nil {
		t.Fatal(err)
	}
	both := "backup sync daemon (mcast=eth0, syncid=3); master sync daemon (mcast=eth0, syncid=3)"
	if err := a.(interface{ Prepare(context.Context) error }).Prepare(ctx); err != nil || daemons(t, m) != "" {
		t.Errorf("prepare: %v, daemons %q", err, daemons(t, m))
	}
	sorted := func() string {
		parts := strings.Split(daemons(t, m), "; ")
		slices.Sort(parts)
		return strings.Join(parts, "; ")
	}
	step := func(what string, f func(context.Context) error, want string, st State) {
		t.Helper()
		if err := f(ctx); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := sorted(); got != want {
			t.Errorf("after %s: daemons %q, want %q", what, got, want)
		}
		if got, err := a.Status(ctx); got != st || err != nil {
			t.Errorf("after %s: status %v, %v; want %v", what, got, err, st)
		}
	}
	step("start", a.Start, both, Running)
	step("start again", a.Start, both, Running)
	step("stop", a.Stop, "", Stopped)
	if err := m.StartSyncDaemon(ctx, lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth9", SyncID: 1}); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Status(ctx); st != Failed {
		t.Errorf("one daemon alone: status %v, want failed", st)
	}
	step("start over a backup of other settings", a.Start, both, Running)
}
