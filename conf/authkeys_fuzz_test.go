package conf

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseAuthkeys feeds arbitrary text to ParseAuthkeys. Whatever the
// input, the parser must not panic, must place every diagnostic on a line
// of the file, and must only ever return keys heartbeat can use.
func FuzzParseAuthkeys(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "authkeys", "*.authkeys"))
	for _, in := range inputs {
		if data, err := os.ReadFile(in); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		"auth 1\n1 sha1 secret\n",
		"auth 2\n1 crc\n2 md5 x # c\n3 sha1 a b c\n",
		"auth\nauth 0\nauth 99\nauth -1\n",
		"  auth 1\r\n\t1\tsha1\tx\r\n",
		"1 SHA1 x\n1 sha1\n16 crc\n-3 md5 y\n007 sha1 z\n",
		"auth 1\n1 sha1 \"quoted secret\"\n#1 crc\nauht 1\n",
		"auth 1\x00\n1 sha1 \xff\xfe\n\x0b\x0c\n",
		"auth 99999999999999999999\n99999999999999999999 sha1 x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ds Diags
		a := ParseAuthkeys("authkeys", data, &ds)
		if a == nil {
			t.Fatal("nil result")
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, d := range ds {
			if d.File != "authkeys" || d.Line < 0 || d.Line > lines || d.Msg == "" {
				t.Fatalf("misplaced diagnostic %q (file has %d lines)", d, lines)
			}
			if strings.ContainsAny(d.Msg, "\n\r") {
				t.Fatalf("diagnostic spans lines: %q", d)
			}
		}
		for n, k := range a.Keys {
			if n != k.Num || n < MinAuthKey || n > MaxAuthKey || k.Line < 1 || k.Line > lines {
				t.Fatalf("key %d = %+v", n, k)
			}
			switch k.Method {
			case AuthCRC:
				if k.Secret != "" {
					t.Fatalf("crc key %d has a secret", n)
				}
			case AuthMD5, AuthSHA1:
				if k.Secret == "" || strings.ContainsAny(k.Secret, " \t\r\n") {
					t.Fatalf("key %d has secret %q", n, k.Secret)
				}
			default:
				t.Fatalf("key %d has method %q", n, k.Method)
			}
			if len(k.Derive("fuzz")) != 32 {
				t.Fatal("derived key is not 32 bytes")
			}
		}
		if !ds.HasErrors() {
			if _, ok := a.ActiveKey(); !ok {
				t.Fatalf("accepted without an active key: %+v", a)
			}
		}
	})
}
