package logging

import (
	"os"
	"sync"
	"syscall"
	"time"
)

// recheckEvery is how often a write looks whether the file was moved or
// removed (logrotate's default create mode) and opens it again.
const recheckEvery = time.Second

// reopenFile is a log file opened for appending, opened again when it
// was rotated away.
type reopenFile struct {
	path string

	mu      sync.Mutex
	f       *os.File
	checked time.Time
}

func openReopenFile(path string) (*reopenFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, err
	}
	return &reopenFile{path: path, f: f, checked: time.Now()}, nil
}

func (r *reopenFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= recheckEvery {
		r.checked = now
		if r.moved() {
			r.reopenLocked() // on failure the old file keeps the line
		}
	}
	if r.f == nil {
		if err := r.reopenLocked(); err != nil {
			return 0, err
		}
	}
	return r.f.Write(p)
}

// moved reports whether the path no longer names the open file.
func (r *reopenFile) moved() bool {
	if r.f == nil {
		return true
	}
	var open, named syscall.Stat_t
	if syscall.Fstat(int(r.f.Fd()), &open) != nil {
		return true
	}
	if syscall.Stat(r.path, &named) != nil {
		return true
	}
	return open.Dev != named.Dev || open.Ino != named.Ino
}

func (r *reopenFile) reopen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reopenLocked()
}

func (r *reopenFile) reopenLocked() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f = f
	return nil
}

func (r *reopenFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
