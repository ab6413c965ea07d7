package netns

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netns"
)

// ownerDir holds one mark per open lab naming the process that owns it, so
// labs of a process that died without Close (a test timeout, SIGKILL) can
// be told from labs in use and removed.
const ownerDir = "/run/hbgo-netns"

// writeOwnerMark records this process as the owner of prefix.
func writeOwnerMark(prefix, name string) error {
	if err := os.MkdirAll(ownerDir, 0o755); err != nil {
		return fmt.Errorf("netns: owner mark: %w", err)
	}
	start, err := startTime(os.Getpid())
	if err != nil {
		return fmt.Errorf("netns: owner mark: %w", err)
	}
	mark := fmt.Sprintf("%d %s %s\n", os.Getpid(), start, strings.ReplaceAll(name, "\n", " "))
	// Written aside and renamed, so a sweep never reads half a mark and
	// takes the owner for dead.
	path := filepath.Join(ownerDir, prefix)
	if err := os.WriteFile(path+".new", []byte(mark), 0o644); err != nil {
		return fmt.Errorf("netns: owner mark: %w", err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		return fmt.Errorf("netns: owner mark: %w", err)
	}
	return nil
}

func removeOwnerMark(prefix string) error {
	if err := os.Remove(filepath.Join(ownerDir, prefix)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns: owner mark: %w", err)
	}
	return nil
}

// startTime is field 22 of /proc/PID/stat, which tells a process from a
// later one that reuses its id.
func startTime(pid int) (string, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	f := procStatFields(string(stat))
	if len(f) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	return f[19], nil
}

// ownerAlive reports whether the process a mark names still runs.
func ownerAlive(mark string) bool {
	f := strings.Fields(mark)
	if len(f) < 2 {
		return false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return false
	}
	start, err := startTime(pid)
	return err == nil && start == f[1] && alive(pid)
}

// SweepStale removes the labs whose owning process has died without closing
// them: it kills what still runs in their namespaces and deletes the
// namespaces. Labs of live processes, and namespaces this package did not
// make (no owner mark), are left alone. It returns the namespaces removed.
// New calls it.
func SweepStale() ([]string, error) {
	ents, err := os.ReadDir(ownerDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netns: sweep: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		prefix := e.Name()
		if !prefixRE.MatchString(prefix) {
			continue
		}
		mark, err := os.ReadFile(filepath.Join(ownerDir, prefix))
		if err != nil || ownerAlive(string(mark)) {
			continue
		}
		names, err := filepath.Glob(filepath.Join(netnsDir, prefix+"*"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, path := range names {
			name := filepath.Base(path)
			if h, err := netns.GetFromPath(path); err == nil {
				if ino, err := nsInode(h); err == nil {
					if err := killInNS(ino); err != nil {
						errs = append(errs, fmt.Errorf("netns: sweep %s: %w", name, err))
					}
				}
				h.Close()
			}
			if err := deleteNS(name); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, name)
		}
		if err := removeOwnerMark(prefix); err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// live holds the open labs of this process, for the signal handler.
var live struct {
	sync.Mutex
	labs    map[*Lab]struct{}
	ch      chan os.Signal
	watched map[os.Signal]bool
}

func register(l *Lab) {
	live.Lock()
	defer live.Unlock()
	if live.labs == nil {
		live.labs = map[*Lab]struct{}{}
	}
	live.labs[l] = struct{}{}
}

func unregister(l *Lab) {
	live.Lock()
	defer live.Unlock()
	delete(live.labs, l)
}

// CleanupOnSignal makes SIGINT, SIGTERM and SIGHUP (or the signals given)
// close every open lab of the process and then exit with status 128+signal,
// so Ctrl-C during `make demo` leaves nothing behind. It is for programs
// without signal handling of their own; those call Close from theirs.
func (l *Lab) CleanupOnSignal(sigs ...os.Signal) {
	if len(sigs) == 0 {
		sigs = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}
	}
	catchSignals(sigs...)
}

// catchSignals adds sigs to those that clean up and exit.
func catchSignals(sigs ...os.Signal) {
	live.Lock()
	defer live.Unlock()
	if live.ch == nil {
		live.ch = make(chan os.Signal, 1)
		live.watched = map[os.Signal]bool{}
		go func() {
			sig := <-live.ch
			live.Lock()
			labs := make([]*Lab, 0, len(live.labs))
			for l := range live.labs {
				labs = append(labs, l)
			}
			live.Unlock()
			for _, l := range labs {
				if err := l.Close(); err != nil {
					fmt.Fprintf(os.Stderr, "netns: %v: close lab %s: %v\n", sig, l.prefix, err)
				}
			}
			fmt.Fprintf(os.Stderr, "netns: %v: removed %d lab(s)\n", sig, len(labs))
			code := 1
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			os.Exit(code)
		}()
	}
	var add []os.Signal
	for _, s := range sigs {
		if !live.watched[s] {
			live.watched[s] = true
			add = append(add, s)
		}
	}
	if len(add) > 0 {
		signal.Notify(live.ch, add...)
	}
}
