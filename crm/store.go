package crm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Files and tuning of the raft state directory.
const (
	// RaftDBFile is the bbolt database holding the raft log (bucket
	// "logs") and raft's stable values such as CurrentTerm and the last
	// vote (bucket "conf").
	RaftDBFile = "raft.db"
	// SnapshotsDir holds one folder per FSM snapshot, named
	// TERM-INDEX-MILLIS with meta.json and state.bin inside; a folder
	// ending in .tmp is a snapshot still being written.
	SnapshotsDir = "snapshots"
	// SnapshotsRetained is how many snapshots are kept.
	SnapshotsRetained = 2
	// logCacheEntries is how many recent log entries are served from
	// memory, so replication to a lagging peer does not read the disk.
	logCacheEntries = 512
	// dbLockTimeout bounds the wait for the database lock, so a second
	// daemon on the same directory fails instead of hanging.
	dbLockTimeout = time.Second
)

// Stores are raft's persistent stores in one directory:
//
//	DIR/raft.db                      log and stable store (bbolt, 0600)
//	DIR/snapshots/TERM-INDEX-MILLIS/ FSM snapshots, the newest 2 kept
//
// DIR is created 0700 when missing.
type Stores struct {
	Log       raft.LogStore
	Stable    raft.StableStore
	Snapshots raft.SnapshotStore

	db        *raftboltdb.BoltStore
	closeOnce sync.Once
	closeErr  error
}

// OpenStores opens (creating when missing) the raft stores under dir. Only
// one process may hold them: a second OpenStores on the same dir fails
// after a second while the first is open.
func OpenStores(dir string) (*Stores, error) {
	if dir == "" {
		return nil, errors.New("raft state directory not set")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("raft state directory: %w", err)
	}
	opts := *bbolt.DefaultOptions
	opts.Timeout = dbLockTimeout
	path := filepath.Join(dir, RaftDBFile)
	if err := checkStore(path); err != nil {
		return nil, err
	}
	db, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &opts})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("raft log %s: locked by another process: %w", path, err)
		}
		return nil, fmt.Errorf("raft log %s: %w", path, err)
	}
	cache, err := raft.NewLogCache(logCacheEntries, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, SnapshotsRetained, hclog.NewNullLogger())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("raft snapshots in %s: %w", dir, err)
	}
	return &Stores{Log: cache, Stable: db, Snapshots: snaps, db: db}, nil
}

// checkStore refuses a raft database that is empty or damaged, before
// raft opens it: bbolt maps the file into memory, and a file cut short
// (a full disk, a copy that stopped) faults on the first page read past
// its end (SIGBUS), which killed the daemon at every start; an empty file
// opened as a new database, losing the term and vote raft must keep. The
// check reads every page with faults turned into panics (the runtime's
// SetPanicOnFault, meant for mapped files) and says in one line which
// file and what to do.
func checkStore(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("raft log %s: %w", path, err)
	}
	const todo = "; stop hbgo on this node, move its raft directory aside (%s) while the other voters agree on a leader, " +
		"and start it again: it rejoins with an empty log and the leader sends it the state"
	if fi.Size() == 0 {
		return fmt.Errorf("raft log %s is empty: it has lost the term and the vote raft must keep"+todo, path, filepath.Dir(path))
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%v", r)
			}
		}()
		debug.SetPanicOnFault(true)
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: dbLockTimeout})
		if err != nil {
			done <- err
			return
		}
		defer db.Close()
		done <- db.View(func(tx *bbolt.Tx) error {
			if need := tx.Size(); need > fi.Size() {
				return fmt.Errorf("%d bytes, its pages need %d", fi.Size(), need)
			}
			// Every bucket, key and value read here, in this goroutine:
			// a fault or one of bbolt's assertions becomes a panic the
			// deferred recover turns into the error.
			var walk func(b *bbolt.Bucket) error
			walk = func(b *bbolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					if v == nil {
						if sub := b.Bucket(k); sub != nil {
							return walk(sub)
						}
					}
					return nil
				})
			}
			return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error { return walk(b) })
		})
	}()
	err = <-done
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bbolt.ErrTimeout):
		return fmt.Errorf("raft log %s: locked by another process: %w", path, err)
	}
	return fmt.Errorf("raft log %s is damaged (%v)"+todo, path, err, filepath.Dir(path))
}

// Close closes the database; raft must be shut down first. A second Close
// returns the first one's result.
func (s *Stores) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close raft log: %w", err)
		}
	})
	return s.closeErr
}
