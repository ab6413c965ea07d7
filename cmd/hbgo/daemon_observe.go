package main

import (
	"context"
	"fmt"
	"hbgo/bgp/pipe"
	"io"
	"log/slog"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"hbgo/conf"
	"hbgo/crm"
	"hbgo/ldirector"
	"hbgo/logging"
	"hbgo/lvs"
	"hbgo/metrics"
	"hbgo/resources"
)

// daemonLog is the daemon's open log, for the metrics of lost lines.
var daemonLog atomic.Pointer[logging.Log]

// openLog opens the daemon's log as ha.cf's logfile, debugfile and
// logfacility say (see package logging); stderr when none is set, in the
// journal's shape under systemd.
func openLog(ha *conf.HAConfig, node string, level slog.Level, stderr io.Writer) (*slog.Logger, func(), error) {
	o := logging.OptionsOf(ha, node, level <= slog.LevelDebug, stderr)
	l, err := logging.Open(o)
	if err != nil {
		return nil, nil, err
	}
	daemonLog.Store(l)
	return l.Logger(), func() { l.Close() }, nil
}

// observer gathers what the daemon shows of itself: the metrics endpoint
// and the ldirectors' IPVS tables in hbgo status.
type observer struct {
	cfg  *conf.Config
	node string
	log  *slog.Logger
	warm *warmLdirectors // nil on a witness
	bgp  *pipe.Speaker   // nil without bgp_as

	metrics *metrics.Metrics
	server  *metrics.Server
	kernel  *lvs.Kernel // nil where the kernel has no IPVS
}

func newObserver(cfg *conf.Config, node string, log *slog.Logger) *observer {
	o := &observer{cfg: cfg, node: node, log: log}
	if cfg.HA.Metrics != "" {
		o.metrics = metrics.New(metrics.Sources{})
	}
	return o
}

// chainOptions have the metrics hear every resource start and stop.
func (o *observer) chainOptions() []resources.ChainOption {
	if o.metrics == nil {
		return nil
	}
	return []resources.ChainOption{resources.WithObserver(o.metrics)}
}

// controller is what the control socket serves: n, with the ldirectors'
// tables added to its status.
func (o *observer) controller(n *crm.Node) crm.Controller {
	return observedController{Controller: n, o: o}
}

type observedController struct {
	crm.Controller
	o *observer
}

func (c observedController) Status(ctx context.Context) (*crm.Status, error) {
	st, err := c.Controller.Status(ctx)
	if err == nil && st != nil {
		st.Ldirectors = c.o.ldirectorStatus(ctx)
		st.BGP = c.o.bgpStatus(ctx)
		if st.BGP != nil {
			st.BGP.Withheld = c.o.withheld(st)
		}
	}
	return st, err
}

// withheld lists the anycast VIPs of haresources this director does not
// announce, with the reason: its group does not run here (hb_standby, a
// stop, a failed start), or no ldirector has a real server up for it.
func (o *observer) withheld(st *crm.Status) []crm.WithheldVIP {
	announced := map[string]bool{}
	for _, p := range st.BGP.Announced {
		announced[p] = true
	}
	state := map[string]string{}
	for _, g := range st.Groups {
		if g.Anycast {
			state[g.Name] = g.State
		}
	}
	var out []crm.WithheldVIP
	if o.cfg.Resources == nil {
		return nil
	}
	for _, g := range o.cfg.Resources.Groups {
		if !g.IsAnycast() {
			continue
		}
		for _, r := range g.Resources {
			if r.Name != conf.AgentBGPaddr {
				continue
			}
			p, err := conf.ParseBGPaddrArgs(r.Args)
			if err != nil || announced[p.String()] {
				continue
			}
			why := "not announced yet"
			switch s := state[g.Name]; {
			case s != "running":
				why = fmt.Sprintf("its group is %s on this director (hb_standby, a stop or a failed start)", orDash(s))
			case o.warm != nil:
				if served, known := o.warm.Serves(p.Addr()); known && !served {
					why = "no real server is up for it in this director's ldirector"
				}
			}
			out = append(out, crm.WithheldVIP{VIP: p.String(), Why: why})
		}
	}
	return out
}

// start opens the kernel's IPVS table for its counters and, when ha.cf
// says metrics ADDR:PORT, serves the metrics there. An endpoint that
// cannot listen is logged; the node runs on without it.
func (o *observer) start(n *crm.Node) {
	if o.warm != nil {
		o.warm.mu.Lock()
		any := len(o.warm.runs) > 0
		o.warm.mu.Unlock()
		if any {
			if k, err := lvs.OpenKernel(""); err == nil {
				o.kernel = k
			}
		}
	}
	if o.metrics == nil {
		return
	}
	ctl := o.controller(n)
	src := metrics.Sources{Status: ctl.Status, Heartbeat: n.HeartbeatCounters}
	if o.kernel != nil {
		src.IPVS = o.kernel.Stats
	}
	if l := daemonLog.Load(); l != nil {
		src.LogLost = l.Lost
	}
	o.metrics.SetSources(src)
	s, err := o.metrics.Serve(o.cfg.HA.Metrics, o.log)
	if err != nil {
		o.log.Error(fmt.Sprintf("Metrics endpoint not started: %v", err))
		return
	}
	o.server = s
	o.log.Info(fmt.Sprintf("Metrics served at http://%s%s", s.Addr(), metrics.Path))
}

func (o *observer) stop() {
	if o.server != nil {
		o.server.Close()
	}
	if o.kernel != nil {
		o.kernel.Close()
	}
}

// checkObserver has the metrics hear each real server's check.
func (o *observer) checkObserver() func(svc lvs.ServiceKey, real netip.AddrPort, took time.Duration, err error) {
	if o.metrics == nil {
		return nil
	}
	return func(svc lvs.ServiceKey, real netip.AddrPort, took time.Duration, err error) {
		o.metrics.CheckDone(metrics.ServiceLabel(svc), real.String(), took, err)
	}
}

// ldirectorStatus describes each ldirector's services as ipvsadm -L -n
// would, with each real server's health and last check.
func (o *observer) ldirectorStatus(ctx context.Context) []crm.LdirectorStatus {
	if o.warm == nil {
		return nil
	}
	w := o.warm
	w.mu.Lock()
	files := make([]string, 0, len(w.runs))
	runs := map[string]warmRun{}
	for f, r := range w.runs {
		files = append(files, f)
		runs[f] = *r
	}
	w.mu.Unlock()
	if len(files) == 0 {
		return nil
	}
	sort.Strings(files)
	table := "memory"
	stats := map[lvs.ServiceKey]map[netip.AddrPort]lvs.DestStats{}
	services := map[lvs.ServiceKey]lvs.Service{}
	if o.kernel != nil {
		table = "kernel"
		if ss, err := o.kernel.Stats(ctx); err == nil {
			for _, s := range ss {
				m := map[netip.AddrPort]lvs.DestStats{}
				for _, d := range s.Dests {
					m[d.Addr] = d
				}
				stats[s.ServiceKey] = m
			}
		}
		if es, err := o.kernel.List(ctx); err == nil {
			for _, e := range es {
				services[e.ServiceKey] = e.Service
			}
		}
	}
	configs := ldirectorConfigs(o.cfg, o.warm.dir)
	var out []crm.LdirectorStatus
	for _, f := range files {
		r := runs[f]
		ls := crm.LdirectorStatus{Config: f, Table: table}
		if r.err != nil {
			ls.Error = r.err.Error()
		}
		if r.d == nil {
			out = append(out, ls)
			continue
		}
		for _, v := range r.d.Status() {
			vs := crm.VirtualStatus{Protocol: strings.ToUpper(string(v.Service.Protocol)), Addr: v.Service.Addr.String()}
			if v.Service.Protocol == lvs.FWM {
				vs.Addr = strconv.FormatUint(uint64(v.Service.FWMark), 10)
			}
			if s, ok := services[v.Service]; ok {
				vs.Scheduler, vs.Persistent = s.Scheduler, crm.Duration(s.Persistent)
			} else if cv := findVirtual(configs[f], v); cv != nil {
				vs.Scheduler, vs.Persistent = cv.Scheduler, crm.Duration(cv.Persistent)
			}
			for _, rs := range v.Reals {
				vs.Reals = append(vs.Reals, realStatus(rs, stats[v.Service], false))
			}
			if v.Fallback != nil && v.Fallback.CurrentWeight >= 0 {
				vs.Reals = append(vs.Reals, realStatus(*v.Fallback, stats[v.Service], true))
			}
			ls.Virtuals = append(ls.Virtuals, vs)
		}
		out = append(out, ls)
	}
	return out
}

// findVirtual is the virtual of lc the ldirector's v stands for.
func findVirtual(lc *conf.LdirectordConfig, v ldirector.VirtualStatus) *conf.Virtual {
	if lc == nil {
		return nil
	}
	for _, cv := range lc.Virtuals {
		if cv.ID() == v.ID || (cv.Host == "" && cv.FWMark == 0 && cv.Addr == v.Service.Addr) {
			return cv
		}
	}
	return nil
}

// forwardNames are ipvsadm -L's words for the forwarding methods.
var forwardNames = map[lvs.Method]string{lvs.Gate: "Route", lvs.Masq: "Masq", lvs.Ipip: "Tunnel"}

func realStatus(r ldirector.RealStatus, stats map[netip.AddrPort]lvs.DestStats, fallback bool) crm.RealStatus {
	rs := crm.RealStatus{Addr: r.Addr.String(), Forward: forwardNames[r.Method], Weight: r.CurrentWeight}
	if rs.Forward == "" {
		rs.Forward = string(r.Method)
	}
	if d, ok := stats[r.Addr]; ok {
		rs.ActiveConn, rs.InActConn = d.ActiveConns, d.InactConns
	}
	switch {
	case fallback:
		rs.Health = "fallback"
	case r.Maintenance:
		rs.Health = "maintenance"
	case r.Healthy:
		rs.Health = "up"
	case r.CurrentWeight == 0:
		rs.Health = "quiescent"
	default:
		rs.Health = "down"
	}
	if !r.LastCheck.IsZero() {
		rs.LastCheck, rs.Latency = r.LastCheck, crm.Duration(r.LastLatency)
		rs.LastResult = "ok"
		if r.LastResult != "" {
			rs.LastResult = r.LastResult
		}
	}
	return rs
}

// bgpStatus is the speaker's sessions and announced VIPs.
func (o *observer) bgpStatus(ctx context.Context) *crm.BGPStatus {
	if o.bgp == nil {
		return nil
	}
	st := &crm.BGPStatus{Sessions: []crm.BGPSession{}, Announced: []string{}}
	for _, p := range o.bgp.Announced() {
		st.Announced = append(st.Announced, p.String())
	}
	ss, err := o.bgp.Sessions(ctx)
	if err != nil {
		st.Error = err.Error()
	}
	for _, s := range ss {
		st.Sessions = append(st.Sessions, crm.BGPSession{Neighbor: s.Neighbor.String(), PeerAS: s.PeerAS, State: string(s.State),
			Uptime: crm.Duration(s.Uptime), HoldTime: crm.Duration(s.HoldTime), Sent: s.Sent, Received: s.Received, LastError: s.LastError, BFD: s.BFD})
	}
	return st
}
