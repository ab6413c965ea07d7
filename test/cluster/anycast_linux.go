//go:build linux

package cluster

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	bgptest "hbgo/test/bgp"
	"hbgo/test/netns"
	"hbgo/test/peers"
)

// AnycastLab is n directors announcing one anycast VIP to FRR, a client
// behind the router, and one real server for the VIP's ldirector.
// FRR must be there (bgptest.RequireFRR, or peers.Ensure with
// bgptest.Packages).
type AnycastLab struct {
	C      *Cluster
	R      *bgptest.Router
	Client *netns.Host
	RS     *netns.Host
	Web    net.Listener
	VIP    netip.Prefix
	Addr   map[string]netip.Addr
	Names  []string
	All    []netip.Addr
}

func NewAnycastLab(t TB, n int) *AnycastLab { return NewAnycastLabWith(t, n, AnycastOptions{}) }

// AnycastOptions vary the lab.
type AnycastOptions struct {
	// BFD runs BFD on every director's session with the router
	// (bgp_neighbor ... bfd, 100 ms x 3; bfdd on the router with the
	// same timers).
	BFD bool
}

// NewAnycastLabWith is NewAnycastLab with options.
func NewAnycastLabWith(t TB, n int, opts AnycastOptions) *AnycastLab {
	l := &AnycastLab{VIP: netip.MustParsePrefix("10.99.0.100/32"), Addr: map[string]netip.Addr{}}
	var neigh []bgptest.RouterNeighbor
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		l.Names = append(l.Names, name)
		l.Addr[name] = netip.MustParseAddr(fmt.Sprintf("10.81.0.%d", i))
		l.All = append(l.All, l.Addr[name])
		neigh = append(neigh, bgptest.RouterNeighbor{Addr: l.Addr[name], AS: 65001, BFD: opts.BFD})
	}
	vip := l.VIP
	neighbor := "bgp_neighbor " + RouterAddr + " 65000 hold 3"
	if opts.BFD {
		neighbor += " bfd"
	}
	c := New(t, Spec{
		Directors:   l.Names,
		Links:       1,
		Router:      true,
		Extra:       "bgp_as 65001\n" + neighbor + "\n",
		Haresources: "n1 BGPaddr::" + vip.String() + " ldirectord::ldirectord.cf\n",
		// The VIP's web service and its one real server: while no real
		// server is up, every director withdraws the VIP.
		Files: map[string]string{"ldirectord.cf": "checkinterval = 200ms\nchecktimeout = 1s\nquiescent = no\n" +
			"virtual = " + vip.Addr().String() + ":80\n\tscheduler = mh\n\treal = 10.81.0.50:80 gate\n\tchecktype = connect\n"},
	})
	l.C = c
	l.R = bgptest.StartRouter(t, c.Lab.Host("router"), bgptest.RouterConfig{
		AS: 65000, RouterID: netip.MustParseAddr(RouterAddr), HoldTime: 3 * time.Second, Neighbors: neigh,
	})
	// A client behind the router; each director answers on the VIP
	// (UDP echo, "SEQ NAME") and routes the client's subnet back through
	// the router.
	cseg, err := c.Lab.AddSegment("clients", netip.MustParsePrefix("10.88.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Lab.Host("router").Attach(cseg, "eth1", netip.MustParsePrefix("10.88.0.254/24")); err != nil {
		t.Fatal(err)
	}
	if l.Client, err = c.Lab.AddHost("client"); err != nil {
		t.Fatal(err)
	}
	if err := l.Client.Attach(cseg, "eth0", netip.MustParsePrefix("10.88.0.1/24")); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Client.Run("ip", "route", "add", "default", "via", "10.88.0.254"); err != nil {
		t.Fatalf("client route: %v %s", err, out)
	}
	if l.RS, err = c.Lab.AddHost("rs"); err != nil {
		t.Fatal(err)
	}
	if err := l.RS.Attach(c.Lab.Segment("hb0"), "eth0", netip.MustParsePrefix("10.81.0.50/24")); err != nil {
		t.Fatal(err)
	}
	l.Web = StartListener(t, l.RS, ":80")
	for _, n := range l.Names {
		h := c.Members[n].Host
		if out, err := h.Run("ip", "route", "add", "10.88.0.0/24", "via", RouterAddr); err != nil {
			t.Fatalf("%s route: %v %s", n, err, out)
		}
		if err := peers.StartEcho(h, n); err != nil {
			t.Fatal(err)
		}
	}
	c.StartAll()
	l.R.WaitNextHops(vip, l.All, 60*time.Second)
	return l
}

// AskVIP sends one request to the VIP's echo from a new socket (a new
// source port, so a new flow for the router's layer-4 hash) and returns
// the name of the director that answered.
func AskVIP(client *netns.Host, vip netip.Addr, seq int) (string, error) {
	var conn *net.UDPConn
	if err := client.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	}); err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.WriteToUDPAddrPort([]byte(fmt.Sprint(seq)), netip.AddrPortFrom(vip, peers.EchoPort)); err != nil {
		return "", err
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 64)
	n, _, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return "", err
	}
	_, who, _ := strings.Cut(string(buf[:n]), " ")
	return who, nil
}

// Flows asks the VIP from a new flow every 5 ms in the background.
type Flows struct {
	mu   sync.Mutex
	cur  FlowCount
	done chan struct{}
	wg   sync.WaitGroup
}

type FlowCount struct {
	Total, Failed int
	Per           map[string]int
	LastFrom      map[string]time.Time
	LastFail      time.Time
}

func StartFlows(client *netns.Host, vip netip.Addr) *Flows {
	f := &Flows{done: make(chan struct{}), cur: FlowCount{Per: map[string]int{}, LastFrom: map[string]time.Time{}}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-f.done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			at := time.Now()
			who, err := AskVIP(client, vip, i)
			f.mu.Lock()
			f.cur.Total++
			if err != nil {
				f.cur.Failed++
				f.cur.LastFail = at
			} else {
				f.cur.Per[who]++
				f.cur.LastFrom[who] = at
			}
			f.mu.Unlock()
		}
	}()
	return f
}

// Take returns the counts since the last take and starts new ones.
func (f *Flows) Take() FlowCount {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cur
	f.cur = FlowCount{Per: map[string]int{}, LastFrom: map[string]time.Time{}}
	return c
}

func (f *Flows) Stop() {
	close(f.done)
	f.wg.Wait()
}

// StartListener accepts TCP connections on addr in host h (a real server
// for the ldirector's connect checks) until it is closed.
func StartListener(t TB, h *netns.Host, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := h.Do(func() (err error) {
		l, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l
}
