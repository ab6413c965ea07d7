package ldirector

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"hbgo/conf"
	"hbgo/ldirector/check"
	"hbgo/lvs"
)

// model is a configuration turned into what the engine works on: virtual
// services with their members (a real server of one service) and the
// probes (one check of one server, shared by every member it serves).
type model struct {
	cfg      *conf.LdirectordConfig
	virtuals []*virtual
	probes   map[string]*probe
}

// virtual is one virtual service and its state.
type virtual struct {
	cfg      *conf.Virtual
	id       string // tcp:192.0.2.1:80, as ldirectord names it
	name     string // 192.0.2.1:80 or the mark, as ldirectord logs it
	svc      lvs.Service
	members  []*member
	fallback *lvs.Dest // nil: none

	// fbCommand is the last argument fallbackcommand ran with: "",
	// "start" or "stop".
	fbCommand string
}

// member is a real server of one virtual service.
type member struct {
	v     *virtual
	real  conf.Real
	name  string // address:port as ldirectord logs it
	dest  lvs.Dest
	probe *probe

	up        bool
	failcount int
	maint     bool
	// fresh marks a server new to the table (start, reload): when down
	// and quiescent it is added with weight 0. justDown marks one that
	// just went down: when quiescent and removed by hand meanwhile, it
	// is added again with weight 0 only with readdquiescent.
	fresh    bool
	justDown bool

	lastTime    time.Time
	lastLatency time.Duration
	lastErr     string
	checked     bool
}

// probe is one check of one server on its own schedule.
type probe struct {
	key      string
	spec     check.Spec // connect, ping, external, negotiate, on or off
	nego     check.Spec // for checktype N: the negotiate check
	connects int        // for checktype N: connect checks between negotiates
	numConn  int        // connects done since the last negotiate
	timeout  time.Duration
	negoTO   time.Duration
	attempts int // ping: checkcount
	interval time.Duration
	phase    time.Duration
	members  []*member

	// Scheduling, owned by the engine's loop.
	next     time.Time
	index    int // in the heap; -1 when not queued
	inflight bool
	first    bool // no result yet
	lastOK   bool // the last result was a pass (meaningful when !first)
	// removed and replaced mark a probe of an older configuration:
	// gone, or carried on by another.
	removed  bool
	replaced *probe
}

// checkTypeOf maps a virtual's checktype to the check package's, as
// _check_real does: connect on UDP pings, external-perl runs the command with perl.
func checkTypeOf(v *conf.Virtual) string {
	switch v.CheckType {
	case "connect":
		if v.Protocol == "udp" {
			return check.Ping
		}
		return check.Connect
	case "external":
		return check.External
	case "external-perl":
		return check.ExternalPerl
	case "ping":
		return check.Ping
	case "on":
		return check.On
	case "off":
		return check.Off
	}
	return check.Negotiate
}

// resolver looks host names up when a model is built; tests replace it.
var lookupHost = func(ctx context.Context, host string, six bool) (netip.Addr, error) {
	network := "ip4"
	if six {
		network = "ip6"
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("%s: no address", host)
	}
	return addrs[0].Unmap(), nil
}

// buildModel turns cfg into a model. Problems (a name that does not
// resolve) are returned as warnings with the file and line; the rest of
// the configuration still runs.
func buildModel(cfg *conf.LdirectordConfig, hostname string) (*model, []string) {
	m := &model{cfg: cfg, probes: map[string]*probe{}}
	var warns []string
	warn := func(line int, format string, args ...any) {
		warns = append(warns, fmt.Sprintf("%s:%d: ", cfg.File, line)+fmt.Sprintf(format, args...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resolved := map[string]netip.Addr{}
	resolve := func(host string, six bool) (netip.Addr, error) {
		k := host + "/" + strconv.FormatBool(six)
		if a, ok := resolved[k]; ok {
			return a, nil
		}
		a, err := lookupHost(ctx, host, six)
		if err == nil {
			resolved[k] = a
		}
		return a, err
	}
	for _, cv := range cfg.Virtuals {
		addr := cv.Addr
		if cv.Host != "" && cv.FWMark == 0 {
			a, err := resolve(cv.Host, cv.IPv6)
			if err != nil {
				warn(cv.Line, "virtual service %s not started: %v", cv.ID(), err)
				continue
			}
			addr = netip.AddrPortFrom(a, cv.Addr.Port())
		}
		cp := *cv
		cp.Addr = addr
		svc, err := lvs.ServiceFromConfig(&cp)
		if err != nil {
			warn(cv.Line, "virtual service not started: %v", err)
			continue
		}
		v := &virtual{cfg: cv, svc: svc}
		if cv.FWMark != 0 {
			v.name = strconv.FormatUint(uint64(cv.FWMark), 10)
			v.id = cv.ID()
		} else {
			v.name = addr.String()
			v.id = cv.Protocol + ":" + addr.String()
		}
		if f := cv.EffectiveFallback(); f != nil {
			fa := f.Addr
			if f.Host != "" {
				a, err := resolve(f.Host, cv.IPv6)
				if err != nil {
					warn(f.Line, "fallback %s of %s not used: %v", f, v.id, err)
				} else {
					fa = netip.AddrPortFrom(a, f.Addr.Port())
				}
			}
			if fa.Addr().IsValid() {
				fr := *f
				fr.Addr = fa
				if d, err := lvs.DestFromConfig(cv, &fr); err != nil {
					warn(f.Line, "fallback of %s not used: %v", v.id, err)
				} else {
					d.Weight = 1
					v.fallback = &d
				}
			}
		}
		seen := map[netip.AddrPort]bool{}
		for _, r := range cv.Reals {
			addrs, err := realAddrs(r, cv.IPv6, resolve)
			if err != nil {
				warn(r.Line, "real server %s of %s not used: %v", r.String(), v.id, err)
				continue
			}
			for _, a := range addrs {
				rr := r
				rr.Host, rr.HostRangeEnd = "", ""
				rr.Addr = netip.AddrPortFrom(a, r.Addr.Port())
				dest, err := lvs.DestFromConfig(cv, &rr)
				if err != nil {
					warn(r.Line, "real server of %s not used: %v", v.id, err)
					continue
				}
				if seen[dest.Addr] {
					continue
				}
				seen[dest.Addr] = true
				mb := &member{v: v, real: rr, dest: dest, name: dest.Addr.String()}
				if r.Host != "" {
					mb.real.Host = r.Host // kept for maintenance file names
				}
				v.members = append(v.members, mb)
				m.attach(mb, hostname)
			}
		}
		m.virtuals = append(m.virtuals, v)
	}
	// Spread every interval's probes evenly over it, in a stable order.
	byInterval := map[time.Duration][]*probe{}
	for _, p := range m.probes {
		byInterval[p.interval] = append(byInterval[p.interval], p)
	}
	for iv, ps := range byInterval {
		sortProbes(ps)
		for i, p := range ps {
			p.phase = time.Duration(int64(iv) * int64(i) / int64(len(ps)))
		}
	}
	return m, warns
}

// realAddrs resolves a real line's host or host range.
func realAddrs(r conf.Real, six bool, resolve func(string, bool) (netip.Addr, error)) ([]netip.Addr, error) {
	if r.Host == "" {
		return []netip.Addr{r.Addr.Addr()}, nil
	}
	a, err := resolve(r.Host, six)
	if err != nil {
		return nil, err
	}
	if r.HostRangeEnd == "" {
		return []netip.Addr{a}, nil
	}
	end, err := resolve(r.HostRangeEnd, six)
	if err != nil {
		return nil, err
	}
	if end.Less(a) {
		return nil, fmt.Errorf("range %s->%s runs backwards (%s > %s)", r.Host, r.HostRangeEnd, a, end)
	}
	var out []netip.Addr
	for x := a; ; x = x.Next() {
		out = append(out, x)
		if x == end || len(out) > 65536 {
			break
		}
	}
	return out, nil
}

// attach finds or makes the probe that checks mb.
func (m *model) attach(mb *member, hostname string) {
	cv := mb.v.cfg
	r := &mb.real
	proto := cv.Protocol
	if proto == "fwm" {
		proto = "tcp"
	}
	request, receive := cv.Request, cv.Receive
	if r.Request != "" || r.Receive != "" {
		request, receive = r.Request, r.Receive
	}
	checkAddr := netip.AddrPortFrom(mb.dest.Addr.Addr(), cv.CheckPortFor(r))
	spec := check.Spec{
		Type:        checkTypeOf(cv),
		Service:     cv.Service,
		Protocol:    proto,
		Addr:        checkAddr,
		Virtual:     mb.v.svc.Addr,
		FWMark:      cv.FWMark,
		RealPort:    mb.dest.Addr.Port(),
		Request:     request,
		Receive:     receive,
		HTTPMethod:  cv.HTTPMethod,
		VirtualHost: cv.VirtualHost,
		Login:       cv.EffectiveLogin(hostname),
		Passwd:      cv.EffectivePasswd(hostname),
		Database:    cv.Database,
		Secret:      cv.Secret,
		Command:     cv.CheckCommand,
	}
	var nego check.Spec
	key := spec.Key()
	connects := 0
	if cv.CheckType == "combined" {
		nego = spec
		nego.Type = check.Negotiate
		spec.Type = check.Connect
		connects = cv.CheckConnects
		key = "combined/" + strconv.Itoa(connects) + "\x00" + nego.Key()
	}
	attempts := 1
	if spec.Type == check.Ping {
		attempts = max(1, cv.EffectiveCheckCount())
		key += "\x00" + strconv.Itoa(attempts)
	}
	p := m.probes[key]
	if p == nil {
		p = &probe{
			key: key, spec: spec, nego: nego, connects: connects,
			timeout:  cv.EffectiveCheckTimeout(),
			negoTO:   cv.EffectiveNegotiateTimeout(),
			attempts: attempts,
			interval: cv.EffectiveCheckInterval(),
			index:    -1,
			first:    true,
		}
		if spec.Type == check.Negotiate {
			p.timeout = p.negoTO
		}
		m.probes[key] = p
	} else {
		// One check serves every service; it runs as often as the most
		// demanding one asks and waits as long as the most patient.
		p.interval = min(p.interval, cv.EffectiveCheckInterval())
		if spec.Type == check.Negotiate {
			p.timeout = max(p.timeout, cv.EffectiveNegotiateTimeout())
		} else {
			p.timeout = max(p.timeout, cv.EffectiveCheckTimeout())
		}
		p.negoTO = max(p.negoTO, cv.EffectiveNegotiateTimeout())
	}
	p.members = append(p.members, mb)
	mb.probe = p
}

// deadline is how long one run of the probe may take at most.
func (p *probe) deadline() time.Duration {
	if p.connects > 0 || p.nego.Type != "" {
		return max(p.timeout, p.negoTO)
	}
	return p.timeout * time.Duration(p.attempts)
}

func sortProbes(ps []*probe) {
	// Map order is random; sort by key for stable phases.
	slices.SortFunc(ps, func(a, b *probe) int { return strings.Compare(a.key, b.key) })
}

// realID is the real server's id as ldirectord writes it in a monitor
// file: its check, protocol, address, port, virtual host, check port,
// weight, method, request and receive, with the colons squeezed to
// single spaces.
func (mb *member) realID() string {
	cv := mb.v.cfg
	chk := cv.CheckType
	switch cv.CheckType {
	case "negotiate", "combined":
		chk += ":" + cv.Service
	case "external", "external-perl":
		chk += ":" + cv.CheckCommand
	}
	cp := ""
	if cv.CheckPort != 0 {
		cp = strconv.Itoa(int(cv.CheckPort))
	}
	s := strings.Join([]string{chk, cv.Protocol, mb.dest.Addr.Addr().String(), strconv.Itoa(int(mb.dest.Addr.Port())),
		cv.VirtualHost, cp, strconv.Itoa(mb.dest.Weight), string(mb.dest.Method), mb.probe.spec.Request, mb.probe.spec.Receive}, ":")
	var b strings.Builder
	colon := false
	for _, c := range s {
		if c == ':' {
			if !colon {
				b.WriteByte(' ')
			}
			colon = true
			continue
		}
		colon = false
		b.WriteRune(c)
	}
	return b.String()
}
