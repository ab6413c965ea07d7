package crm

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

func TestOpenStoresFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "raft")
	st, err := OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tests := []struct {
		path string
		dir  bool
		mode os.FileMode
	}{
		{"", true, 0o700},
		{RaftDBFile, false, 0o600},
		{SnapshotsDir, true, 0},
	}
	for _, tc := range tests {
		fi, err := os.Stat(filepath.Join(dir, tc.path))
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if fi.IsDir() != tc.dir {
			t.Errorf("%s: directory %v, want %v", tc.path, fi.IsDir(), tc.dir)
		}
		if tc.mode != 0 && fi.Mode().Perm() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.path, fi.Mode().Perm(), tc.mode)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenStoresErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(file, nil, 0o600)
	tests := []struct {
		name, dir, want string
	}{
		{"empty", "", "not set"},
		{"under a file", filepath.Join(file, "raft"), "raft state directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := OpenStores(tc.dir)
			if err == nil {
				st.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q in it", err, tc.want)
			}
		})
	}
}

func TestOpenStoresLocked(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	st2, err := OpenStores(dir)
	if err == nil {
		st2.Close()
		t.Fatal("opened the stores twice")
	}
	if !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("error %q", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("gave up after %v", took)
	}
}

func TestStoresReopenKeepsLogStableAndSnapshots(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: []byte{byte(i)}})
	}
	if err := st.Log.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := st.Log.DeleteRange(1, 2); err != nil { // as raft compacts
		t.Fatal(err)
	}
	stable := []struct {
		key string
		u   uint64
		b   []byte
	}{
		{key: "CurrentTerm", u: 7},
		{key: "LastVoteTerm", u: 6},
		{key: "LastVoteCand", b: []byte("127.0.0.1:694")},
	}
	for _, s := range stable {
		if s.b != nil {
			err = st.Stable.Set([]byte(s.key), s.b)
		} else {
			err = st.Stable.SetUint64([]byte(s.key), s.u)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sink, err := st.Snapshots.Create(raft.SnapshotVersionMax, 10, 3, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink.Write([]byte("state"))
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	first, _ := st.Log.FirstIndex()
	last, _ := st.Log.LastIndex()
	if first != 3 || last != 10 {
		t.Errorf("log spans %d..%d, want 3..10", first, last)
	}
	var l raft.Log
	if err := st.Log.GetLog(7, &l); err != nil || l.Term != 3 || !bytes.Equal(l.Data, []byte{7}) {
		t.Errorf("log 7: %+v, %v", l, err)
	}
	if err := st.Log.GetLog(2, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Errorf("deleted log 2: err %v", err)
	}
	for _, s := range stable {
		if s.b != nil {
			got, err := st.Stable.Get([]byte(s.key))
			if err != nil || !bytes.Equal(got, s.b) {
				t.Errorf("%s = %q, %v; want %q", s.key, got, err, s.b)
			}
			continue
		}
		got, err := st.Stable.GetUint64([]byte(s.key))
		if err != nil || got != s.u {
			t.Errorf("%s = %d, %v; want %d", s.key, got, err, s.u)
		}
	}
	metas, err := st.Snapshots.List()
	if err != nil || len(metas) != 1 || metas[0].Index != 10 {
		t.Fatalf("snapshots %+v, %v", metas, err)
	}
	_, rc, err := st.Snapshots.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "state" {
		t.Errorf("snapshot holds %q", b)
	}
}

func TestStoresRetainTwoSnapshots(t *testing.T) {
	st, err := OpenStores(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := uint64(1); i <= 4; i++ {
		sink, err := st.Snapshots.Create(raft.SnapshotVersionMax, i*10, 1, raft.Configuration{}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
	}
	metas, err := st.Snapshots.List()
	if err != nil {
		t.Fatal(err)
	}
	var idx []uint64
	for _, m := range metas {
		idx = append(idx, m.Index)
	}
	if !slices.Equal(idx, []uint64{40, 30}) {
		t.Errorf("kept snapshots at %v, want [40 30]", idx)
	}
}

// TestStoresRaftRestart runs a one-voter raft on the stores, restarts it
// on the same directory, and checks that the term and the log survived.
func TestStoresRaftRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() (*raft.Raft, *rtFSM, *Stores, *raft.InmemTransport) {
		st, err := OpenStores(dir)
		if err != nil {
			t.Fatal(err)
		}
		addr, tr := raft.NewInmemTransport("")
		cfg := rtRaftConfig("solo", hclog.NewNullLogger())
		has, err := raft.HasExistingState(st.Log, st.Stable, st.Snapshots)
		if err != nil {
			t.Fatal(err)
		}
		if !has {
			err := raft.BootstrapCluster(cfg, st.Log, st.Stable, st.Snapshots, tr,
				raft.Configuration{Servers: []raft.Server{{ID: "solo", Address: addr}}})
			if err != nil {
				t.Fatal(err)
			}
		}
		fsm := &rtFSM{}
		r, err := raft.NewRaft(cfg, fsm, st.Log, st.Stable, st.Snapshots, tr)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for r.State() != raft.Leader {
			if time.Now().After(deadline) {
				t.Fatal("single voter did not lead")
			}
			time.Sleep(5 * time.Millisecond)
		}
		return r, fsm, st, tr
	}
	stop := func(r *raft.Raft, st *Stores, tr *raft.InmemTransport) {
		if err := r.Shutdown().Error(); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}

	r, _, st, tr := start()
	for _, cmd := range []string{"a", "b", "c"} {
		if err := r.Apply([]byte(cmd), time.Second).Error(); err != nil {
			t.Fatal(err)
		}
	}
	term, last := r.CurrentTerm(), r.LastIndex()
	stop(r, st, tr)

	r, fsm, st, tr := start()
	defer stop(r, st, tr)
	if got, err := st.Stable.GetUint64([]byte("CurrentTerm")); err != nil || got <= term {
		t.Errorf("CurrentTerm after restart %d (%v), want above %d", got, err, term)
	}
	if err := r.Barrier(time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if r.LastIndex() <= last {
		t.Errorf("last index %d after restart and barrier, want above %d", r.LastIndex(), last)
	}
	var cmds []string
	for i := uint64(1); i <= last; i++ {
		var l raft.Log
		if err := st.Log.GetLog(i, &l); err != nil {
			t.Fatalf("log %d after restart: %v", i, err)
		}
		if l.Type == raft.LogCommand {
			cmds = append(cmds, string(l.Data))
		}
	}
	if !slices.Equal(cmds, []string{"a", "b", "c"}) {
		t.Errorf("log holds commands %q after restart", cmds)
	}
	if got := fsm.list(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("FSM replayed %q", got)
	}
}

// TestOpenStoresRefusesDamage: a raft database cut short (which faulted
// with SIGBUS when bbolt read past its end and killed the daemon at every
// start) or emptied (which opened as a new database, its term and vote
// lost) is refused with one error naming the file and what to do; the
// process lives on.
func TestOpenStoresRefusesDamage(t *testing.T) {
	build := func(t *testing.T) string {
		dir := t.TempDir()
		st, err := OpenStores(dir)
		if err != nil {
			t.Fatal(err)
		}
		var logs []*raft.Log
		for i := uint64(1); i <= 2000; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, 200)})
		}
		if err := st.Log.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
		if err := st.Stable.SetUint64([]byte("CurrentTerm"), 7); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, c := range []struct {
		name string
		size func(int64) int64
		want string
	}{
		{"cut to half", func(n int64) int64 { return n / 2 }, "is damaged"},
		{"cut to its meta pages", func(int64) int64 { return 2 * int64(os.Getpagesize()) }, "is damaged"},
		{"empty", func(int64) int64 { return 0 }, "is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := build(t)
			path := filepath.Join(dir, RaftDBFile)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, c.size(fi.Size())); err != nil {
				t.Fatal(err)
			}
			st, err := OpenStores(dir)
			if err == nil {
				st.Close()
				t.Fatalf("a raft log %s opened", c.name)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "move its raft directory aside") {
				t.Fatalf("error %q: want the file, %q and what to do", err, c.want)
			}
		})
	}
	// An intact one still opens.
	st, err := OpenStores(build(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}
