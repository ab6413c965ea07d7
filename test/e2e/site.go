// Package e2e builds the demo site (two directors, a witness, two real
// servers and a client in network namespaces, configured from
// examples/demo) and looks at it with a client's eyes: the demo, the
// end-to-end tests, the soak and the client-gap benchmarks use it.
package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"hbgo/test/cluster"
	"hbgo/test/netns"
)

// The site's names and addresses. The example files speak of the service
// LAN 192.168.10.0/24 and the heartbeat LAN 192.168.11.0/24; the site puts
// them on the lab's segments hb0 (10.81.0.0/24) and hb1 (10.82.0.0/24), so
// the directors are .1 and .2 and the witness .3 of both, as the cluster
// harness numbers them.
var (
	Directors = []string{"lvs1", "lvs2"}
	Witness   = "w1"
	// VIP is the virtual IP on the service LAN.
	VIP = netip.MustParseAddr("10.81.0.100")
	// Reals are the real servers' names and addresses.
	Reals = []RealSpec{{"rs1", netip.MustParseAddr("10.81.0.11")}, {"rs2", netip.MustParseAddr("10.81.0.12")}}
	// ClientAddr is the client's address on the service LAN.
	ClientAddr = netip.MustParseAddr("10.81.0.20")
)

// RealSpec names a real server.
type RealSpec struct {
	Name string
	Addr netip.Addr
}

// exampleSubst is every change the site makes to the example files: the
// example's networks become the lab's.
var exampleSubst = strings.NewReplacer("192.168.10.", "10.81.0.", "192.168.11.", "10.82.0.")

// ExampleDir is the directory of the shipped example files.
func ExampleDir() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("e2e: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("e2e: not inside the hbgo module")
	}
	return filepath.Join(filepath.Dir(mod), "examples", "demo"), nil
}

// ExampleFiles reads the example's ha.cf, authkeys, haresources and
// ldirectord.cf and returns them as the site uses them (addresses
// substituted, nothing else changed).
func ExampleFiles() (map[string]string, error) {
	dir, err := ExampleDir()
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, f := range []string{"ha.cf", "authkeys", "haresources", "ldirectord.cf"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, fmt.Errorf("e2e: example: %w", err)
		}
		files[f] = exampleSubst.Replace(string(b))
	}
	return files, nil
}

// Options changes the site for a benchmark or a test.
type Options struct {
	// Timing, when set, replaces the timing lines (keepalive, warntime,
	// deadtime, initdead) of the example's ha.cf.
	Timing string
	// Extra ha.cf lines, appended.
	Extra string
}

// Site is the demo's site, running or about to.
type Site struct {
	T       cluster.TB
	C       *cluster.Cluster
	Files   map[string]string // as written on every node
	Client  *netns.Host
	Reals   map[string]*RealServer
	Forward map[string]*Forwarder // by director; nil where the kernel has IPVS
	// IPVS says whether the kernel has IPVS: the directors then balance
	// through it; without it they run the ldirector against an in-memory
	// table and each director's Forwarder stands in for IPVS.
	IPVS bool
}

// New builds the site: the cluster's nodes with the example's files, the
// real servers with their web service running, the client, and (without
// IPVS) a forwarder on every director. Start starts the daemons.
func New(t cluster.TB, o Options) *Site {
	t.Helper()
	files, err := ExampleFiles()
	if err != nil {
		t.Fatal(err)
	}
	if o.Timing != "" {
		var keep []string
		for _, l := range strings.Split(files["ha.cf"], "\n") {
			f := strings.Fields(l)
			if len(f) > 0 && (f[0] == "keepalive" || f[0] == "warntime" || f[0] == "deadtime" || f[0] == "initdead") {
				continue
			}
			keep = append(keep, l)
		}
		files["ha.cf"] = strings.TrimRight(strings.Join(keep, "\n"), "\n") + "\n" + o.Timing
	}
	if o.Extra != "" {
		files["ha.cf"] = strings.TrimRight(files["ha.cf"], "\n") + "\n" + o.Extra
	}
	c := cluster.New(t, cluster.Spec{
		Directors:   Directors,
		Witnesses:   []string{Witness},
		Haresources: files["haresources"],
		Files:       map[string]string{"ldirectord.cf": files["ldirectord.cf"]},
	})
	// The harness wrote its own ha.cf and authkeys; the site's are the
	// example's.
	for _, m := range c.Members {
		for _, f := range []string{"ha.cf", "authkeys"} {
			mode := os.FileMode(0o644)
			if f == "authkeys" {
				mode = 0o600
			}
			p := filepath.Join(m.ConfDir, f)
			if err := os.WriteFile(p, []byte(files[f]), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	s := &Site{T: t, C: c, Files: files, Reals: map[string]*RealServer{}, IPVS: KernelHasIPVS()}
	lan := c.Lab.Segment("hb0")
	for _, r := range Reals {
		h, err := c.Lab.AddHost(r.Name)
		if err == nil {
			err = h.Attach(lan, "eth0", netip.PrefixFrom(r.Addr, 24))
		}
		if err != nil {
			t.Fatal(err)
		}
		rs := &RealServer{Name: r.Name, Addr: r.Addr, Host: h}
		if s.IPVS {
			// Direct routing: the real server accepts the VIP on lo and
			// does not answer ARP for it.
			if out, err := h.Run(c.Bin, "realserver", "start", VIP.String()); err != nil {
				t.Fatalf("%s: hbgo realserver start: %v\n%s", r.Name, err, out)
			}
		}
		if err := rs.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rs.Stop)
		s.Reals[r.Name] = rs
	}
	s.Client, err = c.Lab.AddHost("client")
	if err == nil {
		err = s.Client.Attach(lan, "eth0", netip.PrefixFrom(ClientAddr, 24))
	}
	if err != nil {
		t.Fatal(err)
	}
	if !s.IPVS {
		s.Forward = map[string]*Forwarder{}
		for _, d := range Directors {
			f, err := StartForwarder(c.Members[d].Host, d, filepath.Join(c.Root, d, "daemon.log"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(f.Close)
			s.Forward[d] = f
		}
	}
	return s
}

// KernelHasIPVS reports whether this kernel has IPVS (built in or loaded).
func KernelHasIPVS() bool {
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}

// Start starts every node's daemon.
func (s *Site) Start() { s.C.StartAll() }

// URL is the page the client fetches through the VIP.
func URL() string { return "http://" + VIP.String() + "/" }

// Holder is the director whose namespace serves the VIP now, or "" (or
// several, joined by "+").
func (s *Site) Holder() string {
	var on []string
	for _, d := range Directors {
		if s.Serves(d) {
			on = append(on, d)
		}
	}
	return strings.Join(on, "+")
}

// WaitHolder waits until director d alone serves the VIP.
func (s *Site) WaitHolder(d string, bound time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		if h := s.Holder(); h == d {
			return time.Since(start), nil
		} else if time.Since(start) > bound {
			return 0, fmt.Errorf("the VIP is not served by %s alone within %v (served by %q)", d, bound, h)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// DaemonLog is a director's daemon log so far.
func (s *Site) DaemonLog(node string) string {
	b, _ := os.ReadFile(filepath.Join(s.C.Root, node, "daemon.log"))
	return string(b)
}

// WaitLog waits until node's daemon log has a line, written after the
// first from bytes, holding every one of parts; it returns the line.
func (s *Site) WaitLog(node string, from int, bound time.Duration, parts ...string) (string, error) {
	deadline := time.Now().Add(bound)
	for {
		l := s.DaemonLog(node)
		if from > len(l) {
			from = 0
		}
		for _, line := range strings.Split(l[from:], "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return line, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s: no log line with %q within %v", node, parts, bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
