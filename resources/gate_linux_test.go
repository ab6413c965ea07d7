//go:build linux

package resources

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	vnetns "github.com/vishvananda/netns"

	"hbgo/test/netns"
)

// testLogger logs to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// testLease is a lease a test renews by hand. It remembers the latest
// end it gave out: the end of the lease as the agent knew it.
type testLease struct{ until, given atomic.Int64 }

func (l *testLease) set(until time.Time) { l.until.Store(until.UnixNano()) }

func (l *testLease) get() (time.Time, bool) {
	u := l.until.Load()
	for {
		g := l.given.Load()
		if u <= g || l.given.CompareAndSwap(g, u) {
			break
		}
	}
	return time.Unix(0, u), u != 0
}

// lastGiven is the latest lease end get returned.
func (l *testLease) lastGiven() time.Time { return time.Unix(0, l.given.Load()) }

// served samples VIPServed inside h.
func served(t testing.TB, h *netns.Host, vip netip.Addr) bool {
	t.Helper()
	var ok bool
	if err := h.Do(func() (err error) { ok, err = VIPServed(vip); return err }); err != nil {
		t.Fatalf("VIPServed: %v", err)
	}
	return ok
}

func addrPresent(t testing.TB, h *netns.Host, vip netip.Addr) bool {
	t.Helper()
	var cur bool
	if err := h.Do(func() error { a, err := findAddr(nil, vip); cur = a != nil; return err }); err != nil {
		t.Fatal(err)
	}
	return cur
}

// leaseRun is what a VIP did once its lease stopped being renewed.
type leaseRun struct {
	toDark time.Duration // from the lease's end to VIPServed false
	toGone time.Duration // from the lease's end to the address gone
}

// runOutLease holds res on d1 under a lease of length lease, renewed
// every 10 ms for hold (during runs at its end, still renewed), then no
// more; it samples VIPServed and the address every 10 ms until both are
// gone. No Stop is called.
func runOutLease(t testing.TB, l *vipLab, res string, vip netip.Addr, lease, hold time.Duration, during func()) (leaseRun, Agent) {
	t.Helper()
	tl := &testLease{}
	tl.set(time.Now().Add(lease))
	a := newAgent(t, res, Env{Lease: tl.get, Logger: testLogger(t)})
	t.Cleanup(func() { _ = in(t, l.d1, a.Stop) })
	if err := in(t, l.d1, a.Start); err != nil {
		t.Fatal(err)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	var last time.Time // the lease's end after the last renewal
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			last = time.Now().Add(lease)
			tl.set(last)
		}
	}()
	start := time.Now()
	end := start.Add(hold)
	for time.Now().Before(end) {
		if !served(t, l.d1, vip) {
			close(stop)
			<-stopped
			var held, live bool
			err := l.d1.Do(func() error {
				c, err := nftables.New()
				if err == nil {
					held, live, err = gateState(c, vip)
				}
				return err
			})
			t.Fatalf("VIP not served %v after start while its lease is renewed: address there %v, gate held %v live %v (%v)",
				time.Since(start), addrPresent(t, l.d1, vip), held, live, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if during != nil {
		during()
	}
	close(stop) // the daemon "freezes"
	<-stopped
	// The agent renews every 100 ms; it may still read the last value.
	time.Sleep(150 * time.Millisecond)
	last = tl.lastGiven()
	var r leaseRun
	deadline := last.Add(lease + 10*time.Second)
	for time.Now().Before(deadline) && r.toGone == 0 {
		now := time.Now()
		if r.toDark == 0 && !served(t, l.d1, vip) {
			r.toDark = now.Sub(last)
		}
		if !addrPresent(t, l.d1, vip) {
			r.toGone = now.Sub(last)
			if r.toDark == 0 {
				r.toDark = r.toGone
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r.toGone == 0 {
		t.Fatalf("address still there %v after the lease ran out", time.Since(last))
	}
	return r, a
}

func TestLeaseDarkensVIPNetns(t *testing.T) {
	for _, c := range []struct {
		res string
		vip netip.Addr
	}{
		{"IPaddr::192.0.2.100/24/eth0", netip.MustParseAddr("192.0.2.100")},
		{"IPv6addr::2001:db8::100/64/eth0", netip.MustParseAddr("2001:db8::100")},
	} {
		t.Run(c.vip.String(), func(t *testing.T) {
			l := newVIPLab(t)
			const lease = 800 * time.Millisecond
			r, a := runOutLease(t, l, c.res, c.vip, lease, 2500*time.Millisecond, func() {
				// Held 2.5s with a lifetime of 2s: the lifetime was renewed.
				lines := addrLines(t, l.d1, c.vip.String())
				if len(lines) != 1 || !strings.Contains(lines[0], "valid_lft 2sec") && !strings.Contains(lines[0], "valid_lft 1sec") {
					t.Errorf("leased address: %q, want a lifetime of 1-2 s", lines)
				}
				if err := l.cl.Ping(c.vip, time.Second); err != nil {
					t.Errorf("client cannot reach the VIP while the lease is fresh: %v", err)
				}
			})
			t.Logf("lease %v: dark %v after its end, address gone %v after", lease, r.toDark, r.toGone)
			// Never live past the lease (with a margin for sampling every
			// 10 ms on a busy machine). Dark a little early is the safe
			// side: the gate carries the end read at the last renewal,
			// up to a renewal period (100 ms) before the last end the
			// agent read, and the kernel counts whole milliseconds from
			// its clock tick.
			if r.toDark < -250*time.Millisecond || r.toDark > 300*time.Millisecond {
				t.Errorf("VIP dark %v after its lease ended, want within 300ms", r.toDark)
			}
			// Lifetime ceil(lease)+1 = 2s set at most addrRenewBelow
			// before the end, and the kernel's own delay.
			if r.toGone > 2*time.Second+1500*time.Millisecond {
				t.Errorf("address gone %v after the lease ended, want within lifetime + 1.5s", r.toGone)
			}
			if st := status(t, l.d1, a); st != Stopped {
				t.Errorf("status after the kernel removed it: %v", st)
			}
		})
	}
}

// While the address is still there, the gate alone keeps the client out:
// no answer to ping, nor to ARP / neighbour solicitation.
func TestLeaseGateDropsTrafficNetns(t *testing.T) {
	for _, c := range []struct {
		res string
		vip netip.Addr
	}{
		{"IPaddr2::192.0.2.100/24/eth0", netip.MustParseAddr("192.0.2.100")},
		{"IPv6addr::2001:db8::100/64/eth0", netip.MustParseAddr("2001:db8::100")},
	} {
		t.Run(c.vip.String(), func(t *testing.T) {
			l := newVIPLab(t)
			tl := &testLease{}
			// Not renewed: the lease ends at end. The address lifetime,
			// ceil(3.1s)+1 = 5s, outlives it by 1.9s, while the gate
			// darkens the VIP at end.
			const lease = 3100 * time.Millisecond
			end := time.Now().Add(lease)
			tl.set(end)
			a := newAgent(t, c.res, Env{Lease: tl.get, Logger: testLogger(t)})
			t.Cleanup(func() { _ = in(t, l.d1, a.Stop) })
			if err := in(t, l.d1, a.Start); err != nil {
				t.Fatal(err)
			}
			if err := l.cl.Ping(c.vip, time.Second); err != nil {
				t.Fatalf("ping while fresh: %v", err)
			}
			if st := status(t, l.d1, a); st != Running {
				t.Fatalf("status while fresh: %v", st)
			}
			time.Sleep(time.Until(end.Add(100 * time.Millisecond)))
			if !addrPresent(t, l.d1, c.vip) {
				t.Fatal("address gone already; the gate is not what is tested")
			}
			if served(t, l.d1, c.vip) {
				t.Fatal("VIPServed true after the lease ended")
			}
			if st := status(t, l.d1, a); st != Failed {
				t.Errorf("status of a dark VIP: %v, want failed", st)
			}
			if err := l.cl.Ping(c.vip, 300*time.Millisecond); err == nil {
				t.Error("client's ping answered by a dark VIP (cached neighbour entry)")
			}
			// The lease comes back before the address lifetime ran out
			// (1.9s after end): the renewal lights the VIP again and
			// renews the lifetime.
			tl.set(time.Now().Add(lease))
			deadline := time.Now().Add(5 * time.Second)
			for !served(t, l.d1, c.vip) && time.Now().Before(deadline) {
				if !addrPresent(t, l.d1, c.vip) {
					t.Fatalf("address gone %v after the lease ended; the machine was too slow for this test", time.Since(end))
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := l.cl.Ping(c.vip, time.Second); err != nil {
				t.Errorf("ping after the lease came back: %v", err)
			}
			// Dark again: a neighbour that asks anew gets no answer.
			end2 := time.Now().Add(200 * time.Millisecond)
			tl.set(end2)
			time.Sleep(time.Until(end2.Add(100 * time.Millisecond)))
			if served(t, l.d1, c.vip) || !addrPresent(t, l.d1, c.vip) {
				t.Fatal("want the address present and dark")
			}
			if _, err := l.cl.Run("ip", "neigh", "flush", "to", c.vip.String()); err != nil {
				t.Fatal(err)
			}
			if err := l.cl.Ping(c.vip, 300*time.Millisecond); err == nil {
				t.Error("client's ping answered by a dark VIP (fresh neighbour resolution)")
			}
			if out, _ := l.cl.Run("ip", "neigh", "show", c.vip.String()); strings.Contains(out, "lladdr") {
				t.Errorf("client resolved a dark VIP: %s", out)
			}
			if err := in(t, l.d1, a.Stop); err != nil {
				t.Fatal(err)
			}
			var held bool
			if err := l.d1.Do(func() (err error) {
				c2, err := nftables.New()
				if err != nil {
					return err
				}
				held, _, err = gateState(c2, c.vip)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if held {
				t.Error("gate still holds the VIP after stop")
			}
		})
	}
}

// The first use in a process replaces a table a killed daemon left.
func TestGateReplacesStaleTableNetns(t *testing.T) {
	l := newVIPLab(t)
	vip := netip.MustParseAddr("192.0.2.100")
	if err := l.d1.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tb := c.AddTable(&nftables.Table{Name: gateTable, Family: nftables.TableFamilyINet})
		if err := c.AddSet(&nftables.Set{Table: tb, Name: setHeld4, KeyType: nftables.TypeIPAddr}, []nftables.SetElement{{Key: vip.AsSlice()}}); err != nil {
			return err
		}
		if err := c.AddSet(&nftables.Set{Table: tb, Name: "stale", KeyType: nftables.TypeIPAddr}, nil); err != nil {
			return err
		}
		return c.Flush()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.d1.Run("ip", "addr", "add", "192.0.2.100/24", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	if served(t, l.d1, vip) {
		t.Fatal("held in the stale gate without a live element, yet served")
	}
	tl := &testLease{}
	tl.set(time.Now().Add(time.Hour))
	a := newAgent(t, "IPaddr2::192.0.2.101/24/eth0", Env{Lease: tl.get})
	t.Cleanup(func() { _ = in(t, l.d1, a.Stop) })
	if err := in(t, l.d1, a.Start); err != nil {
		t.Fatal(err)
	}
	if !served(t, l.d1, vip) || !served(t, l.d1, netip.MustParseAddr("192.0.2.101")) {
		t.Fatal("stale gate left in place")
	}
	if err := l.d1.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		sets, err := c.GetSets(&nftables.Table{Name: gateTable, Family: nftables.TableFamilyINet})
		for _, s := range sets {
			if s.Name == "stale" {
				t.Error("stale set survived")
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLeaseExpiry lets a 500 ms lease run out (the daemon "froze")
// and reports the time from the lease's end to the VIP dark (gate) and
// to the address gone (kernel lifetime), with no Stop.
func BenchmarkLeaseExpiry(b *testing.B) {
	for _, c := range []struct {
		name, res string
		vip       netip.Addr
	}{
		{"IPv4", "IPaddr::192.0.2.100/24/eth0", netip.MustParseAddr("192.0.2.100")},
		{"IPv6", "IPv6addr::2001:db8::100/64/eth0", netip.MustParseAddr("2001:db8::100")},
	} {
		b.Run(c.name, func(b *testing.B) {
			var dark, gone time.Duration
			for range b.N {
				l := newVIPLab(b)
				r, _ := runOutLease(b, l, c.res, c.vip, 500*time.Millisecond, 300*time.Millisecond, nil)
				dark += r.toDark
				gone += r.toGone
			}
			b.ReportMetric(float64(dark.Microseconds())/1000/float64(b.N), "ms-lease-end-to-dark")
			b.ReportMetric(float64(gone.Microseconds())/1000/float64(b.N), "ms-lease-end-to-addr-gone")
		})
	}
}

// A renewal for a lease already over darkens the VIP at once.
func TestGateRenewAfterLeaseNetns(t *testing.T) {
	l := newVIPLab(t)
	vip := netip.MustParseAddr("2001:db8::7")
	if err := l.d1.Do(func() error {
		ns, err := vnetns.Get()
		if err != nil {
			return err
		}
		defer ns.Close()
		g, err := gateIn(ns)
		if err != nil {
			return err
		}
		defer g.put()
		state := func() (held, live bool) {
			held, live, err := gateState(g.c, vip)
			if err != nil {
				t.Fatal(err)
			}
			return held, live
		}
		if err := g.Hold(vip, time.Now().Add(time.Hour)); err != nil {
			return err
		}
		if held, live := state(); !held || !live {
			t.Errorf("after hold: held %v live %v", held, live)
		}
		if err := g.Renew(vip, time.Now().Add(-time.Second)); err != nil {
			return err
		}
		if held, live := state(); !held || live {
			t.Errorf("after a renewal past the lease: held %v live %v", held, live)
		}
		// And again, with nothing left to delete.
		if err := g.Renew(vip, time.Now().Add(-time.Second)); err != nil {
			return err
		}
		if err := g.Renew(vip, time.Now().Add(time.Hour)); err != nil {
			return err
		}
		if held, live := state(); !held || !live {
			t.Errorf("after a renewal: held %v live %v", held, live)
		}
		return g.Release(vip)
	}); err != nil {
		t.Fatal(err)
	}
}

// A VIP whose lease lapsed long enough for the kernel to drop its address
// (a two-node survivor waiting for its silent peer's deadtime keeps its
// groups) gets the address back, and is served, when the lease holds
// again: at once when told (Env.LeaseResumed).
func TestLeaseResumedAddsAddressBackNetns(t *testing.T) {
	l := newVIPLab(t)
	vip := netip.MustParseAddr("192.0.2.100")
	const lease = 800 * time.Millisecond
	tl := &testLease{}
	tl.set(time.Now().Add(lease))
	var bellMu sync.Mutex
	bell := make(chan struct{})
	resumed := func() <-chan struct{} {
		bellMu.Lock()
		defer bellMu.Unlock()
		return bell
	}
	a := newAgent(t, "IPaddr::192.0.2.100/24/eth0", Env{Lease: tl.get, LeaseResumed: resumed, Logger: testLogger(t)})
	t.Cleanup(func() { _ = in(t, l.d1, a.Stop) })
	if err := in(t, l.d1, a.Start); err != nil {
		t.Fatal(err)
	}
	renew := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			tl.set(time.Now().Add(lease))
		}
	}
	renew(500 * time.Millisecond)
	lapsed := time.Now()
	for addrPresent(t, l.d1, vip) {
		if time.Since(lapsed) > 10*time.Second {
			t.Fatal("address still there 10 s after the lease lapsed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("address gone %v after the lease lapsed", time.Since(lapsed))
	tl.set(time.Now().Add(lease))
	bellMu.Lock()
	close(bell)
	bell = make(chan struct{})
	bellMu.Unlock()
	back := time.Now()
	go renew(3 * time.Second)
	for !addrPresent(t, l.d1, vip) || !served(t, l.d1, vip) {
		if time.Since(back) > 2*time.Second {
			t.Fatalf("address there %v, served %v, 2 s after the lease held again", addrPresent(t, l.d1, vip), served(t, l.d1, vip))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("served again %v after the lease held again", time.Since(back))
}
