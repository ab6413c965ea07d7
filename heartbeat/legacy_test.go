package heartbeat

import (
	"encoding/base64"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"
)

// testdata/hb306-status-sha1.bin is a status heartbeat as Heartbeat 3.0.6's
// own message library (cluster-glue 1.0.12) writes it for the wire, signed
// with "1 sha1 secret", node1 at generation 5, sequence 0x2a.
func TestParseLegacyRealPacket(t *testing.T) {
	b, err := os.ReadFile("testdata/hb306-status-sha1.bin")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[int]LegacyKey{1: {Method: "sha1", Secret: []byte("secret")}}
	m, err := ParseLegacy(b, keys)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"t": "status", "st": "active", "src": "node1", "protocol": "1", "ttl": "3"} {
		if got := m.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if hg, ok := m.Hex("hg"); !ok || hg != 5 {
		t.Errorf("hg %d %v", hg, ok)
	}
	if seq, ok := m.Hex("seq"); !ok || seq != 0x2a {
		t.Errorf("seq %d %v", seq, ok)
	}
	if dt, ok := m.Hex("dt"); !ok || dt != 30000 {
		t.Errorf("dt %d %v (ms)", dt, ok)
	}
	if m.KeyNum != 1 {
		t.Errorf("key %d", m.KeyNum)
	}

	// The inner classic signature (msgfmt classic adds one): the other
	// fields as NAME=VALUE lines, raw bytes in base64, signed alike.
	names := []string{"t", "st", "dt", "protocol", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"}
	var text strings.Builder
	for _, n := range names {
		if n == "srcuuid" {
			text.WriteString("(1)" + n + "=" + base64.StdEncoding.EncodeToString([]byte(m.Get(n))) + "\n")
			continue
		}
		text.WriteString(n + "=" + m.Get(n) + "\n")
	}
	sig, _ := LegacySign(keys[1], []byte(text.String()))
	if want := strings.TrimPrefix(m.Get("auth"), "1 "); sig != want {
		t.Errorf("classic signature %s, the packet's is %s", sig, want)
	}
	classic := ">>>\n" + text.String() + "auth=1 " + sig + "\n<<<\n\x00"
	cm, err := ParseLegacy([]byte(classic), keys)
	if err != nil || cm.Get("src") != "node1" || cm.Get("srcuuid") != m.Get("srcuuid") {
		t.Errorf("the same message in classic form: %v %v", cm, err)
	}

	// Any byte changed, or the wrong key: refused, and nothing read.
	for i := 0; i < len(b); i += 37 {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x20
		if _, err := ParseLegacy(bad, keys); err == nil {
			t.Errorf("byte %d changed: accepted", i)
		}
	}
	if _, err := ParseLegacy(b, map[int]LegacyKey{1: {Method: "sha1", Secret: []byte("guess")}}); DropReason(err) != DropAuth {
		t.Errorf("another secret: %v", err)
	}
	if _, err := ParseLegacy(b, map[int]LegacyKey{2: {Method: "sha1", Secret: []byte("secret")}}); err == nil || !strings.Contains(err.Error(), "key 1") {
		t.Errorf("key 1 not defined: %v", err)
	}
	if _, err := ParseLegacy([]byte("hB\x01\x01 an hbgo packet"), keys); !errors.Is(err, ErrNotLegacy) {
		t.Errorf("an hbgo packet: %v", err)
	}
	keysSeen := []string{}
	for k := range m.Fields {
		keysSeen = append(keysSeen, k)
	}
	sort.Strings(keysSeen)
	t.Logf("fields: %v", keysSeen)
}

// Vectors from Heartbeat 3.0.6's HBauth plugins (sha1.so, md5.so, crc.so).
func TestLegacySignVectors(t *testing.T) {
	for _, c := range []struct {
		k    LegacyKey
		text string
		want string
	}{
		{LegacyKey{"sha1", []byte("key")}, "abc", "4fd0b215276ef12f2b3e4c8ecac2811498b656fc"},
		{LegacyKey{"md5", []byte("key")}, "abc", "d2fe98063f876b03193afb49b4979591"},
		{LegacyKey{"crc", nil}, "abc", "d3e8c673"},
		{LegacyKey{"crc", nil}, "t=status\nst=active\n", "b7e1ed97"},
	} {
		got, err := LegacySign(c.k, []byte(c.text))
		if err != nil || got != c.want {
			t.Errorf("%s(%q) = %s %v, want %s", c.k.Method, c.text, got, err, c.want)
		}
	}
}
