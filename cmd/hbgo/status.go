package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"hbgo/crm"
	"hbgo/crm/control"
)

// Exit codes of hbgo status.
const (
	statusShown       exitStatus = 0 // the status was printed
	statusUnreachable exitStatus = 1 // the daemon could not be asked
	statusUsage       exitStatus = 2 // bad arguments
)

// statusOptions are hbgo status's flags.
type statusOptions struct {
	runDir  string
	timeout time.Duration
	json    bool
}

// statusFlags is hbgo status's flag set.
func statusFlags(stderr io.Writer) (*flag.FlagSet, *statusOptions) {
	o := &statusOptions{}
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.runDir, "run-dir", control.DefaultRunDir, "directory of the daemon's socket")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long to wait for the daemon")
	fs.BoolVar(&o.json, "json", false, "print the daemon's status as JSON")
	return fs, o
}

// statusMain implements `hbgo status [--run-dir DIR] [--timeout 5s]
// [--json]`: the cluster as this node sees it, on one screen. Exit 0 when
// shown, 1 when the daemon could not be asked, 2 on bad arguments.
func statusMain(args []string, stdout, stderr io.Writer) int {
	fs, o := statusFlags(stderr)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return statusShown
	}
	if err != nil {
		return statusUsage
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "hbgo status: unexpected argument %q\n", pos[0])
		return statusUsage
	}
	c, err := control.Dial(control.SocketPath(o.runDir))
	var st *crm.Status
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		st, err = c.Status(ctx)
		cancel()
	}
	if err != nil {
		fmt.Fprintf(stderr, "hbgo status: %v\n", err)
		return statusUnreachable
	}
	if o.json {
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return statusShown
	}
	writeStatus(stdout, st)
	return statusShown
}

// writeStatus lays st out: this node, raft and lease, the nodes with their
// links, the groups, and the warnings.
func writeStatus(w io.Writer, st *crm.Status) {
	head := fmt.Sprintf("hbgo on %s: %s, %s mode", orDash(st.Node), orDash(st.Role), orDash(st.Mode))
	if st.Version != "" {
		head += ", version " + st.Version
	}
	if !st.Since.IsZero() {
		head += ", up since " + st.Since.UTC().Format("2006-01-02 15:04:05 MST")
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w)
	// A group held by several nodes at once is the fault this cluster
	// exists to prevent: it comes first, before anything else.
	if held := heldWarnings(st); len(held) > 0 {
		for _, s := range held {
			fmt.Fprintf(w, "WARNING: %s\n", s)
		}
		fmt.Fprintln(w)
	}

	r := st.Raft
	if r.State == "" || r.State == "off" {
		fmt.Fprintf(w, "Raft:   off (%s mode)\n", orDash(st.Mode))
	} else {
		leader := r.Leader
		if leader == "" {
			leader = "none"
		}
		fmt.Fprintf(w, "Raft:   %s, term %d, leader %s, commit %d\n", r.State, r.Term, leader, r.CommitIndex)
		fmt.Fprintf(w, "        voters %s\n", strings.Join(r.Voters, ", "))
		if r.LeaseValid {
			fmt.Fprintf(w, "Lease:  valid, %v left\n", time.Duration(r.LeaseLeft).Round(time.Millisecond))
		} else {
			fmt.Fprintln(w, "Lease:  lapsed: this node runs no group")
		}
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTYPE\tSTATUS\tPING\tKEY\tLINKS")
	for _, n := range st.Nodes {
		t := clNodeTypeOf(n)
		ping := "-"
		if t == "normal" {
			ping = strconv.Itoa(n.Ping)
		}
		key := "-"
		if n.Key != 0 {
			key = strconv.Itoa(n.Key)
		}
		names := make([]string, 0, len(n.Links))
		for l := range n.Links {
			names = append(names, l)
		}
		sort.Strings(names)
		links := make([]string, len(names))
		for i, l := range names {
			links[i] = l + " " + n.Links[l]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, t, orDash(n.Status), ping, key, orDash(strings.Join(links, ", ")))
	}
	tw.Flush()
	if len(st.Links) > 0 {
		// The carrier of the VIPs' interfaces, a point each in PING.
		var ls []string
		for _, l := range st.Links {
			switch {
			case !l.Carrier:
				ls = append(ls, l.Name+" NO CARRIER")
			case !l.Counts:
				ls = append(ls, l.Name+" carrier (back, not counted yet)")
			default:
				ls = append(ls, l.Name+" carrier")
			}
		}
		fmt.Fprintf(w, "VIP interfaces: %s\n", strings.Join(ls, ", "))
	}
	fmt.Fprintln(w)

	if len(st.Groups) == 0 {
		fmt.Fprintln(w, "No resource groups.")
	} else {
		// The HOLDERS column appears only when a group has several.
		several := false
		for _, g := range st.Groups {
			several = several || len(g.Holders) > 1
		}
		tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		if several {
			fmt.Fprintln(tw, "GROUP\tHOME\tOWNER\tHOLDERS\tSTATE\tEPOCH\tRESOURCES")
		} else {
			fmt.Fprintln(tw, "GROUP\tHOME\tOWNER\tSTATE\tEPOCH\tRESOURCES")
		}
		for _, g := range st.Groups {
			holders := ""
			if several {
				holders = orDash(strings.Join(g.Holders, ",")) + "\t"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s%s\t%d\t%s\n", g.Name, orDash(g.Home), orDash(g.Owner), holders, orDash(g.State), g.Epoch, orDash(strings.Join(g.Resources, " ")))
		}
		tw.Flush()
	}

	warnings := statusWarnings(st)
	fmt.Fprintln(w)
	if len(warnings) == 0 {
		fmt.Fprintln(w, "No warnings.")
	} else {
		fmt.Fprintln(w, "Warnings:")
		for _, s := range warnings {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	for _, ld := range st.Ldirectors {
		fmt.Fprintln(w)
		writeIPVS(w, ld, statusNow())
	}
	if b := st.BGP; b != nil {
		fmt.Fprintln(w)
		writeBGP(w, b)
	}
}

// writeBGP lays out the BGP speaker: one line per session, then the VIPs
// announced.
func writeBGP(w io.Writer, b *crm.BGPStatus) {
	fmt.Fprintln(w, "BGP sessions:")
	if b.Error != "" {
		fmt.Fprintf(w, "  (%s)\n", b.Error)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NEIGHBOR\tAS\tSTATE\tUP\tHOLD\tBFD\tSENT\tRECEIVED\tLAST ERROR")
	for _, s := range b.Sessions {
		last, bfd := s.LastError, s.BFD
		if last == "" {
			last = "-"
		}
		if bfd == "" {
			bfd = "-"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%v\t%v\t%s\t%d\t%d\t%s\n", s.Neighbor, s.PeerAS, s.State, time.Duration(s.Uptime), time.Duration(s.HoldTime), bfd, s.Sent, s.Received, last)
	}
	tw.Flush()
	if len(b.Announced) == 0 {
		fmt.Fprintln(w, "Announced: none")
	} else {
		fmt.Fprintf(w, "Announced: %s\n", strings.Join(b.Announced, " "))
	}
	for _, v := range b.Withheld {
		fmt.Fprintf(w, "Not announced: %s: %s\n", v.VIP, v.Why)
	}
}

// statusNow is the clock of the check ages (tests set it).
var statusNow = time.Now

// writeIPVS lays out one ldirector's services as ipvsadm -L -n does, with
// two more columns: the real server's health and its last check.
func writeIPVS(w io.Writer, ld crm.LdirectorStatus, now time.Time) {
	head := "IPVS table of ldirector " + ld.Config
	switch {
	case ld.Error != "":
		head += ": not running: " + ld.Error
	case ld.Table == "memory":
		head += " (in memory: this kernel has no IPVS; nothing is balanced here)"
	}
	fmt.Fprintln(w, head)
	if len(ld.Virtuals) == 0 {
		if ld.Error == "" {
			fmt.Fprintln(w, "No virtual services.")
		}
		return
	}
	fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
	fmt.Fprintf(w, "  -> %-28s %-7s %-6s %-10s %-10s %-11s %s\n", "RemoteAddress:Port", "Forward", "Weight", "ActiveConn", "InActConn", "Health", "Last check")
	for _, v := range ld.Virtuals {
		line := fmt.Sprintf("%-4s %s %s", v.Protocol, v.Addr, v.Scheduler)
		if v.Persistent > 0 {
			line += fmt.Sprintf(" persistent %d", int(time.Duration(v.Persistent)/time.Second))
		}
		fmt.Fprintln(w, line)
		for _, r := range v.Reals {
			weight := "-"
			if r.Weight >= 0 {
				weight = strconv.Itoa(r.Weight)
			}
			fmt.Fprintf(w, "  -> %-28s %-7s %-6s %-10d %-10d %-11s %s\n", r.Addr, r.Forward, weight, r.ActiveConn, r.InActConn, r.Health, lastCheck(r, now))
		}
	}
}

// lastCheck says how the last check went and how long ago: "ok (1.2ms),
// 3s ago", "connection refused, 3s ago", "-" before the first.
func lastCheck(r crm.RealStatus, now time.Time) string {
	if r.LastCheck.IsZero() {
		return "-"
	}
	res := r.LastResult
	if res == "ok" {
		res = fmt.Sprintf("ok (%v)", roundLatency(time.Duration(r.Latency)))
	}
	age := now.Sub(r.LastCheck)
	if age < 0 {
		age = 0
	}
	return fmt.Sprintf("%s, %v ago", res, age.Round(100*time.Millisecond))
}

func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// heldWarnings are the warnings of the groups several nodes hold at once.
func heldWarnings(st *crm.Status) []string {
	var out []string
	for _, g := range st.Groups {
		if s := crm.HoldersWarning(g.Name, g.Holders); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// statusWarnings gathers the groups several nodes hold, the daemon's
// warnings, what differs between the nodes, and the groups that failed
// somewhere, each once.
func statusWarnings(st *crm.Status) []string {
	out := append(heldWarnings(st), st.Warnings...)
	out = append(out, control.Mismatches(st.Nodes)...)
	for _, g := range st.Groups {
		nodes := make([]string, 0, len(g.Failed))
		for n := range g.Failed {
			nodes = append(nodes, n)
		}
		sort.Strings(nodes)
		for _, n := range nodes {
			out = append(out, fmt.Sprintf("group %s failed on %s: %s", g.Name, n, g.Failed[n]))
		}
	}
	seen := map[string]bool{}
	uniq := out[:0]
	for _, s := range out {
		if !seen[s] {
			seen[s] = true
			uniq = append(uniq, s)
		}
	}
	return uniq
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
