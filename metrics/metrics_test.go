package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"hbgo/crm"
	"hbgo/heartbeat"
	"hbgo/lvs"
)

func sampleStatus() *crm.Status {
	return &crm.Status{Node: "n1", Role: "director", Mode: "quorum",
		Raft: crm.RaftStatus{State: "Leader", Term: 7, CommitIndex: 42, LeaseValid: true, LeaseLeft: crm.Duration(800 * time.Millisecond)},
		Nodes: []crm.NodeStatus{
			{Name: "n1", Type: "normal", Status: "active", Links: map[string]string{"eth0": "up"}, Ping: 1},
			{Name: "n2", Type: "normal", Status: "dead", Links: map[string]string{"eth0": "dead", "eth1": "dead"}},
			{Name: "w", Type: "witness", Status: "active", Links: map[string]string{"eth0": "up", "eth1": "dead"}},
			{Name: "10.0.0.254", Type: "ping", Status: "up", Links: map[string]string{"10.0.0.254": "up"}},
		},
		Groups: []crm.GroupStatus{{Name: "web", Owner: "n1", Holders: []string{"n1"}, State: "running"}},
		Ldirectors: []crm.LdirectorStatus{{Config: "ldirectord.cf", Table: "memory", Virtuals: []crm.VirtualStatus{
			{Protocol: "TCP", Addr: "10.0.0.100:80", Scheduler: "wrr", Reals: []crm.RealStatus{
				{Addr: "10.0.0.11:80", Forward: "Route", Weight: 1, Health: "up"},
				{Addr: "10.0.0.12:80", Forward: "Route", Weight: 0, Health: "quiescent"},
			}}}}},
	}
}

func TestCollectStatusAndHeartbeat(t *testing.T) {
	m := New(Sources{
		Status: func(context.Context) (*crm.Status, error) { return sampleStatus(), nil },
		Heartbeat: func() heartbeat.Counters {
			return heartbeat.Counters{Links: map[string]heartbeat.LinkCounters{"eth0": {SentPackets: 10, RecvPackets: 9, SentBytes: 1000, RecvBytes: 900}},
				Dropped: map[string]uint64{heartbeat.DropAuth: 3, "novel-reason": 1}}
		},
	})
	want := `
# HELP hbgo_node_up 1 when the node is heard (this node always), 0 when dead or not yet heard; type is normal, witness or ping.
# TYPE hbgo_node_up gauge
hbgo_node_up{node="10.0.0.254",type="ping"} 1
hbgo_node_up{node="n1",type="normal"} 1
hbgo_node_up{node="n2",type="normal"} 0
hbgo_node_up{node="w",type="witness"} 1
# HELP hbgo_link_up 1 when the node is heard on the link, 0 when not.
# TYPE hbgo_link_up gauge
hbgo_link_up{link="eth0",node="n2"} 0
hbgo_link_up{link="eth0",node="w"} 1
hbgo_link_up{link="eth1",node="n2"} 0
hbgo_link_up{link="eth1",node="w"} 0
# HELP hbgo_raft_state 1 for this node's raft state (Leader, Follower, Candidate, Shutdown, off), 0 for the others.
# TYPE hbgo_raft_state gauge
hbgo_raft_state{state="Candidate"} 0
hbgo_raft_state{state="Follower"} 0
hbgo_raft_state{state="Leader"} 1
hbgo_raft_state{state="Shutdown"} 0
hbgo_raft_state{state="off"} 0
# HELP hbgo_raft_term This node's raft term.
# TYPE hbgo_raft_term gauge
hbgo_raft_term 7
# HELP hbgo_group_owner 1 on the node that owns the group, 0 on the other directors.
# TYPE hbgo_group_owner gauge
hbgo_group_owner{group="web",node="n1"} 1
hbgo_group_owner{group="web",node="n2"} 0
# HELP hbgo_group_holders Nodes that hold the group (starting, running or stopping) as this node sees it: 1, or 0 while nobody does; more than 1 is a fault.
# TYPE hbgo_group_holders gauge
hbgo_group_holders{group="web"} 1
# HELP hbgo_group_state 1 for the group's state (running, starting, stopping, stopped, failed, assigned), 0 for the others.
# TYPE hbgo_group_state gauge
hbgo_group_state{group="web",state="assigned"} 0
hbgo_group_state{group="web",state="failed"} 0
hbgo_group_state{group="web",state="running"} 1
hbgo_group_state{group="web",state="starting"} 0
hbgo_group_state{group="web",state="stopped"} 0
hbgo_group_state{group="web",state="stopping"} 0
# HELP hbgo_realserver_up 1 when the real server passes its checks (or is the serving fallback), 0 when not.
# TYPE hbgo_realserver_up gauge
hbgo_realserver_up{real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"} 1
hbgo_realserver_up{real="10.0.0.12:80",virtual="TCP 10.0.0.100:80"} 0
# HELP hbgo_heartbeat_packets_sent_total Heartbeat packets sent, by link.
# TYPE hbgo_heartbeat_packets_sent_total counter
hbgo_heartbeat_packets_sent_total{link="eth0"} 10
# HELP hbgo_heartbeat_packets_received_total Heartbeat packets received, by link, before checks.
# TYPE hbgo_heartbeat_packets_received_total counter
hbgo_heartbeat_packets_received_total{link="eth0"} 9
`
	names := []string{"hbgo_node_up", "hbgo_link_up", "hbgo_raft_state", "hbgo_raft_term", "hbgo_group_owner",
		"hbgo_group_holders", "hbgo_group_state", "hbgo_realserver_up", "hbgo_heartbeat_packets_sent_total", "hbgo_heartbeat_packets_received_total"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "hbgo_heartbeat_packets_rejected_total"); err != nil || n != len(dropReasons)+1 {
		t.Errorf("rejected reasons: %d series, %v; want every known reason and the novel one", n, err)
	}
	if v := onlySeries(t, m, "hbgo_heartbeat_packets_rejected_total", `reason="bad-auth"`); v != 3 {
		t.Errorf("bad-auth drops %v, want 3", v)
	}
}

// TestGroupHolders: the holders gauge counts every node that holds the
// group, so that two at once show; the owner gauge still names one.
func TestGroupHolders(t *testing.T) {
	st := sampleStatus()
	st.Nodes[1].Status = "active"
	st.Groups = []crm.GroupStatus{
		{Name: "web", Owner: "n1", Holders: []string{"n1"}, State: "running"},
		{Name: "mail", Owner: "n2", Holders: []string{"n1", "n2"}, State: "running"},
		{Name: "db", Owner: "n2", State: "assigned"},
		{Name: "ftp", State: "stopped"},
	}
	m := New(Sources{Status: func(context.Context) (*crm.Status, error) { return st, nil }})
	text := scrapeText(t, m)
	for _, c := range []struct {
		name, sel string
		want      float64
	}{
		{"hbgo_group_holders", `group="web"`, 1},
		{"hbgo_group_holders", `group="mail"`, 2},
		{"hbgo_group_holders", `group="db"`, 0},
		{"hbgo_group_holders", `group="ftp"`, 0},
		{"hbgo_group_owner", `group="mail",node="n1"`, 0},
		{"hbgo_group_owner", `group="mail",node="n2"`, 1},
	} {
		if v, ok := Value(text, c.name, c.sel); !ok || v != c.want {
			t.Errorf("%s{%s} = %v (found %v), want %v", c.name, c.sel, v, ok, c.want)
		}
	}
}

// onlySeries scrapes the registry and returns the value of the one series
// of name whose labels contain sel.
func onlySeries(t *testing.T, m *Metrics, name, sel string) float64 {
	t.Helper()
	v, ok := Value(scrapeText(t, m), name, sel)
	if !ok {
		t.Fatalf("no series %s{%s}", name, sel)
	}
	return v
}

func scrapeText(t *testing.T, m *Metrics) string {
	t.Helper()
	s, err := m.Serve("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Get("http://" + s.Addr().String() + Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func TestCollectIPVS(t *testing.T) {
	vip := netip.MustParseAddrPort("10.0.0.100:80")
	m := New(Sources{IPVS: func(context.Context) ([]lvs.ServiceStats, error) {
		return []lvs.ServiceStats{{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: vip},
			Counters: lvs.Counters{Conns: 12, InPkts: 100, OutPkts: 90, InBytes: 6400, OutBytes: 128000, CPS: 2, InPPS: 20, OutPPS: 18, InBPS: 1280, OutBPS: 25600},
			Dests: []lvs.DestStats{{Addr: netip.MustParseAddrPort("10.0.0.11:80"), ActiveConns: 3, InactConns: 4,
				Counters: lvs.Counters{Conns: 7, InPkts: 60, OutPkts: 50, InBytes: 3000, OutBytes: 70000, CPS: 1, InPPS: 11, OutPPS: 10, InBPS: 600, OutBPS: 14000}}}},
			{ServiceKey: lvs.ServiceKey{Protocol: lvs.FWM, FWMark: 5}}}, nil
	}})
	text := scrapeText(t, m)
	for _, c := range []struct {
		name, sel string
		want      float64
	}{
		{"hbgo_ipvs_virtual_connections_total", `virtual="TCP 10.0.0.100:80"`, 12},
		{"hbgo_ipvs_virtual_bytes_out_total", `virtual="TCP 10.0.0.100:80"`, 128000},
		{"hbgo_ipvs_virtual_in_bps", `virtual="TCP 10.0.0.100:80"`, 1280},
		{"hbgo_ipvs_virtual_connections_total", `virtual="FWM 5"`, 0},
		{"hbgo_ipvs_connections_total", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 7},
		{"hbgo_ipvs_packets_in_total", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 60},
		{"hbgo_ipvs_packets_out_total", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 50},
		{"hbgo_ipvs_bytes_in_total", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 3000},
		{"hbgo_ipvs_bytes_out_total", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 70000},
		{"hbgo_ipvs_cps", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 1},
		{"hbgo_ipvs_in_pps", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 11},
		{"hbgo_ipvs_out_bps", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 14000},
		{"hbgo_ipvs_active_connections", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 3},
		{"hbgo_ipvs_inactive_connections", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 4},
	} {
		if v, ok := Value(text, c.name, c.sel); !ok || v != c.want {
			t.Errorf("%s{%s} = %v (found %v), want %v", c.name, c.sel, v, ok, c.want)
		}
	}
	// A table that cannot be read is counted, and the scrape goes on.
	m = New(Sources{IPVS: func(context.Context) ([]lvs.ServiceStats, error) { return nil, errors.New("netlink: no such file") }})
	if v, _ := Value(scrapeText(t, m), "hbgo_scrape_errors_total", `source="ipvs"`); v != 1 {
		t.Errorf("scrape errors %v, want 1", v)
	}
}

func TestObservers(t *testing.T) {
	m := New(Sources{})
	m.ResourceDone("web", "IPaddr::10.0.0.100", "start", 30*time.Millisecond, nil)
	m.ResourceDone("web", "IPaddr::10.0.0.100", "stop", 10*time.Millisecond, errors.New("busy"))
	m.ResourceDone("web", "IPaddr::10.0.0.100", "stop", 12*time.Millisecond, nil)
	m.CheckDone("TCP 10.0.0.100:80", "10.0.0.11:80", 2*time.Millisecond, nil)
	m.CheckDone("TCP 10.0.0.100:80", "10.0.0.11:80", time.Second, errors.New("timeout"))
	text := scrapeText(t, m)
	for _, c := range []struct {
		name, sel string
		want      float64
	}{
		{"hbgo_resource_start_seconds_count", `group="web",resource="IPaddr::10.0.0.100"`, 1},
		{"hbgo_resource_stop_seconds_count", `group="web",resource="IPaddr::10.0.0.100"`, 2},
		{"hbgo_resource_stop_seconds_bucket", `group="web",resource="IPaddr::10.0.0.100",le="0.01"`, 1},
		{"hbgo_resource_failures_total", `group="web",op="stop",resource="IPaddr::10.0.0.100"`, 1},
		{"hbgo_check_duration_seconds_count", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 2},
		{"hbgo_check_duration_seconds_bucket", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80",le="0.0025"`, 1},
		{"hbgo_check_failures_total", `real="10.0.0.11:80",virtual="TCP 10.0.0.100:80"`, 1},
	} {
		if v, ok := Value(text, c.name, c.sel); !ok || v != c.want {
			t.Errorf("%s{%s} = %v (found %v), want %v", c.name, c.sel, v, ok, c.want)
		}
	}
	if _, ok := Value(text, "go_goroutines", ""); !ok {
		t.Error("no Go runtime metrics")
	}
}

func TestServeRefusesATakenPort(t *testing.T) {
	m := New(Sources{})
	s, err := m.Serve("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = New(Sources{}).Serve(s.Addr().String(), nil)
	if err == nil || !strings.Contains(err.Error(), "metrics "+s.Addr().String()) {
		t.Errorf("second endpoint on %s: %v", s.Addr(), err)
	}
}

// BenchmarkScrape measures one scrape of a director with 100 virtual
// services of 10 real servers each (status, checks and IPVS counters).
func BenchmarkScrape(b *testing.B) {
	st := sampleStatus()
	var ss []lvs.ServiceStats
	ld := crm.LdirectorStatus{Config: "ldirectord.cf", Table: "kernel"}
	m := New(Sources{})
	for v := range 100 {
		vip := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(v / 250), byte(v%250 + 1)}), 80)
		vs := crm.VirtualStatus{Protocol: "TCP", Addr: vip.String(), Scheduler: "wrr"}
		s := lvs.ServiceStats{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: vip}}
		for r := range 10 {
			real := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(v), byte(r + 1)}), 80)
			vs.Reals = append(vs.Reals, crm.RealStatus{Addr: real.String(), Forward: "Route", Weight: 1, Health: "up"})
			s.Dests = append(s.Dests, lvs.DestStats{Addr: real, Counters: lvs.Counters{Conns: uint64(r)}})
			m.CheckDone(ServiceLabel(s.ServiceKey), real.String(), time.Millisecond, nil)
		}
		ld.Virtuals = append(ld.Virtuals, vs)
		ss = append(ss, s)
	}
	st.Ldirectors = []crm.LdirectorStatus{ld}
	m.SetSources(Sources{
		Status: func(context.Context) (*crm.Status, error) { return st, nil },
		IPVS:   func(context.Context) ([]lvs.ServiceStats, error) { return ss, nil },
	})
	h := m.Handler()
	req, _ := http.NewRequest("GET", Path, nil)
	var size int
	for b.Loop() {
		w := &countWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		size = w.n
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}

type countWriter struct {
	h http.Header
	n int
}

func (w *countWriter) Header() http.Header         { return w.h }
func (w *countWriter) WriteHeader(int)             {}
func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// openFDs is the number of this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestServeBoundsConnections: silent and idle clients cannot hold the
// daemon's file descriptors. The endpoint takes at most maxConns
// connections at once, closes those that send no request in time and
// those kept alive without use, and a scrape still succeeds afterwards.
func TestServeBoundsConnections(t *testing.T) {
	oldMax, oldHeader, oldIdle := maxConns, headerTimeout, idleTimeout
	maxConns, headerTimeout, idleTimeout = 8, 300*time.Millisecond, 500*time.Millisecond
	defer func() { maxConns, headerTimeout, idleTimeout = oldMax, oldHeader, oldIdle }()
	s, err := New(Sources{}).Serve("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := s.Addr().String()

	// 50 connections that never say anything.
	before := openFDs(t)
	var silent []net.Conn
	for range 50 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	if held := openFDs(t) - before - len(silent); held > maxConns+2 {
		t.Errorf("the endpoint holds %d descriptors for 50 silent clients, want at most %d", held, maxConns)
	}
	// Each is closed in turn, maxConns at a time, a header timeout each.
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range silent {
		c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("a silent client's connection: %v, want it closed by the endpoint", err)
		}
	}

	// A client that scraped once and keeps the connection idle.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", Path)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("an idle kept-alive connection: %v, want it closed", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("idle connection closed after %v, idle timeout %v", waited, idleTimeout)
	}

	// Scrapes work.
	r, err := http.Get("http://" + addr + Path)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", r.Status)
	}
}

// TestMetricsBGP: each session's state and prefixes, and each VIP
// announced, from the status's BGP part.
func TestMetricsCarrier(t *testing.T) {
	st := sampleStatus()
	st.Links = []crm.LinkCarrier{{Name: "eth0", Carrier: true, Counts: true}, {Name: "eth1"}, {Name: "eth2", Carrier: true}}
	text := scrapeText(t, New(Sources{Status: func(context.Context) (*crm.Status, error) { return st, nil }}))
	for dev, want := range map[string]float64{"eth0": 1, "eth1": 0, "eth2": 0} {
		if v, ok := Value(text, "hbgo_vip_interface_carrier", `interface="`+dev+`"`); !ok || v != want {
			t.Errorf("hbgo_vip_interface_carrier{%s} = %v (found %v), want %v", dev, v, ok, want)
		}
	}
}

func TestMetricsBGP(t *testing.T) {
	st := sampleStatus()
	st.BGP = &crm.BGPStatus{
		Sessions: []crm.BGPSession{
			{Neighbor: "10.0.0.254", PeerAS: 65000, State: "Established", Sent: 1, BFD: "Up"},
			{Neighbor: "10.0.0.253", PeerAS: 65000, State: "Active", BFD: "Down"},
			{Neighbor: "10.0.0.252", PeerAS: 65000, State: "Established"},
		},
		Announced: []string{"10.99.0.100/32"},
	}
	text := scrapeText(t, New(Sources{Status: func(context.Context) (*crm.Status, error) { return st, nil }}))
	for _, c := range []struct {
		name, sel string
		want      float64
	}{
		{"hbgo_bgp_session_up", `neighbor="10.0.0.254"`, 1},
		{"hbgo_bgp_session_up", `neighbor="10.0.0.253"`, 0},
		{"hbgo_bgp_prefixes_sent", `neighbor="10.0.0.254"`, 1},
		{"hbgo_bgp_bfd_up", `neighbor="10.0.0.254"`, 1},
		{"hbgo_bgp_bfd_up", `neighbor="10.0.0.253"`, 0},
		{"hbgo_bgp_announced", `vip="10.99.0.100/32"`, 1},
	} {
		if v, ok := Value(text, c.name, c.sel); !ok || v != c.want {
			t.Errorf("%s{%s} = %v (found %v), want %v", c.name, c.sel, v, ok, c.want)
		}
	}
	if _, ok := Value(text, "hbgo_bgp_bfd_up", `neighbor="10.0.0.252"`); ok {
		t.Errorf("hbgo_bgp_bfd_up for a neighbour without bfd")
	}
	if _, ok := Value(text, "hbgo_bgp_announced", `vip="10.99.0.101/32"`); ok {
		t.Error("a VIP not announced has a series")
	}
}
