//go:build linux

package check

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"hbgo/test/netns"
)

// TestPingNetns pings a host of a lab (its own network namespaces) from
// another, over IPv4 and IPv6, with a raw socket and with an
// unprivileged ping socket; an address nobody holds and a host cut off
// fail at the timeout.
func TestPingNetns(t *testing.T) {
	parallel(t)
	lab := netns.NewT(t)
	lan, err := lab.AddSegment("lan", netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/64"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := lab.AddHost("dir")
	if err != nil {
		t.Fatal(err)
	}
	real, err := lab.AddHost("real")
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Attach(lan, "eth0", lan.Addrs(1)...); err != nil {
		t.Fatal(err)
	}
	if err := real.Attach(lan, "eth0", lan.Addrs(2)...); err != nil {
		t.Fatal(err)
	}
	// Unprivileged ping sockets for root's group too, in dir only.
	if _, err := dir.Run("sh", "-c", "echo 0 2147483647 > /proc/sys/net/ipv4/ping_group_range"); err != nil {
		t.Fatal(err)
	}
	v4, v6 := real.Addrs("eth0")[0].Addr(), real.Addrs("eth0")[1].Addr()
	nobody4, nobody6 := lan.Addr(9).Addr(), lan.Addrs(9)[1].Addr()

	ping := func(a netip.Addr, timeout time.Duration) (err error, took time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		if derr := dir.Do(func() error { err = Run(ctx, Spec{Type: Ping, Addr: netip.AddrPortFrom(a, 0)}); return nil }); derr != nil {
			return derr, 0
		}
		return err, time.Since(start)
	}
	for _, raw := range []bool{true, false} {
		pingRaw = raw
		for _, a := range []netip.Addr{v4, v6} {
			if err, _ := ping(a, 5*time.Second); err != nil {
				t.Errorf("ping %s (raw %v): %v", a, raw, err)
			}
			// connect to a UDP service pings, as ldirectord does.
			var err error
			dir.Do(func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err = Run(ctx, Spec{Type: Connect, Protocol: "udp", Addr: netip.AddrPortFrom(a, 53)})
				return nil
			})
			if err != nil {
				t.Errorf("connect udp %s (raw %v): %v", a, raw, err)
			}
		}
		// Both at once, to keep the test short.
		errs := make(chan error, 2)
		for _, a := range []netip.Addr{nobody4, nobody6} {
			go func() {
				err, took := ping(a, checkTimeout)
				switch {
				case err == nil:
					errs <- fmt.Errorf("ping %s, which nobody holds (raw %v): passed", a, raw)
				case took < checkTimeout-100*time.Millisecond || took > checkTimeout+slack:
					errs <- fmt.Errorf("ping %s (raw %v): failed after %v (%v); want about %v", a, raw, took, err, checkTimeout)
				default:
					errs <- nil
				}
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	}
	pingRaw = true
	// A connect whose SYN never leaves (no neighbour answers for the
	// address) ends at the deadline.
	var cerr error
	start := time.Now()
	dir.Do(func() error {
		cerr, _ = runWithin(Spec{Type: Connect, Protocol: "tcp", Addr: netip.AddrPortFrom(nobody4, 80)}, checkTimeout)
		return nil
	})
	if took := time.Since(start); cerr == nil || took < checkTimeout-100*time.Millisecond || took > checkTimeout+slack {
		t.Errorf("connect to %s, which nobody holds: %v after %v; want a failure at %v", nobody4, cerr, took, checkTimeout)
	}
	if err := real.Isolate(); err != nil {
		t.Fatal(err)
	}
	if err, _ := ping(v4, checkTimeout); err == nil {
		t.Errorf("ping %s, cut off: passed", v4)
	}
	if err := real.Heal(); err != nil {
		t.Fatal(err)
	}
	if err, _ := ping(v6, 5*time.Second); err != nil {
		t.Errorf("ping %s after healing: %v", v6, err)
	}
}

func TestPingLoopback(t *testing.T) {
	needRoot(t)
	for _, a := range []string{"127.0.0.1", "::1"} {
		wantUp(t, Spec{Type: Ping, Addr: netip.AddrPortFrom(netip.MustParseAddr(a), 0)})
	}
}
