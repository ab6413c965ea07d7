package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

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
		{"run_dir", dir}, {"logdir", dir}, {"proxy_requests", "no"},
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
	port := freePort(t)
	p := start(t, dir, exec.Command(bin, "-f", "-d", raddb, "-l", "stdout", "-i", "127.0.0.1", "-p", strconv.Itoa(int(port))))
	t.Cleanup(p.stop)
	// FreeRADIUS has no TCP port; it says when it is ready.
	waitLog(t, p, "Ready to process requests")
	return port
}

func TestRADIUS(t *testing.T) {
	port := freeradius(t)
	s := Spec{Type: Negotiate, Service: "radius", Protocol: "udp", Addr: loop(port), Login: "checker", Passwd: "s3cret", Secret: "testing123"}
	wantUp(t, s)
	// A rejected login is an answer: the server is alive, as in
	// ldirectord.
	reject := s
	reject.Passwd = "wrong"
	wantUp(t, reject)
	// An answer signed with another secret does not count; FreeRADIUS
	// drops a request whose secret it does not know, so this times out.
	bad := s
	bad.Secret = "not-the-secret"
	wantTimeout(t, bad)
	down := s
	down.Addr = refused(t)
	wantDown(t, down, true, "refused")
	slow := s
	slow.Addr = silentUDP(t)
	wantTimeout(t, slow)
}
