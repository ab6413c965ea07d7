package check

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate and its key into dir.
func selfSigned(t testing.TB, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "real.example.test"},
		DNSNames:     []string{"real.example.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

const nginxConf = `daemon off;
master_process on;
worker_processes 1;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	default_type text/plain;
	server {
		listen 127.0.0.1:%[2]d;
		listen 127.0.0.1:%[3]d ssl;
		ssl_certificate %[4]s;
		ssl_certificate_key %[5]s;
		server_name _;
		root %[1]s/www;
		location = /broken { return 503 "down for maintenance\n"; }
		location = /moved { return 302 /health.html; }
		location = /loop { return 302 /loop; }
	}
	server {
		listen 127.0.0.1:%[2]d;
		server_name www.example.test;
		root %[1]s/vhost;
	}
}
`

func TestHTTP(t *testing.T) {
	parallel(t)
	bin := need(t, "nginx", "nginx")
	needRoot(t)
	dir := t.TempDir()
	for _, d := range []string{"www", "vhost"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "www", "health.html"), []byte("<html>status: OK</html>\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "vhost", "health.html"), []byte("virtual host page\n"), 0o644)
	cert, key := selfSigned(t, dir)
	hp, sp := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(nginxConf, dir, hp, sp, cert, key)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, exec.Command(bin, "-c", cfg, "-p", dir, "-e", filepath.Join(dir, "error.log")))
	defer p.stop()
	p.waitListen(t, loop(hp))
	p.waitListen(t, loop(sp))

	s := Spec{Type: Negotiate, Service: "http", Protocol: "tcp", Addr: loop(hp), Request: "health.html", Receive: "status: OK", HTTPMethod: "GET"}
	wantUp(t, s)
	tls := s
	tls.Service, tls.Addr = "https", loop(sp)
	wantUp(t, tls) // a self-signed certificate passes, as in ldirectord

	t.Run("receive", func(t *testing.T) {
		s := s
		s.Receive = "status: FAIL"
		wantDown(t, s, true, fmt.Sprintf("http://127.0.0.1:%d/health.html", hp), `receive pattern "status: FAIL" not found`)
		s.Receive = `^<html>.*</html>$` // Perl's $ before the final newline
		wantUp(t, s)
		s.Receive = ""
		s.Request = "/broken"
		wantDown(t, s, true, "status 503")
		s.Request = "/nothing-here"
		wantDown(t, s, true, "status 404")
	})
	t.Run("redirect", func(t *testing.T) {
		s := s
		s.Request = "/moved"
		wantUp(t, s)
		s.Request = "/loop"
		wantDown(t, s, true, "status 302")
	})
	t.Run("virtualhost", func(t *testing.T) {
		s := s
		s.VirtualHost, s.Receive = "www.example.test", "virtual host page"
		wantUp(t, s)
		s.VirtualHost = ""
		wantDown(t, s, true, "not found")
	})
	t.Run("head", func(t *testing.T) {
		s := s
		s.HTTPMethod, s.Receive = "HEAD", ""
		wantUp(t, s)
		s.Request = "/broken"
		wantDown(t, s, true, "status 503")
		s.Request, s.Receive = "health.html", "OK" // HEAD fetches no body
		wantDown(t, s, true, "not found")
	})
	t.Run("full URL", func(t *testing.T) {
		s := s
		s.Addr = loop(1) // the URL names the server
		s.Request = fmt.Sprintf("http://127.0.0.1:%d/health.html", hp)
		wantUp(t, s)
	})
	t.Run("down", func(t *testing.T) {
		s, tls := s, tls
		s.Addr, tls.Addr = refused(t), refused(t)
		wantDown(t, s, true, "connection refused")
		wantDown(t, tls, true, "connection refused")
	})
	t.Run("plain http to the TLS port", func(t *testing.T) {
		s := s
		s.Addr = loop(sp)
		wantDown(t, s, true, "status 400")
	})
	t.Run("slow", func(t *testing.T) {
		s, tls := s, tls
		s.Addr, tls.Addr = silent(t), silent(t)
		wantTimeout(t, s)
		wantTimeout(t, tls)
	})
	t.Run("no leaks", func(t *testing.T) {
		noLeaks(t, func() {
			for i := 0; i < 5; i++ {
				run(s)
				run(tls)
			}
		})
	})
}
