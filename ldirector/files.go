package ldirector

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"hbgo/conf"
	"hbgo/internal/normalprio"
)

// inMaintenance reports whether maintenancedir holds a file naming mb's
// server: address:port, address, or the host name it was written with
// (full, then its first label), with and without the port. The caller
// holds d.mu.
func (d *Director) inMaintenance(mb *member) bool {
	dir := d.m.cfg.MaintenanceDir
	if dir == "" {
		return false
	}
	addr := mb.dest.Addr.Addr().String()
	port := strconv.Itoa(int(mb.dest.Addr.Port()))
	names := []string{addr + ":" + port, addr}
	if h := mb.real.Host; h != "" {
		names = append(names, h+":"+port, h)
		if short, _, ok := strings.Cut(h, "."); ok {
			names = append(names, short+":"+port, short)
		}
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// monitor appends one check result to the virtual service's monitor
// file, in ldirectord's format: "[date] [pid] id [up|down] message".
// The caller holds d.mu.
func (d *Director) monitor(mb *member, err error, when time.Time) {
	state, msg := "up", "-"
	if err != nil {
		state, msg = "down", err.Error()
	}
	// URI-escape what would break the line, as ldirectord does.
	var b strings.Builder
	for _, c := range []byte(msg) {
		if c == '%' || c == '|' || c == '\r' || c == '\n' {
			fmt.Fprintf(&b, "%%%.2x", c)
		} else {
			b.WriteByte(c)
		}
	}
	line := fmt.Sprintf("[%s] [%d] %s [%s] %s\n", when.Format("Mon Jan _2 15:04:05 2006"), os.Getpid(), mb.realID(), state, b.String())
	f, ferr := os.OpenFile(mb.v.cfg.MonitorFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if ferr == nil {
		_, ferr = f.WriteString(line)
		if cerr := f.Close(); ferr == nil {
			ferr = cerr
		}
	}
	if ferr != nil {
		if ok, n := d.limiter.allow("monitor "+mb.v.cfg.MonitorFile, time.Minute); ok {
			msg := fmt.Sprintf("Error writing to monitorfile '%s': %v", mb.v.cfg.MonitorFile, ferr)
			if n > 0 {
				msg += fmt.Sprintf(" (%d more failures not logged)", n)
			}
			d.log.Error(msg)
		}
	}
}

// cfgStamp is what autoreload compares: the file's modification time and
// the digest of its content, as ldirectord's check_cfgfile.
type cfgStamp struct {
	mtime  time.Time
	digest [16]byte
	ok     bool
}

func stampOf(file string) cfgStamp {
	st, err := os.Stat(file)
	if err != nil {
		return cfgStamp{}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return cfgStamp{}
	}
	return cfgStamp{mtime: st.ModTime(), digest: md5.Sum(data), ok: true}
}

// watchConfig runs once every checkinterval: when the configuration file
// changed on disk it logs so, reloads it with autoreload = yes, and runs
// the callback.
func (l *loop) watchConfig(wctx context.Context) {
	d := l.d
	d.mu.Lock()
	cfg := d.m.cfg
	d.mu.Unlock()
	file := cfg.File
	st, err := os.Stat(file)
	if err != nil {
		if ok, _ := l.limiter.allow("cfgstat", time.Minute); ok {
			d.log.Warn(fmt.Sprintf("can not open file %s for checking: %v", file, err))
		}
		return
	}
	if l.cfgStamp.ok && st.ModTime().Equal(l.cfgStamp.mtime) {
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return
	}
	sum := md5.Sum(data)
	prev := l.cfgStamp
	l.cfgStamp = cfgStamp{mtime: st.ModTime(), digest: sum, ok: true}
	if !prev.ok || bytes.Equal(prev.digest[:], sum[:]) {
		return
	}
	d.logf("Configuration file '%s' has changed on disk", file)
	if cfg.AutoReload {
		d.logf(" - reread new configuration")
		var ds conf.Diags
		ncfg := conf.ParseLdirectord(file, data, &ds)
		for _, x := range ds {
			if x.Severity == conf.Error {
				d.log.Error(x.String())
			}
		}
		if ds.HasErrors() {
			d.log.Error(fmt.Sprintf("%s has errors; keeping the running configuration", file))
		} else if err := l.reload(wctx, ncfg); err != nil {
			d.log.Error(err.Error())
		}
	} else {
		d.logf(" - ignore new configuration")
	}
	if cb := cfg.Callback; cb != "" {
		if st, err := os.Stat(cb); err == nil && st.Mode()&0o111 != 0 {
			l.queueCommand([]string{cb, file})
		}
	}
}

// fallbackCommand runs fallbackcommand with start or stop, the service's
// address and its protocol, as ldirectord's do_fallback_command.
func (l *loop) fallbackCommand(v *virtual) {
	cmd := v.cfg.EffectiveFallbackCommand()
	if cmd == "" {
		return
	}
	addr := v.svc.Addr.String()
	proto := v.cfg.Protocol
	if v.cfg.FWMark != 0 {
		addr, proto = v.name, "fwm"
	}
	l.queueCommand([]string{"/bin/sh", "-c", cmd + " " + v.fbCommand + " " + addr + " " + proto})
}

func (l *loop) queueCommand(argv []string) {
	select {
	case l.cmds <- argv:
	default:
		if ok, _ := l.limiter.allow("cmdqueue", 10*time.Second); ok {
			l.d.log.Error(fmt.Sprintf("command queue full; not running %s", strings.Join(argv, " ")))
		}
	}
}

// commandTimeout bounds a fallback command or callback; commandWait is
// how long its output is read after it ended (a child it left in the
// background may hold the output open); commandOutput is how much of its
// output is kept for the log.
const (
	commandTimeout = 60 * time.Second
	commandWait    = 2 * time.Second
	commandOutput  = 4 << 10
)

// runCommands runs queued commands one at a time, in order, so that a
// slow script never holds up the checks. Each runs in a process group of
// its own, killed whole at commandTimeout; its output is kept up to
// commandOutput bytes and read for no longer than commandWait after it
// ended, so a child it left running holds up nothing.
func (l *loop) runCommands() {
	for argv := range l.cmds {
		cctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		out := &cappedBuffer{max: commandOutput}
		c := normalprio.Command(cctx, argv[0], argv[1:]...)
		c.Stdout, c.Stderr = out, out
		inProcessGroup(c)
		c.WaitDelay = commandWait
		err := c.Run()
		cancel()
		if errors.Is(err, exec.ErrWaitDelay) {
			err = nil // it ended; something it started still holds its output
		}
		if err != nil {
			l.d.log.Error(fmt.Sprintf("system(%s) failed: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String())))
		}
	}
}

// cappedBuffer keeps the first max bytes written to it and takes (and
// drops) the rest.
type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
	cut bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room < len(p) {
		b.buf.Write(p[:max(room, 0)])
		b.cut = true
	} else {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return b.buf.String() + " [...]"
	}
	return b.buf.String()
}
