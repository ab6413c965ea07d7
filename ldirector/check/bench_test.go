package check

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// BenchmarkRun measures one check's cost against loopback servers, and
// how late a check against a silent server returns after its deadline.
// make bench runs it with -benchtime 1x, so each case loops on its own.
func BenchmarkRun(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("status: OK\n"))
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(strings.TrimPrefix(srv.URL, "http://"))
	const rounds = 500
	for _, c := range []struct {
		name string
		s    Spec
	}{
		{"connect", Spec{Type: Connect, Protocol: "tcp", Addr: addr}},
		{"http", Spec{Type: Negotiate, Service: "http", Protocol: "tcp", Addr: addr, Request: "/", Receive: "OK"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				start := time.Now()
				for range rounds {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					if err := Run(ctx, c.s); err != nil {
						b.Fatal(err)
					}
					cancel()
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/rounds, "µs/check")
			}
		})
	}
	b.Run("deadline-overshoot", func(b *testing.B) {
		s := Spec{Type: Negotiate, Service: "smtp", Protocol: "tcp", Addr: silent(b)}
		const timeout, n = 100 * time.Millisecond, 20
		for range b.N {
			var worst, sum time.Duration
			for range n {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				start := time.Now()
				if Run(ctx, s) == nil {
					b.Fatal("a silent server passed")
				}
				over := time.Since(start) - timeout
				cancel()
				sum += over
				worst = max(worst, over)
			}
			b.ReportMetric(float64(sum.Microseconds())/n, "µs-late-mean")
			b.ReportMetric(float64(worst.Microseconds()), "µs-late-max")
		}
	})
}
