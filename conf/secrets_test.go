package conf

import (
	"strings"
	"testing"
)

func TestCheckSecrets(t *testing.T) {
	cases := []struct {
		name, hacf, authkeys string
		want                 string // "" for no diagnostic
	}{
		{"random", "node a b\n", "auth 1\n1 sha1 4f3c2b0e9d8a7f6e5d4c3b2a\n", ""},
		{"short", "node a b\n", "auth 1\n1 sha1 s3cr3t\n", "authkeys:2: warning: key 1: the secret has 6 characters"},
		{"common word", "node a b\n", "auth 1\n1 sha1 Heartbeat2024!\n", "authkeys:2: warning: key 1: the secret is a common word"},
		{"crc two-node", "node a b\n", "auth 1\n1 crc\n", "authkeys:2: warning: key 1: crc gives no authentication"},
		{"crc quorum", "node a b\nwitness w\n", "auth 1\n1 crc\n", "authkeys:2: error: key 1 is crc, which has no secret: in quorum mode"},
		{"every key judged", "node a b c\n", "auth 2\n1 sha1 password\n2 sha1 4f3c2b0e9d8a7f6e5d4c3b2a\n", "authkeys:2: warning: key 1: the secret is a common word"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ds Diags
			cfg := &Config{HA: ParseHACF("ha.cf", []byte("keepalive 1\ndeadtime 10\nbcast eth0\n"+c.hacf), &ds),
				Auth: ParseAuthkeys("authkeys", []byte(c.authkeys), &ds)}
			checkSecrets(cfg, &ds)
			got := ds.String()
			if c.want == "" {
				if strings.Contains(got, "authkeys:") {
					t.Errorf("want no authkeys diagnostic, got:\n%s", got)
				}
				return
			}
			if !strings.Contains(got, c.want) {
				t.Errorf("want %q in:\n%s", c.want, got)
			}
		})
	}
}
