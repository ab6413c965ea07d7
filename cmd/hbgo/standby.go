package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"time"

	"hbgo/crm"
	"hbgo/crm/control"
)

// Exit codes of hb_standby and hb_takeover, so that a script can tell why
// a move failed. Heartbeat's scripts only sent a message and returned 0.
const (
	moveDone        exitStatus = 0 // every group of the scope runs where asked
	moveAccepted    exitStatus = 0 // --no-wait: the daemon took the request on
	moveFailed      exitStatus = 1 // refused for another reason (not the owner, shutting down, ...)
	moveUsage       exitStatus = 2 // bad arguments
	moveNoPeer      exitStatus = 3 // no healthy peer to take the groups
	moveNoQuorum    exitStatus = 4 // no quorum to commit the move
	moveTimeout     exitStatus = 5 // not done in time; the move may still complete
	moveUnreachable exitStatus = 6 // hbgo not running, or not ours to ask
)

// standbyMain implements hb_standby [all|foreign|local|failback]: give this
// node's groups of the scope away and wait until they run elsewhere.
func standbyMain(args []string, stdout, stderr io.Writer) int {
	return moveMain("hb_standby", false, args, stdout, stderr)
}

// takeoverMain implements hb_takeover [all|foreign|local|failback]: take
// the groups of scope and wait until they run here.
func takeoverMain(args []string, stdout, stderr io.Writer) int {
	return moveMain("hb_takeover", true, args, stdout, stderr)
}

// moveOptions are hb_standby's and hb_takeover's flags.
type moveOptions struct {
	timeout time.Duration
	runDir  string
	noWait  bool
}

// moveFlags is the flag set of hb_standby or hb_takeover (name).
func moveFlags(name string, stderr io.Writer) (*flag.FlagSet, *moveOptions) {
	o := &moveOptions{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long to wait for the move (with --no-wait, how long the daemon pursues it)")
	fs.StringVar(&o.runDir, "run-dir", control.DefaultRunDir, "directory of the daemon's socket")
	fs.BoolVar(&o.noWait, "no-wait", false, "return once the daemon has taken the request on, as Heartbeat's command did")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [--no-wait] [--timeout 60s] [--run-dir DIR] [all|foreign|local|failback]\n", name)
		fs.PrintDefaults()
	}
	return fs, o
}

func moveMain(name string, takeover bool, args []string, stdout, stderr io.Writer) int {
	fs, o := moveFlags(name, stderr)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return moveDone
	}
	if err != nil {
		return moveUsage
	}
	if len(pos) > 1 {
		fmt.Fprintf(stderr, "%s: too many arguments\n", name)
		fs.Usage()
		return moveUsage
	}
	arg := ""
	if len(pos) == 1 {
		arg = pos[0]
	}
	scope, err := crm.ParseScope(arg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: wrong resources (%s): say all, foreign, local or failback\n", name, arg)
		return moveUsage
	}
	if o.timeout <= 0 {
		fmt.Fprintf(stderr, "%s: --timeout must be positive\n", name)
		return moveUsage
	}
	c, err := control.Dial(control.SocketPath(o.runDir))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return moveExit(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if o.noWait {
		return moveNoWait(ctx, c, name, takeover, scope, stdout, stderr)
	}
	var res *crm.MoveResult
	fmt.Fprintln(stdout, moveHeading(takeover, scope))
	if takeover {
		res, err = c.Takeover(ctx, scope)
	} else {
		res, err = c.Standby(ctx, scope)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		if errors.Is(err, crm.ErrTimeout) {
			fmt.Fprintf(stderr, "%s: the move may still complete; see hbgo status\n", name)
		}
		return moveExit(err)
	}
	if len(res.Moved) == 0 {
		fmt.Fprintln(stdout, "Nothing to move.")
	}
	for _, m := range res.Moved {
		fmt.Fprintf(stdout, "  %s: %s -> %s\n", m.Group, m.From, m.To)
	}
	fmt.Fprintf(stdout, "Done in %v.\n", time.Duration(res.Took))
	return moveDone
}

// moveNoWait hands the request to the daemon and returns once the daemon
// has taken it on; the daemon pursues it for ctx's time without us.
func moveNoWait(ctx context.Context, c *control.Client, name string, takeover bool, scope crm.Scope, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, moveHeading(takeover, scope))
	if err := c.Submit(ctx, takeover, scope); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return moveExit(err)
	}
	fmt.Fprintln(stdout, "Asked; not waiting for the move (hbgo status shows it).")
	return moveAccepted
}

// moveHeading is the first line hb_standby or hb_takeover prints.
func moveHeading(takeover bool, scope crm.Scope) string {
	if takeover {
		return fmt.Sprintf("Taking over [%s].", scope)
	}
	// As Heartbeat's hb_standby, which gives failback the name of the
	// groups it moves.
	if scope == crm.ScopeFailback {
		scope = crm.ScopeForeign
	}
	return fmt.Sprintf("Going standby [%s].", scope)
}

// moveExit picks the exit code for a failed move.
func moveExit(err error) int {
	switch {
	case errors.Is(err, crm.ErrNoPeer):
		return moveNoPeer
	case errors.Is(err, crm.ErrNoQuorum):
		return moveNoQuorum
	case errors.Is(err, crm.ErrTimeout):
		return moveTimeout
	case errors.Is(err, control.ErrNotRunning), errors.Is(err, fs.ErrPermission):
		return moveUnreachable
	}
	return moveFailed
}

// parseInterspersed parses fs's flags wherever they stand among the
// positional arguments, as operators type `hb_standby local --timeout 5s`,
// and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// After "--" everything is positional; fs.Parse ate the "--".
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
