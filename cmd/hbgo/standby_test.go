package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"hbgo/crm"
	"hbgo/crm/control/controltest"
)

// TestStandbyAndTakeover runs hb_standby and hb_takeover against a fake
// daemon: what they print, what they ask, and the exit code of each
// outcome.
func TestStandbyAndTakeover(t *testing.T) {
	moves := []crm.GroupMove{{Group: "web", From: "alice", To: "bob"}, {Group: "mail", From: "alice", To: "bob"}}
	for _, tc := range []struct {
		name     string
		takeover bool
		args     []string
		fake     *controltest.Fake // nil: no daemon
		code     int
		stdout   string
		stderr   string // a prefix
		call     string
	}{
		{name: "standby all", args: nil, fake: &controltest.Fake{Moves: moves, Took: 1200 * time.Millisecond},
			stdout: "Going standby [all].\n  web: alice -> bob\n  mail: alice -> bob\nDone in 1.2s.\n", call: "standby all"},
		{name: "standby failback says foreign", args: []string{"failback"}, fake: &controltest.Fake{Moves: moves[1:], Took: 800 * time.Millisecond},
			stdout: "Going standby [foreign].\n  mail: alice -> bob\nDone in 800ms.\n", call: "standby failback"},
		{name: "flags after the scope", args: []string{"local", "--timeout", "5s"}, fake: &controltest.Fake{},
			stdout: "Going standby [local].\nNothing to move.\nDone in 0s.\n", call: "standby local"},
		{name: "takeover foreign", takeover: true, args: []string{"foreign"}, fake: &controltest.Fake{Moves: []crm.GroupMove{{Group: "mail", From: "bob", To: "alice"}}, Took: 300 * time.Millisecond},
			stdout: "Taking over [foreign].\n  mail: bob -> alice\nDone in 300ms.\n", call: "takeover foreign"},

		{name: "no healthy peer", args: []string{"all"}, fake: &controltest.Fake{MoveErr: fmt.Errorf("%w: bob is dead", crm.ErrNoPeer)},
			code: moveNoPeer, stdout: "Going standby [all].\n", stderr: "hb_standby: no healthy peer to take the groups: bob is dead\n", call: "standby all"},
		{name: "no quorum", takeover: true, fake: &controltest.Fake{MoveErr: fmt.Errorf("%w: 1 of 3 voters reachable", crm.ErrNoQuorum)},
			code: moveNoQuorum, stdout: "Taking over [all].\n", stderr: "hb_takeover: no quorum: 1 of 3 voters reachable\n", call: "takeover all"},
		{name: "timeout", args: []string{"--timeout", "300ms"}, fake: &controltest.Fake{Block: true},
			code: moveTimeout, stdout: "Going standby [all].\n", stderr: "hb_standby: timed out after 300ms", call: "standby all"},
		{name: "daemon gives up in time", takeover: true, fake: &controltest.Fake{MoveErr: fmt.Errorf("%w: web still stopping on bob", crm.ErrTimeout)},
			code: moveTimeout, stdout: "Taking over [all].\n", stderr: "hb_takeover: timed out: web still stopping on bob\nhb_takeover: the move may still complete; see hbgo status\n", call: "takeover all"},
		{name: "shutting down", fake: &controltest.Fake{MoveErr: crm.ErrShuttingDown},
			code: moveFailed, stdout: "Going standby [all].\n", stderr: "hb_standby: shutting down\n", call: "standby all"},
		{name: "not running", fake: nil,
			code: moveUnreachable, stderr: "hb_standby: hbgo is not running (no socket at RUNDIR/hbgo.sock)\n"},
		{name: "wrong scope", args: []string{"sideways"}, fake: &controltest.Fake{},
			code: moveUsage, stderr: "hb_standby: wrong resources (sideways): say all, foreign, local or failback\n"},
		{name: "too many arguments", takeover: true, args: []string{"local", "foreign"}, fake: &controltest.Fake{},
			code: moveUsage, stderr: "hb_takeover: too many arguments\nusage: hb_takeover "},
		{name: "bad timeout", args: []string{"--timeout", "0s"}, fake: &controltest.Fake{},
			code: moveUsage, stderr: "hb_standby: --timeout must be positive\n"},

		{name: "no wait", args: []string{"--no-wait", "local"}, fake: &controltest.Fake{Block: true},
			stdout: "Going standby [local].\nAsked; not waiting for the move (hbgo status shows it).\n", call: "standby local"},
		{name: "no wait, done at once", takeover: true, args: []string{"failback", "--no-wait"}, fake: &controltest.Fake{Moves: moves},
			stdout: "Taking over [failback].\nAsked; not waiting for the move (hbgo status shows it).\n", call: "takeover failback"},
		{name: "no wait, refused", args: []string{"--no-wait"}, fake: &controltest.Fake{MoveErr: crm.ErrShuttingDown},
			code: moveFailed, stdout: "Going standby [all].\n", stderr: "hb_standby: shutting down\n", call: "standby all"},
		{name: "no wait, not running", args: []string{"--no-wait"}, fake: nil,
			code: moveUnreachable, stderr: "hb_standby: hbgo is not running (no socket at RUNDIR/hbgo.sock)\n"},
		{name: "no wait, bad scope", takeover: true, args: []string{"--no-wait", "sideways"}, fake: &controltest.Fake{},
			code: moveUsage, stderr: "hb_takeover: wrong resources (sideways): say all, foreign, local or failback\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.fake != nil {
				controltest.Serve(t, dir, tc.fake)
			}
			main := standbyMain
			if tc.takeover {
				main = takeoverMain
			}
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := main(append([]string{"--run-dir", dir}, tc.args...), &stdout, &stderr)
			errText := strings.ReplaceAll(stderr.String(), dir, "RUNDIR")
			if code != tc.code || stdout.String() != tc.stdout || !strings.HasPrefix(errText, tc.stderr) {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant prefix:\n%s", code, tc.code, stdout.String(), tc.stdout, errText, tc.stderr)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %v", took)
			}
			if tc.fake != nil {
				var want []string
				if tc.call != "" {
					want = []string{tc.call}
				}
				if got := tc.fake.Calls(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("calls %q, want %q", got, want)
				}
			}
		})
	}
}

// TestStandbyNoWait: hb_standby --no-wait returns as soon as the daemon
// has taken the request on, and its going away does not withdraw the
// request: the daemon pursues it until its own timeout (the client's
// --timeout), and logs how it ended.
func TestStandbyNoWait(t *testing.T) {
	dir := t.TempDir()
	fake := &controltest.Fake{Block: true, Ended: make(chan error, 1)}
	_, log := controltest.Serve(t, dir, fake)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := standbyMain([]string{"--run-dir", dir, "--no-wait", "--timeout", "1500ms"}, &stdout, &stderr)
	returned := time.Since(start)
	if code != moveAccepted || returned > 500*time.Millisecond {
		t.Fatalf("exit %d after %v, want %d at once\n%s%s", code, returned, moveAccepted, stdout.String(), stderr.String())
	}
	// The client is gone; a waited-for request would end now (see
	// TestControlCancel in crm/control).
	select {
	case err := <-fake.Ended:
		t.Fatalf("the request ended %v after its client returned (%v): %v", time.Since(start)-returned, returned, err)
	case <-time.After(700 * time.Millisecond):
	}
	select {
	case err := <-fake.Ended:
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || took < 1100*time.Millisecond || took > 2500*time.Millisecond {
			t.Errorf("the request ended after %v with %v; want the daemon's timeout, about 1.25s", took, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not end at the daemon's timeout")
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(log.String(), "Control: standby all failed: ") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{"Control: standby all asked by uid", ", not waiting).", "Control: standby all failed: "} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	if strings.Contains(log.String(), "withdrawn") {
		t.Errorf("log says withdrawn:\n%s", log.String())
	}
}
