package main

// The test of this file holds docs/commands.md to the code, so that the
// page cannot drift from what the binary does. The page's tables have a
// fixed shape, by their header row:
//
//	| command | flag | default | meaning |
//	| command | code | meaning |
//	| command | sub-command | options | what it prints |   (cl_status only)
//
// A command is named as the operator types it (`hb_standby`, `hbgo
// status`, `hbgo import keepalived`, `hbgo` for the dispatcher itself).
// A flag cell lists one spelling or several of the same flag
// (`--dry-run`, `-n`); a default is a value in backquotes, which the flag
// must take as its default, or words in parentheses, for a default worked
// out at run time (the flag's own default is then its zero value).

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hbgo/crm"
	"hbgo/crm/control"
	"hbgo/crm/control/controltest"
	"hbgo/test/cluster"
	"hbgo/test/netns"
	"hbgo/test/ptypair"
)

const commandsDoc = "../../docs/commands.md"

// docFlagSets builds, for each subcommand of `commands` (and "" for hbgo
// itself), the flag set the command parses its arguments with; nil for a
// command without flags. A new command must be added here.
var docFlagSets = map[string]func() *flag.FlagSet{
	"":             nil,
	"version":      nil,
	"daemon":       func() *flag.FlagSet { fs, _ := daemonFlags(io.Discard); return fs },
	"check-config": func() *flag.FlagSet { fs, _ := checkConfigFlags(io.Discard); return fs },
	"status":       func() *flag.FlagSet { fs, _ := statusFlags(io.Discard); return fs },
	"import":       func() *flag.FlagSet { fs, _ := importFlags(io.Discard); return fs },
	"standby":      func() *flag.FlagSet { fs, _ := moveFlags("hb_standby", io.Discard); return fs },
	"takeover":     func() *flag.FlagSet { fs, _ := moveFlags("hb_takeover", io.Discard); return fs },
	"cl_status": func() *flag.FlagSet {
		var runDir string
		var timeout time.Duration
		return clFlags(&runDir, &timeout)
	},
	"ldirectord": func() *flag.FlagSet { fs, _ := ldirectordFlags(io.Discard); return fs },
	"realserver": func() *flag.FlagSet { fs, _ := realserverFlags(io.Discard); return fs },
	"serialtest": func() *flag.FlagSet { fs, _ := serialtestFlags(io.Discard); return fs },
}

// docExitPrefix names, for each subcommand, the prefix of its exit
// constants (constants of type exitStatus, named PREFIX + an upper-case
// letter, as moveNoPeer).
var docExitPrefix = map[string]string{
	"":             "hbgo",
	"version":      "hbgo",
	"daemon":       "daemon",
	"check-config": "check",
	"status":       "status",
	"import":       "import",
	"standby":      "move",
	"takeover":     "move",
	"cl_status":    "cl",
	"ldirectord":   "ld",
	"realserver":   "rs",
	"serialtest":   "serial",
}

type docRow struct {
	line  int
	cells []string
}

// docTables reads the page's tables by kind: "flag", "code" or
// "sub-command" (the second header cell). Any other table whose first
// header cell is "command" fails the test.
func docTables(t *testing.T) map[string][]docRow {
	t.Helper()
	f, err := os.Open(commandsDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tables := map[string][]docRow{}
	var kind string
	var width int
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			kind = ""
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case strings.HasPrefix(cells[0], "---"):
			continue
		case kind == "" && cells[0] == "command":
			want := map[string][]string{
				"flag":        {"command", "flag", "default", "meaning"},
				"code":        {"command", "code", "meaning"},
				"sub-command": {"command", "sub-command", "options", "what it prints"},
			}
			if len(cells) < 2 || !slices.Equal(cells, want[cells[1]]) {
				t.Fatalf("%s:%d: a table of an unknown shape: %q", commandsDoc, n, cells)
			}
			kind, width = cells[1], len(cells)
		case kind == "":
			kind = "other" // a table of another kind, not held to the code
		case kind == "other":
		default:
			if len(cells) != width {
				t.Fatalf("%s:%d: %d cells, want %d: %q", commandsDoc, n, len(cells), width, line)
			}
			tables[kind] = append(tables[kind], docRow{n, cells})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

// unquote strips the backquotes of a code span.
func unquote(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }

// docKey is the subcommand of a command as the page names it.
func docKey(t *testing.T, name string, line int) string {
	t.Helper()
	f := strings.Fields(name)
	key := ""
	switch {
	case len(f) == 1 && f[0] == "hbgo":
		return ""
	case len(f) >= 2 && f[0] == "hbgo":
		key = f[1]
	case len(f) == 1:
		key = aliases[f[0]]
	}
	if _, ok := commands[key]; !ok {
		t.Fatalf("%s:%d: %q is no command of hbgo", commandsDoc, line, name)
	}
	return key
}

// TestCommandsDocFlags: every flag of the page exists in its command's
// flag set with the default shown, and every flag of a flag set is on the
// page.
func TestCommandsDocFlags(t *testing.T) {
	for key := range commands {
		if _, ok := docFlagSets[key]; !ok {
			t.Errorf("command %s: not in docFlagSets (say how its flag set is built, or nil)", key)
		}
	}
	shown := map[string]map[string]bool{} // command as named -> flag names
	keyOf := map[string]string{}
	for _, r := range docTables(t)["flag"] {
		name, key := unquote(r.cells[0]), docKey(t, unquote(r.cells[0]), r.line)
		keyOf[name] = key
		build := docFlagSets[key]
		if build == nil {
			t.Errorf("%s:%d: %s has no flags", commandsDoc, r.line, name)
			continue
		}
		if shown[name] == nil {
			shown[name] = map[string]bool{}
		}
		def := strings.TrimSpace(r.cells[2])
		for _, spelling := range strings.Split(r.cells[1], ",") {
			spelling = unquote(spelling)
			fname := strings.TrimLeft(spelling, "-")
			if want := strings.Repeat("-", min(len(fname), 2)) + fname; spelling != want {
				t.Errorf("%s:%d: %s: write %q as %q", commandsDoc, r.line, name, spelling, want)
			}
			if shown[name][fname] {
				t.Errorf("%s:%d: %s %s shown twice", commandsDoc, r.line, name, spelling)
			}
			shown[name][fname] = true
			fs := build()
			fl := fs.Lookup(fname)
			if fl == nil {
				t.Errorf("%s:%d: %s has no flag %s", commandsDoc, r.line, name, spelling)
				continue
			}
			switch {
			case strings.HasPrefix(def, "(") && strings.HasSuffix(def, ")"):
				if !slices.Contains([]string{"", "0", "0s", "false"}, fl.DefValue) {
					t.Errorf("%s:%d: %s %s: the page says %s, but the flag's default is %q", commandsDoc, r.line, name, spelling, def, fl.DefValue)
				}
			case strings.HasPrefix(def, "`") && strings.HasSuffix(def, "`") && len(def) > 1:
				// The page's value, as the flag reads it, must be the
				// flag's default: 60s is 1m0s.
				if err := fs.Set(fname, unquote(def)); err != nil {
					t.Errorf("%s:%d: %s %s: default %s: %v", commandsDoc, r.line, name, spelling, def, err)
				} else if got := fl.Value.String(); got != fl.DefValue {
					t.Errorf("%s:%d: %s %s: the page says the default is %s, the code has %q", commandsDoc, r.line, name, spelling, def, fl.DefValue)
				}
			default:
				t.Errorf("%s:%d: %s %s: a default is `VALUE` or (words), not %q", commandsDoc, r.line, name, spelling, def)
			}
		}
	}
	// Every flag of every flag set is on the page.
	nameOf := map[string]string{}
	for name, key := range keyOf {
		if other, ok := nameOf[key]; ok && other != name {
			t.Errorf("%s: the flags of one command under two names, %s and %s", commandsDoc, other, name)
		}
		nameOf[key] = name
	}
	for key, build := range docFlagSets {
		if build == nil {
			continue
		}
		name := nameOf[key]
		build().VisitAll(func(fl *flag.Flag) {
			if !shown[name][fl.Name] {
				t.Errorf("%s: command %s has a flag -%s the page does not show", commandsDoc, key, fl.Name)
			}
		})
	}
}

// TestCommandsDocClStatus: the page's table of cl_status sub-commands
// lists each sub-command of cl_status with exactly its options.
func TestCommandsDocClStatus(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range docTables(t)["sub-command"] {
		if unquote(r.cells[0]) != "cl_status" {
			t.Errorf("%s:%d: sub-commands of %s?", commandsDoc, r.line, r.cells[0])
			continue
		}
		sub := unquote(r.cells[1])
		seen[sub] = true
		c, ok := clSubs[sub]
		if !ok {
			t.Errorf("%s:%d: cl_status has no sub-command %s", commandsDoc, r.line, sub)
			continue
		}
		// `-p NAME` is an option that takes a value: p: in clSub.opts.
		var opts []string
		words := strings.Fields(strings.ReplaceAll(r.cells[2], "`", " "))
		for i, w := range words {
			if !strings.HasPrefix(w, "-") || len(w) != 2 {
				continue
			}
			o := w[1:]
			if i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
				o += ":"
			}
			opts = append(opts, o)
		}
		var want []string
		for i := 0; i < len(c.opts); i++ {
			o := c.opts[i : i+1]
			if i+1 < len(c.opts) && c.opts[i+1] == ':' {
				o += ":"
				i++
			}
			want = append(want, o)
		}
		sort.Strings(opts)
		sort.Strings(want)
		if !slices.Equal(opts, want) {
			t.Errorf("%s:%d: cl_status %s: the page shows options %q, the code takes %q", commandsDoc, r.line, sub, opts, want)
		}
	}
	for sub := range clSubs {
		if !seen[sub] {
			t.Errorf("%s: cl_status %s is not in the table of sub-commands", commandsDoc, sub)
		}
	}
}

// exitConstants reads the package's exit constants (type exitStatus)
// from its source, name -> value.
func exitConstants(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	_, files := parsePackage(t)
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "exitStatus" {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.INT {
						t.Fatalf("exit constant %s is not an integer literal", n.Name)
					}
					v, err := strconv.Atoi(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[n.Name] = v
				}
			}
		}
	}
	return out
}

// parsePackage parses the package's non-test files.
func parsePackage(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// TestCommandsDocExitConstants: every exit code of the page is a named
// exit constant of its command, every such constant's code is on the
// page, every command has its codes there, and no command returns a bare
// number as its exit code (so a code cannot appear without a constant).
func TestCommandsDocExitConstants(t *testing.T) {
	consts := exitConstants(t)
	groups := map[string]map[int][]string{} // prefix -> code -> constants
	for name, v := range consts {
		var prefix string
		for _, p := range docExitPrefix {
			if strings.HasPrefix(name, p) && len(name) > len(p) && name[len(p)] >= 'A' && name[len(p)] <= 'Z' {
				prefix = p
			}
		}
		if prefix == "" {
			t.Errorf("exit constant %s belongs to no command (see docExitPrefix)", name)
			continue
		}
		if groups[prefix] == nil {
			groups[prefix] = map[int][]string{}
		}
		groups[prefix][v] = append(groups[prefix][v], name)
	}
	documented := map[string]map[int]bool{} // prefix -> codes on the page
	commandsWithCodes := map[string]bool{}
	for _, r := range docTables(t)["code"] {
		name := unquote(r.cells[0])
		key := docKey(t, name, r.line)
		commandsWithCodes[key] = true
		code, err := strconv.Atoi(r.cells[1])
		if err != nil {
			t.Errorf("%s:%d: code %q", commandsDoc, r.line, r.cells[1])
			continue
		}
		prefix := docExitPrefix[key]
		if len(groups[prefix][code]) == 0 {
			t.Errorf("%s:%d: %s exit %d: no exit constant %s... has that code", commandsDoc, r.line, name, code, prefix)
		}
		if documented[prefix] == nil {
			documented[prefix] = map[int]bool{}
		}
		documented[prefix][code] = true
	}
	for prefix, codes := range groups {
		for code, names := range codes {
			if !documented[prefix][code] {
				t.Errorf("exit code %d (%s) is not on the page", code, strings.Join(names, ", "))
			}
		}
	}
	for key := range docExitPrefix {
		if !commandsWithCodes[key] {
			t.Errorf("%s: no exit codes of %q", commandsDoc, key)
		}
	}
	for key := range commands {
		if _, ok := docExitPrefix[key]; !ok {
			t.Errorf("command %s: not in docExitPrefix", key)
		}
	}

	// No bare numbers returned as exit codes: in a function whose one
	// result is an int, a return of an integer literal.
	fset, files := parsePackage(t)
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			var ft *ast.FuncType
			var body *ast.BlockStmt
			switch fn := n.(type) {
			case *ast.FuncDecl:
				ft, body = fn.Type, fn.Body
			case *ast.FuncLit:
				ft, body = fn.Type, fn.Body
			default:
				return true
			}
			if body == nil || ft.Results == nil || len(ft.Results.List) != 1 || len(ft.Results.List[0].Names) > 1 {
				return true
			}
			if id, ok := ft.Results.List[0].Type.(*ast.Ident); !ok || (id.Name != "int" && id.Name != "exitStatus") {
				return true
			}
			ast.Inspect(body, func(m ast.Node) bool {
				if _, ok := m.(*ast.FuncLit); ok {
					return false // inspected on its own
				}
				if ret, ok := m.(*ast.ReturnStmt); ok && len(ret.Results) == 1 {
					if lit, ok := ret.Results[0].(*ast.BasicLit); ok && lit.Kind == token.INT {
						t.Errorf("%s: return %s: an exit code without a name (add an exitStatus constant)", fset.Position(lit.Pos()), lit.Value)
					}
				}
				return true
			})
			return true
		})
	}
}

// exitCase is one run of the binary into an exit code the page lists.
type exitCase struct {
	command string // as the page names it
	code    int
	what    string
	run     func(t *testing.T) (code int, stdout, stderr string)
}

// runHbgo runs the built binary as argv[0] (a link name, or hbgo) with
// env added to its environment.
func runHbgo(t *testing.T, env []string, argv ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(filepath.Dir(hbgoBin(t)), argv[0]), argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%q: %v", argv, err)
	}
	return code, stdout.String(), stderr.String()
}

func hbgoRun(env []string, argv ...string) func(t *testing.T) (int, string, string) {
	return func(t *testing.T) (int, string, string) { return runHbgo(t, env, argv...) }
}

// fakeDaemon serves fake on a socket in a directory of its own and
// returns the directory, for --run-dir.
func fakeDaemon(t *testing.T, fake *controltest.Fake) string {
	dir := t.TempDir()
	controltest.Serve(t, dir, fake)
	return dir
}

// silentDaemon is a socket that accepts and never answers.
func silentDaemon(t *testing.T) string {
	dir := t.TempDir()
	ln, err := net.Listen("unix", control.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return dir
}

// TestCommandsDocExitCodes runs the binary into every exit code the page
// lists, each by the name the page gives its command, and fails on a code
// the page lists that no case produces or a case whose code the page does
// not list. Codes of a move that need the cluster's judgement (no peer,
// no quorum, timeout) come from a fake daemon here and from real daemons
// in TestClusterMoveExitCodes.
func TestCommandsDocExitCodes(t *testing.T) {
	hbgoBin(t)
	none := t.TempDir() // a run directory without a socket
	moved := []crm.GroupMove{{Group: "web", From: "alice", To: "bob"}}
	ok := fakeDaemon(t, &controltest.Fake{StatusValue: controltest.QuorumStatus(), Moves: moved, Took: time.Second})
	blocked := fakeDaemon(t, &controltest.Fake{Block: true})
	refusing := fakeDaemon(t, &controltest.Fake{MoveErr: crm.ErrShuttingDown})
	noPeer := fakeDaemon(t, &controltest.Fake{MoveErr: fmt.Errorf("%w: bob is dead", crm.ErrNoPeer)})
	noQuorum := fakeDaemon(t, &controltest.Fake{MoveErr: fmt.Errorf("%w: 1 of 3 voters reachable", crm.ErrNoQuorum)})
	silent := silentDaemon(t)

	// Configurations: a good one (the check-config base case), one with
	// errors.
	good := filepath.Join(t.TempDir(), "ha.d")
	ccCopyTree(t, "testdata/checkconfig/base", good, ccExpected)
	if err := os.Chmod(filepath.Join(good, "authkeys"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "ha.cf"), []byte("keepalvie 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badKa := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(badKa, []byte("vrrp_instance VI_1 {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notADir := t.TempDir() // a --state that cannot be read as a file

	var cases []exitCase
	add := func(command string, code int, what string, run func(t *testing.T) (int, string, string)) {
		cases = append(cases, exitCase{command, code, what, run})
	}
	add("hbgo", 0, "-h", hbgoRun(nil, "hbgo", "-h"))
	add("hbgo", 2, "no command", hbgoRun(nil, "hbgo"))
	add("hbgo", 2, "unknown command", hbgoRun(nil, "hbgo", "frobnicate"))
	add("hbgo version", 0, "version", hbgoRun(nil, "hbgo", "version"))

	add("hbgo daemon", 0, "-h", hbgoRun(nil, "heartbeat", "-h"))
	add("hbgo daemon", 1, "configuration errors", hbgoRun(nil, "heartbeat", "-c", bad))
	add("hbgo daemon", 2, "Heartbeat's -k", hbgoRun(nil, "heartbeat", "-k"))
	add("hbgo daemon", 2, "no such directory", hbgoRun(nil, "hbgo", "daemon", "-c", filepath.Join(none, "nothing")))

	for _, name := range []string{"hb_standby", "hb_takeover"} {
		add(name, 0, "moved", hbgoRun(nil, name, "--run-dir", ok))
		add(name, 0, "--no-wait, taken on", hbgoRun(nil, name, "--no-wait", "--run-dir", blocked))
		add(name, 1, "shutting down", hbgoRun(nil, name, "--run-dir", refusing))
		add(name, 2, "a wrong scope", hbgoRun(nil, name, "sideways", "--run-dir", ok))
		add(name, 4, "no quorum", hbgoRun(nil, name, "--run-dir", noQuorum))
		add(name, 5, "not done in time", hbgoRun(nil, name, "--timeout", "300ms", "--run-dir", blocked))
		add(name, 6, "no daemon", hbgoRun(nil, name, "--run-dir", none))
	}
	add("hb_standby", 3, "no peer", hbgoRun(nil, "hb_standby", "--run-dir", noPeer))

	add("cl_status", 0, "hbstatus, running", hbgoRun(nil, "cl_status", "hbstatus", "--run-dir", ok))
	add("cl_status", 1, "hbstatus, stopped", hbgoRun(nil, "cl_status", "hbstatus", "--run-dir", none))
	add("cl_status", 1, "a dead link", hbgoRun(nil, "cl_status", "hblinkstatus", "bob", "eth1", "--run-dir", ok))
	add("cl_status", 11, "nodeweight", hbgoRun(nil, "cl_status", "nodeweight", "bob", "--run-dir", ok))
	add("cl_status", 11, "an unknown option, daemon stopped", hbgoRun(nil, "cl_status", "listnodes", "-z", "--run-dir", none))
	add("cl_status", 12, "no answer", hbgoRun(nil, "cl_status", "listnodes", "--timeout", "200ms", "--run-dir", silent))
	add("cl_status", 13, "an unknown node", hbgoRun(nil, "cl_status", "listhblinks", "carol", "--run-dir", ok))

	add("hbgo status", 0, "shown", hbgoRun(nil, "hbgo", "status", "--run-dir", ok))
	add("hbgo status", 1, "no daemon", hbgoRun(nil, "hbgo", "status", "--run-dir", none))
	add("hbgo status", 2, "an argument", hbgoRun(nil, "hbgo", "status", "all", "--run-dir", ok))

	add("hbgo check-config", 0, "the base case", hbgoRun(nil, "hbgo", "check-config", "-c", good))
	add("hbgo check-config", 1, "errors", hbgoRun(nil, "hbgo", "check-config", "-c", bad))
	add("hbgo check-config", 2, "no such directory", hbgoRun(nil, "hbgo", "check-config", "-c", filepath.Join(none, "nothing")))

	add("hbgo import keepalived", 0, "to stdout", hbgoRun(nil, "hbgo", "import", "keepalived", kaTestdata+"web-sorry.conf"))
	add("hbgo import keepalived", 1, "errors", hbgoRun(nil, "hbgo", "import", "keepalived", badKa))
	add("hbgo import keepalived", 2, "no file", hbgoRun(nil, "hbgo", "import", "keepalived"))
	add("hbgo import keepalived", 0, "-h", hbgoRun(nil, "hbgo", "import", "-h"))

	add("hb_serialtest", 1, "no device", hbgoRun(nil, "hb_serialtest", "recv", "/nonexistent/ttyS9"))
	add("hb_serialtest", 2, "no device named", hbgoRun(nil, "hb_serialtest", "ping"))
	add("hb_serialtest", 0, "send on a pty", func(t *testing.T) (int, string, string) {
		cable := ptypair.New(t, 19200)
		return runHbgo(t, nil, "hb_serialtest", "send", cable.A, "hello")
	})

	// hbgo realserver changes lo and sysctls: in a network namespace.
	var rsHost *netns.Host
	rs := func(args ...string) func(t *testing.T) (int, string, string) {
		return func(t *testing.T) (int, string, string) {
			if rsHost == nil {
				lab := netns.NewT(t)
				h, err := lab.AddHost("rs")
				if err != nil {
					t.Fatal(err)
				}
				rsHost = h
			}
			var stdout, stderr bytes.Buffer
			cmd := rsHost.Command(hbgoBin(t), append([]string{"realserver"}, args...)...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			return code, stdout.String(), stderr.String()
		}
	}
	state := filepath.Join(t.TempDir(), "rs.state")
	add("hbgo realserver", 3, "status before start", rs("--state", state, "status", "192.0.2.10"))
	add("hbgo realserver", 0, "start", rs("--state", state, "-q", "start", "192.0.2.10"))
	add("hbgo realserver", 0, "status after start", rs("--state", state, "status", "192.0.2.10"))
	add("hbgo realserver", 1, "an unreadable state file", rs("--state", notADir, "start", "192.0.2.11"))
	add("hbgo realserver", 2, "not an address", rs("--state", state, "status", "lo"))
	add("hbgo realserver", 4, "an unreadable state file", rs("--state", notADir, "status"))

	// ldirectord with its pid file in a directory of the test and an
	// in-memory table (this kernel has no IPVS).
	ldRun := t.TempDir()
	ldEnv := []string{envLdRunDir + "=" + ldRun, envLdTable + "=memory"}
	ldDir := t.TempDir()
	ldCfg := filepath.Join(ldDir, "farm.cf")
	goodLd := fmt.Sprintf("checkinterval = 1\nlogfile = %q\nvirtual = 127.78.9.1:80\n\treal = 127.78.9.2:80 gate\n\tchecktype = connect\n", filepath.Join(ldDir, "ld.log"))
	writeLd := func(text string) {
		if err := os.WriteFile(ldCfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeLd(goodLd)
	t.Cleanup(func() { runHbgo(t, ldEnv, "ldirectord", ldCfg, "stop") })
	ld := func(args ...string) func(t *testing.T) (int, string, string) {
		return hbgoRun(ldEnv, append([]string{"ldirectord"}, args...)...)
	}
	add("ldirectord", 3, "status, stopped", ld(ldCfg, "status"))
	add("ldirectord", 0, "stop, not running", ld(ldCfg, "stop"))
	add("ldirectord", 1, "reload, not running", ld(ldCfg, "reload"))
	add("ldirectord", 1, "config not found", ld(filepath.Join(ldDir, "nothing.cf"), "status"))
	add("ldirectord", 2, "unknown command", ld(ldCfg, "frobnicate"))
	add("ldirectord", 2, "errors, dry run", func(t *testing.T) (int, string, string) {
		writeLd("virtual = 127.78.9.1:80\n\treal = 127.78.9.2:80 gait\n")
		defer writeLd(goodLd)
		return runHbgo(t, ldEnv, "ldirectord", "--dry-run", ldCfg)
	})
	add("ldirectord", 0, "start", ld(ldCfg, "start"))
	add("ldirectord", 0, "status, running", ld(ldCfg, "status"))
	add("ldirectord", 2, "reload with errors", func(t *testing.T) (int, string, string) {
		writeLd("virtual = 127.78.9.1:80\n\treal = 127.78.9.2:80 gait\n")
		return runHbgo(t, ldEnv, "ldirectord", ldCfg, "reload")
	})
	add("ldirectord", 0, "status after the refused reload: running", ld(ldCfg, "status"))
	add("ldirectord", 2, "restart with errors", ld(ldCfg, "restart"))
	add("ldirectord", 0, "status after the refused restart: still running", ld(ldCfg, "status"))

	// The daemon's clean stop: a node alone in a network namespace,
	// stopped with SIGTERM once its group runs.
	add("hbgo daemon", 0, "SIGTERM", func(t *testing.T) (int, string, string) {
		c := cluster.New(t, cluster.Spec{Directors: []string{"n1"}, Groups: []string{"n1 g1"}, Links: 1})
		c.Start("n1")
		c.WaitOwner("g1", "n1", 20*time.Second)
		c.Signal("n1", syscall.SIGTERM)
		err := c.WaitExit("n1", 20*time.Second)
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), "", c.DaemonLog("n1")
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, "", c.DaemonLog("n1")
	})

	// The page and the cases agree.
	type pair struct {
		command string
		code    int
	}
	onPage := map[pair]bool{}
	for _, r := range docTables(t)["code"] {
		code, _ := strconv.Atoi(r.cells[1])
		onPage[pair{unquote(r.cells[0]), code}] = true
	}
	run := map[pair]bool{}
	for _, c := range cases {
		p := pair{c.command, c.code}
		run[p] = true
		if !onPage[p] {
			t.Errorf("%s exits %d (%s), which the page does not list", c.command, c.code, c.what)
		}
	}
	for p := range onPage {
		if !run[p] {
			t.Errorf("%s: %s exit %d: no case runs the binary into it", commandsDoc, p.command, p.code)
		}
	}

	for _, c := range cases {
		code, stdout, stderr := c.run(t)
		if code != c.code {
			t.Errorf("%s (%s): exit %d, want %d\nstdout:\n%s\nstderr:\n%s", c.command, c.what, code, c.code, stdout, stderr)
			continue
		}
		// What the page says of ldirectord status's two streams.
		if c.command == "ldirectord" && strings.HasPrefix(c.what, "status") {
			switch code {
			case ldOK:
				if stdout != "" || !strings.Contains(stderr, "ldirectord for "+ldCfg+" is running with pid: ") {
					t.Errorf("ldirectord status, running: stdout %q, stderr %q", stdout, stderr)
				}
			case ldNotRunning:
				if stdout != "ldirectord is stopped for "+ldCfg+"\n" || stderr != "" {
					t.Errorf("ldirectord status, stopped: stdout %q, stderr %q", stdout, stderr)
				}
			}
		}
	}
}
