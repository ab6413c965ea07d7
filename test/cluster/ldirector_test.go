package cluster

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hbgo/resources"
)

// waitLog waits until node's daemon log has a line containing every one
// of parts.
func waitLog(t *testing.T, c *Cluster, node string, bound time.Duration, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		b, _ := os.ReadFile(filepath.Join(c.Root, node, "daemon.log"))
		for _, line := range strings.Split(string(b), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no log line with %q within %v", node, parts, bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterWarmLdirector runs a group "VIP + ldirectord" in the daemon:
// the ldirector of its ldirectord.cf checks the real server on both
// directors from the start (warm standby), each keeps its table (in
// memory here: this kernel has no IPVS, and the daemon says so and logs
// the ipvsadm commands), a dead real server leaves both tables, and the
// group with its VIP runs on its home only.
func TestClusterWarmLdirector(t *testing.T) {
	vip := netip.MustParseAddr("10.81.0.100")
	const real = "10.81.0.50"
	ldcf := fmt.Sprintf("checkinterval=1\nchecktimeout=1\nquiescent=no\nvirtual=%s:80\n\treal=%s:80 gate\n\tchecktype=negotiate\n\tservice=http\n\trequest=\"/\"\n\treceive=\"alive\"\n", vip, real)
	c := New(t, Spec{Directors: []string{"n1", "n2"}, Witnesses: []string{"w"},
		Haresources: fmt.Sprintf("n1 IPaddr::%s/24/eth0 ldirectord::ldirectord.cf\n", vip),
		Files:       map[string]string{"ldirectord.cf": ldcf}})

	rs, err := c.Lab.AddHost("rs1")
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Attach(c.Lab.Segment("hb0"), "eth0", netip.MustParsePrefix(real+"/24")); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := rs.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", real+":80")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "alive") })}
	go srv.Serve(ln)
	defer srv.Close()

	c.StartAll()
	waitServed(t, c, "n1", vip, true, bound)
	add := fmt.Sprintf("-a -t %s:80 -r %s:80 -g -w 1", vip, real)
	for _, n := range []string{"n1", "n2"} {
		waitLog(t, c, n, bound, "ipvsadm (dry run)", add)
	}
	if ok := func() bool {
		var served bool
		c.Members["n2"].Host.Do(func() error { served, _ = resources.VIPServed(vip); return nil })
		return served
	}(); ok {
		t.Fatal("n2 serves the VIP while n1 holds the group")
	}

	srv.Close() // the real server dies
	del := fmt.Sprintf("-d -t %s:80 -r %s:80", vip, real)
	for _, n := range []string{"n1", "n2"} {
		waitLog(t, c, n, bound, "ipvsadm (dry run)", del)
	}
}

// TestClusterLdirectorExecuteAndLogfile: under the daemon, an
// ldirectord.cf's execute line starts an ldirector for the configuration
// it names, as ldirectord does, and its logfile gets the ldirector's
// lines in ldirectord's shape, beside the daemon's log.
func TestClusterLdirectorExecuteAndLogfile(t *testing.T) {
	vip := netip.MustParseAddr("10.81.0.100")
	vip2 := netip.MustParseAddr("10.81.0.101")
	const real = "10.81.0.50"
	logDir := t.TempDir()
	svc := func(v netip.Addr) string {
		return fmt.Sprintf("virtual=%s:80\n\treal=%s:80 gate\n\tchecktype=connect\n", v, real)
	}
	main := fmt.Sprintf("checkinterval=1\nchecktimeout=1\nlogfile=\"%s/ld.log\"\nexecute = other.cf\n", logDir) + svc(vip)
	other := "checkinterval=1\nchecktimeout=1\n" + svc(vip2)
	c := New(t, Spec{Directors: []string{"n1", "n2"},
		Haresources: fmt.Sprintf("n1 IPaddr::%s/24/eth0 IPaddr::%s/24/eth0 ldirectord::ldirectord.cf\n", vip, vip2),
		Files:       map[string]string{"ldirectord.cf": main, "other.cf": other}})
	rs, err := c.Lab.AddHost("rs1")
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Attach(c.Lab.Segment("hb0"), "eth0", netip.MustParsePrefix(real+"/24")); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := rs.Do(func() (err error) { ln, err = net.Listen("tcp", real+":80"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	c.StartAll()
	for _, v := range []netip.Addr{vip, vip2} {
		waitLog(t, c, "n1", bound, "ipvsadm (dry run)", fmt.Sprintf("-a -t %s:80 -r %s:80 -g -w 1", v, real))
	}
	// Both directors write the file (one path here, as on one machine);
	// a line of ldirectord's shape names the configuration.
	deadline := time.Now().Add(bound)
	for {
		b, _ := os.ReadFile(filepath.Join(logDir, "ld.log"))
		if strings.Contains(string(b), "|ldirectord.cf|") && strings.Contains(string(b), vip.String()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the logfile of ldirectord.cf has no ldirector line after %v:\n%s", bound, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
