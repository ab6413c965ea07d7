package main

import (
	"bytes"
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
