package check

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hbgo/conf"
)

func TestOnOffUnsupported(t *testing.T) {
	a := loop(1)
	wantUp(t, Spec{Type: On, Addr: a})
	wantDown(t, Spec{Type: Off, Addr: a}, true, "off")
	for _, s := range []Spec{{Type: "bogus", Addr: a}, {Type: Negotiate, Service: "oracle", Addr: a}} {
		err, _ := run(s)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%+v: %v; want ErrUnsupported", s, err)
		}
	}
	// service none: ldirectord's check_none passes without looking.
	wantUp(t, Spec{Type: Negotiate, Service: "none", Addr: refused(t)})
}

func TestConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	wantUp(t, Spec{Type: Connect, Protocol: "tcp", Addr: netip.MustParseAddrPort(l.Addr().String())})
	wantDown(t, Spec{Type: Connect, Protocol: "tcp", Addr: refused(t)}, true, "connection refused")
}

func TestCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, Spec{Type: On}); err == nil {
		t.Error("a check with a cancelled context passed")
	}
}

// script writes an executable shell script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExternal(t *testing.T) {
	parallel(t)
	need(t, "sh", "dash")
	dir := t.TempDir()
	args := filepath.Join(dir, "args")
	base := Spec{Type: External, Virtual: netip.MustParseAddrPort("192.0.2.100:80"),
		Addr: netip.MustParseAddrPort("127.0.0.1:8080"), RealPort: 80}

	s := base
	s.Command = script(t, dir, "ok", `echo "$@" > `+args+"\nexit 0\n")
	wantUp(t, s)
	if b, _ := os.ReadFile(args); strings.TrimSpace(string(b)) != "192.0.2.100 80 127.0.0.1 80" {
		t.Errorf("arguments %q; want ldirectord's: vip vport rip rport", b)
	}

	s6 := base
	s6.Command = s.Command
	s6.Virtual, s6.Addr = netip.MustParseAddrPort("[2001:db8::1]:443"), netip.MustParseAddrPort("[2001:db8::2]:8443")
	s6.RealPort = 443
	wantUp(t, s6)
	if b, _ := os.ReadFile(args); strings.TrimSpace(string(b)) != "[2001:db8::1] 443 [2001:db8::2] 443" {
		t.Errorf("IPv6 arguments %q; want bracketed addresses", b)
	}
	fwm := base
	fwm.Command, fwm.FWMark, fwm.Virtual = s.Command, 7, netip.AddrPort{}
	wantUp(t, fwm)
	if b, _ := os.ReadFile(args); strings.TrimSpace(string(b)) != "7  127.0.0.1 80" {
		t.Errorf("fwm arguments %q; want the mark and an empty port", b)
	}

	s.Command = script(t, dir, "bad", "echo backend says no >&2\nexit 3\n")
	wantDown(t, s, true, "exit status 3", "backend says no")

	s.Command = filepath.Join(dir, "missing")
	wantDown(t, s, true, "missing")

	// A command that hangs, with a child of its own: both die at the
	// deadline.
	pidfile := filepath.Join(dir, "child.pid")
	s.Command = script(t, dir, "slow", "sleep 1000 &\necho $! > "+pidfile+"\nwait\n")
	wantTimeout(t, s)
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	deadline := time.Now().Add(slack)
	for {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command's child %s still runs after the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExternalPerl(t *testing.T) {
	parallel(t)
	need(t, "perl", "perl-base")
	dir := t.TempDir()
	p := filepath.Join(dir, "check.pl")
	if err := os.WriteFile(p, []byte(`exit($ARGV[2] eq "127.0.0.1" ? 0 : 1);`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Spec{Type: ExternalPerl, Command: p, Virtual: netip.MustParseAddrPort("192.0.2.100:80"),
		Addr: netip.MustParseAddrPort("127.0.0.1:80"), RealPort: 80}
	wantUp(t, s)
	s.Addr = netip.MustParseAddrPort("127.0.0.2:80")
	wantDown(t, s, true, "exit status 1")
}

// lineServer answers each connection with fn on a loopback TCP port.
func lineServer(t *testing.T, fn func(c net.Conn)) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				fn(c)
			}()
		}
	}()
	return netip.MustParseAddrPort(l.Addr().String())
}

// A simpletcp server is anything that speaks lines: this echo-like one
// is as real as any.
func TestSimpleTCP(t *testing.T) {
	parallel(t)
	srv := lineServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		var got []string
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				got = append(got, strings.TrimSpace(line))
			}
			if err != nil {
				break // the client shut its sending half
			}
		}
		c.Write([]byte("hello\nstatus: " + strings.Join(got, ",") + "\nbye\n"))
	})
	s := Spec{Type: Negotiate, Service: "simpletcp", Protocol: "tcp", Addr: srv, Request: `/PING\nQUIT`, Receive: "^status: PING,QUIT$"}
	wantUp(t, s)
	s.Receive = "status: PONG"
	wantDown(t, s, true, `receive pattern "status: PONG" not found`)
	s.Receive = "("
	wantDown(t, s, true, "receive pattern")
	s.Receive = "x"
	s.Addr = refused(t)
	wantDown(t, s, true, "connection refused")
	s.Addr = silent(t)
	wantTimeout(t, s)
}

func TestNNTP(t *testing.T) {
	parallel(t)
	s := Spec{Type: Negotiate, Service: "nntp", Protocol: "tcp"}
	s.Addr = lineServer(t, func(c net.Conn) { c.Write([]byte("200 news.example ready\r\n")); bufio.NewReader(c).ReadString('\n') })
	wantUp(t, s)
	s.Addr = lineServer(t, func(c net.Conn) { c.Write([]byte("502 go away\r\n")) })
	wantDown(t, s, true, "502 go away")
	s.Addr = refused(t)
	wantDown(t, s, true, "connection refused")
	s.Addr = silent(t)
	wantTimeout(t, s)
}

func TestSIP(t *testing.T) {
	parallel(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	reqs := make(chan string, 10)
	status := "SIP/2.0 200 OK"
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := string(buf[:n])
			reqs <- req
			st := status
			if strings.Contains(req, "sip:busy@") {
				st = "SIP/2.0 486 Busy Here"
			}
			pc.WriteTo([]byte(st+"\r\nCSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n"), from)
		}
	}()
	s := Spec{Type: Negotiate, Service: "sip", Protocol: "udp", Addr: netip.MustParseAddrPort(pc.LocalAddr().String()), Login: "ldirectord@director"}
	wantUp(t, s)
	if req := <-reqs; !strings.HasPrefix(req, "OPTIONS sip:ldirectord@director SIP/2.0\r\n") || !strings.Contains(req, "\r\nVia: SIP/2.0/UDP 127.0.0.1:") {
		t.Errorf("request:\n%s", req)
	}
	s.Login = "busy@director"
	wantDown(t, s, true, "486 Busy Here")
	<-reqs
	s.Addr = silentUDP(t)
	wantTimeout(t, s)
	// A closed UDP port answers with ICMP port unreachable: fast.
	s.Addr = refused(t)
	wantDown(t, s, true, "refused")
}

func TestFromConfig(t *testing.T) {
	var ds conf.Diags
	cfg := conf.ParseLdirectord("ldirectord.cf", []byte(`checktimeout = 3
virtual = 192.0.2.100:80
	real = 10.0.0.11:8080 masq
	real = 10.0.0.12:8080 masq 1 "alive.html" "ALIVE"
	service = http
	checktype = 2
	request = "health"
	receive = "OK"
	virtualhost = www.example.org
virtual = 192.0.2.100:21
	real = 10.0.0.11 gate
	service = ftp
	checkport = 2121
virtual = 7
	real = 10.0.0.11:443 masq
	checktype = external
	checkcommand = /usr/local/bin/check-it
`), &ds)
	for _, d := range ds {
		if d.Severity == conf.Error {
			t.Fatalf("config: %v", d)
		}
	}
	v := cfg.Virtuals[0]
	s := FromConfig(v, &v.Reals[0])
	if s.Type != Negotiate || s.Service != "http" || s.Protocol != "tcp" || s.Addr.String() != "10.0.0.11:8080" ||
		s.Request != "health" || s.Receive != "OK" || s.VirtualHost != "www.example.org" || s.HTTPMethod != "GET" {
		t.Errorf("http real 1: %+v", s)
	}
	s = FromConfig(v, &v.Reals[1])
	if s.Request != "alive.html" || s.Receive != "ALIVE" {
		t.Errorf("http real 2 keeps its own request and receive: %+v", s)
	}
	if got := httpURL(s); got != "http://10.0.0.12:8080/alive.html" {
		t.Errorf("URL %s", got)
	}
	v = cfg.Virtuals[1]
	s = FromConfig(v, &v.Reals[0])
	if s.Addr.String() != "10.0.0.11:2121" || s.Login != "anonymous" || !strings.HasPrefix(s.Passwd, "ldirectord@") {
		t.Errorf("ftp: %+v", s)
	}
	v = cfg.Virtuals[2]
	s = FromConfig(v, &v.Reals[0])
	if s.Type != External || s.Command != "/usr/local/bin/check-it" || s.FWMark != 7 || s.Protocol != "tcp" || s.RealPort != 443 {
		t.Errorf("external fwm: %+v", s)
	}
	if got := strings.Join(externalArgs(s), " "); got != "7  10.0.0.11 443" {
		t.Errorf("external fwm args %q", got)
	}
}

func TestHTTPURL(t *testing.T) {
	for _, c := range []struct {
		s    Spec
		want string
	}{
		{Spec{Service: "http", Addr: netip.MustParseAddrPort("10.0.0.1:80")}, "http://10.0.0.1:80/"},
		{Spec{Service: "http", Addr: netip.MustParseAddrPort("10.0.0.1:80"), Request: "/a/b?c=d"}, "http://10.0.0.1:80/a/b?c=d"},
		{Spec{Service: "https", Addr: netip.MustParseAddrPort("[2001:db8::1]:443"), Request: "x"}, "https://[2001:db8::1]:443/x"},
		{Spec{Service: "http", Addr: netip.MustParseAddrPort("10.0.0.1:80"), Request: "http://other:81/y"}, "http://other:81/y"},
		{Spec{Service: "http_proxy", Addr: netip.MustParseAddrPort("10.0.0.1:3128"), Request: "http://www.example.org/"}, "http://www.example.org/"},
	} {
		if got := httpURL(c.s); got != c.want {
			t.Errorf("%+v: %s; want %s", c.s, got, c.want)
		}
	}
}

// A Spec without an address, or with nonsense in it, is an error for
// every check, never a crash.
func TestBadSpecs(t *testing.T) {
	parallel(t)
	services := []string{"http", "https", "http_proxy", "ftp", "smtp", "submission", "pop", "pops", "imap", "imaps",
		"nntp", "ldap", "ldaps", "dns", "mysql", "pgsql", "radius", "sip", "simpletcp", "oracle"}
	for _, svc := range services {
		for _, s := range []Spec{
			{Type: Negotiate, Service: svc},
			{Type: Negotiate, Service: svc, Protocol: "udp", Addr: refused(t), Request: "/\x00\r\n(", Receive: "(",
				Login: "a\r\nb", Passwd: "\r\n", HTTPMethod: "BAD METHOD", VirtualHost: "\r\n"},
		} {
			if err, _ := runWithin(s, checkTimeout); err == nil {
				t.Errorf("%+v: passed", s)
			}
		}
	}
	for _, s := range []Spec{{Type: Ping}, {Type: Connect}, {Type: External}, {Type: ExternalPerl, Command: "/nonexistent"}} {
		if err, _ := runWithin(s, checkTimeout); err == nil {
			t.Errorf("%+v: passed", s)
		}
	}
}

func TestSIPTCP(t *testing.T) {
	parallel(t)
	s := Spec{Type: Negotiate, Service: "sip", Protocol: "tcp", Login: "ldirectord@director"}
	s.Addr = lineServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		c.Write([]byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"))
	})
	wantUp(t, s)
	s.Addr = lineServer(t, func(c net.Conn) { c.Write([]byte("SIP/2.0 503 Service Unavailable\r\n\r\n")) })
	wantDown(t, s, true, "503 Service Unavailable")
	s.Addr = silent(t)
	wantTimeout(t, s)
}

func TestSimpleUDP(t *testing.T) {
	parallel(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte("got "+strings.ToUpper(string(buf[:n]))+"\nend\n"), from)
		}
	}()
	s := Spec{Type: Negotiate, Service: "simpletcp", Protocol: "udp", Addr: netip.MustParseAddrPort(pc.LocalAddr().String()), Request: "ping", Receive: "^got PING$"}
	wantUp(t, s)
	s.Addr = silentUDP(t)
	wantTimeout(t, s)
}
