package main

import (
	"flag"
	"fmt"
	"io"

	"hbgo/conf"
)

// checkConfigMain implements `hbgo check-config [-c DIR]`: every problem one
// a line; exit 0 without errors (warnings allowed), 1 with errors, 2 when it
// could not run.
func checkConfigMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("c", conf.DefaultDir, "configuration directory")
	initDir := fs.String("initdir", "/etc/init.d", "where LSB init scripts live")
	quiet := fs.Bool("q", false, "print errors only")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "check-config: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	_, ds, err := conf.Load(*dir, conf.LoadOptions{InitDir: *initDir})
	if err != nil {
		fmt.Fprintf(stderr, "check-config: %v\n", err)
		return 2
	}
	return printDiags(ds, *quiet, stdout)
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
		return 1
	}
	return 0
}
