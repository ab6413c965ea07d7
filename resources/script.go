package resources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"hbgo/internal/normalprio"
)

// Default bounds of a script agent. Heartbeat v1 had none: a hung script
// hung the takeover.
const (
	DefaultStartTimeout  = 60 * time.Second
	DefaultStopTimeout   = 60 * time.Second
	DefaultStatusTimeout = 20 * time.Second
	DefaultMaxOutput     = 16 << 10 // bytes kept of each of stdout and stderr
)

// ScriptOptions tune a script agent; zero fields take the defaults.
type ScriptOptions struct {
	// Each operation runs at most this long, or until its context is
	// done if that comes first; then the script's process group is
	// killed. Start and Stop run a status first, so they take up to
	// StatusTimeout more.
	StartTimeout, StopTimeout, StatusTimeout time.Duration
	// MaxOutput bounds what is kept of each output stream for the log:
	// beyond it, the head and the tail are kept.
	MaxOutput int
	// Env is added to the script's environment, KEY=value; it overrides
	// inherited variables of the same name (see Env.ScriptEnv).
	Env []string
	// Logger receives the script's output line by line, with the
	// resource, the operation and the stream. Nil discards.
	Logger *slog.Logger
}

// Script runs a Heartbeat resource script or an LSB init script, as
// Heartbeat's ResourceManager did: PATH ARG... start|stop|status, the
// arguments being the "::"-separated ones of the haresources entry. Each
// argument is passed as one word; Heartbeat let the shell split them
// again on blanks.
//
// Status follows Heartbeat first, then LSB. Heartbeat looked only at what
// the script prints on stdout; LSB scripts answer with exit codes:
//
//   - stdout says "not ... running" (any case of NOT, Running): Stopped;
//   - stdout says "running" or "Running" or "OK": Running;
//   - exit 0 and nothing on stdout: Running (LSB);
//   - exit 0 and something else on stdout ("stopped"): Stopped, as
//     Heartbeat decides;
//   - exit 3 (LSB "not running") or 7 (OCF "not running", which
//     Heartbeat's OCF wrappers in resource.d return): Stopped;
//   - any other exit code (LSB 1 and 2: dead but a pid or lock file
//     remains; 4: unknown): Failed.
//
// Start runs status first and does nothing when the resource is Running.
// Stop runs status first and does nothing when the resource is surely
// Stopped: by exit code 3 or 7 or by "not running" (a Stopped read only
// from an exit 0 with unusual output is not trusted to skip a stop, which
// LSB scripts must accept when stopped). A stop that fails is followed by
// a status; if that says Stopped, the stop counts as done and a warning
// names the script as not LSB-compliant, as Heartbeat did.
//
// Output goes to unlinked temporary files, not pipes: a daemon a start
// script leaves behind may keep writing to them without holding up the
// call or dying of SIGPIPE, as it could under Heartbeat, which sent it to
// a log file.
type Script struct {
	path string
	name string // ResourceName
	args []string
	env  []string
	opts ScriptOptions
	log  *slog.Logger
}

// NewScript returns the agent for the script at path run for the
// resource name::args.
func NewScript(path string, name string, args []string, opts ScriptOptions) *Script {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if opts.StatusTimeout <= 0 {
		opts.StatusTimeout = DefaultStatusTimeout
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Script{
		path: path,
		name: ResourceName(name, args),
		args: slices.Clone(args),
		env:  scriptEnviron(os.Environ(), opts.Env),
		opts: opts,
		log:  lg,
	}
}

// scriptEnviron is the inherited environment without LC_ALL and LANGUAGE
// (ResourceManager unsets them so that tools print in English), without
// what extra sets, then extra.
func scriptEnviron(inherited, extra []string) []string {
	drop := map[string]bool{"LC_ALL": true, "LANGUAGE": true}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	env := make([]string, 0, len(inherited)+len(extra))
	for _, kv := range inherited {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Name is the resource as haresources writes it.
func (s *Script) Name() string { return s.name }

// Path is the script run.
func (s *Script) Path() string { return s.path }

// Args are the arguments given before the operation.
func (s *Script) Args() []string { return slices.Clone(s.args) }

// Start starts the resource unless its status says Running.
func (s *Script) Start(ctx context.Context) error {
	st, _, err := s.status(ctx)
	switch {
	case err == nil && st == Running:
		s.log.Debug("Resource "+s.name+" is running; start skipped.", "resource", s.name)
		return nil
	case err != nil && ctx.Err() != nil:
		return &OpError{Resource: s.name, Op: "start", Err: fmt.Errorf("status before start: %w", errors.Unwrap(err))}
	case err != nil:
		s.log.Warn("Resource "+s.name+": status failed, starting anyway.", "resource", s.name, "err", err)
	}
	res, err := s.run(ctx, "start", s.opts.StartTimeout)
	if err == nil {
		err = res.exitErr(s.path)
	}
	if err != nil {
		return &OpError{Resource: s.name, Op: "start", Err: err}
	}
	return nil
}

// Stop stops the resource unless its status says surely Stopped.
func (s *Script) Stop(ctx context.Context) error {
	st, sure, err := s.status(ctx)
	switch {
	case err == nil && st == Stopped && sure:
		s.log.Debug("Resource "+s.name+" is stopped; stop skipped.", "resource", s.name)
		return nil
	case err != nil && ctx.Err() != nil:
		return &OpError{Resource: s.name, Op: "stop", Err: fmt.Errorf("status before stop: %w", errors.Unwrap(err))}
	case err != nil:
		s.log.Warn("Resource "+s.name+": status failed, stopping anyway.", "resource", s.name, "err", err)
	}
	res, err := s.run(ctx, "stop", s.opts.StopTimeout)
	if err == nil {
		err = res.exitErr(s.path)
	}
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		if st, _, serr := s.status(ctx); serr == nil && st == Stopped {
			s.log.Warn("Resource "+s.name+": stop failed but status says stopped; "+
				"the script is not LSB-compliant (stop must succeed when already stopped).",
				"resource", s.name, "err", err)
			return nil
		}
	}
	return &OpError{Resource: s.name, Op: "stop", Err: err}
}

// Status runs the script's status operation and reads its answer.
func (s *Script) Status(ctx context.Context) (State, error) {
	st, _, err := s.status(ctx)
	return st, err
}

// status returns the state and whether it is sure enough to skip a stop.
func (s *Script) status(ctx context.Context) (State, bool, error) {
	res, err := s.run(ctx, "status", s.opts.StatusTimeout)
	if err != nil {
		return Unknown, false, &OpError{Resource: s.name, Op: "status", Err: err}
	}
	st, sure := classifyStatus(res.code, res.stdout)
	s.log.Debug("Resource "+s.name+" is "+st.String()+".", "resource", s.name, "exit", res.code)
	return st, sure, nil
}

var (
	notRunningRE = regexp.MustCompile(`(?s)[Nn][Oo][Tt] .*[Rr]unning`)
	runningRE    = regexp.MustCompile(`[Rr]unning|OK`)
)

// classifyStatus reads a status answer; see Script. The second result
// says whether Stopped is sure enough to skip a stop.
func classifyStatus(code int, stdout string) (State, bool) {
	switch {
	case notRunningRE.MatchString(stdout):
		return Stopped, true
	case runningRE.MatchString(stdout):
		return Running, true
	case code == 0 && strings.TrimSpace(stdout) == "":
		return Running, true
	case code == 0:
		return Stopped, false
	case code == 3 || code == 7:
		return Stopped, true
	}
	return Failed, true
}

// scriptResult is what a script run left.
type scriptResult struct {
	code           int
	stdout, stderr string
}

// exitErr is the error of a non-zero exit, with the last line the script
// wrote, which is usually its reason.
func (r scriptResult) exitErr(path string) error {
	if r.code == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s exited with code %d", path, r.code)
	if l := lastLine(r.stderr); l != "" {
		msg += ": " + l
	} else if l := lastLine(r.stdout); l != "" {
		msg += ": " + l
	}
	return errors.New(msg)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, " \t\r\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// killGrace bounds the wait for a killed process group's leader to be
// reaped (a process in uninterruptible sleep does not die at once).
const killGrace = 5 * time.Second

// run runs the script once with op, bounded by timeout and ctx, and logs
// its output. An error means the script did not run to an exit code.
func (s *Script) run(ctx context.Context, op string, timeout time.Duration) (scriptResult, error) {
	if !processGroups {
		return scriptResult{}, errNoProcessGroups
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stdout, err := captureFile()
	if err != nil {
		return scriptResult{}, err
	}
	defer stdout.Close()
	stderr, err := captureFile()
	if err != nil {
		return scriptResult{}, err
	}
	defer stderr.Close()

	args := append(slices.Clone(s.args), op)
	var killed atomic.Int64 // the process group killed, if any
	mk := func() *exec.Cmd {
		cmd := normalprio.Command(ctx, s.path, args...)
		cmd.Env = s.env
		cmd.Stdout, cmd.Stderr = stdout, stderr
		setProcessGroup(cmd)
		cmd.Cancel = func() error {
			pgid := cmd.Process.Pid
			err := killProcessGroup(pgid)
			if err == nil {
				killed.Store(int64(pgid))
			}
			return err
		}
		cmd.WaitDelay = killGrace
		return cmd
	}

	level := slog.LevelInfo
	if op == "status" {
		level = slog.LevelDebug
	}
	s.log.Log(context.Background(), level, "Running "+strings.Join(append([]string{s.path}, args...), " "), "resource", s.name, "op", op)
	began := time.Now()
	cmd, werr := normalprio.Start(ctx, mk)
	if werr == nil {
		werr = cmd.Wait()
	}
	took := time.Since(began)

	res := scriptResult{
		stdout: readCapture(stdout, s.opts.MaxOutput),
		stderr: readCapture(stderr, s.opts.MaxOutput),
	}
	s.logOutput(level, op, "stdout", res.stdout)
	s.logOutput(level, op, "stderr", res.stderr)

	if pgid := killed.Load(); pgid != 0 {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, fmt.Errorf("%w after %s; killed process group %d of %s", ErrTimeout, took.Round(time.Millisecond), pgid, s.path)
		}
		return res, fmt.Errorf("%w; killed process group %d of %s", context.Cause(ctx), pgid, s.path)
	}
	if werr != nil {
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			return res, werr
		}
		if !ee.Exited() {
			return res, fmt.Errorf("%s %s: %v", s.path, op, ee)
		}
		res.code = ee.ExitCode()
	}
	return res, nil
}

// logOutput logs text a line at a time.
func (s *Script) logOutput(level slog.Level, op, stream, text string) {
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" {
			continue
		}
		s.log.Log(context.Background(), level, line, "resource", s.name, "op", op, "stream", stream)
	}
}

// captureFile is an unlinked temporary file for a script's output.
func captureFile() (*os.File, error) {
	f, err := os.CreateTemp("", "hbgo-script-*")
	if err != nil {
		return nil, fmt.Errorf("output file for script: %w", err)
	}
	os.Remove(f.Name())
	return f, nil
}

// readCapture reads back what a script wrote to f: all of it up to max
// bytes, else the whole lines within the first and the last max/2.
func readCapture(f *os.File, max int) string {
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	size := fi.Size()
	if size <= int64(max) {
		b := make([]byte, size)
		n, _ := f.ReadAt(b, 0)
		return string(b[:n])
	}
	half := int64(max / 2)
	head := make([]byte, half)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	tail := make([]byte, half)
	m, err := f.ReadAt(tail, size-half)
	if err != nil && !errors.Is(err, io.EOF) {
		m = 0
	}
	tail = tail[:m]
	if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
		head = head[:i+1]
	}
	if i := bytes.IndexByte(tail, '\n'); i >= 0 {
		tail = tail[i+1:]
	}
	left := size - int64(len(head)+len(tail))
	if len(head) > 0 && head[len(head)-1] != '\n' {
		head = append(head, '\n') // one long line, cut
	}
	return fmt.Sprintf("%s[... %d bytes left out ...]\n%s", head, left, tail)
}
