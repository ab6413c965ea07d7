package check

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const slapdConf = `include /etc/ldap/schema/core.schema
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile %[1]s/cert.pem
TLSCertificateKeyFile %[1]s/key.pem
database mdb
maxsize 10485760
suffix "dc=example,dc=test"
rootdn "cn=admin,dc=example,dc=test"
rootpw s3cret
directory %[1]s/db
access to * by * read
`

const slapdLDIF = `dn: dc=example,dc=test
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=health,dc=example,dc=test
objectClass: organizationalUnit
ou: health
`

// slapd runs OpenLDAP on loopback ports (ldap and ldaps) with the tree
// dc=example,dc=test and its admin (password s3cret).
func slapd(t *testing.T) (ldap, ldaps uint16) {
	bin := need(t, "slapd", "slapd")
	add := need(t, "slapadd", "slapd")
	needRoot(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	selfSigned(t, dir)
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(slapdConf, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	ldif := filepath.Join(dir, "tree.ldif")
	if err := os.WriteFile(ldif, []byte(slapdLDIF), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(add, "-f", conf, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	ldap, ldaps = freePort(t), freePort(t)
	urls := fmt.Sprintf("ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", ldap, ldaps)
	p := start(t, dir, exec.Command(bin, "-d", "0", "-f", conf, "-h", urls))
	t.Cleanup(p.stop)
	p.waitListen(t, loop(ldap))
	p.waitListen(t, loop(ldaps))
	return ldap, ldaps
}

func TestLDAP(t *testing.T) {
	parallel(t)
	ldap, ldaps := slapd(t)
	for _, c := range []struct {
		service string
		port    uint16
	}{{"ldap", ldap}, {"ldaps", ldaps}} {
		t.Run(c.service, func(t *testing.T) {
			// The defaults: an anonymous bind and the root DSE.
			s := Spec{Type: Negotiate, Service: c.service, Protocol: "tcp", Addr: loop(c.port)}
			wantUp(t, s)
			s.Request, s.Receive = "/ou=health,dc=example,dc=test", "^ou=health"
			wantUp(t, s)
			admin := s
			admin.Login, admin.Passwd = "cn=admin,dc=example,dc=test", "s3cret"
			wantUp(t, admin)

			wrong := s
			wrong.Receive = "^ou=sick"
			wantDown(t, wrong, true, `receive pattern "^ou=sick" not found`)
			wrong = s
			wrong.Request = "ou=missing,dc=example,dc=test"
			wantDown(t, wrong, true, "search base", "No Such Object")
			wrong = admin
			wrong.Passwd = "wrong"
			wantDown(t, wrong, true, "bind", "Invalid Credentials")

			down := s
			down.Addr = refused(t)
			wantDown(t, down, true, "connection refused")
			slow := s
			slow.Addr = silent(t)
			wantTimeout(t, slow)
			if strings.HasSuffix(c.service, "s") {
				plain := s
				plain.Service = "ldap"
				wantDown(t, plain, true, "bind") // the TLS server hangs up
			}
		})
	}
	t.Run("no leaks", func(t *testing.T) {
		s := Spec{Type: Negotiate, Service: "ldaps", Protocol: "tcp", Addr: loop(ldaps), Request: "dc=example,dc=test"}
		bad := s
		bad.Login, bad.Passwd = "cn=admin,dc=example,dc=test", "wrong"
		noLeaks(t, func() {
			for i := 0; i < 3; i++ {
				run(s)
				run(bad)
			}
		})
	})
}
