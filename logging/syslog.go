package logging

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// facilities are syslog's facility codes by the names ha.cf's
// logfacility accepts.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5,
	"lpr": 6, "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Facility is the code of a facility name (any case).
func Facility(name string) (int, error) {
	if f, ok := facilities[strings.ToLower(name)]; ok {
		return f, nil
	}
	return 0, fmt.Errorf("unknown syslog facility %q", name)
}

// sendTimeout bounds one datagram to the syslog socket: a stalled syslog
// daemon costs lost lines, never a stalled cluster.
const sendTimeout = 100 * time.Millisecond

// redialEvery bounds how often a missing syslog socket is tried again.
const redialEvery = time.Second

// syslogWriter sends lines to the local syslog socket as the C library's
// syslog(3) does: "<PRI>Mmm dd hh:mm:ss TAG[PID]: message", one datagram
// each.
type syslogWriter struct {
	path     string
	facility int
	tag      string
	pid      int
	now      func() time.Time

	mu     sync.Mutex
	conn   *net.UnixConn
	dialed time.Time
}

func newSyslogWriter(path string, facility int, tag string, pid int, now func() time.Time) *syslogWriter {
	w := &syslogWriter{path: path, facility: facility, tag: tag, pid: pid, now: now}
	w.mu.Lock()
	w.dial()
	w.mu.Unlock()
	return w
}

func (w *syslogWriter) dial() error {
	w.dialed = w.now()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: w.path, Net: "unixgram"})
	if err != nil {
		return err
	}
	w.conn = c
	return nil
}

// send writes one line with severity sev; on failure it redials once.
func (w *syslogWriter) send(sev int, t time.Time, msg string) error {
	line := fmt.Sprintf("<%d>%s %s[%d]: %s", w.facility*8+sev, t.Format(time.Stamp), w.tag, w.pid, msg)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		if w.now().Sub(w.dialed) < redialEvery {
			return fmt.Errorf("syslog socket %s: not connected", w.path)
		}
		if err := w.dial(); err != nil {
			return fmt.Errorf("syslog socket %s: %w", w.path, err)
		}
	}
	err := w.write(line)
	if err == nil {
		return nil
	}
	// The syslog daemon restarted: its socket is a new one.
	w.conn.Close()
	w.conn = nil
	if derr := w.dial(); derr != nil {
		return fmt.Errorf("syslog socket %s: %w", w.path, err)
	}
	if err := w.write(line); err != nil {
		return fmt.Errorf("syslog socket %s: %w", w.path, err)
	}
	return nil
}

func (w *syslogWriter) write(line string) error {
	w.conn.SetWriteDeadline(time.Now().Add(sendTimeout))
	_, err := w.conn.Write([]byte(line))
	return err
}

func (w *syslogWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	return err
}
