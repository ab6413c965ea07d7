package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hbgo/crm"
	"hbgo/crm/control"
	"hbgo/crm/control/controltest"
)

var updateCLStatus = flag.Bool("update-clstatus", false, "rewrite testdata/clstatus/*.golden")

// daemons serves each canned status in its own run directory, and leaves
// one run directory without a daemon, keyed "none".
func daemons(t *testing.T) map[string]string {
	t.Helper()
	dirs := map[string]string{"none": t.TempDir()}
	for name, st := range map[string]*crm.Status{
		"quorum":  controltest.QuorumStatus(),
		"twonode": controltest.TwoNodeStatus(),
		"split":   controltest.SplitStatus(),
	} {
		dirs[name] = t.TempDir()
		controltest.Serve(t, dirs[name], &controltest.Fake{StatusValue: st})
	}
	return dirs
}

// golden runs one command against the daemon of runDir and compares its
// exit code, stdout and stderr with testdata/clstatus/NAME.golden, with
// the run directory written as RUNDIR.
func golden(t *testing.T, name, prog string, main func([]string, io.Writer, io.Writer) int, runDir string, args []string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := main(append([]string{"--run-dir", runDir}, args...), &stdout, &stderr)
	got := fmt.Sprintf("$ %s\nexit %d\n-- stdout --\n%s-- stderr --\n%s",
		strings.Join(append([]string{prog}, args...), " "), code, stdout.String(), stderr.String())
	got = strings.ReplaceAll(got, runDir, "RUNDIR")
	path := filepath.Join("testdata", "clstatus", name+".golden")
	if *updateCLStatus {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-clstatus to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

func TestClStatusGolden(t *testing.T) {
	dirs := daemons(t)
	for _, tc := range []struct {
		name, daemon string
		args         []string
	}{
		{"help", "quorum", []string{"-h"}},
		{"invalid-sub", "quorum", []string{"sideways"}},
		{"unsupported-nodeweight", "quorum", []string{"nodeweight", "alice"}},
		{"no-sub", "quorum", []string{"-m"}},
		{"bad-option", "quorum", []string{"listnodes", "-x"}},

		{"hbstatus", "quorum", []string{"hbstatus"}},
		{"hbstatus-v", "quorum", []string{"hbstatus", "-v"}},
		{"hbstatus-v-m", "quorum", []string{"hbstatus", "-v", "-m"}},
		{"hbstatus-v-twonode", "twonode", []string{"hbstatus", "-v"}},
		{"hbstatus-stopped", "none", []string{"hbstatus"}},
		{"hbstatus-stopped-v", "none", []string{"hbstatus", "-v"}},

		{"listnodes", "quorum", []string{"listnodes"}},
		{"listnodes-n", "quorum", []string{"listnodes", "-n"}},
		{"listnodes-p", "quorum", []string{"listnodes", "-p"}},
		{"listnodes-pn", "quorum", []string{"listnodes", "-pn"}},
		{"listnodes-v", "quorum", []string{"listnodes", "-v"}},
		{"listnodes-m", "quorum", []string{"listnodes", "-m"}},
		{"listnodes-stopped", "none", []string{"listnodes"}},

		{"nodetype-normal-node", "quorum", []string{"nodetype", "alice"}},
		{"nodetype-witness-node", "quorum", []string{"nodetype", "quorum1"}},
		{"nodetype-ping-node", "quorum", []string{"nodetype", "10.0.0.254"}},
		{"nodetype-m", "quorum", []string{"nodetype", "-m", "bob"}},
		{"nodetype-list-normal", "quorum", []string{"nodetype", "normal"}},
		{"nodetype-list-ping", "quorum", []string{"nodetype", "ping"}},
		{"nodetype-list-witness", "quorum", []string{"nodetype", "witness"}},
		{"nodetype-unknown", "quorum", []string{"nodetype", "carol"}},
		{"nodetype-missing", "quorum", []string{"nodetype"}},

		{"nodestatus-active", "quorum", []string{"nodestatus", "alice"}},
		{"nodestatus-up", "quorum", []string{"nodestatus", "bob"}},
		{"nodestatus-case", "quorum", []string{"nodestatus", "BOB"}},
		{"nodestatus-witness", "quorum", []string{"nodestatus", "quorum1"}},
		{"nodestatus-ping", "quorum", []string{"nodestatus", "10.0.0.254"}},
		{"nodestatus-ping-dead", "quorum", []string{"nodestatus", "10.0.0.253"}},
		{"nodestatus-dead", "twonode", []string{"nodestatus", "bob"}},
		{"nodestatus-m", "twonode", []string{"-m", "nodestatus", "bob"}},
		{"nodestatus-unknown", "quorum", []string{"nodestatus", "carol"}},
		{"nodestatus-missing", "quorum", []string{"nodestatus"}},
		{"nodestatus-stopped", "none", []string{"nodestatus", "alice"}},

		{"listhblinks", "quorum", []string{"listhblinks", "bob"}},
		{"listhblinks-v", "quorum", []string{"listhblinks", "-v", "bob"}},
		{"listhblinks-m", "quorum", []string{"listhblinks", "-m", "bob"}},
		{"listhblinks-ping", "quorum", []string{"listhblinks", "-v", "10.0.0.253"}},
		{"listhblinks-unknown", "quorum", []string{"listhblinks", "carol"}},

		{"hblinkstatus-up", "quorum", []string{"hblinkstatus", "bob", "eth0"}},
		{"hblinkstatus-dead", "quorum", []string{"hblinkstatus", "bob", "eth1"}},
		{"hblinkstatus-m", "quorum", []string{"hblinkstatus", "-m", "bob", "/dev/ttyS0"}},
		{"hblinkstatus-ping", "quorum", []string{"hblinkstatus", "10.0.0.254", "10.0.0.254"}},
		{"hblinkstatus-no-link", "quorum", []string{"hblinkstatus", "bob", "eth9"}},
		{"hblinkstatus-unknown", "quorum", []string{"hblinkstatus", "carol", "eth0"}},
		{"hblinkstatus-missing", "quorum", []string{"hblinkstatus", "bob"}},

		{"clientstatus", "quorum", []string{"clientstatus", "bob", "ipfail"}},
		{"clientstatus-unknown", "quorum", []string{"clientstatus", "carol", "ipfail", "500"}},

		{"rscstatus", "quorum", []string{"rscstatus"}},
		{"rscstatus-m", "quorum", []string{"rscstatus", "-m"}},
		{"rscstatus-twonode", "twonode", []string{"rscstatus"}},
		{"rscstatus-split", "split", []string{"rscstatus"}},
		{"rscstatus-split-m", "split", []string{"rscstatus", "-m"}},

		{"hbparameter", "quorum", []string{"hbparameter", "-p", "deadtime"}},
		{"parameter-m", "quorum", []string{"parameter", "-m", "-pkeepalive"}},
		{"parameter-hbversion", "quorum", []string{"parameter", "-p", "hbversion"}},
		{"parameter-unset", "quorum", []string{"hbparameter", "-p", "watchdog"}},
		{"parameter-no-name", "quorum", []string{"hbparameter"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, "cl_status-"+tc.name, "cl_status", clStatusMain, dirs[tc.daemon], tc.args)
		})
	}
}

// TestClStatusHbstatusRefused: a daemon that will not talk to us is
// running, as Heartbeat's cl_status said when signon failed with a
// deadtime set.
func TestClStatusHbstatusRefused(t *testing.T) {
	refused := fmt.Errorf("%w on /run/x/hbgo.sock (run as root or as a member of group haclient)", fs.ErrPermission)
	for _, tc := range []struct {
		verbose bool
		err     error
		want    string
		code    int
	}{
		{false, refused, "Heartbeat is apparently running on this machine, but refuses my connection\n", 0},
		{true, refused, "Heartbeat is apparently running on this machine, but refuses my connection\n(permission denied on /run/x/hbgo.sock (run as root or as a member of group haclient))\n", 0},
		{false, &control.Error{Code: "internal", Message: "the daemon has no status yet"}, "Heartbeat is apparently running on this machine, but refuses my connection\n", 0},
		{true, fmt.Errorf("%w (nothing listens on /run/x/hbgo.sock)", control.ErrNotRunning), "Heartbeat is stopped on this machine.\n(hbgo is not running (nothing listens on /run/x/hbgo.sock))\n", 1},
	} {
		var out bytes.Buffer
		code := clHbStatus(&clArgs{sub: "hbstatus", verbose: tc.verbose}, nil, tc.err, &out)
		if out.String() != tc.want || code != tc.code {
			t.Errorf("%v, -v %v: exit %d\n%s\nwant exit %d\n%s", tc.err, tc.verbose, code, out.String(), tc.code, tc.want)
		}
	}
}

// TestClStatusTimeout: a daemon that accepts and never answers ends
// cl_status with Heartbeat's timeout exit code.
func TestClStatusTimeout(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", control.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, sub := range []string{"hbstatus", "listnodes"} {
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := clStatusMain([]string{"--run-dir", dir, "--timeout", "200ms", sub}, &stdout, &stderr)
		if code != clTimeout || stderr.String() != "cl_status: hbgo did not answer within 200ms\n" || stdout.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", sub, code, stdout.String(), stderr.String())
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: took %v", sub, took)
		}
	}
}

func TestClStatusArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want clArgs
		code int
	}{
		{[]string{"listnodes", "-mv", "-n"}, clArgs{sub: "listnodes", human: true, verbose: true, normal: true}, clOK},
		{[]string{"-m", "nodestatus", "bob"}, clArgs{sub: "nodestatus", human: true, pos: []string{"bob"}}, clOK},
		{[]string{"hbparameter", "-mp", "deadtime"}, clArgs{sub: "hbparameter", human: true, param: "deadtime"}, clOK},
		{[]string{"hbparameter", "-pdeadtime"}, clArgs{sub: "hbparameter", param: "deadtime"}, clOK},
		{[]string{"nodestatus", "--", "-odd"}, clArgs{sub: "nodestatus", pos: []string{"-odd"}}, clOK},
		{[]string{"--run-dir=/r", "rscstatus", "--timeout", "2s"}, clArgs{sub: "rscstatus", runDir: "/r", timeout: 2 * time.Second}, clOK},
		{[]string{"nodestatus", "-v", "bob"}, clArgs{}, clParamError},
		{[]string{"hbparameter", "-p"}, clArgs{}, clParamError},
		{[]string{"rscstatus", "--timeout", "soon"}, clArgs{}, clParamError},
		{[]string{"rscstatus", "--run-dir"}, clArgs{}, clParamError},
	} {
		a, code := parseClArgs(tc.args, io.Discard)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d", tc.args, code, tc.code)
			continue
		}
		if a == nil {
			continue
		}
		if tc.want.runDir == "" {
			tc.want.runDir = control.DefaultRunDir
		}
		if tc.want.timeout == 0 {
			tc.want.timeout = 5 * time.Second
		}
		if fmt.Sprintf("%+v", *a) != fmt.Sprintf("%+v", tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.args, *a, tc.want)
		}
	}
}

// TestStatusCommandsThroughLinks runs each command by the name an operator
// types, through run, as the links made by make install do.
func TestStatusCommandsThroughLinks(t *testing.T) {
	dir := t.TempDir()
	fake := &controltest.Fake{StatusValue: controltest.QuorumStatus()}
	controltest.Serve(t, dir, fake)
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"/usr/bin/cl_status", "rscstatus", "--run-dir", dir}, "all\n"},
		{[]string{"hbgo", "cl_status", "nodestatus", "bob", "--run-dir", dir}, "up\n"},
		{[]string{"/usr/share/heartbeat/hb_standby", "local", "--run-dir", dir}, "Going standby [local].\nNothing to move.\nDone in 0s.\n"},
		{[]string{"hb_takeover", "--run-dir", dir}, "Taking over [all].\nNothing to move.\nDone in 0s.\n"},
		{[]string{"hbgo", "standby", "--run-dir", dir, "failback"}, "Going standby [foreign].\nNothing to move.\nDone in 0s.\n"},
		{[]string{"hbgo", "takeover", "--run-dir", dir, "foreign"}, "Taking over [foreign].\nNothing to move.\nDone in 0s.\n"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.argv, &stdout, &stderr); code != 0 || stdout.String() != tc.want {
			t.Errorf("%q: exit %d\n%s%s", tc.argv, code, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"hbgo", "status", "--run-dir", dir}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "hbgo on alice: ") {
		t.Errorf("hbgo status: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	want := []string{"status", "status", "standby local", "takeover all", "standby failback", "takeover foreign", "status"}
	if got := fake.Calls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}
