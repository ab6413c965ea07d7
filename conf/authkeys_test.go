package conf

import (
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updateAuthkeys = flag.Bool("update-authkeys", false, "rewrite testdata/authkeys/*.golden")

func TestAuthkeysParse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		active int
		keys   []AuthKey // in key order
		diags  []string
	}{
		{
			name:   "sha1",
			in:     "auth 1\n1 sha1 s3cr3t\n",
			active: 1,
			keys:   []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "s3cr3t", Line: 2}},
		},
		{
			name:   "comments blank lines and indentation",
			in:     "# keys\n\n  auth 2\n\t# old key\n1 sha1 old\n2  sha1\tnew # rotated in May\n",
			active: 2,
			keys: []AuthKey{
				{Num: 1, Method: AuthSHA1, Secret: "old", Line: 5},
				{Num: 2, Method: AuthSHA1, Secret: "new", Line: 6},
			},
		},
		{
			name:   "auth1 as Heartbeat reads it",
			in:     "auth1\n1 sha1 s3cr3t\n",
			active: 1,
			keys:   []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "s3cr3t", Line: 2}},
			diags:  []string{`authkeys:1: warning: "auth1" read as "auth 1", as Heartbeat reads it`},
		},
		{
			name:   "crlf line ends",
			in:     "auth 1\r\n1 sha1 abc\r\n",
			active: 1,
			keys:   []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "abc", Line: 2}},
		},
		{
			name:   "secret is one word as in Heartbeat",
			in:     "auth 1\n1 sha1 \"two words\"\n",
			active: 1,
			keys:   []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "\"two", Line: 2}},
			diags:  []string{`authkeys:2: warning: key 1: the secret is one word, as in Heartbeat; "words\"" after it is ignored`},
		},
		{
			name:   "hash inside a secret is part of it",
			in:     "auth 1\n1 sha1 a#b\n",
			active: 1,
			keys:   []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "a#b", Line: 2}},
		},
		{
			name:   "crc warns",
			in:     "auth 1\n1 crc\n",
			active: 1,
			keys:   []AuthKey{{Num: 1, Method: AuthCRC, Line: 2}},
			diags:  []string{"authkeys:2: warning: key 1: crc gives no authentication; use sha1"},
		},
		{
			name:   "md5 warns",
			in:     "auth 3\n3 md5 Hello!\n",
			active: 3,
			keys:   []AuthKey{{Num: 3, Method: AuthMD5, Secret: "Hello!", Line: 2}},
			diags:  []string{"authkeys:2: warning: key 3: md5 is weak; use sha1"},
		},
		{
			name:   "crc with a secret",
			in:     "auth 1\n1 crc foo\n",
			active: 1,
			diags: []string{
				"authkeys:2: error: key 1: crc takes no secret",
				"authkeys:1: error: auth 1 selects key 1, which is not defined (no key is)",
			},
		},
		{
			name:   "unknown method with suggestion",
			in:     "auth 1\n1 sha 1234\n2 SHA1 x\n3 hmac x\n",
			active: 1,
			diags: []string{
				`authkeys:2: error: key 1: unknown method "sha", want crc, md5 or sha1 (did you mean sha1?)`,
				`authkeys:3: error: key 2: unknown method "SHA1", want crc, md5 or sha1 (did you mean sha1?)`,
				`authkeys:4: error: key 3: unknown method "hmac", want crc, md5 or sha1`,
				"authkeys:1: error: auth 1 selects key 1, which is not defined (no key is)",
			},
		},
		{
			name:   "missing secret",
			in:     "auth 1\n1 sha1\n2 md5 # no secret\n",
			active: 1,
			diags: []string{
				"authkeys:2: error: key 1: sha1 needs a secret",
				"authkeys:3: error: key 2: md5 needs a secret",
				"authkeys:1: error: auth 1 selects key 1, which is not defined (no key is)",
			},
		},
		{
			name:   "missing method",
			in:     "auth 1\n1\n1 sha1 x\n",
			active: 1,
			keys:   []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "x", Line: 3}},
			diags:  []string{"authkeys:2: error: key 1 has no method; want crc, md5 or sha1"},
		},
		{
			name:   "duplicate key number",
			in:     "auth 1\n1 sha1 a\n1 sha1 b\n",
			active: 1,
			keys:   []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "a", Line: 2}},
			diags:  []string{"authkeys:3: error: key 1 repeats line 2"},
		},
		{
			name:   "key number out of range",
			in:     "auth 1\n0 sha1 a\n16 sha1 b\n1 sha1 c\n",
			active: 1,
			keys:   []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "c", Line: 4}},
			diags: []string{
				"authkeys:2: error: key number 0 is out of range 1-15",
				"authkeys:3: error: key number 16 is out of range 1-15",
			},
		},
		{
			name:  "missing auth line",
			in:    "1 sha1 a\n",
			keys:  []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "a", Line: 1}},
			diags: []string{`authkeys: error: no auth line selects the signing key; add "auth N" naming one of the keys`},
		},
		{
			name:  "empty file",
			in:    "",
			diags: []string{`authkeys: error: no auth line selects the signing key; add "auth N" naming one of the keys`},
		},
		{
			name:   "selected key not defined",
			in:     "auth 3\n1 sha1 a\n2 sha1 b\n",
			active: 3,
			keys: []AuthKey{
				{Num: 1, Method: AuthSHA1, Secret: "a", Line: 2},
				{Num: 2, Method: AuthSHA1, Secret: "b", Line: 3},
			},
			diags: []string{"authkeys:1: error: auth 3 selects key 3, which is not defined (defined: 1, 2)"},
		},
		{
			name: "bad auth lines",
			in:   "auth\n",
			diags: []string{
				"authkeys:1: error: auth needs a key number (auth 1)",
			},
		},
		{
			name: "auth not a number",
			in:   "auth one\n1 sha1 a\n",
			keys: []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "a", Line: 2}},
			diags: []string{
				`authkeys:1: error: auth: "one" is not a key number 1-15`,
			},
		},
		{
			name:   "auth twice",
			in:     "auth 1\nauth 2\n1 sha1 a\n2 sha1 b\n",
			active: 1,
			keys: []AuthKey{
				{Num: 1, Method: AuthSHA1, Secret: "a", Line: 3},
				{Num: 2, Method: AuthSHA1, Secret: "b", Line: 4},
			},
			diags: []string{"authkeys:2: error: auth repeats line 1; only one key can sign"},
		},
		{
			name:   "auth with trailing text",
			in:     "auth 1 2\n1 sha1 a\n",
			active: 1,
			keys:   []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "a", Line: 2}},
			diags:  []string{`authkeys:1: warning: auth: text after the key number is ignored: "2"`},
		},
		{
			name:   "misspelt auth",
			in:     "auht 1\n1 sha1 a\n",
			keys:   []AuthKey{{Num: 1, Method: AuthSHA1, Secret: "a", Line: 2}},
			active: 0,
			diags: []string{
				`authkeys:1: error: "auht": want "auth N" or "N METHOD [SECRET]" (did you mean auth?)`,
				`authkeys: error: no auth line selects the signing key; add "auth N" naming one of the keys`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ds Diags
			a := ParseAuthkeys("authkeys", []byte(tt.in), &ds)
			if a.Active != tt.active {
				t.Errorf("Active = %d, want %d", a.Active, tt.active)
			}
			var keys []AuthKey
			for _, k := range a.Keys {
				keys = append(keys, k)
			}
			slices.SortFunc(keys, func(x, y AuthKey) int { return x.Num - y.Num })
			if !slices.Equal(keys, tt.keys) {
				t.Errorf("keys = %+v\nwant %+v", keys, tt.keys)
			}
			if got, want := ds.String(), joinLines(tt.diags); got != want {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestAuthkeysActiveKey(t *testing.T) {
	var ds Diags
	a := ParseAuthkeys("authkeys", []byte("auth 2\n1 md5 a\n2 sha1 b\n"), &ds)
	k, ok := a.ActiveKey()
	if !ok || k != (AuthKey{Num: 2, Method: AuthSHA1, Secret: "b", Line: 3}) {
		t.Errorf("ActiveKey() = %+v, %v", k, ok)
	}
	a = ParseAuthkeys("authkeys", []byte("auth 4\n1 sha1 a\n"), &ds)
	if k, ok := a.ActiveKey(); ok {
		t.Errorf("ActiveKey() of an undefined key = %+v, true", k)
	}
	var none *Authkeys
	if _, ok := none.ActiveKey(); ok {
		t.Error("nil Authkeys has an active key")
	}
}

func TestAuthkeysMode(t *testing.T) {
	tests := []struct {
		mode fs.FileMode
		want string
	}{
		{0o600, ""},
		{0o400, ""},
		{0o700, ""},
		{0o644, "authkeys: error: authkeys is readable by group or others (mode 0644); chmod 600 authkeys\n"},
		{0o640, "authkeys: error: authkeys is readable by group or others (mode 0640); chmod 600 authkeys\n"},
		{0o604, "authkeys: error: authkeys is readable by group or others (mode 0604); chmod 600 authkeys\n"},
		{0o620, "authkeys: error: authkeys is writable by group or others (mode 0620); chmod 600 authkeys\n"},
		{0o602, "authkeys: error: authkeys is writable by group or others (mode 0602); chmod 600 authkeys\n"},
		{0o611, ""},
		{fs.ModeDir | 0o700, "authkeys: error: authkeys is not a regular file (mode drwx------)\n"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v", tt.mode), func(t *testing.T) {
			var ds Diags
			CheckAuthkeysMode("authkeys", tt.mode, &ds)
			if got := ds.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAuthkeysDerive pins the derivation: nodes running different builds
// must derive the same keys from the same authkeys. The vector is the
// documented HMAC-SHA256, computed with another implementation.
func TestAuthkeysDerive(t *testing.T) {
	k := AuthKey{Num: 1, Method: AuthSHA1, Secret: "s3cr3t"}
	tests := []struct {
		key     AuthKey
		purpose string
		want    string
	}{
		{k, "hbgo gossip", "edde89966bf6eded3eb0d029f761b5234d417db8d89f93bc062589a066ce912a"},
		{k, "hbgo raft", ""},
		{k, "hbgo heartbeat", ""},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := tt.key.Derive(tt.purpose)
		if len(got) != 32 {
			t.Fatalf("Derive(%q) is %d bytes, want 32", tt.purpose, len(got))
		}
		h := hex.EncodeToString(got)
		if tt.want != "" && h != tt.want {
			t.Errorf("Derive(%q) = %s, want %s", tt.purpose, h, tt.want)
		}
		if p, dup := seen[h]; dup {
			t.Errorf("purposes %q and %q derive the same key", p, tt.purpose)
		}
		seen[h] = tt.purpose
		if again := hex.EncodeToString(tt.key.Derive(tt.purpose)); again != h {
			t.Errorf("Derive(%q) is not deterministic", tt.purpose)
		}
	}
	other := AuthKey{Num: 1, Method: AuthSHA1, Secret: "s3cr3u"}
	if hex.EncodeToString(other.Derive("hbgo gossip")) == hex.EncodeToString(k.Derive("hbgo gossip")) {
		t.Error("different secrets derive the same key")
	}
}

// TestAuthkeysGolden parses complete authkeys files and compares the keys
// and diagnostics with testdata/authkeys/NAME.golden.
func TestAuthkeysGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "authkeys", "*.authkeys"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d golden inputs, want at least 3", len(files))
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".authkeys")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var ds Diags
			a := ParseAuthkeys("authkeys", data, &ds)
			got := dumpAuthkeys(a) + "--- diagnostics\n" + ds.String()
			golden := strings.TrimSuffix(in, ".authkeys") + ".golden"
			checkGolden(t, golden, got, *updateAuthkeys, "go test ./conf -run TestAuthkeysGolden -update-authkeys")
		})
	}
}

func dumpAuthkeys(a *Authkeys) string {
	var b strings.Builder
	fmt.Fprintf(&b, "auth %d (line %d)\n", a.Active, a.ActiveLine)
	nums := make([]int, 0, len(a.Keys))
	for n := range a.Keys {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for _, n := range nums {
		k := a.Keys[n]
		fmt.Fprintf(&b, "key %d line %d: %s %q\n", k.Num, k.Line, k.Method, k.Secret)
	}
	if k, ok := a.ActiveKey(); ok {
		fmt.Fprintf(&b, "active: key %d %s\n", k.Num, k.Method)
	} else {
		b.WriteString("active: none\n")
	}
	return b.String()
}
