// Package metrics owns the daemon's Prometheus endpoint: the hbgo_*
// metrics of node and link liveness, heartbeat packets, raft, groups,
// resources, real-server checks and IPVS counters, read live on each
// scrape from the parts that hold them.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"hbgo/crm"
	"hbgo/heartbeat"
	"hbgo/lvs"
)

// Path is where the endpoint serves the metrics.
const Path = "/metrics"

// Sources are the live values a scrape reads; a nil one leaves its
// metrics out.
type Sources struct {
	// Status is the node's view of the cluster (crm.Node.Status, with
	// the ldirectors filled in).
	Status func(ctx context.Context) (*crm.Status, error)
	// Heartbeat is the heartbeat layer's packet counters.
	Heartbeat func() heartbeat.Counters
	// IPVS is the kernel table's counters and rates.
	IPVS func(ctx context.Context) ([]lvs.ServiceStats, error)
	// LogLost counts the log lines each log sink lost.
	LogLost func() map[string]uint64
}

// scrapeTimeout bounds what one scrape waits for a source.
const scrapeTimeout = 5 * time.Second

// Buckets of the duration histograms, in seconds: resource operations
// take from milliseconds (an address) to minutes (a script), checks from
// a fraction of a millisecond to their timeout.
var (
	ResourceBuckets = []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	CheckBuckets    = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

// Metrics is the registry of one daemon.
type Metrics struct {
	reg  *prometheus.Registry
	live *live

	resStart, resStop *prometheus.HistogramVec
	resFail           *prometheus.CounterVec
	check             *prometheus.HistogramVec
	checkFail         *prometheus.CounterVec
}

// New makes the registry: the live collector of src, the resource and
// check histograms the observers feed, and Go's and the process's own.
func New(src Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.live = &live{m: m, src: src, errs: map[string]uint64{"status": 0, "ipvs": 0}}
	m.resStart = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hbgo_resource_start_seconds",
		Help: "How long a resource's start took, failed ones included.", Buckets: ResourceBuckets}, []string{"group", "resource"})
	m.resStop = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hbgo_resource_stop_seconds",
		Help: "How long a resource's stop took (each attempt), failed ones included.", Buckets: ResourceBuckets}, []string{"group", "resource"})
	m.resFail = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hbgo_resource_failures_total",
		Help: "Failed resource operations, by operation (start, stop)."}, []string{"group", "resource", "op"})
	m.check = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hbgo_check_duration_seconds",
		Help: "How long a real server's check took, by virtual service and real server.", Buckets: CheckBuckets}, []string{"virtual", "real"})
	m.checkFail = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hbgo_check_failures_total",
		Help: "Failed checks of a real server, by virtual service and real server."}, []string{"virtual", "real"})
	m.reg.MustRegister(m.resStart, m.resStop, m.resFail, m.check, m.checkFail,
		m.live,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetSources replaces the sources (the daemon makes the registry before
// the parts it reads exist, so that resources are timed from the start).
func (m *Metrics) SetSources(src Sources) {
	m.live.mu.Lock()
	m.live.src = src
	m.live.mu.Unlock()
}

// Registry is the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ResourceDone records one resource operation; it implements
// resources.Observer. op is "start" or "stop".
func (m *Metrics) ResourceDone(group, resource, op string, took time.Duration, err error) {
	switch op {
	case "start":
		m.resStart.WithLabelValues(group, resource).Observe(took.Seconds())
	case "stop":
		m.resStop.WithLabelValues(group, resource).Observe(took.Seconds())
	}
	if err != nil {
		m.resFail.WithLabelValues(group, resource, op).Inc()
	}
}

// CheckDone records one check of a real server of a virtual service.
// virtual is as ServiceLabel makes it, real is address:port.
func (m *Metrics) CheckDone(virtual, real string, took time.Duration, err error) {
	m.check.WithLabelValues(virtual, real).Observe(took.Seconds())
	if err != nil {
		m.checkFail.WithLabelValues(virtual, real).Inc()
	} else {
		m.checkFail.WithLabelValues(virtual, real).Add(0)
	}
}

// ServiceLabel is a virtual service's label value, as ipvsadm names it:
// "TCP 10.0.0.100:80", "UDP [2001:db8::1]:53", "FWM 5".
func ServiceLabel(k lvs.ServiceKey) string {
	if k.Protocol == lvs.FWM {
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return k.String()
}

// Server is a running endpoint.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// The endpoint's bounds: connections served at once, the time a client
// has to send its request, and the time a kept-alive connection may idle
// (variables for the tests).
var (
	maxConns      = 32
	headerTimeout = 5 * time.Second
	idleTimeout   = 30 * time.Second
)

// Serve listens on addr (ha.cf's metrics ADDR:PORT) and serves Path
// until Close. It fails only when it cannot listen.
func (m *Metrics) Serve(addr string, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, m.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "hbgo: metrics at %s\n", Path)
	})
	// The endpoint is unauthenticated: whoever reaches it must not be
	// able to hold the daemon's file descriptors (its scripts, raft and
	// the control socket need them). At most maxConns connections are
	// taken at once (more wait in the kernel's backlog, holding none),
	// and each is closed when it is slow to send its request or idle
	// between requests.
	ln = netutil.LimitListener(ln, maxConns)
	s := &Server{ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: headerTimeout, ReadTimeout: headerTimeout,
			WriteTimeout: 30 * time.Second, IdleTimeout: idleTimeout, MaxHeaderBytes: 16 << 10}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && log != nil {
			log.Error(fmt.Sprintf("Metrics endpoint %s stopped: %v", addr, err))
		}
	}()
	return s, nil
}

// Addr is the address the endpoint listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the endpoint.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// live reads the sources on each scrape.
type live struct {
	m   *Metrics
	mu  sync.Mutex // one scrape at a time reads the sources
	src Sources
	// errs counts the scrapes a source failed, by source; a scrape shows
	// its own failure.
	errs map[string]uint64
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dNodeUp    = desc("hbgo_node_up", "1 when the node is heard (this node always), 0 when dead or not yet heard; type is normal, witness or ping.", "node", "type")
	dNodePing  = desc("hbgo_node_ping_score", "The node's connectivity score: ping nodes it hears, and its VIP interfaces with carrier.", "node")
	dCarrier   = desc("hbgo_vip_interface_carrier", "1 while the interface of this director's VIPs has its carrier (and it counts in the score), 0 when not.", "interface")
	dLinkUp    = desc("hbgo_link_up", "1 when the node is heard on the link, 0 when not.", "node", "link")
	dSent      = desc("hbgo_heartbeat_packets_sent_total", "Heartbeat packets sent, by link.", "link")
	dSendErr   = desc("hbgo_heartbeat_send_errors_total", "Heartbeat packets that could not be sent, by link.", "link")
	dRecv      = desc("hbgo_heartbeat_packets_received_total", "Heartbeat packets received, by link, before checks.", "link")
	dSentB     = desc("hbgo_heartbeat_bytes_sent_total", "Heartbeat bytes sent, by link.", "link")
	dRecvB     = desc("hbgo_heartbeat_bytes_received_total", "Heartbeat bytes received, by link.", "link")
	dRejected  = desc("hbgo_heartbeat_packets_rejected_total", "Heartbeat packets dropped, by reason.", "reason")
	dRaftState = desc("hbgo_raft_state", "1 for this node's raft state (Leader, Follower, Candidate, Shutdown, off), 0 for the others.", "state")
	dRaftTerm  = desc("hbgo_raft_term", "This node's raft term.")
	dRaftCI    = desc("hbgo_raft_commit_index", "This node's raft commit index.")
	dLease     = desc("hbgo_lease_valid", "1 while this node's lease is fresh (it may run groups), 0 when lapsed.")
	dLeaseLeft = desc("hbgo_lease_left_seconds", "Time left on this node's lease.")
	dOwner     = desc("hbgo_group_owner", "1 on the node that owns the group, 0 on the other directors.", "group", "node")
	dHolders   = desc("hbgo_group_holders", "Nodes that hold the group (starting, running or stopping) as this node sees it: 1, or 0 while nobody does; more than 1 is a fault.", "group")
	dGState    = desc("hbgo_group_state", "1 for the group's state (running, starting, stopping, stopped, failed, assigned), 0 for the others.", "group", "state")
	dRealUp    = desc("hbgo_realserver_up", "1 when the real server passes its checks (or is the serving fallback), 0 when not.", "virtual", "real")
	dRealW     = desc("hbgo_realserver_weight", "The real server's weight in the IPVS table, -1 when it is not in it.", "virtual", "real")
	dBGPUp     = desc("hbgo_bgp_session_up", "1 while the BGP session with the router is Established, 0 when not.", "neighbor")
	dBGPBFD    = desc("hbgo_bgp_bfd_up", "1 while the BFD session beside the BGP session is Up, 0 when not; absent for a neighbour without bfd.", "neighbor")
	dBGPSent   = desc("hbgo_bgp_prefixes_sent", "Prefixes (anycast VIPs) this director advertises to the router.", "neighbor")
	dBGPAnn    = desc("hbgo_bgp_announced", "1 for each anycast VIP this director announces now.", "vip")
	dScrapeErr = desc("hbgo_scrape_errors_total", "Scrapes that could not read a source (status, ipvs).", "source")
	dLogLost   = desc("hbgo_log_lines_lost_total", "Log lines a log destination could not take.", "sink")

	dVConns  = desc("hbgo_ipvs_virtual_connections_total", "Connections of the virtual service (ipvsadm -L --stats Conns).", "virtual")
	dVInP    = desc("hbgo_ipvs_virtual_packets_in_total", "Packets in to the virtual service.", "virtual")
	dVOutP   = desc("hbgo_ipvs_virtual_packets_out_total", "Packets out of the virtual service.", "virtual")
	dVInB    = desc("hbgo_ipvs_virtual_bytes_in_total", "Bytes in to the virtual service.", "virtual")
	dVOutB   = desc("hbgo_ipvs_virtual_bytes_out_total", "Bytes out of the virtual service.", "virtual")
	dVCPS    = desc("hbgo_ipvs_virtual_cps", "Connections per second of the virtual service (ipvsadm -L --rate CPS).", "virtual")
	dVInPPS  = desc("hbgo_ipvs_virtual_in_pps", "Packets per second in to the virtual service.", "virtual")
	dVOutPPS = desc("hbgo_ipvs_virtual_out_pps", "Packets per second out of the virtual service.", "virtual")
	dVInBPS  = desc("hbgo_ipvs_virtual_in_bps", "Bytes per second in to the virtual service.", "virtual")
	dVOutBPS = desc("hbgo_ipvs_virtual_out_bps", "Bytes per second out of the virtual service.", "virtual")

	dConns  = desc("hbgo_ipvs_connections_total", "Connections sent to the real server.", "virtual", "real")
	dInP    = desc("hbgo_ipvs_packets_in_total", "Packets in to the real server.", "virtual", "real")
	dOutP   = desc("hbgo_ipvs_packets_out_total", "Packets out of the real server.", "virtual", "real")
	dInB    = desc("hbgo_ipvs_bytes_in_total", "Bytes in to the real server.", "virtual", "real")
	dOutB   = desc("hbgo_ipvs_bytes_out_total", "Bytes out of the real server.", "virtual", "real")
	dCPS    = desc("hbgo_ipvs_cps", "Connections per second to the real server.", "virtual", "real")
	dInPPS  = desc("hbgo_ipvs_in_pps", "Packets per second in to the real server.", "virtual", "real")
	dOutPPS = desc("hbgo_ipvs_out_pps", "Packets per second out of the real server.", "virtual", "real")
	dInBPS  = desc("hbgo_ipvs_in_bps", "Bytes per second in to the real server.", "virtual", "real")
	dOutBPS = desc("hbgo_ipvs_out_bps", "Bytes per second out of the real server.", "virtual", "real")
	dActive = desc("hbgo_ipvs_active_connections", "Active connections of the real server (ipvsadm ActiveConn).", "virtual", "real")
	dInact  = desc("hbgo_ipvs_inactive_connections", "Inactive connections of the real server (ipvsadm InActConn).", "virtual", "real")
)

var allDescs = []*prometheus.Desc{dNodeUp, dNodePing, dLinkUp, dSent, dSendErr, dRecv, dSentB, dRecvB, dRejected,
	dRaftState, dRaftTerm, dRaftCI, dLease, dLeaseLeft, dOwner, dHolders, dGState, dRealUp, dRealW, dLogLost, dScrapeErr,
	dVConns, dVInP, dVOutP, dVInB, dVOutB, dVCPS, dVInPPS, dVOutPPS, dVInBPS, dVOutBPS,
	dConns, dInP, dOutP, dInB, dOutB, dCPS, dInPPS, dOutPPS, dInBPS, dOutBPS, dActive, dInact}

// RaftStates and GroupStates are the states the state gauges list.
var (
	RaftStates  = []string{"Leader", "Follower", "Candidate", "Shutdown", "off"}
	GroupStates = []string{"running", "starting", "stopping", "stopped", "failed", "assigned"}
)

// dropReasons are listed at 0 before the first drop of each.
var dropReasons = []string{heartbeat.DropMalformed, heartbeat.DropOversize, heartbeat.DropVersion,
	heartbeat.DropCluster, heartbeat.DropKey, heartbeat.DropAuth, heartbeat.DropReplay,
	heartbeat.DropGeneration, heartbeat.DropFutureGen, heartbeat.DropUnknownNode, heartbeat.DropDuplicateName}

func (l *live) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (l *live) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	src := l.src
	if src.Status != nil {
		if st, err := src.Status(ctx); err != nil {
			l.errs["status"]++
		} else {
			collectStatus(st, gauge)
		}
	}
	if src.Heartbeat != nil {
		c := src.Heartbeat()
		for link, lc := range c.Links {
			counter(dSent, lc.SentPackets, link)
			counter(dSendErr, lc.SendErrors, link)
			counter(dRecv, lc.RecvPackets, link)
			counter(dSentB, lc.SentBytes, link)
			counter(dRecvB, lc.RecvBytes, link)
		}
		seen := map[string]bool{}
		for _, r := range dropReasons {
			counter(dRejected, c.Dropped[r], r)
			seen[r] = true
		}
		for r, n := range c.Dropped {
			if !seen[r] {
				counter(dRejected, n, r)
			}
		}
	}
	if src.IPVS != nil {
		if ss, err := src.IPVS(ctx); err != nil {
			l.errs["ipvs"]++
		} else {
			collectIPVS(ss, gauge, counter)
		}
	}
	for s, n := range l.errs {
		counter(dScrapeErr, n, s)
	}
	if src.LogLost != nil {
		for sink, n := range src.LogLost() {
			counter(dLogLost, n, sink)
		}
	}
}

func collectStatus(st *crm.Status, gauge func(*prometheus.Desc, float64, ...string)) {
	for _, l := range st.Links {
		gauge(dCarrier, b2f(l.Counts), l.Name)
	}
	var directors []string
	for _, n := range st.Nodes {
		up := n.Status == "active" || n.Status == "up"
		gauge(dNodeUp, b2f(up), n.Name, n.Type)
		if n.Type == "ping" {
			continue
		}
		if n.Type == "normal" {
			directors = append(directors, n.Name)
			gauge(dNodePing, float64(n.Ping), n.Name)
		}
		if n.Name == st.Node {
			continue // this node's links are its own: always "up"
		}
		for link, s := range n.Links {
			gauge(dLinkUp, b2f(s == "up"), n.Name, link)
		}
	}
	for _, s := range RaftStates {
		gauge(dRaftState, b2f(st.Raft.State == s), s)
	}
	if st.Raft.State != "" && st.Raft.State != "off" {
		gauge(dRaftTerm, float64(st.Raft.Term))
		gauge(dRaftCI, float64(st.Raft.CommitIndex))
		gauge(dLease, b2f(st.Raft.LeaseValid))
		gauge(dLeaseLeft, time.Duration(st.Raft.LeaseLeft).Seconds())
	}
	for _, g := range st.Groups {
		for _, n := range directors {
			gauge(dOwner, b2f(g.Owner == n), g.Name, n)
		}
		gauge(dHolders, float64(len(g.Holders)), g.Name)
		known := false
		for _, s := range GroupStates {
			known = known || g.State == s
			gauge(dGState, b2f(g.State == s), g.Name, s)
		}
		if !known && g.State != "" {
			gauge(dGState, 1, g.Name, g.State)
		}
	}
	seen := map[[2]string]bool{}
	for _, ld := range st.Ldirectors {
		for _, v := range ld.Virtuals {
			vl := v.Protocol + " " + v.Addr
			for _, r := range v.Reals {
				k := [2]string{vl, r.Addr}
				if seen[k] {
					continue // two ldirectors on one service: the first counts
				}
				seen[k] = true
				up := r.Health == "up" || (r.Health == "fallback" && r.Weight >= 0)
				gauge(dRealUp, b2f(up), vl, r.Addr)
				gauge(dRealW, float64(r.Weight), vl, r.Addr)
			}
		}
	}
	if b := st.BGP; b != nil {
		for _, ss := range b.Sessions {
			gauge(dBGPUp, b2f(ss.State == "Established"), ss.Neighbor)
			gauge(dBGPSent, float64(ss.Sent), ss.Neighbor)
			if ss.BFD != "" {
				gauge(dBGPBFD, b2f(ss.BFD == "Up"), ss.Neighbor)
			}
		}
		for _, v := range b.Announced {
			gauge(dBGPAnn, 1, v)
		}
	}
}

func collectIPVS(ss []lvs.ServiceStats, gauge func(*prometheus.Desc, float64, ...string), counter func(*prometheus.Desc, uint64, ...string)) {
	for _, s := range ss {
		v := ServiceLabel(s.ServiceKey)
		c := s.Counters
		counter(dVConns, c.Conns, v)
		counter(dVInP, c.InPkts, v)
		counter(dVOutP, c.OutPkts, v)
		counter(dVInB, c.InBytes, v)
		counter(dVOutB, c.OutBytes, v)
		gauge(dVCPS, float64(c.CPS), v)
		gauge(dVInPPS, float64(c.InPPS), v)
		gauge(dVOutPPS, float64(c.OutPPS), v)
		gauge(dVInBPS, float64(c.InBPS), v)
		gauge(dVOutBPS, float64(c.OutBPS), v)
		for _, d := range s.Dests {
			r := d.Addr.String()
			c := d.Counters
			counter(dConns, c.Conns, v, r)
			counter(dInP, c.InPkts, v, r)
			counter(dOutP, c.OutPkts, v, r)
			counter(dInB, c.InBytes, v, r)
			counter(dOutB, c.OutBytes, v, r)
			gauge(dCPS, float64(c.CPS), v, r)
			gauge(dInPPS, float64(c.InPPS), v, r)
			gauge(dOutPPS, float64(c.OutPPS), v, r)
			gauge(dInBPS, float64(c.InBPS), v, r)
			gauge(dOutBPS, float64(c.OutBPS), v, r)
			gauge(dActive, float64(d.ActiveConns), v, r)
			gauge(dInact, float64(d.InactConns), v, r)
		}
	}
}
