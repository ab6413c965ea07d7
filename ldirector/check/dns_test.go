package check

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// dnsmasq serves a name on a loopback port, over UDP and TCP.
func dnsmasq(t *testing.T) uint16 {
	bin := need(t, "dnsmasq", "dnsmasq-base")
	needRoot(t)
	dir := t.TempDir()
	port := freePort(t)
	p := start(t, dir, exec.Command(bin, "--keep-in-foreground", "--conf-file=/dev/null",
		"--user=root", "--group=root", "--pid-file=",
		"--port="+strconv.Itoa(int(port)), "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--no-poll", "--log-facility=-",
		"--host-record=www.example.test,192.0.2.10",
		"--address=/other.example.test/198.51.100.7"))
	t.Cleanup(p.stop)
	p.waitListen(t, loop(port))
	// The UDP socket opens with the TCP one; give it a moment anyway.
	deadline := time.Now().Add(startWait)
	for {
		c, err := net.Dial("udp", loop(port).String())
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return port
}

func TestDNS(t *testing.T) {
	parallel(t)
	port := dnsmasq(t)
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			s := Spec{Type: Negotiate, Service: "dns", Protocol: proto, Addr: loop(port), Request: "www.example.test", Receive: `^192\.0\.2\.10$`}
			wantUp(t, s)
			// An IP address asks for its PTR record, as Net::DNS does.
			ptr := s
			ptr.Request, ptr.Receive = "/192.0.2.10", "www.example.test"
			wantUp(t, ptr)

			wrong := s
			wrong.Receive = "192.0.2.99"
			wantDown(t, wrong, true, `receive pattern "192.0.2.99" not found in the answer 192.0.2.10`)
			wrong = s
			wrong.Request = "other.example.test"
			wantDown(t, wrong, true, "not found in the answer 198.51.100.7")
			wrong.Receive = ""
			wantDown(t, wrong, true, "no receive pattern")
			nx := s
			nx.Request = "nowhere.example.test"
			wantDown(t, nx, true, "query nowhere.example.test A")
		})
	}
	t.Run("down", func(t *testing.T) {
		s := Spec{Type: Negotiate, Service: "dns", Protocol: "tcp", Addr: refused(t), Request: "www.example.test", Receive: "."}
		wantDown(t, s, true, "connection refused")
		s.Protocol = "udp" // ICMP port unreachable
		wantDown(t, s, true, "refused")
	})
	t.Run("slow", func(t *testing.T) {
		s := Spec{Type: Negotiate, Service: "dns", Protocol: "tcp", Addr: silent(t), Request: "www.example.test", Receive: "."}
		wantTimeout(t, s)
		s.Protocol, s.Addr = "udp", silentUDP(t)
		wantTimeout(t, s)
	})
}
