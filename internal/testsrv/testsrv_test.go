package testsrv

import (
	"net"
	"testing"
	"time"
)

func TestSilentAcceptsAndNeverAnswers(t *testing.T) {
	addr := Silent(t, "127.0.0.1:0")
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read %d bytes, %v; want a timeout", n, err)
	}
}
