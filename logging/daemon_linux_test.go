package logging_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"hbgo/test/cluster"
)

const bound = 20 * time.Second

// waitLine waits until the file has a line matching re.
func waitLine(t *testing.T, path string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if re.MatchString(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no line matching %s within %v; it has:\n%s", path, re, bound, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterDaemonLogFiles runs real daemons that share one logfile and
// one debugfile (ha.cf's logfile, debugfile, debug 1): every line names
// its node, the levels are split between the files, and a logfile moved
// away by logrotate is made again by the next event.
func TestClusterDaemonLogFiles(t *testing.T) {
	dir := t.TempDir()
	logfile, debugfile := filepath.Join(dir, "ha-log"), filepath.Join(dir, "ha-debug")
	c := cluster.New(t, cluster.Spec{Directors: []string{"n1", "n2"}, Groups: []string{"n1 g1"},
		Extra: "logfile " + logfile + "\ndebugfile " + debugfile + "\ndebug 1\n"})
	c.StartAll()
	c.WaitOwner("g1", "n1", bound)
	stamp := `^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d\.\d{3} `
	for _, n := range []string{"n1", "n2"} {
		waitLine(t, logfile, regexp.MustCompile(stamp+n+` heartbeat: \[\d+\]: info: Link n[12]:eth0 up\.$`))
	}
	waitLine(t, logfile, regexp.MustCompile(stamp+`n1 heartbeat: \[\d+\]: info: Resource group testres::g1 started\.`))
	waitLine(t, debugfile, regexp.MustCompile(stamp+`n[12] heartbeat: \[\d+\]: debug: `))
	waitLine(t, debugfile, regexp.MustCompile(stamp+`n1 heartbeat: \[\d+\]: info: Resource group testres::g1 started\.`))
	b, err := os.ReadFile(logfile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), ": debug: ") {
		t.Errorf("debug lines in the logfile:\n%s", b)
	}
	for _, l := range strings.Split(string(b), "\n") {
		for _, n := range []string{"n1", "n2"} {
			if strings.Contains(l, " "+n+" heartbeat:") && strings.Contains(l, " node="+n) {
				t.Errorf("a line repeats its own node: %s", l)
			}
		}
	}

	// logrotate's create mode: the file is moved; the next lines make a
	// new one (n2 loses n1 on eth1).
	if err := os.Rename(logfile, logfile+".1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := c.Members["n1"].Host.Block("eth1"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, logfile, regexp.MustCompile(stamp+`n2 heartbeat: \[\d+\]: WARN: Link n1:eth1 dead\.$`))
}
