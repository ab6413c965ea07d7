package kaimport

import (
	"io/fs"
	"os"
	"testing"
)

// FuzzImport feeds arbitrary text as keepalived.conf: the importer must
// return diagnostics, never panic.
func FuzzImport(f *testing.F) {
	for _, p := range []string{"testdata/dr-master.conf", "testdata/web-sorry.conf", "testdata/multi.conf"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("virtual_server {\n}\n}\n{\nvrrp_instance {\nvirtual_ipaddress {\n1.2.3.4-9 dev\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		read := func(name string) ([]byte, error) {
			if name == "k.conf" {
				return data, nil
			}
			return nil, fs.ErrNotExist
		}
		r := Import([]string{"k.conf"}, Options{ReadFile: read, Rand: fixedRand{}})
		if !r.Diags.HasErrors() && len(r.Files) == 0 {
			t.Fatalf("no errors and no files")
		}
	})
}
