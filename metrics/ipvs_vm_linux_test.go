package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"hbgo/lvs"
	"hbgo/metrics"
	"hbgo/test/netns"
	"hbgo/test/vm"
)

// TestVMIPVSMetrics boots the test machine (its kernel has IPVS) and runs
// TestInVMIPVSMetrics there.
func TestVMIPVSMetrics(t *testing.T) {
	vm.RunGoTestsWith(t, ".", "^TestInVMIPVSMetrics$", vm.GoTestOptions{Modules: vm.NetnsModules})
}

// TestInVMIPVSMetrics, inside the machine, sends client connections
// through a NAT service of a director's kernel table and reads them back
// as metrics: the IPVS counters of the service and its real server.
func TestInVMIPVSMetrics(t *testing.T) {
	if !vm.InVM() {
		t.Skip("inner half of TestVMIPVSMetrics: runs only inside the VM")
	}
	lab := netns.NewT(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	front, err := lab.AddSegment("front", netip.MustParsePrefix("192.0.2.0/24"))
	must(err)
	back, err := lab.AddSegment("back", netip.MustParsePrefix("10.0.0.0/24"))
	must(err)
	client, err := lab.AddHost("client")
	must(err)
	dir, err := lab.AddHost("dir")
	must(err)
	rs, err := lab.AddHost("rs")
	must(err)
	vip := netip.MustParseAddrPort("192.0.2.100:80")
	real := netip.MustParseAddrPort("10.0.0.11:80")
	must(client.Attach(front, "eth0", front.Addr(1)))
	must(dir.Attach(front, "eth0", front.Addr(2), netip.PrefixFrom(vip.Addr(), 24)))
	must(dir.Attach(back, "eth1", back.Addr(1)))
	must(rs.Attach(back, "eth0", netip.PrefixFrom(real.Addr(), 24)))
	must(dir.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) }))
	must(rs.Do(func() error {
		return netlink.RouteAdd(&netlink.Route{Gw: back.Addr(1).Addr().AsSlice()})
	}))
	// The real server answers each line with "rs".
	var ln net.Listener
	must(rs.Do(func() (err error) { ln, err = net.Listen("tcp", real.String()); return err }))
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintln(c, "rs")
				}
			}()
		}
	}()

	k, err := lvs.OpenKernel(filepath.Join("/run/netns", dir.NS()))
	must(err)
	defer k.Close()
	ctx := context.Background()
	key := lvs.ServiceKey{Protocol: lvs.TCP, Addr: vip}
	must(k.AddService(ctx, lvs.Service{ServiceKey: key, Scheduler: "wrr"}))
	must(k.AddDest(ctx, key, lvs.Dest{Addr: real, Method: lvs.Masq, Weight: 1}))

	const conns = 5
	for i := 0; i < conns; i++ {
		var c net.Conn
		must(client.Do(func() (err error) { c, err = net.DialTimeout("tcp", vip.String(), 5*time.Second); return err }))
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintln(c, "who")
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || line != "rs\n" {
			t.Fatalf("connection %d through %s: %q, %v", i, vip, line, err)
		}
	}

	m := metrics.New(metrics.Sources{IPVS: k.Stats})
	scrape := func() string {
		srv := httptest.NewServer(m.Handler())
		defer srv.Close()
		resp, err := srv.Client().Get(srv.URL)
		must(err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		must(err)
		return string(b)
	}
	v := `virtual="TCP 192.0.2.100:80"`
	r := `real="10.0.0.11:80",` + v
	// Rates are the kernel's estimates, renewed every 2 s: wait for one.
	deadline := time.Now().Add(20 * time.Second)
	var text string
	for {
		text = scrape()
		if cps, _ := metrics.Value(text, "hbgo_ipvs_virtual_cps", v); cps > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, c := range []struct {
		name, sel string
		ok        func(float64) bool
		what      string
	}{
		{"hbgo_ipvs_virtual_connections_total", v, eq(conns), fmt.Sprint(conns)},
		{"hbgo_ipvs_connections_total", r, eq(conns), fmt.Sprint(conns)},
		{"hbgo_ipvs_packets_in_total", r, atLeast(3 * conns), ">= 3 a connection"},
		{"hbgo_ipvs_packets_out_total", r, atLeast(2 * conns), ">= 2 a connection"},
		{"hbgo_ipvs_bytes_in_total", r, atLeast(conns * (60 + 4)), "the handshakes and the lines"},
		{"hbgo_ipvs_bytes_out_total", r, atLeast(conns * (60 + 3)), "the handshakes and the answers"},
		{"hbgo_ipvs_virtual_packets_in_total", v, atLeast(3 * conns), ">= 3 a connection"},
		{"hbgo_ipvs_virtual_cps", v, atLeast(1), "> 0 after the kernel's estimate"},
		{"hbgo_ipvs_in_pps", r, atLeast(1), "> 0 after the kernel's estimate"},
		{"hbgo_ipvs_active_connections", r, atLeast(0), "present"},
		{"hbgo_ipvs_inactive_connections", r, atLeast(1), ">= 1 (closed connections in TIME_WAIT)"},
	} {
		if got, ok := metrics.Value(text, c.name, c.sel); !ok || !c.ok(got) {
			t.Errorf("%s{%s} = %v (found %v), want %s", c.name, c.sel, got, ok, c.what)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", grep(text, "hbgo_ipvs"))
	}
}
