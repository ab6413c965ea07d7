package conf

import (
	"os"
	"testing"
)

// checkGolden compares got with the golden file, or rewrites the file when
// update is set; rerun says how to regenerate it.
func checkGolden(t *testing.T, golden, got string, update bool, rerun string) {
	t.Helper()
	if update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run %s)", err, rerun)
	}
	if got != string(want) {
		t.Errorf("%s differs from the parse; got:\n%s", golden, got)
	}
}
