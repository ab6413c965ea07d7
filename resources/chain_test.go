//go:build unix

package resources

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hbgo/conf"
)

// chainFixture is a chain of svc scripts (and fake built-ins) parsed from
// a haresources line and resolved as the daemon does.
type chainFixture struct {
	c   *Chain
	dir string // the svc state and log
	rec *recorder

	mu     sync.Mutex
	sleeps []time.Duration // waits between stop retries
}

func newChainFixture(t *testing.T, haresources string, opts ScriptOptions, copts ...ChainOption) *chainFixture {
	t.Helper()
	f := &chainFixture{dir: t.TempDir(), rec: newRecorder()}
	var ds conf.Diags
	h := conf.ParseHaresources("haresources", []byte(haresources), &ds)
	confDir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	scripts := conf.ScriptLookup(confDir, "")
	conf.ResolveResources(h, func(name string) (string, bool) {
		if name == "TestFake" { // conf knows only the real built-ins
			return builtinPrefix + name, true
		}
		return scripts(name)
	}, &ds)
	if ds.HasErrors() || len(h.Groups) != 1 {
		t.Fatalf("haresources %q: %v", haresources, ds)
	}
	sleep := func(ctx context.Context, d time.Duration) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.sleeps = append(f.sleeps, d)
		return ctx.Err()
	}
	env := Env{ConfDir: confDir, Node: "n1", Vars: []string{"SVC_DIR=" + f.dir}, Logger: slog.New(f.rec), Script: opts}
	f.c, err = NewChain(h.Groups[0], env, append([]ChainOption{WithSleep(sleep)}, copts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *chainFixture) file(t *testing.T, name, data string) {
	t.Helper()
	writeFile(t, filepath.Join(f.dir, name), data)
}

func (f *chainFixture) waits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// states is a GroupStatus in short: "overall: state state ...".
func states(gs GroupStatus) string {
	s := gs.State.String() + ":"
	for _, r := range gs.Resources {
		s += " " + r.State.String()
	}
	return s
}

func TestChainOrder(t *testing.T) {
	f := newChainFixture(t, "n1 svc::A svc::B TestFake::F svc::C\n", ScriptOptions{})
	ctx := context.Background()
	if got, want := f.c.Resources(), []string{"svc::A", "svc::B", "TestFake::F", "svc::C"}; !equal(got, want) {
		t.Errorf("Resources() = %q, want %q", got, want)
	}
	if f.c.Name() != "svc::A" {
		t.Errorf("Name() = %q, want svc::A", f.c.Name())
	}
	steps := []struct {
		name  string
		do    func() error
		ops   []string // all operations run so far
		state string
	}{
		{"start", func() error { return f.c.Start(ctx) },
			[]string{"A_start_[A]", "B_start_[B]", "TestFake-F_start", "C_start_[C]"},
			"running: running running running running"},
		{"start again", func() error { return f.c.Start(ctx) },
			[]string{"A_start_[A]", "B_start_[B]", "TestFake-F_start", "C_start_[C]"},
			"running: running running running running"},
		{"stop", func() error { return f.c.Stop(ctx) },
			[]string{"A_start_[A]", "B_start_[B]", "TestFake-F_start", "C_start_[C]",
				"C_stop_[C]", "TestFake-F_stop", "B_stop_[B]", "A_stop_[A]"},
			"stopped: stopped stopped stopped stopped"},
		{"stop again", func() error { return f.c.Stop(ctx) },
			[]string{"A_start_[A]", "B_start_[B]", "TestFake-F_start", "C_start_[C]",
				"C_stop_[C]", "TestFake-F_stop", "B_stop_[B]", "A_stop_[A]"},
			"stopped: stopped stopped stopped stopped"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := ops(t, f.dir); !equal(got, st.ops) {
			t.Errorf("after %s, operations %q, want %q", st.name, got, st.ops)
		}
		gs, err := f.c.Status(ctx)
		if err != nil || states(gs) != st.state {
			t.Errorf("after %s, status %q, %v; want %q", st.name, states(gs), err, st.state)
		}
	}
}

func TestChainStartRollsBack(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		opts  ScriptOptions
		// want
		is         error
		msg        string // the error message, after the path of svc
		rolledBack bool
		held       []string // of the rollback's StopError
		ops        []string
		waits      []time.Duration
		state      string
		hung       string // instance whose hang's sleep must be gone
	}{
		{
			name:       "middle start fails",
			files:      map[string]string{"B.fail-start": ""},
			msg:        "group svc::A: resource svc::B start: SVC exited with code 1: cannot start B; stopped the group again",
			rolledBack: true,
			ops:        []string{"A_start_[A]", "B_start_[B]", "A_stop_[A]"},
			state:      "stopped: stopped stopped stopped",
		},
		{
			name:       "middle start hangs",
			files:      map[string]string{"B.hang": "start"},
			opts:       ScriptOptions{StartTimeout: 1500 * time.Millisecond},
			is:         ErrTimeout,
			rolledBack: true,
			ops:        []string{"A_start_[A]", "B_start_[B]", "A_stop_[A]"},
			state:      "stopped: stopped stopped stopped",
			hung:       "B",
		},
		{
			name:  "rollback fails",
			files: map[string]string{"B.fail-start": "", "A.fail-stop": "always"},
			msg: "group svc::A: resource svc::B start: SVC exited with code 1: cannot start B; " +
				"then failed to stop the group again: group svc::A: resource svc::A stop: SVC exited with code 1: cannot stop A (tried 3 times); still held: svc::A",
			held:  []string{"svc::A"},
			ops:   []string{"A_start_[A]", "B_start_[B]", "A_stop_[A]", "A_stop_[A]", "A_stop_[A]"},
			waits: []time.Duration{time.Second, 2 * time.Second},
			state: "failed: running stopped stopped",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newChainFixture(t, "n1 svc::A svc::B svc::C\n", tc.opts)
			for name, data := range tc.files {
				f.file(t, name, data)
			}
			err := f.c.Start(context.Background())
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("Start error %v, want a StartError", err)
			}
			if tc.hung != "" {
				waitGone(t, sleepPID(t, f.dir, tc.hung))
			}
			if se.Group != "svc::A" || se.Resource != "svc::B" || se.RolledBack != tc.rolledBack {
				t.Errorf("StartError %+v, want group svc::A, resource svc::B, rolled back %v", se, tc.rolledBack)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if want := strings.ReplaceAll(tc.msg, "SVC", svcPath(t)); tc.msg != "" && err.Error() != want {
				t.Errorf("error\n%s\nwant\n%s", err, want)
			}
			var stop *StopError
			if errors.As(se.RollbackErr, &stop) != (tc.held != nil) || stop != nil && !equal(stop.Held, tc.held) {
				t.Errorf("rollback error %v, want one holding %q", se.RollbackErr, tc.held)
			}
			if got := ops(t, f.dir); !equal(got, tc.ops) {
				t.Errorf("operations %q, want %q", got, tc.ops)
			}
			if got := f.waits(); !equalDurations(got, tc.waits) {
				t.Errorf("waits between stops %v, want %v", got, tc.waits)
			}
			gs, _ := f.c.Status(context.Background())
			if states(gs) != tc.state {
				t.Errorf("status %q, want %q", states(gs), tc.state)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestChainStopRetries(t *testing.T) {
	start := []string{"A_start_[A]", "B_start_[B]", "C_start_[C]"}
	tests := []struct {
		name     string
		failStop string
		copts    []ChainOption
		ctx      func() (context.Context, context.CancelFunc)
		// want
		ops      []string // after the starts
		waits    []time.Duration
		attempts int      // 0: Stop succeeds
		held     []string // of the StopError
		msg      string
		state    string
	}{
		{
			name:     "fails once",
			failStop: "1",
			ops:      []string{"C_stop_[C]", "B_stop_[B]", "B_stop_[B]", "A_stop_[A]"},
			waits:    []time.Duration{time.Second},
			state:    "stopped: stopped stopped stopped",
		},
		{
			name:     "always fails",
			failStop: "always",
			ops:      []string{"C_stop_[C]", "B_stop_[B]", "B_stop_[B]", "B_stop_[B]"},
			waits:    []time.Duration{time.Second, 2 * time.Second},
			attempts: 3,
			held:     []string{"svc::A", "svc::B"},
			msg:      "group svc::A: resource svc::B stop: SVC exited with code 1: cannot stop B (tried 3 times); still held: svc::A svc::B",
			state:    "failed: running running stopped",
		},
		{
			name:     "always fails, five tries",
			failStop: "always",
			copts:    []ChainOption{WithStopRetry(5, 100*time.Millisecond)},
			ops:      []string{"C_stop_[C]", "B_stop_[B]", "B_stop_[B]", "B_stop_[B]", "B_stop_[B]", "B_stop_[B]"},
			waits:    []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond},
			attempts: 5,
			held:     []string{"svc::A", "svc::B"},
			state:    "failed: running running stopped",
		},
		{
			name:     "cancelled",
			failStop: "0",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			attempts: 1,
			held:     []string{"svc::A", "svc::B", "svc::C"},
			state:    "running: running running running",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newChainFixture(t, "n1 svc::A svc::B svc::C\n", ScriptOptions{}, tc.copts...)
			if err := f.c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			f.file(t, "B.fail-stop", tc.failStop)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			err := f.c.Stop(ctx)
			var se *StopError
			switch {
			case tc.attempts == 0 && err != nil:
				t.Fatalf("Stop: %v", err)
			case tc.attempts != 0 && !errors.As(err, &se):
				t.Fatalf("Stop error %v, want a StopError", err)
			case se != nil && (se.Attempts != tc.attempts || !equal(se.Held, tc.held) || se.Group != "svc::A"):
				t.Errorf("StopError %+v, want %d attempts, held %q", se, tc.attempts, tc.held)
			}
			if want := strings.ReplaceAll(tc.msg, "SVC", svcPath(t)); tc.msg != "" && err.Error() != want {
				t.Errorf("error\n%s\nwant\n%s", err, want)
			}
			if got, want := ops(t, f.dir), append(start[:3:3], tc.ops...); !equal(got, want) {
				t.Errorf("operations %q, want %q", got, want)
			}
			if got := f.waits(); !equalDurations(got, tc.waits) {
				t.Errorf("waits between stops %v, want %v", got, tc.waits)
			}
			var loud int
			for _, r := range f.rec.records() {
				if r.level == slog.LevelError && strings.Contains(r.msg, "failed to stop (attempt") {
					loud++
				}
			}
			if loud != len(tc.waits) {
				t.Errorf("%d retries logged as errors, want %d", loud, len(tc.waits))
			}
			gs, _ := f.c.Status(context.Background())
			if states(gs) != tc.state {
				t.Errorf("status %q, want %q", states(gs), tc.state)
			}
		})
	}
}

func TestChainStatusUnknown(t *testing.T) {
	f := newChainFixture(t, "n1 svc::A svc::B\n", ScriptOptions{StatusTimeout: 1500 * time.Millisecond})
	f.file(t, "B.hang", "status")
	gs, err := f.c.Status(context.Background())
	waitGone(t, sleepPID(t, f.dir, "B"))
	if !errors.Is(err, ErrTimeout) || !strings.HasPrefix(err.Error(), "group svc::A status: resource svc::B status: timed out") {
		t.Errorf("error %v, want the timeout of svc::B's status", err)
	}
	if states(gs) != "unknown: stopped unknown" || gs.Resources[1].Err == nil {
		t.Errorf("status %+v, want unknown: stopped unknown, with B's error", gs)
	}
}

// TestChainSerialized runs starts, stops and statuses at once: each start
// and stop of the group must run whole, never interleaved with another.
func TestChainSerialized(t *testing.T) {
	f := newChainFixture(t, "n1 svc::A svc::B svc::C\n", ScriptOptions{})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 4 {
		wg.Go(func() {
			for i := range 3 {
				var err error
				switch (g + i) % 3 {
				case 0:
					err = f.c.Start(ctx)
				case 1:
					err = f.c.Stop(ctx)
				case 2:
					_, err = f.c.Status(ctx)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := ops(t, f.dir)
	up := []string{"A_start_[A]", "B_start_[B]", "C_start_[C]"}
	down := []string{"C_stop_[C]", "B_stop_[B]", "A_stop_[A]"}
	if len(got) == 0 {
		t.Fatal("nothing was started")
	}
	for i := 0; i < len(got); i += 3 {
		run := got[i:min(i+3, len(got))]
		want := up
		if (i/3)%2 == 1 {
			want = down
		}
		if !equal(run, want) {
			t.Fatalf("operations %q: at %d, %q, want %q", got, i, run, want)
		}
	}
}

func TestNewChainErrors(t *testing.T) {
	g := conf.ResourceGroup{Name: "Unplugged::1", Home: "n1", Line: 1, Resources: []conf.Resource{
		confResource("Unplugged", "builtin:Unplugged", "1"),
		confResource("svc", svcPath(t), "A"),
		confResource("httpd", ""),
	}}
	_, err := NewChain(g, Env{})
	want := "group Unplugged::1: resource Unplugged::1: built-in agent Unplugged is not in this build: no agent\n" +
		"resource httpd: not resolved to a built-in or a script: no agent"
	if err == nil || err.Error() != want || !errors.Is(err, ErrNoAgent) {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
}

// TestChainSweep: a chain with nothing running sweeps without a stop; one
// whose middle resource a former run left running is stopped whole after
// beforeStop; a stop that fails is reported.
func TestChainSweep(t *testing.T) {
	ctx := context.Background()
	f := newChainFixture(t, "n1 svc::A svc::B svc::C\n", ScriptOptions{})
	called := 0
	before := func() { called++ }
	if found, err := f.c.Sweep(ctx, before); found || err != nil || called != 0 {
		t.Fatalf("nothing running: found %v, err %v, beforeStop called %d times", found, err, called)
	}
	if got := ops(t, f.dir); len(got) != 0 {
		t.Fatalf("nothing running, yet operations %q", got)
	}
	f.file(t, "B.running", "")
	found, err := f.c.Sweep(ctx, before)
	if !found || err != nil || called != 1 {
		t.Fatalf("B left running: found %v, err %v, beforeStop called %d times", found, err, called)
	}
	// Every resource was asked to stop, right to left; only B was
	// running, so only its stop did something (stop is idempotent).
	if got, want := ops(t, f.dir), []string{"B_stop_[B]"}; !equal(got, want) {
		t.Fatalf("sweep operations %q, want %q", got, want)
	}
	if gs, _ := f.c.Status(ctx); gs.State != Stopped {
		t.Fatalf("after the sweep: %s", states(gs))
	}
	f.file(t, "A.running", "")
	f.file(t, "A.fail-stop", "always")
	if found, err := f.c.Sweep(ctx, before); !found || err == nil {
		t.Fatalf("a stop that fails: found %v, err %v", found, err)
	}
}
