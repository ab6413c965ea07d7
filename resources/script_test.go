//go:build unix

package resources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logRec is one record a test logger saw.
type logRec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu    *sync.Mutex
	recs  *[]logRec
	attrs []slog.Attr
}

func newRecorder() *recorder { return &recorder{mu: new(sync.Mutex), recs: new([]logRec)} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{}
	for _, a := range r.attrs {
		m[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.recs = append(*r.recs, logRec{level: rec.Level, msg: rec.Message, attrs: m})
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(append([]slog.Attr(nil), r.attrs...), as...)
	return &c
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) records() []logRec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logRec(nil), *r.recs...)
}

// find returns the records whose message is msg.
func (r *recorder) find(msg string) []logRec {
	var out []logRec
	for _, rec := range r.records() {
		if rec.msg == msg {
			out = append(out, rec)
		}
	}
	return out
}

// svcPath is the test service script.
func svcPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "resource.d", "svc"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// svcScript is the svc script for instance inst with more args, its
// state in dir.
func svcScript(t *testing.T, dir string, rec *recorder, opts ScriptOptions, args ...string) *Script {
	t.Helper()
	opts.Env = append(opts.Env, "SVC_DIR="+dir)
	if rec != nil {
		opts.Logger = slog.New(rec)
	}
	return NewScript(svcPath(t), "svc", args, opts)
}

// ops returns the start and stop lines the svc script logged in dir.
func ops(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "_"))
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeScript writes an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func equal(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

func TestScriptStatusAnswers(t *testing.T) {
	dir := t.TempDir()
	path := writeScript(t, dir, "answer", `printf '%s' "$OUT"; printf '%s' "$ERR" >&2; exit $CODE`+"\n")
	tests := []struct {
		name     string
		out, err string
		code     int
		want     State
	}{
		{"LSB running", "", "", 0, Running},
		{"LSB stopped", "", "", 3, Stopped},
		{"LSB dead, pid file left", "", "", 1, Failed},
		{"LSB dead, lock file left", "", "", 2, Failed},
		{"LSB unknown", "", "", 4, Failed},
		{"LSB running with words", "apache2 is running.\n", "", 0, Running},
		{"LSB stopped with words", "apache2 is not running\n", "", 3, Stopped},
		{"ldirectord stopped", "ldirectord is stopped for /etc/ha.d/ldirectord.cf\n", "", 3, Stopped},
		{"heartbeat running", "running\n", "", 0, Running},
		{"heartbeat OK", "OK\n", "", 0, Running},
		{"heartbeat stopped", "stopped\n", "", 0, Stopped},
		{"heartbeat not running", "IPaddr is NOT currently Running\n", "", 0, Stopped},
		{"OCF wrapper running", "INFO:  Running OK\n", "", 0, Running},
		{"OCF wrapper stopped", "INFO:  Resource is stopped\n", "", 7, Stopped},
		{"OCF wrapper error", "ERROR:  Generic error\n", "", 1, Failed},
		{"words on stderr do not count", "", "running", 3, Stopped},
		{"running despite a code", "running\n", "", 1, Running},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScript(path, "answer", nil, ScriptOptions{Env: []string{
				"OUT=" + tc.out, "ERR=" + tc.err, "CODE=" + strconv.Itoa(tc.code)}})
			got, err := s.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("status printing %q, exit %d: got %v, want %v", tc.out, tc.code, got, tc.want)
			}
		})
	}
}

func TestScriptArgsInOrder(t *testing.T) {
	dir := t.TempDir()
	s := svcScript(t, dir, nil, ScriptOptions{}, "A", "10.0.0.1/24", "two words", "3")
	if got, want := s.Name(), "svc::A::10.0.0.1/24::two words::3"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "A start [A] [10.0.0.1/24] [two words] [3]\n"; got != want {
		t.Errorf("script saw %q, want %q", got, want)
	}
}

func TestScriptIdempotent(t *testing.T) {
	for _, style := range []string{"lsb", "heartbeat"} {
		t.Run(style, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "A.style"), style)
			s := svcScript(t, dir, nil, ScriptOptions{}, "A")
			ctx := context.Background()
			for range 2 {
				if err := s.Start(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if st, err := s.Status(ctx); err != nil || st != Running {
				t.Fatalf("status after start: %v, %v; want running", st, err)
			}
			for range 2 {
				if err := s.Stop(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if st, err := s.Status(ctx); err != nil || st != Stopped {
				t.Fatalf("status after stop: %v, %v; want stopped", st, err)
			}
			want := []string{"A_start_[A]", "A_stop_[A]"}
			if style == "heartbeat" {
				// "stopped" with exit 0 is Heartbeat's stopped, not
				// trusted to skip a stop: the second stop runs, and
				// succeeds as LSB asks.
				want = append(want, "A_stop_[A]")
			}
			if got := ops(t, dir); !equal(got, want) {
				t.Errorf("operations run: %q, want %q", got, want)
			}
		})
	}
}

func TestScriptStopFailsOnStoppedHeartbeatScript(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "A.style"), "heartbeat")
	writeFile(t, filepath.Join(dir, "A.fail-stop"), "always")
	rec := newRecorder()
	s := svcScript(t, dir, rec, ScriptOptions{}, "A")
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("stop of a stopped resource whose stop fails: %v; want success as Heartbeat", err)
	}
	var warned bool
	for _, r := range rec.records() {
		warned = warned || r.level == slog.LevelWarn && strings.Contains(r.msg, "not LSB-compliant")
	}
	if !warned {
		t.Error("no warning that the script is not LSB-compliant")
	}
	// Running, the same failure is an error.
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := s.Stop(context.Background())
	if err == nil || !strings.Contains(err.Error(), "resource svc::A stop: ") || !strings.Contains(err.Error(), "exited with code 1: cannot stop A") {
		t.Errorf("stop of a running resource whose stop fails: %v", err)
	}
}

func TestScriptStartFails(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "A.fail-start"), "")
	s := svcScript(t, dir, nil, ScriptOptions{}, "A", "x")
	err := s.Start(context.Background())
	var oe *OpError
	if !errors.As(err, &oe) || oe.Resource != "svc::A::x" || oe.Op != "start" {
		t.Fatalf("start error %v, want an OpError for svc::A::x start", err)
	}
	want := "resource svc::A::x start: " + svcPath(t) + " exited with code 1: cannot start A"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestScriptMissing(t *testing.T) {
	s := NewScript(filepath.Join(t.TempDir(), "nope"), "nope", []string{"a"}, ScriptOptions{})
	err := s.Start(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "resource nope::a start: ") {
		t.Errorf("start of a missing script: %v", err)
	}
	if st, err := s.Status(context.Background()); st != Unknown || err == nil {
		t.Errorf("status of a missing script: %v, %v; want unknown and an error", st, err)
	}
}

func TestScriptOutputLogged(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder()
	s := svcScript(t, dir, rec, ScriptOptions{}, "A")
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "A.fail-stop"), "always")
	if err := s.Stop(context.Background()); err == nil {
		t.Fatal("stop succeeded though it fails")
	}
	tests := []struct{ msg, op, stream string }{
		{"started A", "start", "stdout"},
		{"cannot stop A", "stop", "stderr"},
		{"A is running", "status", "stdout"},
	}
	for _, tc := range tests {
		rs := rec.find(tc.msg)
		if len(rs) == 0 {
			t.Errorf("output line %q not logged", tc.msg)
			continue
		}
		a := rs[0].attrs
		if a["resource"] != "svc::A" || a["op"] != tc.op || a["stream"] != tc.stream {
			t.Errorf("line %q logged with %v, want resource svc::A op %s stream %s", tc.msg, a, tc.op, tc.stream)
		}
	}
}

func TestScriptOutputBounded(t *testing.T) {
	dir := t.TempDir()
	path := writeScript(t, dir, "chatty", `i=0
while [ $i -lt 2000 ]; do echo "line $i of some output"; i=$((i + 1)); done
echo "the end"
`)
	rec := newRecorder()
	s := NewScript(path, "chatty", nil, ScriptOptions{MaxOutput: 1000, Logger: slog.New(rec)})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var lines []string
	size := 0
	for _, r := range rec.records() {
		if r.attrs["stream"] == "stdout" && r.attrs["op"] == "start" {
			lines = append(lines, r.msg)
			size += len(r.msg) + 1
		}
	}
	if size > 1100 || !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "bytes left out") }) {
		t.Errorf("logged %d lines, %d bytes: %q; want at most ~1000 bytes, the cut marked", len(lines), size, lines)
	}
	if len(lines) < 3 || lines[0] != "line 0 of some output" || lines[len(lines)-1] != "the end" {
		t.Errorf("logged %q; want the head and the tail of the output", lines)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "line ") && l != "the end" && !strings.Contains(l, "bytes left out") {
			t.Errorf("line %q cut in the middle", l)
		}
	}
}

// processGone says whether pid has exited (a zombie counts as gone).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// sleepPID reads the pid the svc script's hang wrote, and kills it at
// the end of the test whatever happens.
func sleepPID(t *testing.T, dir, inst string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, inst+".sleep.pid"))
	if err != nil {
		t.Fatalf("the script did not hang: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("bad pid %q", b)
	}
	t.Cleanup(func() {
		if !processGone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return pid
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if processGone(pid) {
			return
		}
	}
	t.Errorf("child process %d of the killed script still runs", pid)
}

func TestScriptTimeoutKillsProcessGroup(t *testing.T) {
	tests := []struct {
		name    string
		op      string
		opts    ScriptOptions
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
		want    string
	}{
		{
			name: "start timeout", op: "start",
			opts:    ScriptOptions{StartTimeout: 1500 * time.Millisecond},
			ctx:     func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			wantErr: ErrTimeout, want: "resource svc::A start: timed out after ",
		},
		{
			name: "stop timeout", op: "stop",
			opts:    ScriptOptions{StopTimeout: 1500 * time.Millisecond},
			ctx:     func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			wantErr: ErrTimeout, want: "resource svc::A stop: timed out after ",
		},
		{
			name: "status timeout", op: "status",
			opts:    ScriptOptions{StatusTimeout: 1500 * time.Millisecond},
			ctx:     func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			wantErr: ErrTimeout, want: "resource svc::A status: timed out after ",
		},
		{
			name: "context deadline", op: "start",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 1500*time.Millisecond)
			},
			wantErr: ErrTimeout, want: "resource svc::A start: timed out after ",
		},
		{
			name: "context cancelled", op: "start",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(1500*time.Millisecond, cancel)
				return ctx, cancel
			},
			wantErr: context.Canceled, want: "resource svc::A start: context canceled; killed process group ",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "A.hang"), tc.op)
			if tc.op == "stop" {
				writeFile(t, filepath.Join(dir, "A.running"), "")
			}
			rec := newRecorder()
			s := svcScript(t, dir, rec, tc.opts, "A")
			ctx, cancel := tc.ctx()
			defer cancel()
			began := time.Now()
			var err error
			switch tc.op {
			case "start":
				err = s.Start(ctx)
			case "stop":
				err = s.Stop(ctx)
			case "status":
				_, err = s.Status(ctx)
			}
			took := time.Since(began)
			pid := sleepPID(t, dir, "A")
			if !errors.Is(err, tc.wantErr) || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), "killed process group") {
				t.Errorf("error %v; want %v starting %q, saying the process group was killed", err, tc.wantErr, tc.want)
			}
			if took > 8*time.Second {
				t.Errorf("took %s to give up a 1.5s operation", took)
			}
			waitGone(t, pid)
			if len(rec.find("hanging in "+tc.op)) != 1 {
				t.Error("the output of the killed script was not logged")
			}
		})
	}
}

func TestScriptEnvironment(t *testing.T) {
	t.Setenv("LC_ALL", "fr_FR.UTF-8")
	t.Setenv("LANGUAGE", "fr")
	t.Setenv("HBGO_TEST_INHERITED", "yes")
	dir := t.TempDir()
	path := writeScript(t, dir, "env", `for v in HA_DIR HA_FUNCS HA_RESOURCEDIR HA_CURHOST HA_RSCTMP HA_logfacility HBGO_TEST_INHERITED LC_ALL LANGUAGE; do
	eval "echo $v=\${$v-unset}"
done >"$OUTFILE"
`)
	out := filepath.Join(dir, "out")
	env := Env{ConfDir: "/etc/ha.d", Node: "director1", RscTmp: "/run/rsctmp",
		Vars: []string{"HA_logfacility=local0", "OUTFILE=" + out}}
	a, err := New(confResource("env", path), env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := `HA_DIR=/etc/ha.d
HA_FUNCS=/etc/ha.d/shellfuncs
HA_RESOURCEDIR=/etc/ha.d/resource.d
HA_CURHOST=director1
HA_RSCTMP=/run/rsctmp
HA_logfacility=local0
HBGO_TEST_INHERITED=yes
LC_ALL=unset
LANGUAGE=unset
`
	if string(b) != want {
		t.Errorf("script environment:\n%s\nwant:\n%s", b, want)
	}
}
