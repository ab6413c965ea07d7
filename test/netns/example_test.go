//go:build linux

package netns_test

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"hbgo/test/netns"
)

// Two directors on two links, one link cut, a socket opened inside a host.
// In a test, netns.NewT(t) replaces New and the deferred Close.
func Example() {
	lab, err := netns.New("example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lab.Close()
	lab.CleanupOnSignal() // Ctrl-C removes the lab too (for demos)

	lan0, _ := lab.AddSegment("lan0", netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/64"))
	lan1, _ := lab.AddSegment("lan1", netip.MustParsePrefix("198.51.100.0/24"))
	n1, _ := lab.AddHost("n1")
	n2, _ := lab.AddHost("n2")
	for i, h := range []*netns.Host{n1, n2} {
		_ = h.Attach(lan0, "eth0", lan0.Addrs(i+1)...)
		_ = h.Attach(lan1, "eth1", lan1.Addr(i+1))
	}

	_ = n1.Block("eth0") // eth0 of n1 now loses everything, silently
	fmt.Println(n1.Ping(n2.Addr("eth0").Addr(), 200*time.Millisecond) != nil)
	fmt.Println(n1.Ping(n2.Addr("eth1").Addr(), time.Second) == nil)

	var conn *net.UDPConn
	_ = n2.Do(func() (err error) { // the socket lives in n2 from now on
		conn, err = net.ListenUDP("udp", &net.UDPAddr{Port: 694})
		return err
	})
	defer conn.Close()

	p, _ := n1.Start(n1.Command("sleep", "1000")) // killed by Close
	_ = p
	fmt.Print(lab.Describe())
}
