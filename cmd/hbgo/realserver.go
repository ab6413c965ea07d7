package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"

	"hbgo/realserver"
)

// Exit codes of hbgo realserver, as LSB's.
const (
	rsOK       exitStatus = 0 // done; status: every VIP and sysctl is set up
	rsFailed   exitStatus = 1 // start or stop failed
	rsUsage    exitStatus = 2 // bad arguments
	rsNotSetUp exitStatus = 3 // status: not set up
	rsUnknown  exitStatus = 4 // status: cannot tell
)

// realserverOptions are hbgo realserver's flags.
type realserverOptions struct {
	state string
	quiet bool
}

// realserverFlags is hbgo realserver's flag set.
func realserverFlags(stderr io.Writer) (*flag.FlagSet, *realserverOptions) {
	o := &realserverOptions{}
	fs := flag.NewFlagSet("realserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.state, "state", realserver.DefaultStateFile, "where start remembers what it changed")
	fs.BoolVar(&o.quiet, "q", false, "print nothing on start and stop")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hbgo realserver [--state FILE] [-q] start|stop|status VIP...")
		fs.PrintDefaults()
	}
	return fs, o
}

// realserverMain implements `hbgo realserver [--state FILE] start|stop|status
// VIP...`: on an LVS-DR real server, the VIPs on lo and the ARP sysctls
// (what the lvs_real scripts of the how-tos do). Exit codes as LSB:
// status 0 when every VIP and sysctl is set up, 3 when not; 1 on failure,
// 2 on bad usage.
func realserverMain(args []string, stdout, stderr io.Writer) int {
	fs, o := realserverFlags(stderr)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return rsOK
	} else if err != nil {
		return rsUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return rsUsage
	}
	action, rest := fs.Arg(0), fs.Args()[1:]
	h := &realserver.Helper{Sys: realserver.NewSystem(), StateFile: o.state}
	if !o.quiet {
		h.Log = stdout
	}
	var vips []netip.Addr
	if len(rest) > 0 || action == "start" {
		var err error
		if vips, err = realserver.ParseVIPs(rest); err != nil {
			fmt.Fprintf(stderr, "realserver: %v\n", err)
			return rsUsage
		}
	}
	switch action {
	case "start":
		if err := h.Start(vips); err != nil {
			fmt.Fprintf(stderr, "realserver: start: %v\n", err)
			return rsFailed
		}
		return rsOK
	case "stop":
		if err := h.Stop(vips); err != nil {
			fmt.Fprintf(stderr, "realserver: stop: %v\n", err)
			return rsFailed
		}
		return rsOK
	case "status":
		if len(vips) == 0 {
			st, err := h.Load()
			if err != nil {
				fmt.Fprintf(stderr, "realserver: status: %v\n", err)
				return rsUnknown
			}
			for _, s := range st.Added {
				if ip, err := netip.ParseAddr(s); err == nil {
					vips = append(vips, ip)
				}
			}
		}
		r, err := h.Status(vips)
		if err != nil {
			fmt.Fprintf(stderr, "realserver: status: %v\n", err)
			return rsUnknown
		}
		r.Write(stdout)
		if r.OK() && len(vips) > 0 {
			return rsOK
		}
		return rsNotSetUp
	}
	fmt.Fprintf(stderr, "realserver: unknown action %q (start, stop or status)\n", action)
	return rsUsage
}
