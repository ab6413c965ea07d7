package heartbeat

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNextGenerationRises(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_000_000, 0)
	g1, warn, err := NextGeneration(dir, now)
	if err != nil || warn != "" {
		t.Fatalf("first: %v %q", err, warn)
	}
	// The clock went back: the stored generation still rises.
	g2, warn, err := NextGeneration(dir, now.Add(-time.Hour))
	if err != nil || warn != "" || g2 != g1+1 {
		t.Fatalf("second: %d after %d (%v %q)", g2, g1, err, warn)
	}
}

// A garbled generation file does not stop the start: the clock's value,
// with a warning naming the file.
func TestNextGenerationGarbledFile(t *testing.T) {
	for _, content := range []string{"\x00\x00garbage", "", "18446744073709551615\n", "-5\n"} {
		dir := t.TempDir()
		path := filepath.Join(dir, "generation")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		now := time.Unix(2000, 0)
		gen, warn, err := NextGeneration(dir, now)
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		if gen != uint64(now.UnixNano()) {
			t.Errorf("%q: generation %d, want the clock's %d", content, gen, now.UnixNano())
		}
		if !strings.Contains(warn, path) {
			t.Errorf("%q: warning %q does not name the file", content, warn)
		}
		b, _ := os.ReadFile(path)
		if strings.TrimSpace(string(b)) != strconv.FormatUint(gen, 10) {
			t.Errorf("%q: file holds %q after the start", content, b)
		}
	}
}
