package check

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const radiusSite = `server check {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = %d
	}
	authorize {
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
	}
}
`

// freeradius runs FreeRADIUS on a loopback port from a copy of Debian's
// configuration, with user checker (password s3cret) and the stock
// localhost client (secret testing123).
func freeradius(t *testing.T) uint16 {
	bin := need(t, "freeradius", "freeradius")
	needRoot(t)
	const stock = "/etc/freeradius/3.0"
	if _, err := os.Stat(filepath.Join(stock, "radiusd.conf")); err != nil {
		missing(t, "no "+stock+"/radiusd.conf (Debian package freeradius-config)")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	raddb := filepath.Join(dir, "raddb")
	if out, err := exec.Command("cp", "-a", stock, raddb).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", stock, err, out)
	}
	conf := filepath.Join(raddb, "radiusd.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ key, val string }{
		{"raddbdir", raddb}, {"run_dir", dir}, {"logdir", dir}, {"proxy_requests", "no"}, {"reject_delay", "0"},
	} {
		b = regexp.MustCompile(`(?m)^(\s*`+r.key+`\s*=).*$`).ReplaceAll(b, []byte("${1} "+r.val))
	}
	if err := os.WriteFile(conf, b, 0o640); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(raddb, "mods-config", "files", "authorize")
	old, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, append([]byte("checker Cleartext-Password := \"s3cret\"\n"), old...), 0o640); err != nil {
		t.Fatal(err)
	}
	// One virtual server of our own instead of Debian's default and
	// inner-tunnel: users from the files module, PAP, on one port.
	sites := filepath.Join(raddb, "sites-enabled")
	if err := os.RemoveAll(sites); err != nil {
		t.Fatal(err)
	}
	// EAP wants the inner-tunnel server, gone with the rest.
	if err := os.Remove(filepath.Join(raddb, "mods-enabled", "eap")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(sites, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	if err := os.WriteFile(filepath.Join(sites, "check"), []byte(fmt.Sprintf(radiusSite, port)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, exec.Command(bin, "-f", "-d", raddb, "-l", "stdout"))
	t.Cleanup(p.stop)
	// FreeRADIUS has no TCP port; it says when it is ready.
	waitLog(t, p, "Ready to process requests")
	return port
}

func TestRADIUS(t *testing.T) {
	parallel(t)
	port := freeradius(t)
	s := Spec{Type: Negotiate, Service: "radius", Protocol: "udp", Addr: loop(port), Login: "checker", Passwd: "s3cret", Secret: "testing123"}
	wantUp(t, s)
	// A rejected login is an answer: the server is alive, as in
	// ldirectord.
	reject := s
	reject.Passwd = "wrong"
	wantUp(t, reject)
	// An answer signed with another secret does not count: the check
	// waits for a good one until the timeout, and says what it saw.
	bad := s
	bad.Secret = "not-the-secret"
	if err := wantTimeout(t, bad); err != nil && !strings.Contains(err.Error(), "not signed with the secret (wrong secret?)") {
		t.Errorf("wrong secret: %v; want it named", err)
	}
	down := s
	down.Addr = refused(t)
	wantDown(t, down, true, "refused")
	slow := s
	slow.Addr = silentUDP(t)
	wantTimeout(t, slow)
}
