package check

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const vsftpdConf = `listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=%[2]d
background=NO
anonymous_enable=YES
no_anon_password=NO
anon_root=%[1]s/root
local_enable=NO
write_enable=NO
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
secure_chroot_dir=%[1]s/empty
pasv_enable=YES
pasv_address=127.0.0.1
xferlog_enable=NO
vsftpd_log_file=%[1]s/vsftpd.log
ftp_username=ftp
connect_from_port_20=NO
`

// vsftpd serves dir/root to anonymous users on a loopback port.
func vsftpd(t *testing.T) (port uint16) {
	bin := need(t, "vsftpd", "vsftpd")
	needRoot(t)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"root", "empty"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "root", "welcome.msg"), []byte("Welcome to the real server\nall good\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port = freePort(t)
	cfg := filepath.Join(dir, "vsftpd.conf")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(vsftpdConf, dir, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, exec.Command(bin, cfg))
	t.Cleanup(p.stop)
	p.waitListen(t, loop(port))
	return port
}

func TestFTP(t *testing.T) {
	parallel(t)
	port := vsftpd(t)
	// The parser's defaults: anonymous, ldirectord@HOSTNAME.
	s := Spec{Type: Negotiate, Service: "ftp", Protocol: "tcp", Addr: loop(port),
		Login: "anonymous", Passwd: "ldirectord@director", Request: "/welcome.msg", Receive: "all good$"}
	wantUp(t, s)
	noSlash := s
	noSlash.Request = "welcome.msg"
	wantUp(t, noSlash)
	login := s
	login.Request, login.Receive = "", "" // log in only
	wantUp(t, login)

	wrong := s
	wrong.Receive = "all bad"
	wantDown(t, wrong, true, `receive pattern "all bad" not found in /welcome.msg`)
	wrong = s
	wrong.Request = "/missing.txt"
	wantDown(t, wrong, true, "RETR /missing.txt", "550")
	wrong = s
	wrong.Login, wrong.Passwd = "operator", "secret" // anonymous only
	wantDown(t, wrong, true, "login as operator", "anonymous only")

	down := s
	down.Addr = refused(t)
	wantDown(t, down, true, "connection refused")
	slow := s
	slow.Addr = silent(t)
	wantTimeout(t, slow)
	t.Run("no leaks", func(t *testing.T) {
		noLeaks(t, func() {
			for i := 0; i < 3; i++ {
				run(s)
				run(wrong)
			}
		})
	})
}
