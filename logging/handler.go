package logging

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// handler formats each record once per shape and hands it to the sinks
// whose level it reaches.
type handler struct {
	log    *Log
	prefix string // pre-formatted attributes of With, each " k=v"
	groups string // open groups of WithGroup, "a.b."
}

func (h *handler) Enabled(_ context.Context, level slog.Level) bool {
	for _, s := range h.log.sinks {
		if level >= s.level {
			return true
		}
	}
	return false
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range as {
		h.appendAttr(&b, h.groups, a)
	}
	return &handler{log: h.log, prefix: b.String(), groups: h.groups}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{log: h.log, prefix: h.prefix, groups: h.groups + name + "."}
}

var bufPool = sync.Pool{New: func() any { return new(strings.Builder) }}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	o := &h.log.opts
	body := bufPool.Get().(*strings.Builder)
	defer func() { body.Reset(); bufPool.Put(body) }()
	// body: "LEVEL: message k=v ..." without a newline.
	word := LevelWord(r.Level)
	body.WriteString(word)
	body.WriteString(": ")
	// Messages written in Heartbeat's words may start with the level
	// already ("WARN: Late heartbeat: ..."): it is said once.
	body.WriteString(oneLine(strings.TrimPrefix(r.Message, word+": ")))
	body.WriteString(h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		h.appendAttr(body, h.groups, a)
		return true
	})
	now := o.Now() // the injected clock, not r.Time: tests step it
	var file, journal string
	for _, s := range h.log.sinks {
		if r.Level < s.level {
			continue
		}
		var err error
		switch s.shape {
		case shapeFile:
			if file == "" {
				file = fmt.Sprintf("%s %s %s: [%d]: %s\n", now.Format(time.StampMilli), o.Node, o.Tag, o.PID, body.String())
			}
			s.mu.Lock()
			_, err = s.w.Write([]byte(file))
			s.mu.Unlock()
		case shapeJournal:
			if journal == "" {
				journal = fmt.Sprintf("<%d>%s: %s\n", severity(r.Level), o.Node, body.String())
			}
			s.mu.Lock()
			_, err = s.w.Write([]byte(journal))
			s.mu.Unlock()
		case shapeSyslog:
			err = s.sys.send(severity(r.Level), now, o.Node+": "+body.String())
		}
		if err != nil {
			s.mu.Lock()
			s.failed(err, now, o.Stderr)
			s.mu.Unlock()
		}
	}
	return nil
}

// appendAttr writes " key=value", with groups as dotted prefixes, and
// leaves out the node attribute when it only repeats the line's node.
func (h *handler) appendAttr(b *strings.Builder, groups string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := groups
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			h.appendAttr(b, g, ga)
		}
		return
	}
	if groups == "" && a.Key == "node" && a.Value.Kind() == slog.KindString && a.Value.String() == h.log.opts.Node {
		return
	}
	b.WriteByte(' ')
	b.WriteString(quoteIfNeeded(groups + a.Key))
	b.WriteByte('=')
	var v string
	switch a.Value.Kind() {
	case slog.KindTime:
		v = a.Value.Time().Format(time.RFC3339Nano)
	case slog.KindDuration:
		v = a.Value.Duration().String()
	default:
		if err, ok := a.Value.Any().(error); ok && err != nil {
			v = err.Error()
		} else {
			v = a.Value.String()
		}
	}
	b.WriteString(quoteIfNeeded(v))
}

// quoteIfNeeded quotes s as Go does when it is empty or has spaces,
// quotes, '=' or characters that are not printable.
func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || r == '"' || r == '=' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
		i += n
	}
	return s
}

// oneLine keeps an event on one line: newlines become " | ".
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	s = strings.TrimRight(s, "\r\n")
	return strings.NewReplacer("\r\n", " | ", "\n", " | ", "\r", " | ").Replace(s)
}

// LevelWord is a level in Heartbeat's words: debug, info, WARN, ERROR
// (and CRIT above error).
func LevelWord(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "WARN"
	case l == slog.LevelError:
		return "ERROR"
	}
	return "CRIT"
}

// severity is a level's syslog severity: 7 debug, 6 info, 4 warning, 3
// err, 2 crit.
func severity(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return 7
	case l < slog.LevelWarn:
		return 6
	case l < slog.LevelError:
		return 4
	case l == slog.LevelError:
		return 3
	}
	return 2
}
