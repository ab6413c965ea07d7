package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"

	"hbgo/realserver"
)

// realserverMain implements `hbgo realserver [--state FILE] start|stop|status
// VIP...`: on an LVS-DR real server, the VIPs on lo and the ARP sysctls
// (what the lvs_real scripts of the how-tos do). Exit codes as LSB:
// status 0 when every VIP and sysctl is set up, 3 when not; 1 on failure,
// 2 on bad usage.
func realserverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("realserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", realserver.DefaultStateFile, "where start remembers what it changed")
	quiet := fs.Bool("q", false, "print nothing on start and stop")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hbgo realserver [--state FILE] [-q] start|stop|status VIP...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	action, rest := fs.Arg(0), fs.Args()[1:]
	h := &realserver.Helper{Sys: realserver.NewSystem(), StateFile: *state}
	if !*quiet {
		h.Log = stdout
	}
	var vips []netip.Addr
	if len(rest) > 0 || action == "start" {
		var err error
		if vips, err = realserver.ParseVIPs(rest); err != nil {
			fmt.Fprintf(stderr, "realserver: %v\n", err)
			return 2
		}
	}
	switch action {
	case "start":
		if err := h.Start(vips); err != nil {
			fmt.Fprintf(stderr, "realserver: start: %v\n", err)
			return 1
		}
		return 0
	case "stop":
		if err := h.Stop(vips); err != nil {
			fmt.Fprintf(stderr, "realserver: stop: %v\n", err)
			return 1
		}
		return 0
	case "status":
		if len(vips) == 0 {
			st, err := h.Load()
			if err != nil {
				fmt.Fprintf(stderr, "realserver: status: %v\n", err)
				return 4
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
			return 4
		}
		r.Write(stdout)
		if r.OK() && len(vips) > 0 {
			return 0
		}
		return 3
	}
	fmt.Fprintf(stderr, "realserver: unknown action %q (start, stop or status)\n", action)
	return 2
}
