package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
	"sync"
	"time"

	"hbgo/conf"
)

// ldLogger builds the logger of an ldirectord process as ldirectord
// logs: to the terminal with -d, to stdout with supervised = yes, to the
// logfile (a path, opened for each line so rotation works) or to syslog
// (a facility name) otherwise.
func ldLogger(cfg *conf.LdirectordConfig, cfgName string, foreground, debug bool, stderr io.Writer) (*slog.Logger, func()) {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	h := &ldLogHandler{level: level, mu: &sync.Mutex{}}
	switch {
	case foreground:
		h.w = stderr
		h.prefix = func() string { return "" }
	case cfg.Supervised:
		h.w = os.Stdout
		h.prefix = func() string { return "[" + ldNow() + "] " }
	case strings.HasPrefix(cfg.LogFile, "/"):
		h.file = cfg.LogFile
		pid := os.Getpid()
		h.prefix = func() string { return fmt.Sprintf("[%s|%s|%d] ", ldNow(), cfgName, pid) }
	default:
		w, err := syslog.New(ldFacility(cfg.LogFile)|syslog.LOG_INFO, "ldirectord")
		if err != nil {
			// No syslog: the default log file rather than nothing.
			h.file = conf.DefaultLdirectordLogFile
			pid := os.Getpid()
			h.prefix = func() string { return fmt.Sprintf("[%s|%s|%d] ", ldNow(), cfgName, pid) }
			break
		}
		h.sys = w
		h.prefix = func() string { return "" }
	}
	closeFn := func() {
		if h.sys != nil {
			h.sys.Close()
		}
	}
	return slog.New(h), closeFn
}

func ldNow() string { return time.Now().Format("Mon Jan _2 15:04:05 2006") }

var ldFacilities = map[string]syslog.Priority{
	"auth": syslog.LOG_AUTH, "authpriv": syslog.LOG_AUTHPRIV, "cron": syslog.LOG_CRON,
	"daemon": syslog.LOG_DAEMON, "ftp": syslog.LOG_FTP, "kern": syslog.LOG_KERN,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7, "lpr": syslog.LOG_LPR,
	"mail": syslog.LOG_MAIL, "news": syslog.LOG_NEWS, "syslog": syslog.LOG_SYSLOG,
	"user": syslog.LOG_USER, "uucp": syslog.LOG_UUCP,
}

func ldFacility(name string) syslog.Priority {
	if f, ok := ldFacilities[name]; ok {
		return f
	}
	return syslog.LOG_DAEMON
}

// ldLogHandler writes one message a line, attributes after it.
type ldLogHandler struct {
	level  slog.Level
	mu     *sync.Mutex
	w      io.Writer
	file   string
	sys    *syslog.Writer
	prefix func() string
	attrs  []slog.Attr
}

func (h *ldLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *ldLogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	msg := b.String()
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.sys != nil:
		switch {
		case r.Level >= slog.LevelError:
			return h.sys.Err(msg)
		case r.Level >= slog.LevelWarn:
			return h.sys.Warning(msg)
		case r.Level < slog.LevelInfo:
			return h.sys.Debug(msg)
		}
		return h.sys.Info(msg)
	case h.file != "":
		f, err := os.OpenFile(h.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteString(h.prefix() + msg + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	_, err := io.WriteString(h.w, h.prefix()+msg+"\n")
	return err
}

func (h *ldLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *ldLogHandler) WithGroup(string) slog.Handler { return h }
