package ipvsvm

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"hbgo/lvs"
	"hbgo/test/netns"
	"hbgo/test/vm"
)

// inVM skips the inner half of a VM test outside the machine.
func inVM(t *testing.T) {
	t.Helper()
	if !vm.InVM() {
		t.Skip("inner half of TestVMIPVS: runs only inside the VM")
	}
}

// nsPath is the file of a lab host's network namespace.
func nsPath(h *netns.Host) string { return filepath.Join("/run/netns", h.NS()) }

// openTable opens the kernel table of a host, closed when the test ends.
func openTable(t testing.TB, h *netns.Host) *lvs.Kernel {
	t.Helper()
	k, err := lvs.OpenKernel(nsPath(h))
	if err != nil {
		t.Fatalf("open IPVS of %s: %v", h.Name(), err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// sysctl sets a sysctl inside a host (key with dots).
func sysctl(t testing.TB, h *netns.Host, key, val string) {
	t.Helper()
	err := h.Do(func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(val), 0o644)
	})
	if err != nil {
		t.Fatalf("%s: sysctl %s=%s: %v", h.Name(), key, val, err)
	}
}

// defaultRoute makes gw the host's IPv4 default gateway.
func defaultRoute(t testing.TB, h *netns.Host, gw netip.Addr) {
	t.Helper()
	err := h.Do(func() error {
		return netlink.RouteAdd(&netlink.Route{Gw: gw.AsSlice(), Dst: nil})
	})
	if err != nil {
		t.Fatalf("%s: default route via %s: %v", h.Name(), gw, err)
	}
}

// addAddr adds an address to an interface of a host (lo for a VIP on a
// direct-routing real server).
func addAddr(t testing.TB, h *netns.Host, ifname string, p netip.Prefix) {
	t.Helper()
	err := h.Do(func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		return netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}})
	})
	if err != nil {
		t.Fatalf("%s: add %s to %s: %v", h.Name(), p, ifname, err)
	}
}

// readProc reads a /proc/net file as the host sees it.
func readProc(t testing.TB, h *netns.Host, name string) string {
	t.Helper()
	var data []byte
	err := h.Do(func() error {
		// One large read: the kernel then walks its table once. Read in
		// the small pieces os.ReadFile starts with, /proc/net/ip_vs
		// restarts its walk at each piece and once came back with 17 of
		// 23 services.
		f, err := os.Open("/proc/thread-self/net/" + name)
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		for {
			n, err := f.Read(buf[len(data):])
			data = buf[:len(data)+n]
			if err == io.EOF || n == 0 {
				return nil
			}
			if err != nil {
				return err
			}
			if len(data) == len(buf) {
				return fmt.Errorf("more than %d bytes", len(buf))
			}
		}
	})
	if err != nil {
		t.Fatalf("%s: read /proc/net/%s: %v", h.Name(), name, err)
	}
	return string(data)
}

// serve runs a TCP server in host h on port that answers every line it
// reads with the host's name, until the lab closes.
func serve(t testing.TB, h *netns.Host, port int) {
	t.Helper()
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen :%d: %v", h.Name(), port, err)
	}
	go func() {
		<-h.Lab().Done()
		ln.Close()
	}()
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
					if _, err := fmt.Fprintln(c, h.Name()); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// conn is a client connection to a virtual service.
type conn struct {
	c  net.Conn
	rd *bufio.Reader
}

// dial connects from host h to addr.
func dial(t testing.TB, h *netns.Host, addr netip.AddrPort) *conn {
	t.Helper()
	var c net.Conn
	err := h.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr.String(), 10*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("%s: dial %s: %v", h.Name(), addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{c: c, rd: bufio.NewReader(c)}
}

// ask sends a line and returns the server's name.
func (c *conn) ask() (string, error) {
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(c.c, "who"); err != nil {
		return "", err
	}
	s, err := c.rd.ReadString('\n')
	return strings.TrimSpace(s), err
}

// who opens one connection, asks once, closes, and returns the answer.
func who(t testing.TB, h *netns.Host, addr netip.AddrPort) string {
	t.Helper()
	c := dial(t, h, addr)
	defer c.c.Close()
	name, err := c.ask()
	if err != nil {
		t.Fatalf("%s: ask %s: %v", h.Name(), addr, err)
	}
	return name
}

// procEntry is one virtual service of /proc/net/ip_vs, as text.
type procEntry struct {
	key   string   // as lvs.ServiceKey.String
	svc   string   // "TCP 10.0.0.100:80 wrr persistent 75000 mask 255.255.255.0" (jiffies)
	dests []string // "10.0.0.11:80 Route 1"
}

// parseProcIPVS reads /proc/net/ip_vs into one line per service in the
// words of lvs.Entry.String (so the two can be compared as text).
func parseProcIPVS(text string) (map[string]string, error) {
	out := map[string]string{}
	var cur *procEntry
	flush := func() {
		if cur != nil {
			// /proc shows no family for a firewall-mark service; its
			// servers' addresses tell.
			if strings.HasPrefix(cur.key, "FWM") && !strings.HasSuffix(cur.key, "IPv6") &&
				len(cur.dests) > 0 && procSortKey(cur.dests[0]).Addr().Is6() {
				cur.svc = strings.Replace(cur.svc, cur.key, cur.key+" IPv6", 1)
				cur.key += " IPv6"
			}
			s := cur.svc
			slices.SortFunc(cur.dests, func(a, b string) int {
				return procSortKey(a).Compare(procSortKey(b))
			})
			for _, d := range cur.dests {
				s += " -> " + d
			}
			out[cur.key] = s
		}
	}
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0 || f[0] == "IP" || f[0] == "Prot" || (f[0] == "->" && f[1] == "RemoteAddress:Port"):
		case f[0] == "->":
			if cur == nil || len(f) < 4 {
				return nil, fmt.Errorf("stray line %q", l)
			}
			a, err := procAddr(f[1])
			if err != nil {
				return nil, err
			}
			fwd := map[string]string{"Route": "Route", "Masq": "Masq", "Tunnel": "Tunnel"}[f[2]]
			cur.dests = append(cur.dests, fmt.Sprintf("%s %s %s", a, fwd, f[3]))
		default:
			flush()
			cur = &procEntry{}
			var key string
			v6 := false
			if f[0] == "FWM" {
				mark, err := strconv.ParseUint(f[1], 16, 32)
				if err != nil {
					return nil, err
				}
				key = fmt.Sprintf("FWM %d", mark)
				if len(f) > 2 && f[2] == "IPv6" {
					key += " IPv6"
					v6 = true
					f = append(f[:2], f[3:]...)
				}
			} else {
				a, err := procAddr(f[1])
				if err != nil {
					return nil, err
				}
				v6 = strings.HasPrefix(f[1], "[")
				key = f[0] + " " + a
			}
			cur.key = key
			cur.svc = key + " " + f[2]
			rest := f[3:]
			for len(rest) > 0 {
				switch rest[0] {
				case "persistent":
					cur.svc += " persistent " + rest[1]
					mask := rest[2]
					if v6 {
						// The prefix length, printed through ntohl.
						m, err := strconv.ParseUint(mask, 16, 32)
						if err != nil {
							return nil, fmt.Errorf("mask %q: %v", mask, err)
						}
						if plen := bits.ReverseBytes32(uint32(m)); plen != 128 {
							cur.svc += fmt.Sprintf(" mask %d", plen)
						}
					} else if mask != "FFFFFFFF" {
						b, _ := hex.DecodeString(mask)
						cur.svc += " mask " + netip.AddrFrom4([4]byte(b)).String()
					}
					rest = rest[3:]
				case "ops":
					cur.svc += " ops"
					rest = rest[1:]
				default:
					rest = rest[1:]
				}
			}
		}
	}
	flush()
	return out, nil
}

// procAddr turns /proc/net/ip_vs's "0A000064:0050" or
// "[2001:0db8:0000:...:0001]:0050" into "10.0.0.100:80".
func procAddr(s string) (string, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", fmt.Errorf("address %q", s)
	}
	port, err := strconv.ParseUint(s[i+1:], 16, 16)
	if err != nil {
		return "", fmt.Errorf("address %q: %v", s, err)
	}
	h := s[:i]
	var a netip.Addr
	if strings.HasPrefix(h, "[") {
		a, err = netip.ParseAddr(strings.Trim(h, "[]"))
	} else {
		var b []byte
		b, err = hex.DecodeString(h)
		if err == nil && len(b) == 4 {
			a = netip.AddrFrom4([4]byte(b))
		} else if err == nil {
			err = fmt.Errorf("%d bytes", len(b))
		}
	}
	if err != nil {
		return "", fmt.Errorf("address %q: %v", s, err)
	}
	ap := netip.AddrPortFrom(a, uint16(port))
	if port == 0 {
		return a.String(), nil
	}
	return ap.String(), nil
}

var bg = context.Background()

// procSortKey is the address of a server line, port 0 when none is shown.
func procSortKey(line string) netip.AddrPort {
	f := strings.Fields(line)[0]
	if ap, err := netip.ParseAddrPort(f); err == nil {
		return ap
	}
	a, _ := netip.ParseAddr(strings.Trim(f, "[]"))
	return netip.AddrPortFrom(a, 0)
}
