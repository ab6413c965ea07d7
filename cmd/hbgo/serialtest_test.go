package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hbgo/test/ptypair"
)

// buildLinks builds the binary once and makes links with operator names
// beside it, so that tests run it as an operator would.
func buildLinks(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "hbgo")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, n := range names {
		if err := os.Symlink("hbgo", filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSerialtestPingThroughEcho runs hb_serialtest echo on one end of a
// paced pty cable and hb_serialtest ping on the other, as two processes.
func TestSerialtestPingThroughEcho(t *testing.T) {
	cable := ptypair.New(t, 19200)
	dir := buildLinks(t, "hb_serialtest")
	tool := filepath.Join(dir, "hb_serialtest")

	echo := exec.Command(tool, "--timeout", "30s", "echo", cable.B)
	var echoOut bytes.Buffer
	echo.Stdout, echo.Stderr = &echoOut, &echoOut
	if err := echo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Process.Kill(); echo.Wait() })
	time.Sleep(300 * time.Millisecond) // let echo open its end

	ping := exec.Command(tool, "--count", "5", "--size", "64", "ping", cable.A)
	out, err := ping.CombinedOutput()
	if err != nil {
		t.Fatalf("ping: %v\n%s\necho side:\n%s", err, out, echoOut.String())
	}
	text := string(out)
	for _, want := range []string{"5 probes sent, 5 returned intact, 0% loss", "rtt min/avg/max", "of 1920 B/s nominal at 19200 baud"} {
		if !strings.Contains(text, want) {
			t.Errorf("ping output lacks %q:\n%s", want, text)
		}
	}

	// The device is locked while echo holds it.
	busy := exec.Command(tool, "recv", cable.B)
	out, err = busy.CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "in use by pid") {
		t.Errorf("second opener: exit %d, output %q; want 1 and 'in use by pid'", code, out)
	}
}

// TestSerialtestErrors: one-line errors and exit codes.
func TestSerialtestErrors(t *testing.T) {
	cable := ptypair.New(t, 19200)
	dir := buildLinks(t, "hb_serialtest")
	tool := filepath.Join(dir, "hb_serialtest")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ping", "/dev/ttyS99"}, 1, "hb_serialtest: /dev/ttyS99: no such device\n"},
		{[]string{"--baud", "12345", "recv", cable.A}, 1, "unsupported baud rate 12345 (supported: 9600, 19200"},
		{[]string{"frobnicate", cable.A}, 2, `hb_serialtest: unknown mode "frobnicate" (recv, send, echo, ping)`},
		{nil, 2, "usage: hb_serialtest"},
		{[]string{"--count", "2", "--timeout", "300ms", "ping", cable.A}, 1, "2 probes sent, 0 returned intact, 100% loss"},
	}
	for _, c := range cases {
		out, err := exec.Command(tool, c.args...).CombinedOutput()
		if code := exitCode(err); code != c.code || !strings.Contains(string(out), c.want) {
			t.Errorf("hb_serialtest %v: exit %d, output:\n%s\nwant exit %d and %q", c.args, code, out, c.code, c.want)
		}
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
