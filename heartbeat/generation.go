package heartbeat

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// NextGeneration raises and persists this node's generation in
// stateDir/generation. The new value is above both the stored one and the
// clock in nanoseconds, so it rises even when the state dir was lost.
func NextGeneration(stateDir string, now time.Time) (uint64, error) {
	path := filepath.Join(stateDir, "generation")
	var old uint64
	if b, err := os.ReadFile(path); err == nil {
		old, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
	} else if !os.IsNotExist(err) {
		return 0, err
	}
	gen := max(old+1, uint64(now.UnixNano()))
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return 0, err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	_, werr := fmt.Fprintf(f, "%d\n", gen)
	serr := f.Sync()
	cerr := f.Close()
	if werr != nil || serr != nil || cerr != nil {
		return 0, fmt.Errorf("%s: write failed", tmp)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	return gen, nil
}
