package metrics_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"hbgo/metrics"
	"hbgo/test/cluster"
	"hbgo/test/netns"
)

// Generous: the machine may be busy.
const bound = 20 * time.Second

// scrape fetches the metrics endpoint on loopback inside host's
// namespace (the socket is opened there; HTTP runs over it from here).
func scrape(t *testing.T, h *netns.Host, port int) (string, error) {
	t.Helper()
	var c net.Conn
	if err := h.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+metrics.Path+" HTTP/1.0\r\nHost: localhost\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), nil
}

// waitValue scrapes node until the series name{sel} satisfies ok.
func waitValue(t *testing.T, c *cluster.Cluster, node, name, sel string, ok func(float64) bool, what string) string {
	t.Helper()
	deadline := time.Now().Add(bound)
	var text string
	var v float64
	var found bool
	var err error
	for time.Now().Before(deadline) {
		text, err = scrape(t, c.Members[node].Host, metricsPort)
		if err == nil {
			if v, found = metrics.Value(text, name, sel); found && ok(v) {
				return text
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %s{%s} %s not reached within %v (found %v, value %v, scrape error %v); last scrape:\n%s", node, name, sel, what, bound, found, v, err, grep(text, "hbgo_"))
	return ""
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func eq(want float64) func(float64) bool   { return func(v float64) bool { return v == want } }
func atLeast(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }

const metricsPort = 9464

// TestClusterMetrics scrapes real daemons in network namespaces (two
// directors and a witness; a group of a VIP, an ldirector checking a real
// server, and a test resource) and watches the values follow the cluster:
// a link cut, a group handed over with hb_standby, a real server dying.
func TestClusterMetrics(t *testing.T) {
	vip := netip.MustParseAddr("10.81.0.100")
	const real = "10.81.0.50"
	ldcf := fmt.Sprintf("checkinterval=1\nchecktimeout=1\nquiescent=no\nvirtual=%s:80\n\treal=%s:80 gate\n\tchecktype=negotiate\n\tservice=http\n\trequest=\"/\"\n\treceive=\"alive\"\n", vip, real)
	c := cluster.New(t, cluster.Spec{Directors: []string{"n1", "n2"}, Witnesses: []string{"w"},
		Extra:       fmt.Sprintf("metrics 127.0.0.1:%d\n", metricsPort),
		Haresources: fmt.Sprintf("n1 IPaddr::%s/24/eth0 ldirectord::ldirectord.cf testres::g1\n", vip),
		Files:       map[string]string{"ldirectord.cf": ldcf}})
	group := fmt.Sprintf("IPaddr::%s/24/eth0", vip)

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
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "alive") })}
	go srv.Serve(ln)
	defer srv.Close()

	c.StartAll()
	c.WaitOwner("g1", "n1", bound)

	g := `group="` + group + `"`
	virtual := fmt.Sprintf(`real="%s:80",virtual="TCP %s:80"`, real, vip)
	waitValue(t, c, "n1", "hbgo_group_owner", g+`,node="n1"`, eq(1), "= 1")
	waitValue(t, c, "n1", "hbgo_group_state", g+`,state="running"`, eq(1), "= 1")
	text := waitValue(t, c, "n1", "hbgo_link_up", `link="eth1",node="n2"`, eq(1), "= 1")
	for _, s := range []struct {
		name, sel string
		ok        func(float64) bool
		what      string
	}{
		{"hbgo_node_up", `node="n2",type="normal"`, eq(1), "= 1"},
		{"hbgo_node_up", `node="w",type="witness"`, eq(1), "= 1"},
		{"hbgo_link_up", `link="eth0",node="n2"`, eq(1), "= 1"},
		{"hbgo_group_owner", g + `,node="n2"`, eq(0), "= 0"},
		{"hbgo_raft_term", "", atLeast(1), ">= 1"},
		{"hbgo_lease_valid", "", eq(1), "= 1"},
		{"hbgo_heartbeat_packets_sent_total", `link="eth0"`, atLeast(1), ">= 1"},
		{"hbgo_heartbeat_packets_received_total", `link="eth0"`, atLeast(1), ">= 1"},
		{"hbgo_heartbeat_packets_rejected_total", `reason="bad-auth"`, eq(0), "= 0"},
		{"hbgo_resource_start_seconds_count", g + `,resource="testres::g1"`, eq(1), "= 1"},
		{"hbgo_resource_start_seconds_count", g + `,resource="` + group + `"`, eq(1), "= 1"},
	} {
		if v, ok := metrics.Value(text, s.name, s.sel); !ok || !s.ok(v) {
			t.Errorf("n1: %s{%s} = %v (found %v), want %s", s.name, s.sel, v, ok, s.what)
		}
	}
	// Exactly one node says it leads. Soon after the start a director
	// hands the leadership to the witness: a round of scrapes may fall
	// between the old leader's stepping down and the new one's election,
	// so the rounds go on until one agrees, within the bound.
	leaders := -1
	for end := time.Now().Add(bound); leaders != 1 && time.Now().Before(end); {
		leaders = 0
		for _, n := range []string{"n1", "n2", "w"} {
			text := waitValue(t, c, n, "hbgo_raft_term", "", atLeast(1), ">= 1")
			if v, _ := metrics.Value(text, "hbgo_raft_state", `state="Leader"`); v == 1 {
				leaders++
			}
		}
		if leaders != 1 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if leaders != 1 {
		t.Errorf("%d nodes say hbgo_raft_state{state=\"Leader\"} 1, want 1", leaders)
	}
	// The warm ldirector checks on both directors.
	for _, n := range []string{"n1", "n2"} {
		waitValue(t, c, n, "hbgo_realserver_up", virtual, eq(1), "= 1")
		waitValue(t, c, n, "hbgo_check_duration_seconds_count", virtual, atLeast(2), ">= 2")
	}

	// A link cut: n2 stops hearing n1 on eth1, and says so.
	if err := c.Members["n1"].Host.Block("eth1"); err != nil {
		t.Fatal(err)
	}
	waitValue(t, c, "n2", "hbgo_link_up", `link="eth1",node="n1"`, eq(0), "= 0")
	text = waitValue(t, c, "n2", "hbgo_node_up", `node="n1",type="normal"`, eq(1), "= 1 (eth0 still carries it)")
	if v, _ := metrics.Value(text, "hbgo_link_up", `link="eth0",node="n1"`); v != 1 {
		t.Errorf("n2: link eth0 to n1 = %v after eth1 was cut, want 1", v)
	}
	if err := c.Members["n1"].Host.Unblock("eth1"); err != nil {
		t.Fatal(err)
	}
	waitValue(t, c, "n2", "hbgo_link_up", `link="eth1",node="n1"`, eq(1), "= 1 again")

	// The group moves: both nodes' metrics follow, and n1 timed its stops.
	if out, code := c.Command("n1", "hb_standby"); code != 0 {
		t.Fatalf("hb_standby: exit %d\n%s", code, out)
	}
	c.WaitOwner("g1", "n2", bound)
	for _, n := range []string{"n1", "n2"} {
		waitValue(t, c, n, "hbgo_group_owner", g+`,node="n2"`, eq(1), "= 1")
		waitValue(t, c, n, "hbgo_group_owner", g+`,node="n1"`, eq(0), "= 0")
	}
	waitValue(t, c, "n1", "hbgo_resource_stop_seconds_count", g+`,resource="testres::g1"`, atLeast(1), ">= 1")
	waitValue(t, c, "n2", "hbgo_resource_start_seconds_count", g+`,resource="testres::g1"`, eq(1), "= 1")

	// The real server dies: both directors see it down and count failures.
	srv.Close()
	for _, n := range []string{"n1", "n2"} {
		waitValue(t, c, n, "hbgo_realserver_up", virtual, eq(0), "= 0")
		waitValue(t, c, n, "hbgo_check_failures_total", virtual, atLeast(1), ">= 1")
	}
}
