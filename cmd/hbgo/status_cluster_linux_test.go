package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"hbgo/crm"
	"hbgo/test/cluster"
)

// waitStatus runs hbgo status on node until its output matches every
// pattern (regular expressions, each on one line).
func waitStatus(t *testing.T, c *cluster.Cluster, node string, bound time.Duration, patterns ...string) string {
	t.Helper()
	res := make([]*regexp.Regexp, len(patterns))
	for i, p := range patterns {
		res[i] = regexp.MustCompile("(?m)" + p)
	}
	deadline := time.Now().Add(bound)
	var out string
	for {
		var code int
		out, code = c.Command(node, "status")
		all := code == 0
		for _, re := range res {
			all = all && re.MatchString(out)
		}
		if all {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: hbgo status does not match %q within %v:\n%s", node, patterns, bound, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterStatusIPVS asks real daemons in network namespaces for their
// status: each director prints its warm ldirector's table in ipvsadm's
// shape with health and last check, through the control socket, and the
// table follows a real server's death.
func TestClusterStatusIPVS(t *testing.T) {
	vip := netip.MustParseAddr("10.81.0.100")
	const real, dead = "10.81.0.50", "10.81.0.51"
	ldcf := fmt.Sprintf(`checkinterval=1
checktimeout=1
virtual=%[1]s:80
	real=%[2]s:80 gate
	checktype=negotiate
	service=http
	request="/"
	receive="alive"
	quiescent=no
virtual=%[1]s:8080
	real=%[3]s:8080 masq 2
	checktype=connect
	scheduler=rr
	persistent=300
	quiescent=yes
`, vip, real, dead)
	c := cluster.New(t, cluster.Spec{Directors: []string{"n1", "n2"}, Witnesses: []string{"w"},
		Haresources: fmt.Sprintf("n1 IPaddr::%s/24/eth0 ldirectord::ldirectord.cf\n", vip),
		Files:       map[string]string{"ldirectord.cf": ldcf}})
	rs, err := c.Lab.AddHost("rs1")
	if err != nil {
		t.Fatal(err)
	}
	seg := c.Lab.Segment("hb0")
	if err := rs.Attach(seg, "eth0", netip.MustParsePrefix(real+"/24"), netip.MustParsePrefix(dead+"/24")); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := rs.Do(func() (err error) { ln, err = net.Listen("tcp", real+":80"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "alive") })}
	go srv.Serve(ln)
	defer srv.Close()
	c.StartAll()
	const bound = 20 * time.Second
	q := regexp.QuoteMeta
	for _, n := range []string{"n1", "n2"} {
		out := waitStatus(t, c, n, bound,
			`^IPVS table of ldirector .*ldirectord\.cf \(in memory: this kernel has no IPVS; nothing is balanced here\)$`,
			`^Prot LocalAddress:Port Scheduler Flags$`,
			`^  -> RemoteAddress:Port +Forward Weight ActiveConn InActConn +Health +Last check$`,
			`^TCP  `+q(vip.String())+`:80 wrr$`,
			`^  -> `+q(real)+`:80 +Route +1 +0 +0 +up +ok \([0-9.]+[µm]?s\), [0-9.]+m?s ago$`,
			`^TCP  `+q(vip.String())+`:8080 rr persistent 300$`,
			`^  -> `+q(dead)+`:8080 +Masq +0 +0 +0 +quiescent +.*connection refused, [0-9.]+m?s ago$`,
		)
		if strings.Index(out, "IPVS table") < strings.Index(out, "GROUP") {
			t.Errorf("%s: the IPVS table is not after the groups:\n%s", n, out)
		}
	}
	// The JSON carries the same.
	out, code := c.Command("n2", "status", "--json")
	var st crm.Status
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil {
		t.Fatalf("status --json: exit %d, %v\n%s", code, err, out)
	}
	if len(st.Ldirectors) != 1 || len(st.Ldirectors[0].Virtuals) != 2 || st.Ldirectors[0].Virtuals[0].Reals[0].Health != "up" ||
		st.Ldirectors[0].Virtuals[0].Reals[0].LastCheck.IsZero() {
		t.Errorf("status --json ldirectors: %+v", st.Ldirectors)
	}

	srv.Close() // the real server dies: removed (quiescent=no), its error shown
	for _, n := range []string{"n1", "n2"} {
		waitStatus(t, c, n, bound,
			`^  -> `+q(real)+`:80 +Route +- +0 +0 +down +\S.*, [0-9.]+m?s ago$`)
	}
}
