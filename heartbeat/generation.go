package heartbeat

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// MaxGenerationAhead is how far a generation may be ahead of the clock
// that reads it (a generation is the start's time in nanoseconds, or one
// more than the last): peers drop a heartbeat whose generation is further
// ahead (future-generation), for one forged with a huge generation would
// otherwise silence the real node until they restart.
const MaxGenerationAhead = 24 * time.Hour

// NextGeneration raises and persists this node's generation in
// stateDir/generation. The new value is above both the stored one and the
// clock in nanoseconds, so it rises even when the state dir was lost. A
// stored value that cannot be read (garbled, or more than
// MaxGenerationAhead ahead of the clock) is replaced by the clock's, and
// warn says so: peers that remember a higher generation drop this node's
// heartbeats as stale until they restart, which the warning tells.
func NextGeneration(stateDir string, now time.Time) (gen uint64, warn string, err error) {
	path := filepath.Join(stateDir, "generation")
	var old uint64
	if b, err := os.ReadFile(path); err == nil {
		old, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err == nil && old > uint64(now.Add(MaxGenerationAhead).UnixNano()) {
			err = fmt.Errorf("%d is more than %v ahead of the clock, and peers refuse it", old, MaxGenerationAhead)
		}
		if err != nil {
			old = 0
			warn = fmt.Sprintf("%s unreadable (%v): the generation starts again from the clock; "+
				"a peer that remembers a higher one ignores this node until it restarts", path, err)
		}
	} else if !os.IsNotExist(err) {
		return 0, "", err
	}
	gen = max(old+1, uint64(now.UnixNano()))
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return 0, "", err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, "", err
	}
	_, werr := fmt.Fprintf(f, "%d\n", gen)
	serr := f.Sync()
	cerr := f.Close()
	if werr != nil || serr != nil || cerr != nil {
		return 0, "", fmt.Errorf("%s: write failed", tmp)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, "", err
	}
	return gen, warn, nil
}
