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
	moveDone        = 0 // every group of the scope runs where asked
	moveFailed      = 1 // refused for another reason (not the owner, shutting down, ...)
	moveUsage       = 2 // bad arguments
	moveNoPeer      = 3 // no healthy peer to take the groups
	moveNoQuorum    = 4 // no quorum to commit the move
	moveTimeout     = 5 // not done in time; the move may still complete
	moveUnreachable = 6 // hbgo not running, or not ours to ask
)

// standbyMain implements hb_standby [all|foreign|local|failback]: give this
// node's groups of the scope away and wait until they run elsewhere.
func standbyMain(args []string, stdout, stderr io.Writer) int {
	return moveMain("hb_standby", false, args, stdout, stderr)
}

// takeoverMain implements hb_takeover [all|foreign|local|failback]: take
// the groups of the scope and wait until they run here.
func takeoverMain(args []string, stdout, stderr io.Writer) int {
	return moveMain("hb_takeover", true, args, stdout, stderr)
}

func moveMain(name string, takeover bool, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the move")
	runDir := fs.String("run-dir", control.DefaultRunDir, "directory of the daemon's socket")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [--timeout 60s] [--run-dir DIR] [all|foreign|local|failback]\n", name)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
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
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "%s: --timeout must be positive\n", name)
		return moveUsage
	}
	c, err := control.Dial(control.SocketPath(*runDir))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return moveExit(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var res *crm.MoveResult
	if takeover {
		fmt.Fprintf(stdout, "Taking over [%s].\n", scope)
		res, err = c.Takeover(ctx, scope)
	} else {
		// As Heartbeat's hb_standby, which gives failback the name of
		// the groups it moves.
		shown := scope
		if scope == crm.ScopeFailback {
			shown = crm.ScopeForeign
		}
		fmt.Fprintf(stdout, "Going standby [%s].\n", shown)
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
