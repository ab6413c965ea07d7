package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var at = time.Date(2026, 11, 29, 14, 30, 1, 123_000_000, time.UTC)

func fixed() time.Time { return at }

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func emitAll(lg *slog.Logger) {
	lg.Debug("Reading config", "file", "/etc/ha.d/ha.cf")
	lg.Info("Link n2:eth0 up.", "node", "n1")
	lg.Warn("Late heartbeat: node n2, interval 620 ms.", "node", "n2")
	lg.Error("Resource group g1 failed to start.", "group", "g1", "err", errors.New("exit 1: no such device"))
}

func TestFilesLevelsAndShape(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	l, err := Open(Options{Node: "n1", Level: slog.LevelDebug, LogFile: filepath.Join(dir, "ha-log"),
		DebugFile: filepath.Join(dir, "ha-debug"), Stderr: &stderr, Now: fixed, PID: 42})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	emitAll(l.Logger())
	wantLog := `Nov 29 14:30:01.123 n1 heartbeat: [42]: info: Link n2:eth0 up.
Nov 29 14:30:01.123 n1 heartbeat: [42]: WARN: Late heartbeat: node n2, interval 620 ms. node=n2
Nov 29 14:30:01.123 n1 heartbeat: [42]: ERROR: Resource group g1 failed to start. group=g1 err="exit 1: no such device"
`
	if got := read(t, filepath.Join(dir, "ha-log")); got != wantLog {
		t.Errorf("logfile:\n%s\nwant:\n%s", got, wantLog)
	}
	wantDebug := "Nov 29 14:30:01.123 n1 heartbeat: [42]: debug: Reading config file=/etc/ha.d/ha.cf\n" + wantLog
	if got := read(t, filepath.Join(dir, "ha-debug")); got != wantDebug {
		t.Errorf("debugfile:\n%s\nwant:\n%s", got, wantDebug)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr got lines although files are set:\n%s", stderr.String())
	}
}

func TestInfoLevelMakesNoDebugLines(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Node: "n1", Level: slog.LevelInfo, DebugFile: filepath.Join(dir, "ha-debug"), Now: fixed, PID: 42})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Logger().Enabled(nil, slog.LevelDebug) {
		t.Error("debug lines are made at info level")
	}
	emitAll(l.Logger())
	got := read(t, filepath.Join(dir, "ha-debug"))
	if strings.Contains(got, "debug:") || strings.Count(got, "\n") != 3 {
		t.Errorf("debugfile at info level:\n%s", got)
	}
}

func TestStderrWhenNothingElse(t *testing.T) {
	var stderr bytes.Buffer
	l, err := Open(Options{Node: "n1", Stderr: &stderr, Now: fixed, PID: 7, Tag: "ldirectord"})
	if err != nil {
		t.Fatal(err)
	}
	l.Logger().With("ldirector", "ldirectord.cf").WithGroup("check").Info("Added real server: 10.0.0.11:80 (10.0.0.100:80) (Weight set to 1)",
		"real", "10.0.0.11:80", "result", "")
	l.Logger().Info("two\nlines\n")
	l.Logger().Warn("WARN: Late heartbeat: Node n2: interval 310 ms")
	want := "Nov 29 14:30:01.123 n1 ldirectord: [7]: info: Added real server: 10.0.0.11:80 (10.0.0.100:80) (Weight set to 1) ldirector=ldirectord.cf check.real=10.0.0.11:80 check.result=\"\"\n" +
		"Nov 29 14:30:01.123 n1 ldirectord: [7]: info: two | lines\n" +
		"Nov 29 14:30:01.123 n1 ldirectord: [7]: WARN: Late heartbeat: Node n2: interval 310 ms\n"
	if stderr.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), want)
	}
}

func TestJournalShape(t *testing.T) {
	var stderr bytes.Buffer
	dir := t.TempDir()
	l, err := Open(Options{Node: "n1", Level: slog.LevelDebug, Journal: true, Stderr: &stderr,
		LogFile: filepath.Join(dir, "ha-log"), Now: fixed, PID: 42})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	emitAll(l.Logger())
	want := `<7>n1: debug: Reading config file=/etc/ha.d/ha.cf
<6>n1: info: Link n2:eth0 up.
<4>n1: WARN: Late heartbeat: node n2, interval 620 ms. node=n2
<3>n1: ERROR: Resource group g1 failed to start. group=g1 err="exit 1: no such device"
`
	if stderr.String() != want {
		t.Errorf("journal:\n%s\nwant:\n%s", stderr.String(), want)
	}
	if got := read(t, filepath.Join(dir, "ha-log")); strings.Count(got, "\n") != 3 {
		t.Errorf("logfile beside the journal:\n%s", got)
	}
}

// listenSyslog is a syslog daemon's socket: it returns the datagrams it
// gets on a channel.
func listenSyslog(t *testing.T, path string) (*net.UnixConn, <-chan string) {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return c, ch
}

func next(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no syslog datagram")
		return ""
	}
}

func TestSyslogFacilityAndPriorities(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	c, ch := listenSyslog(t, sock)
	defer c.Close()
	var stderr bytes.Buffer
	// A journal on stderr: with syslog on, stderr stays quiet (the
	// journal gets the lines through the socket).
	l, err := Open(Options{Node: "n1", Level: slog.LevelInfo, Facility: "LOCAL0", SyslogSocket: sock,
		Journal: true, Stderr: &stderr, Now: fixed, PID: 42})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	emitAll(l.Logger())
	for _, want := range []string{
		"<134>Nov 29 14:30:01 heartbeat[42]: n1: info: Link n2:eth0 up.",
		"<132>Nov 29 14:30:01 heartbeat[42]: n1: WARN: Late heartbeat: node n2, interval 620 ms. node=n2",
		`<131>Nov 29 14:30:01 heartbeat[42]: n1: ERROR: Resource group g1 failed to start. group=g1 err="exit 1: no such device"`,
	} {
		if got := next(t, ch); got != want {
			t.Errorf("syslog got\n%q\nwant\n%q", got, want)
		}
	}
	select {
	case s := <-ch:
		t.Errorf("unexpected datagram %q", s)
	case <-time.After(200 * time.Millisecond):
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr with syslog on and a journal: %q", stderr.String())
	}
}

// TestSyslogComesAndGoes: no socket at start, then one, then the syslog
// daemon restarts; lines lost meanwhile are counted and said once.
func TestSyslogComesAndGoes(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	var mu sync.Mutex
	now := at
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	step := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var stderr bytes.Buffer
	l, err := Open(Options{Node: "n1", Facility: "daemon", SyslogSocket: sock, Stderr: &stderr, Now: clock, PID: 42})
	if err != nil {
		t.Fatalf("a missing syslog socket must not stop the daemon: %v", err)
	}
	defer l.Close()
	lg := l.Logger()
	lg.Info("lost one")
	lg.Info("lost two")
	if n := l.Lost()["logfacility daemon"]; n != 2 {
		t.Errorf("lost %d lines, want 2", n)
	}
	if got := stderr.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "logfacility daemon") {
		t.Errorf("stderr should say once that syslog is missing:\n%s", got)
	}
	c, ch := listenSyslog(t, sock)
	step(2 * redialEvery)
	lg.Info("now heard")
	if got := next(t, ch); got != "<30>Nov 29 14:30:03 heartbeat[42]: n1: info: now heard" {
		t.Errorf("got %q", got)
	}
	c.Close()
	os.Remove(sock)
	c, ch = listenSyslog(t, sock)
	defer c.Close()
	lg.Info("after restart")
	if got := next(t, ch); !strings.HasSuffix(got, "info: after restart") {
		t.Errorf("got %q", got)
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ha-log")
	l, err := Open(Options{Node: "n1", LogFile: path, Now: fixed, PID: 42})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lg := l.Logger()
	lg.Info("one")
	// copytruncate: the next line starts the emptied file.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	lg.Info("two")
	if got := read(t, path); got != "Nov 29 14:30:01.123 n1 heartbeat: [42]: info: two\n" {
		t.Errorf("after copytruncate: %q", got)
	}
	// create with a HUP: Reopen.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	lg.Info("three")
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	lg.Info("four")
	if got := read(t, path+".1"); !strings.HasSuffix(got, "info: three\n") {
		t.Errorf("rotated file: %q", got)
	}
	if got := read(t, path); !strings.HasSuffix(got, "info: four\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("new file: %q", got)
	}
	// create without a HUP: found on its own within a second.
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(recheckEvery + 100*time.Millisecond)
	lg.Info("five")
	if got := read(t, path); !strings.HasSuffix(got, "info: five\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("new file after a move without HUP: %q", got)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	where := func(d string) string { return map[string]string{"logfile": "ha.cf:3", "logfacility": "ha.cf:5"}[d] }
	_, err := Open(Options{Node: "n1", LogFile: filepath.Join(dir, "no", "such", "dir", "ha-log"), Facility: "local9", Where: where})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"ha.cf:3: logfile " + filepath.Join(dir, "no"), `ha.cf:5: logfacility: unknown syslog facility "local9"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestUnderSystemd(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INVOCATION_ID", "")
	t.Setenv("JOURNAL_STREAM", "")
	if UnderSystemd(f) {
		t.Error("systemd seen without its variables")
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	if !UnderSystemd(f) {
		t.Error("JOURNAL_STREAM naming stderr not seen")
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino+1))
	if UnderSystemd(f) {
		t.Error("JOURNAL_STREAM naming another file taken for stderr's")
	}
	t.Setenv("JOURNAL_STREAM", "")
	t.Setenv("INVOCATION_ID", "0123456789abcdef")
	if !UnderSystemd(f) {
		t.Error("INVOCATION_ID not seen")
	}
}

// BenchmarkLine measures one info line with two attributes written to a
// logfile and a debugfile.
func BenchmarkLine(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(Options{Node: "n1", Level: slog.LevelInfo, LogFile: filepath.Join(dir, "ha-log"), DebugFile: filepath.Join(dir, "ha-debug")})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	lg := l.Logger()
	b.ReportAllocs()
	for b.Loop() {
		lg.Info("Link n2:eth0 dead.", "node", "n2", "link", "eth0")
	}
}
