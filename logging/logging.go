// Package logging owns the daemon's log: one event a line, with the time,
// the node and a level in Heartbeat's words, written to ha.cf's logfile
// and debugfile, to syslog with its logfacility, and to stderr (in the
// shape journald wants when systemd runs the daemon).
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"hbgo/conf"
)

// DefaultTag is the program name the lines carry, as Heartbeat's did
// ("heartbeat: [PID]: info: ..."), so that operators' filters still match.
const DefaultTag = "heartbeat"

// DefaultSyslogSocket is the local syslog socket.
const DefaultSyslogSocket = "/dev/log"

// Options say where the log goes.
type Options struct {
	Node string // this node's name, on every line
	Tag  string // program name; DefaultTag when ""
	// Level is the daemon's level: slog.LevelDebug when debugging (ha.cf
	// debug N or -d), slog.LevelInfo otherwise. Debug lines are made only
	// at LevelDebug.
	Level slog.Level
	// LogFile gets the lines of level info and up; DebugFile every line
	// made (debug ones included when Level is debug), as Heartbeat's
	// logfile and debugfile. "" writes none.
	LogFile, DebugFile string
	// Facility is a syslog facility name as ha.cf's logfacility takes it
	// (daemon, local0, ...); "" and "none" send nothing to syslog.
	Facility string
	// SyslogSocket is the local syslog socket; DefaultSyslogSocket when "".
	SyslogSocket string
	// Stderr gets every line when neither file nor syslog is set, and when
	// systemd's journal reads it while syslog is off (with syslog on the
	// journal has the lines through the syslog socket already).
	Stderr io.Writer
	// Journal says stderr is systemd's journal: lines there carry a
	// priority prefix ("<6>") instead of a timestamp. UnderSystemd sets it
	// from the environment.
	Journal bool
	// Now is the clock of the timestamps; nil is time.Now.
	Now func() time.Time
	// PID is written in each line; 0 is this process's.
	PID int
	// Where names the directives in errors: "ha.cf:12" for "logfile";
	// nil names them alone.
	Where func(directive string) string
}

// OptionsOf reads ha.cf's logging directives.
func OptionsOf(ha *conf.HAConfig, node string, debug bool, stderr io.Writer) Options {
	o := Options{Node: node, Level: slog.LevelInfo, LogFile: ha.LogFile, DebugFile: ha.DebugFile,
		Facility: ha.LogFacility, Stderr: stderr, Journal: UnderSystemd(stderr),
		Where: func(d string) string {
			if n, ok := ha.Lines[d]; ok && ha.File != "" {
				return fmt.Sprintf("%s:%d", ha.File, n)
			}
			return ha.File
		}}
	if debug || ha.Debug > 0 {
		o.Level = slog.LevelDebug
	}
	return o
}

// UnderSystemd reports whether systemd runs the process with stderr
// connected to its journal: JOURNAL_STREAM names stderr's device and inode
// (when stderr is a file we can look at), or INVOCATION_ID is set.
func UnderSystemd(stderr io.Writer) bool {
	if js := os.Getenv("JOURNAL_STREAM"); js != "" {
		f, ok := stderr.(*os.File)
		if !ok {
			return true
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			return true
		}
		return js == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	return os.Getenv("INVOCATION_ID") != ""
}

// Log is an open log: its Logger writes to every sink Options named.
type Log struct {
	logger *slog.Logger
	opts   Options
	sinks  []*sink
	files  []*reopenFile
	sys    *syslogWriter
}

// Open opens the files and the syslog socket Options name. A syslog
// socket that does not answer yet is not an error: lines are sent once it
// does, and the ones lost meanwhile are counted.
func Open(o Options) (*Log, error) {
	if o.Tag == "" {
		o.Tag = DefaultTag
	}
	if o.SyslogSocket == "" {
		o.SyslogSocket = DefaultSyslogSocket
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PID == 0 {
		o.PID = os.Getpid()
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	l := &Log{opts: o}
	var errs []error
	where := func(d string) string {
		if o.Where != nil {
			if w := o.Where(d); w != "" {
				return w + ": " + d
			}
		}
		return d
	}
	file := func(directive, path string, level slog.Level) {
		if path == "" {
			return
		}
		f, err := openReopenFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", where(directive), path, err))
			return
		}
		l.files = append(l.files, f)
		l.sinks = append(l.sinks, &sink{name: directive + " " + path, level: level, w: f, shape: shapeFile})
	}
	file("logfile", o.LogFile, max(o.Level, slog.LevelInfo))
	file("debugfile", o.DebugFile, o.Level)
	syslogOn := o.Facility != "" && o.Facility != "none"
	if syslogOn {
		fac, err := Facility(o.Facility)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where("logfacility"), err))
		} else {
			l.sys = newSyslogWriter(o.SyslogSocket, fac, o.Tag, o.PID, o.Now)
			l.sinks = append(l.sinks, &sink{name: "logfacility " + o.Facility, level: o.Level, sys: l.sys, shape: shapeSyslog})
		}
	}
	if len(errs) > 0 {
		l.Close()
		return nil, errors.Join(errs...)
	}
	switch {
	case o.Journal && !syslogOn:
		l.sinks = append(l.sinks, &sink{name: "stderr", level: o.Level, w: o.Stderr, shape: shapeJournal})
	case !o.Journal && len(l.sinks) == 0:
		l.sinks = append(l.sinks, &sink{name: "stderr", level: o.Level, w: o.Stderr, shape: shapeFile})
	}
	l.logger = slog.New(&handler{log: l})
	return l, nil
}

// Logger is the log's logger.
func (l *Log) Logger() *slog.Logger { return l.logger }

// Reopen closes and opens the files again (after logrotate moved them;
// SIGHUP does it). Files are also reopened on their own within a second
// of a write after they were moved or removed, and a copytruncate
// rotation needs nothing: the files are opened for appending.
func (l *Log) Reopen() error {
	var errs []error
	for _, f := range l.files {
		if err := f.reopen(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close closes the files and the syslog socket.
func (l *Log) Close() error {
	var errs []error
	for _, f := range l.files {
		errs = append(errs, f.Close())
	}
	if l.sys != nil {
		errs = append(errs, l.sys.Close())
	}
	return errors.Join(errs...)
}

// Lost counts the lines each sink could not write, by sink name
// ("logfile /var/log/ha-log", "logfacility local0", "stderr").
func (l *Log) Lost() map[string]uint64 {
	out := map[string]uint64{}
	for _, s := range l.sinks {
		s.mu.Lock()
		out[s.name] = s.lost
		s.mu.Unlock()
	}
	return out
}

// shape is how a sink lays a line out.
type shape int

const (
	shapeFile    shape = iota // "Nov 29 14:30:01.123 n1 heartbeat: [42]: info: message k=v"
	shapeJournal              // "<6>n1: info: message k=v"
	shapeSyslog               // handed to the syslog writer: "n1: info: message k=v"
)

// sink is one destination with its own minimum level. A sink that fails
// counts the lines it lost and says so on stderr, at most once a minute.
type sink struct {
	name  string
	level slog.Level
	w     io.Writer
	sys   *syslogWriter
	shape shape

	mu       sync.Mutex
	lost     uint64
	reported time.Time
	unsaid   uint64
}

// reportEvery bounds how often a failing sink complains.
const reportEvery = time.Minute

func (s *sink) failed(err error, now time.Time, stderr io.Writer) {
	s.lost++
	s.unsaid++
	if !s.reported.IsZero() && now.Sub(s.reported) < reportEvery {
		return
	}
	s.reported = now
	fmt.Fprintf(stderr, "hbgo: %s: %v (%d log lines lost, %d in all)\n", s.name, err, s.unsaid, s.lost)
	s.unsaid = 0
}
