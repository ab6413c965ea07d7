package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"hbgo/conf"
)

// Exit codes of hbgo check-config (and of printDiags).
const (
	checkClean     exitStatus = 0 // no errors (warnings allowed)
	checkErrors    exitStatus = 1 // errors found
	checkCannotRun exitStatus = 2 // bad arguments, no such directory
)

// checkConfigOptions are check-config's flags.
type checkConfigOptions struct {
	dir, initDir string
	quiet        bool
}

// checkConfigFlags is check-config's flag set.
func checkConfigFlags(stderr io.Writer) (*flag.FlagSet, *checkConfigOptions) {
	o := &checkConfigOptions{}
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "c", conf.DefaultDir, "configuration directory")
	fs.StringVar(&o.initDir, "initdir", "/etc/init.d", "where LSB init scripts live")
	fs.BoolVar(&o.quiet, "q", false, "print errors only")
	return fs, o
}

// checkConfigMain implements `hbgo check-config [-c DIR]`: every problem one
// a line; exit 0 without errors (warnings allowed), 1 with errors, 2 when it
// could not run.
func checkConfigMain(args []string, stdout, stderr io.Writer) int {
	fs, o := checkConfigFlags(stderr)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return checkClean
	} else if err != nil {
		return checkCannotRun
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "check-config: unexpected argument %q\n", fs.Arg(0))
		return checkCannotRun
	}
	_, ds, err := conf.Load(o.dir, conf.LoadOptions{InitDir: o.initDir})
	if err != nil {
		fmt.Fprintf(stderr, "check-config: %v\n", err)
		return checkCannotRun
	}
	return printDiags(ds, o.quiet, stdout)
}

// printDiags prints diagnostics as check-config does, and returns its exit
// code. The daemon uses the same function at start.
func printDiags(ds conf.Diags, errorsOnly bool, w io.Writer) int {
	for _, d := range ds {
		if errorsOnly && d.Severity != conf.Error {
			continue
		}
		fmt.Fprintln(w, d.String())
	}
	if ds.HasErrors() {
		return checkErrors
	}
	return checkClean
}
