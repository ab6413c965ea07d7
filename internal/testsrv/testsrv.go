// Package testsrv has the small servers several packages' tests need.
package testsrv

import (
	"net"
	"sync"
	"testing"
)

// Silent listens on addr ("127.0.0.1:0" for any free loopback port),
// accepts every connection and never says a word: a hung server. The
// listener and every connection it took close when the test ends. It
// returns the address it listens on.
func Silent(t testing.TB, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}
