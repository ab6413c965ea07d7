// Command hbgo is the one binary of hbgo: the daemon and every user command,
// chosen by subcommand or by the name it is called through (heartbeat,
// hb_standby, hb_takeover, cl_status, hb_serialtest, ldirectord).
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// exitStatus marks the constants that name a command's exit codes; the
// mains return them as ints. docs/commands.md lists every one of them, and
// commands_doc_test.go holds the page to these constants.
type exitStatus = int

// Exit codes of hbgo itself.
const (
	hbgoOK    exitStatus = 0 // help or version printed
	hbgoUsage exitStatus = 2 // no command, or one hbgo does not have
)

// command is one subcommand: its main and a one-line summary.
type command struct {
	main    func(args []string, stdout, stderr io.Writer) int
	summary string
}

var commands = map[string]command{
	"ldirectord":   {ldirectordMain, "ldirectord [-d] [CONFIG] start|stop|...|status; --dry-run CONFIG prints ipvsadm commands"},
	"daemon":       {daemonMain, "run this node (heartbeat): -c DIR --node NAME --state-dir DIR --run-dir DIR"},
	"import":       {importMain, "import keepalived [-o DIR] [--node-names A,B] CONF [CONF2]: write hbgo's files"},
	"check-config": {checkConfigMain, "check ha.cf, authkeys, haresources and ldirectord.cf; print every problem"},
	"cl_status":    {clStatusMain, "Heartbeat's cl_status: node, link and resource status for scripts"},
	"realserver":   {realserverMain, "on an LVS-DR real server: realserver [--state FILE] start|stop|status VIP..."},
	"serialtest":   {serialtestMain, "test a serial heartbeat cable (recv, send, echo, ping)"},
	"standby":      {standbyMain, "hb_standby [--no-wait] [all|foreign|local|failback]: give groups away (and wait)"},
	"status":       {statusMain, "the cluster as this node sees it, on one screen"},
	"takeover":     {takeoverMain, "hb_takeover [--no-wait] [all|foreign|local|failback]: take groups (and wait)"},
	"version":      {versionMain, "print the version"},
}

// aliases maps the names operators type to subcommands, for links made by
// `make install`.
var aliases = map[string]string{
	"heartbeat":     "daemon",
	"hb_standby":    "standby",
	"hb_takeover":   "takeover",
	"cl_status":     "cl_status",
	"hb_serialtest": "serialtest",
	"ldirectord":    "ldirectord",
}

// pending names the subcommands whose links exist but whose work arrives in
// later milestones, so that a link says so plainly instead of printing usage.
var pending = map[string]string{}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(argv []string, stdout, stderr io.Writer) int {
	name := filepath.Base(argv[0])
	args := argv[1:]
	sub, ok := aliases[name]
	if !ok {
		if len(args) == 0 {
			usage(stderr)
			return hbgoUsage
		}
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "-h", "--help", "help":
		usage(stdout)
		return hbgoOK
	case "-v", "--version":
		sub = "version"
	}
	if c, ok := commands[sub]; ok {
		return c.main(args, stdout, stderr)
	}
	if what, ok := pending[sub]; ok {
		fmt.Fprintf(stderr, "hbgo: %s is not in this build yet\n", what)
		return hbgoUsage
	}
	fmt.Fprintf(stderr, "hbgo: unknown command %q\n", sub)
	usage(stderr)
	return hbgoUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: hbgo COMMAND [ARGS]")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, commands[n].summary)
	}
	links := make([]string, 0, len(aliases))
	for l := range aliases {
		links = append(links, l)
	}
	sort.Strings(links)
	fmt.Fprintf(w, "also called as: %s\n", strings.Join(links, ", "))
}

func versionMain(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "hbgo %s\n", version)
	return hbgoOK
}
