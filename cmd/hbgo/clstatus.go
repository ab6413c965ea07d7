package main

// cl_status answers with Heartbeat's words, shapes and exit codes, so the
// scripts and monitoring checks written against Heartbeat keep working.
// Where hbgo differs, it says so here:
//
//   - Witness nodes have the type "witness". They are voters that never run
//     groups, so `listnodes -n` (the nodes that can hold resources) leaves
//     them out and `listnodes` lists them; `nodetype witness` lists them.
//   - `nodetype` takes a node name and prints its type, as Heartbeat's
//     binary did; given "normal", "ping" or "witness" where no node has that
//     name, it lists the nodes of that type, as Heartbeat's manual said.
//   - A ping node that answers has the status "ping", as in Heartbeat, and
//     one link named after itself.
//   - `hbstatus -v` shows the raft membership where Heartbeat showed the
//     ccm's, in the same shape ("raft membership with quorum", term,
//     voters); in two-node mode there is none, as without ccm.
//   - hbgo has no Heartbeat API clients: `clientstatus` finds every client
//     offline. `nodeweight` and `nodesite` are not supported.
//   - Both `hbparameter` (the binary's name) and `parameter` (the manual's)
//     are accepted; the parameter `hbversion` is hbgo's version.
//   - `--run-dir DIR` finds the daemon's socket elsewhere; `--timeout`
//     replaces Heartbeat's fixed 5 s alarm.
//   - `rscstatus` warns on stderr about a group that several nodes hold at
//     once ("cl_status: WARN: group web is held by alice and bob at
//     once"); Heartbeat did not look. stdout and the exit code stay
//     Heartbeat's.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"hbgo/crm"
	"hbgo/crm/control"
)

// Heartbeat's cl_status exit codes.
const (
	clOK           exitStatus = 0  // the node, link or daemon is up; the query succeeded
	clFail         exitStatus = 1  // it is down or dead; the daemon is stopped; no such parameter
	clParamError   exitStatus = 11 // bad sub-command, option or node name
	clTimeout      exitStatus = 12 // the daemon did not answer in time
	clUnknownError exitStatus = 13 // no such node or link for the link queries
)

// clFlags is cl_status's flag set: the long options every sub-command
// takes. parseClArgs finds them among the sub-command's own options (which
// follow getopt, not this set) and sets them here.
func clFlags(runDir *string, timeout *time.Duration) *flag.FlagSet {
	fs := flag.NewFlagSet("cl_status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(runDir, "run-dir", control.DefaultRunDir, "directory of the daemon's socket")
	fs.DurationVar(timeout, "timeout", 5*time.Second, "how long to wait for the daemon")
	return fs
}

// clSub is one sub-command: the option letters it takes (a letter followed
// by ':' takes a value) and what it does with the daemon's status.
type clSub struct {
	opts string
	run  func(a *clArgs, st *crm.Status, stdout, stderr io.Writer) int
}

var clSubs map[string]clSub

func init() {
	clSubs = map[string]clSub{
		"hbstatus":     {"mv", nil}, // runs without a status too; see clStatusMain
		"listnodes":    {"mpnv", clListNodes},
		"nodestatus":   {"m", clNodeStatus},
		"nodetype":     {"m", clNodeType},
		"listhblinks":  {"mv", clListLinks},
		"hblinkstatus": {"m", clLinkStatus},
		"clientstatus": {"m", clClientStatus},
		"rscstatus":    {"m", clRscStatus},
		"hbparameter":  {"mp:", clParameter},
		"parameter":    {"mp:", clParameter},
	}
}

// clArgs is a parsed cl_status command line.
type clArgs struct {
	sub     string
	human   bool // -m
	verbose bool // -v
	ping    bool // -p (listnodes)
	normal  bool // -n (listnodes)
	param   string
	pos     []string
	runDir  string
	timeout time.Duration
}

const clHelp = `Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
hbstatus [-v]
	Say whether hbgo runs on this machine; -v adds the version, the raft
	membership and every node with its links.
listnodes [-p|-n] [-v]
	List the nodes of the cluster: -p only ping nodes, -n only normal
	nodes (directors); -v adds each node's status, type and links.
nodetype <node-name>
	Print a node's type: normal, witness or ping.
nodetype normal|witness|ping
	List the nodes of a type.
nodestatus <node-name>
	Print a node's status: active, up, ping, dead or init.
listhblinks [-v] <node-name>
	List a node's heartbeat links; -v adds their status.
hblinkstatus <node-name> <link-name>
	Print a heartbeat link's status: up, dead or init.
clientstatus <node-name> <client-id> [<timeout>]
	Heartbeat API clients; hbgo has none, so each is offline.
rscstatus
	Say which resources this node holds: all, local, foreign or none;
	a group that several nodes hold at once is warned about on stderr.
hbparameter -p <parameter-name>
	Print an ha.cf parameter's value (also called as "parameter").

Every sub-command takes -m for sentences instead of bare words, and
--run-dir DIR (default /var/run/heartbeat) and --timeout D (default 5s).
Exit codes: 0 up or done, 1 down or stopped, 11 bad arguments,
12 no answer in time, 13 no such node or link.
`

// clStatusMain implements cl_status.
func clStatusMain(args []string, stdout, stderr io.Writer) int {
	a, code := parseClArgs(args, stderr)
	if a == nil {
		return code
	}
	if a.sub == "" {
		fmt.Fprint(stdout, clHelp)
		return clOK
	}
	var st *crm.Status
	c, err := control.Dial(control.SocketPath(a.runDir))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
		st, err = c.Status(ctx)
		cancel()
	}
	if err != nil && errors.Is(err, crm.ErrTimeout) {
		fmt.Fprintf(stderr, "cl_status: hbgo did not answer within %v\n", a.timeout)
		return clTimeout
	}
	if a.sub == "hbstatus" {
		return clHbStatus(a, st, err, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "cl_status: cannot sign on with hbgo: %v\n", err)
		return clFail
	}
	return clSubs[a.sub].run(a, st, stdout, stderr)
}

// parseClArgs reads the sub-command and its options, wherever they stand
// (as getopt permutes), and --run-dir and --timeout. It returns nil and an
// exit code when the command line is wrong, and no sub-command when help
// was asked for (no arguments, or -h alone).
func parseClArgs(args []string, stderr io.Writer) (*clArgs, int) {
	a := &clArgs{}
	fs := clFlags(&a.runDir, &a.timeout)
	var rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, val, hasVal := strings.Cut(arg, "=")
		if !strings.HasPrefix(name, "--") || fs.Lookup(name[2:]) == nil {
			rest = append(rest, arg)
			continue
		}
		if !hasVal {
			if i+1 == len(args) {
				fmt.Fprintf(stderr, "cl_status: %s needs a value\n", name)
				return nil, clParamError
			}
			i++
			val = args[i]
		}
		if name == "--timeout" {
			if d, err := time.ParseDuration(val); err != nil || d <= 0 {
				fmt.Fprintf(stderr, "cl_status: --timeout %q is not a positive duration\n", val)
				return nil, clParamError
			}
		}
		if err := fs.Set(name[2:], val); err != nil {
			fmt.Fprintf(stderr, "cl_status: %s %q: %v\n", name, val, err)
			return nil, clParamError
		}
	}
	if len(rest) == 0 || (len(rest) == 1 && (rest[0] == "-h" || rest[0] == "--help")) {
		return a, clOK // no sub-command: help
	}
	subAt := -1
	for i, arg := range rest {
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			subAt = i
			break
		}
	}
	if subAt < 0 {
		fmt.Fprintln(stderr, "cl_status: which sub-command? (cl_status -h lists them)")
		return nil, clParamError
	}
	a.sub = rest[subAt]
	rest = append(rest[:subAt:subAt], rest[subAt+1:]...)
	sub, ok := clSubs[a.sub]
	if !ok {
		fmt.Fprintf(stderr, "cl_status: %s: invalid sub-command.\n", a.sub)
		return nil, clParamError
	}
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		if arg == "--" {
			a.pos = append(a.pos, rest[i+1:]...)
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			a.pos = append(a.pos, arg)
			continue
		}
		for j := 1; j < len(arg); j++ {
			letter := arg[j]
			at := strings.IndexByte(sub.opts, letter)
			if at < 0 || letter == ':' {
				fmt.Fprintf(stderr, "cl_status: %s: unknown option -%c\n", a.sub, letter)
				return nil, clParamError
			}
			if at+1 < len(sub.opts) && sub.opts[at+1] == ':' {
				val := arg[j+1:]
				if val == "" {
					if i+1 == len(rest) {
						fmt.Fprintf(stderr, "cl_status: %s: -%c needs a value\n", a.sub, letter)
						return nil, clParamError
					}
					i++
					val = rest[i]
				}
				a.param = val
				break
			}
			switch letter {
			case 'm':
				a.human = true
			case 'v':
				a.verbose = true
			case 'p':
				a.ping = true
			case 'n':
				a.normal = true
			}
		}
	}
	return a, clOK
}

// clHbStatus is hbstatus: whether the daemon runs, and with -v the
// details. err is what asking the daemon for its status gave.
func clHbStatus(a *clArgs, st *crm.Status, err error, w io.Writer) int {
	if err != nil {
		code := clOK
		if errors.Is(err, control.ErrNotRunning) {
			fmt.Fprintln(w, "Heartbeat is stopped on this machine.")
			code = clFail
		} else {
			fmt.Fprintln(w, "Heartbeat is apparently running on this machine, but refuses my connection")
		}
		if a.verbose {
			fmt.Fprintf(w, "(%v)\n", err)
		}
		return code
	}
	if !a.verbose {
		fmt.Fprintln(w, "Heartbeat is running on this machine.")
		return clOK
	}
	version := st.Version
	if version == "" {
		version = "unknown"
	}
	if a.human {
		fmt.Fprintf(w, "Heartbeat version %s\n", version)
		fmt.Fprintln(w, `Resources controlled by "haresources"`)
	} else {
		fmt.Fprintf(w, "version:\t%s\n", version)
		fmt.Fprintln(w, "managed by:\t\"haresources\"")
	}
	clMembership(st, w)
	clNodes(a, st, true, w)
	return clOK
}

// clMembership prints the raft membership in the shape Heartbeat gave the
// ccm's: quorum, term (for the ccm's instance), the voters with the leader
// marked, and whether this node is one of them.
func clMembership(st *crm.Status, w io.Writer) {
	if st.Raft.State == "" || st.Raft.State == "off" {
		return
	}
	quorum := "with quorum"
	if !st.Raft.LeaseValid {
		quorum = "WITHOUT quorum"
	}
	fmt.Fprintf(w, "\nraft membership %s\n", quorum)
	fmt.Fprintf(w, "\tterm %d\n", st.Raft.Term)
	fmt.Fprintf(w, "\tvoters %d\n", len(st.Raft.Voters))
	member := "NOT "
	for _, v := range st.Raft.Voters {
		if v == st.Raft.Leader {
			fmt.Fprintf(w, "\t\t%s\t(leader)\n", v)
		} else {
			fmt.Fprintf(w, "\t\t%s\n", v)
		}
		if v == st.Node {
			member = ""
		}
	}
	fmt.Fprintf(w, "\t%smember of partition\n", member)
}

func clListNodes(a *clArgs, st *crm.Status, stdout, stderr io.Writer) int {
	clNodes(a, st, a.verbose, stdout)
	return clOK
}

// clNodes lists the nodes, filtered by -p and -n (both together mean all,
// as in Heartbeat); verbose adds status, type and links.
func clNodes(a *clArgs, st *crm.Status, verbose bool, w io.Writer) {
	pingOnly, normalOnly := a.ping, a.normal
	if pingOnly && normalOnly {
		pingOnly, normalOnly = false, false
	}
	if a.human {
		fmt.Fprintln(w, "The nodes are as follow:")
	}
	for _, n := range st.Nodes {
		t := clNodeTypeOf(n)
		if (pingOnly && t != "ping") || (normalOnly && t != "normal") {
			continue
		}
		if !verbose {
			fmt.Fprintln(w, n.Name)
			continue
		}
		fmt.Fprintf(w, "\n%s\t%s\t(nodetype: %s)\n", n.Name, clNodeStatusOf(n), t)
		clLinks(a, n, true, w)
	}
}

func clNodeTypeOf(n crm.NodeStatus) string {
	if n.Type == "" {
		return "normal"
	}
	return n.Type
}

// clNodeStatusOf is a node's status in Heartbeat's words: a ping node that
// answers is "ping".
func clNodeStatusOf(n crm.NodeStatus) string {
	if n.Type == "ping" && n.Status == "up" {
		return "ping"
	}
	return n.Status
}

// clLinksOf is a node's links by name, sorted; a ping node without links
// has one named after itself.
func clLinksOf(n crm.NodeStatus) ([]string, map[string]string) {
	links := n.Links
	if len(links) == 0 && n.Type == "ping" {
		s := "up"
		if n.Status != "up" && n.Status != "ping" {
			s = "dead"
		}
		links = map[string]string{n.Name: s}
	}
	names := make([]string, 0, len(links))
	for l := range links {
		names = append(names, l)
	}
	sort.Strings(names)
	return names, links
}

func clLinks(a *clArgs, n crm.NodeStatus, verbose bool, w io.Writer) {
	if a.human {
		fmt.Fprintln(w, "\tthis node has the following heartbeat links:")
	}
	names, links := clLinksOf(n)
	for _, l := range names {
		if verbose {
			fmt.Fprintf(w, "\t%s\t%s\n", l, links[l])
		} else {
			fmt.Fprintf(w, "\t%s\n", l)
		}
	}
}

// clFindNode finds a node by name; node names are case-insensitive, as
// uname's are in Heartbeat.
func clFindNode(st *crm.Status, name string) (crm.NodeStatus, bool) {
	for _, n := range st.Nodes {
		if strings.EqualFold(n.Name, name) {
			return n, true
		}
	}
	return crm.NodeStatus{}, false
}

func clUnknownNode(st *crm.Status, name string, stderr io.Writer) {
	names := make([]string, len(st.Nodes))
	for i, n := range st.Nodes {
		names[i] = n.Name
	}
	fmt.Fprintf(stderr, "cl_status: no node %q in this cluster (nodes: %s)\n", name, strings.Join(names, ", "))
}

// clNeed checks that the sub-command got n parameters.
func clNeed(a *clArgs, n int, usage string, stderr io.Writer) bool {
	if len(a.pos) >= n {
		return true
	}
	fmt.Fprintf(stderr, "cl_status: not enough parameters (%s %s)\n", a.sub, usage)
	return false
}

func clNodeStatus(a *clArgs, st *crm.Status, stdout, stderr io.Writer) int {
	if !clNeed(a, 1, "<node-name>", stderr) {
		return clParamError
	}
	n, ok := clFindNode(st, a.pos[0])
	if !ok {
		clUnknownNode(st, a.pos[0], stderr)
		return clParamError
	}
	s := clNodeStatusOf(n)
	if a.human {
		fmt.Fprintf(stdout, "The cluster node %s is %s\n", a.pos[0], s)
	} else {
		fmt.Fprintln(stdout, s)
	}
	switch s {
	case "active", "up", "ping":
		return clOK
	}
	return clFail
}

func clNodeType(a *clArgs, st *crm.Status, stdout, stderr io.Writer) int {
	if !clNeed(a, 1, "<node-name>", stderr) {
		return clParamError
	}
	n, ok := clFindNode(st, a.pos[0])
	if !ok {
		switch t := a.pos[0]; t {
		case "normal", "ping", "witness":
			if a.human {
				fmt.Fprintf(stdout, "The %s nodes are:\n", t)
			}
			for _, n := range st.Nodes {
				if clNodeTypeOf(n) == t {
					fmt.Fprintln(stdout, n.Name)
				}
			}
			return clOK
		}
		clUnknownNode(st, a.pos[0], stderr)
		return clParamError
	}
	if a.human {
		fmt.Fprintf(stdout, "The node %s's type: %s\n", a.pos[0], clNodeTypeOf(n))
	} else {
		fmt.Fprintln(stdout, clNodeTypeOf(n))
	}
	return clOK
}

func clListLinks(a *clArgs, st *crm.Status, stdout, stderr io.Writer) int {
	if !clNeed(a, 1, "<node-name>", stderr) {
		return clParamError
	}
	n, ok := clFindNode(st, a.pos[0])
	if !ok {
		clUnknownNode(st, a.pos[0], stderr)
		return clUnknownError
	}
	clLinks(a, n, a.verbose, stdout)
	return clOK
}

func clLinkStatus(a *clArgs, st *crm.Status, stdout, stderr io.Writer) int {
	if !clNeed(a, 2, "<node-name> <link-name>", stderr) {
		return clParamError
	}
	n, ok := clFindNode(st, a.pos[0])
	if !ok {
		clUnknownNode(st, a.pos[0], stderr)
		return clUnknownError
	}
	names, links := clLinksOf(n)
	s, ok := links[a.pos[1]]
	if !ok {
		fmt.Fprintf(stderr, "cl_status: node %s has no heartbeat link %q (links: %s)\n", n.Name, a.pos[1], strings.Join(names, ", "))
		return clUnknownError
	}
	if a.human {
		fmt.Fprintf(stdout, "The node %s's heartbeat link %s is %s\n", a.pos[0], a.pos[1], s)
	} else {
		fmt.Fprintln(stdout, s)
	}
	if s == "up" {
		return clOK
	}
	return clFail
}

func clClientStatus(a *clArgs, st *crm.Status, stdout, stderr io.Writer) int {
	if !clNeed(a, 2, "<node-name> <client-id> [<timeout>]", stderr) {
		return clParamError
	}
	if _, ok := clFindNode(st, a.pos[0]); !ok {
		clUnknownNode(st, a.pos[0], stderr)
		return clUnknownError
	}
	fmt.Fprintln(stdout, "offline")
	return clFail
}

// clRscStatus prints the word (or sentence) of Heartbeat, which scripts
// read; a group that several nodes hold at once, or a peer whose
// haresources differ (nothing starts), is said on stderr, and changes
// neither the word nor the exit code.
func clRscStatus(a *clArgs, st *crm.Status, stdout, stderr io.Writer) int {
	r := st.Resources
	if r == "" {
		r = "none"
	}
	for _, g := range st.Groups {
		if s := crm.HoldersWarning(g.Name, g.Holders); s != "" {
			fmt.Fprintf(stderr, "cl_status: WARN: %s\n", s)
		}
	}
	for _, b := range st.Blocked {
		fmt.Fprintf(stderr, "cl_status: WARN: %s\n", b)
	}
	if a.human {
		fmt.Fprintf(stdout, "This node is holding %s resources.\n", r)
	} else {
		fmt.Fprintln(stdout, r)
	}
	return clOK
}

func clParameter(a *clArgs, st *crm.Status, stdout, stderr io.Writer) int {
	if a.param == "" {
		fmt.Fprintf(stderr, "cl_status: parameter name required (%s -p <parameter-name>)\n", a.sub)
		return clParamError
	}
	v, ok := st.Params[a.param]
	if !ok && a.param == "hbversion" && st.Version != "" {
		v, ok = st.Version, true
	}
	if !ok {
		fmt.Fprintf(stderr, "cl_status: parameter %s has no value\n", a.param)
		return clFail
	}
	if a.human {
		fmt.Fprintf(stdout, "Heartbeat parameter %s's value: %s\n", a.param, v)
	} else {
		fmt.Fprintln(stdout, v)
	}
	return clOK
}
