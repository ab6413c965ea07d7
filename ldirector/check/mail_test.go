package check

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"hbgo/internal/smtpsend/mtatest"
)

func TestSMTP(t *testing.T) {
	parallel(t)
	m := mtatest.Start(t)
	s := Spec{Type: Negotiate, Service: "smtp", Protocol: "tcp", Addr: netip.MustParseAddrPort(m.Addr)}
	wantUp(t, s)
	sub := s
	sub.Service = "submission"
	wantUp(t, sub)

	// A server that greets with a refusal is down (an MTA out of
	// service, in the words RFC 5321 gives it).
	refusing := s
	refusing.Addr = lineServer(t, func(c net.Conn) {
		c.Write([]byte("554 mx.example.test no SMTP service here\r\n"))
		bufio.NewReader(c).ReadString('\n')
	})
	wantDown(t, refusing, true, "banner", "554")

	down := s
	down.Addr = netip.MustParseAddrPort(mtatest.RefusedAddr(t))
	wantDown(t, down, true, "connection refused")
	slow := s
	slow.Addr = netip.MustParseAddrPort(mtatest.SilentAddr(t))
	wantTimeout(t, slow)
}

const dovecotConf = `base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
instance_name = hbgo-check-test
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
# No delay for the wrong passwords the tests send on purpose.
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=%[1]s/mail/%%u
}
mail_location = maildir:%[1]s/mail/%%u
service imap-login {
  inet_listener imap {
    port = %[2]d
  }
  inet_listener imaps {
    port = %[3]d
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = %[4]d
  }
  inet_listener pop3s {
    port = %[5]d
    ssl = yes
  }
}
# Nor the growing delay dovecot puts on an address that failed to log in.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`

// dovecot serves IMAP, IMAPS, POP3 and POP3S on loopback ports, with
// user checker (password s3cret).
func dovecot(t *testing.T) (imap, imaps, pop, pops uint16) {
	bin := need(t, "dovecot", "dovecot-imapd and dovecot-pop3d")
	needRoot(t)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"run", "state", "mail"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "mail"), 0o777)
	selfSigned(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte("checker:{PLAIN}s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imap, imaps, pop, pops = freePort(t), freePort(t), freePort(t), freePort(t)
	cfg := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(dovecotConf, dir, imap, imaps, pop, pops)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, exec.Command(bin, "-F", "-c", cfg))
	t.Cleanup(p.stop)
	for _, port := range []uint16{imap, imaps, pop, pops} {
		p.waitListen(t, loop(port))
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Logf("dovecot.log:\n%s", b)
		}
	})
	return
}

func TestPOPIMAP(t *testing.T) {
	parallel(t)
	imap, imaps, pop, pops := dovecot(t)
	for _, c := range []struct {
		service string
		port    uint16
	}{{"imap", imap}, {"imaps", imaps}, {"pop", pop}, {"pops", pops}} {
		t.Run(c.service, func(t *testing.T) {
			s := Spec{Type: Negotiate, Service: c.service, Protocol: "tcp", Addr: loop(c.port)}
			wantUp(t, s) // greeting only
			s.Login, s.Passwd = "checker", "s3cret"
			wantUp(t, s)
			bad := s
			bad.Passwd = "wrong"
			wantDown(t, bad, true, "login as checker")
			// TLS to a plain port fails at the handshake; plain text to
			// a TLS port waits for a greeting that never comes.
			other := s
			if strings.HasSuffix(c.service, "s") {
				other.Service = strings.TrimSuffix(c.service, "s")
				wantTimeout(t, other)
			} else {
				other.Service = c.service + "s"
				wantDown(t, other, true, "TLS handshake")
			}
			down := s
			down.Addr = refused(t)
			wantDown(t, down, true, "connection refused")
			slow := s
			slow.Addr = silent(t)
			wantTimeout(t, slow)
		})
	}
}
