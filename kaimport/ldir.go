package kaimport

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"hbgo/conf"
)

// lbKinds maps keepalived's forwarding methods to ldirectord's.
var lbKinds = map[string]string{"DR": "gate", "NAT": "masq", "TUN": "ipip"}

// checkDefaults are keepalived's retry defaults per checker: a server
// fails after 1 + retry failed checks in a row.
var retryDefaults = map[string]int{"DNS_CHECK": 3, "MISC_CHECK": 0}

// supportedChecks are the keepalived checkers ldirectord can stand for.
var supportedChecks = map[string]bool{
	"TCP_CHECK": true, "HTTP_GET": true, "SSL_GET": true, "SMTP_CHECK": true,
	"DNS_CHECK": true, "MISC_CHECK": true, "PING_CHECK": true,
}

// checkSig is the check of a virtual service, taken from its first real
// server; the other real servers must agree or are listed.
type checkSig struct {
	kind     string
	values   map[string]*Node // setting -> where the first real server set it
	request  string
	receive  string
	hasURL   bool
	statusOK bool
}

func (im *importer) ldirectord(a *kaConf) {
	if len(a.vss) == 0 {
		return
	}
	im.w(conf.LdirectordName, "# One section per keepalived virtual_server (a group gives one per entry).\n")
	im.w(conf.LdirectordName, "# keepalived's default connect_timeout.\nchecktimeout=5\nnegotiatetimeout=5\n")
	for _, vs := range a.vss {
		im.use(vs)
		addrs := im.vsAddrs(a, vs)
		body := im.vsBody(vs)
		for _, sa := range addrs {
			if sa.fwmark > 0 {
				im.w(conf.LdirectordName, "\n# %s\nvirtual=%d\n", vs.Pos(), sa.fwmark)
				im.w(conf.LdirectordName, "\tprotocol=fwm\n")
			} else {
				host := sa.addr.String()
				key := "virtual"
				if sa.addr.Is6() {
					host, key = "["+host+"]", "virtual6"
				}
				im.w(conf.LdirectordName, "\n# %s\n%s=%s:%d\n", sa.n.Pos(), key, host, sa.port)
				if p := vs.Find("protocol"); p != nil && len(p.Args) > 0 && (p.Args[0] == "TCP" || p.Args[0] == "UDP") {
					im.w(conf.LdirectordName, "\tprotocol=%s\n", strings.ToLower(p.Args[0]))
				}
			}
			for _, l := range body {
				if sa.addr.Is6() {
					// virtual6 sections take real6 and fallback6.
					if r, ok := strings.CutPrefix(l, "real="); ok {
						l = "real6=" + r
					} else if f, ok := strings.CutPrefix(l, "fallback="); ok {
						l = "fallback6=" + f
					}
				}
				im.w(conf.LdirectordName, "\t%s\n", l)
			}
		}
		if g := vs.Find("group"); g == nil && len(vs.Args) == 2 && vs.Args[0] == "group" {
			if gn := a.vsGroups[vs.Args[1]]; gn != nil {
				walk(gn.Block, func(n *Node) { im.use(n) })
			}
		}
	}
}

// vsBody converts one virtual_server block into the lines of its sections.
func (im *importer) vsBody(vs *Node) []string {
	var out []string
	method := "masq" // keepalived's default is NAT
	var reals []*Node
	quiescent := false
	for _, c := range vs.Block {
		arg := ""
		if len(c.Args) > 0 {
			arg = c.Args[0]
		}
		switch c.Key {
		case "lb_algo", "lvs_sched":
			im.use(c)
			out = append(out, "scheduler="+arg)
		case "lb_kind", "lvs_method":
			m, ok := lbKinds[strings.ToUpper(arg)]
			if !ok {
				im.errorf(c, "%s %q: want NAT, DR or TUN", c.Key, arg)
				continue
			}
			im.use(c)
			method = m
			if len(c.Args) > 1 {
				im.note(c, conf.LdirectordName, c.Text(), "tunnel type options not carried: ldirectord's ipip is plain IPIP")
			}
		case "persistence_timeout":
			im.use(c)
			if arg == "" {
				arg = "360"
			}
			out = append(out, "persistent="+arg)
		case "persistence_granularity":
			im.use(c)
			out = append(out, "netmask="+arg)
		case "protocol":
			switch strings.ToUpper(arg) {
			case "TCP", "UDP":
				im.use(c) // written after the virtual line
			default:
				im.drop(c, conf.LdirectordName, "ldirectord serves tcp, udp and fwm only")
			}
		case "inhibit_on_failure":
			im.use(c)
			quiescent = true
		case "ops":
			im.use(c)
			out = append(out, "ops=yes")
		case "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback":
			im.use(c)
			out = append(out, "schedflags="+c.Key)
		case "virtualhost":
			im.use(c)
			out = append(out, "virtualhost="+arg)
		case "real_server":
			reals = append(reals, c)
		case "connect_timeout", "retry", "delay_before_retry", "warmup", "delay_loop":
			// defaults of the checkers, read with them
		case "sorry_server", "sorry_server_lvs_method", "sorry_server_inhibit":
			// below
		case "quorum", "hysteresis", "quorum_up", "quorum_down":
			im.drop(c, conf.LdirectordName, "ldirectord has no quorum of real servers; fallback serves when none is up")
		case "ha_suspend":
			im.drop(c, conf.LdirectordName, "hbgo's ldirector runs its checks on every director (warm standby)")
		case "alpha", "omega":
			im.drop(c, conf.LdirectordName, "ldirectord starts with every real server up and checks it at once")
		case "smtp_alert":
			im.drop(c, conf.LdirectordName, "set emailalert in ldirectord.cf by hand")
		case "persistence_engine":
			im.drop(c, conf.LdirectordName, "ldirectord sets no persistence engine")
		}
	}
	if quiescent {
		out = append(out, "quiescent=yes")
	} else {
		out = append(out, "quiescent=no")
	}
	if s := vs.Find("sorry_server"); s != nil && len(s.Args) > 0 {
		im.use(s)
		fm := method
		if m := vs.Find("sorry_server_lvs_method"); m != nil && len(m.Args) > 0 {
			if k, ok := lbKinds[strings.ToUpper(m.Args[0])]; ok {
				fm = k
				im.use(m)
			}
		}
		host := s.Args[0]
		if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
			host = "[" + host + "]"
		}
		if len(s.Args) > 1 {
			host += ":" + s.Args[1]
		}
		out = append(out, "fallback="+host+" "+fm)
		if si := vs.Find("sorry_server_inhibit"); si != nil {
			im.drop(si, conf.LdirectordName, "ldirectord removes the fallback when a real server returns")
		}
	}
	out = append(out, im.reals(vs, reals, method, quiescent)...)
	return out
}

// timingKeys are the settings a checker inherits from its real server and
// virtual server.
var timingKeys = []string{"connect_timeout", "retry", "nb_get_retry", "delay_before_retry", "warmup", "delay_loop"}

// reals converts the real servers and their checks.
func (im *importer) reals(vs *Node, reals []*Node, method string, quiescent bool) []string {
	var out []string
	var sig *checkSig
	for i, r := range reals {
		im.use(r)
		if len(r.Args) == 0 {
			im.errorf(r, "real_server needs an address")
			continue
		}
		host := r.Args[0]
		a, err := netip.ParseAddr(host)
		if err != nil {
			im.errorf(r, "real_server %q is not an address", host)
			continue
		}
		if a.Is6() {
			host = "[" + host + "]"
		}
		if len(r.Args) > 1 {
			host += ":" + r.Args[1]
		}
		m, weight := method, "1"
		var checkers []*Node
		for _, c := range r.Block {
			arg := ""
			if len(c.Args) > 0 {
				arg = c.Args[0]
			}
			switch {
			case c.Key == "weight":
				im.use(c)
				weight = arg
			case c.Key == "lvs_method" || c.Key == "lb_kind":
				if k, ok := lbKinds[strings.ToUpper(arg)]; ok {
					im.use(c)
					m = k
				}
			case c.Key == "inhibit_on_failure":
				if quiescent == (arg == "" || arg == "yes" || arg == "on" || arg == "true") {
					im.use(c)
				} else {
					im.drop(c, conf.LdirectordName, "ldirectord sets quiescent per virtual service, not per real server")
				}
			case checkerKeys[c.Key]:
				checkers = append(checkers, c)
			case c.Key == "notify_up" || c.Key == "notify_down":
				im.drop(c, conf.LdirectordName, "ldirectord runs no script per real server; callback= runs one on every change")
			case c.Key == "uthreshold" || c.Key == "lthreshold":
				im.drop(c, conf.LdirectordName, "ldirectord sets no connection thresholds")
			case c.Key == "virtualhost":
				im.use(c)
			}
		}
		line := fmt.Sprintf("real=%s %s %s", host, m, weight)
		if len(checkers) == 0 {
			if i == 0 {
				sig = &checkSig{kind: "none"}
			} else if sig != nil && sig.kind != "none" {
				im.note(r, conf.LdirectordName, r.Text(), "has no checker while the first real server has one; ldirectord checks it too")
			}
			out = append(out, line)
			continue
		}
		for _, extra := range checkers[1:] {
			im.drop(extra, conf.LdirectordName, "ldirectord runs one check per real server; only the first checker is carried")
		}
		ck := checkers[0]
		if i == 0 || sig == nil {
			sig = im.newSig(vs, r, ck)
			out = append(out, line)
			continue
		}
		if !supportedChecks[sig.kind] {
			im.drop(ck, conf.LdirectordName, "ldirectord has no such check; the service is written with checktype=on (always up): choose a check by hand")
			out = append(out, line)
			continue
		}
		if ck.Key != sig.kind {
			im.drop(ck, conf.LdirectordName, fmt.Sprintf("ldirectord runs one check type per virtual service: this server is checked with %s like the first", sig.kind))
			out = append(out, line)
			continue
		}
		req, rcv := im.compareSig(sig, vs, r, ck)
		if req != "" || rcv != "" {
			line += fmt.Sprintf(" %q, %q", req, rcv)
		}
		out = append(out, line)
	}
	if sig != nil {
		out = append(sig.lines(), out...)
	}
	return out
}

// setting finds a timing setting: on the checker, else the real server,
// else the virtual server.
func setting(key string, ck, r, vs *Node) *Node {
	for _, n := range []*Node{ck, r, vs} {
		if n == nil {
			continue
		}
		if s := n.Find(key); s != nil {
			return s
		}
	}
	return nil
}

func (im *importer) newSig(vs, r, ck *Node) *checkSig {
	s := &checkSig{kind: ck.Key, values: map[string]*Node{}}
	if supportedChecks[ck.Key] {
		im.use(ck)
	} else {
		im.drop(ck, conf.LdirectordName, "ldirectord has no such check; the service is written with checktype=on (always up): choose a check by hand")
		return s
	}
	for _, k := range timingKeys {
		if n := setting(k, ck, r, vs); n != nil {
			s.values[k] = n
		}
	}
	im.checkerBody(s, ck, true)
	im.timing(s, vs, r, ck)
	if ck.Key == "MISC_CHECK" {
		im.note(ck, conf.LdirectordName, "MISC_CHECK", "ldirectord runs checkcommand with VIP VPORT RIP RPORT appended; make sure the script accepts them")
	}
	return s
}

// timing marks the timing settings of one checker as carried, listed or
// compared.
func (im *importer) timing(s *checkSig, vs, r, ck *Node) {
	for _, k := range timingKeys {
		n := setting(k, ck, r, vs)
		if n == nil {
			continue
		}
		switch k {
		case "delay_before_retry":
			im.drop(n, conf.LdirectordName, "ldirectord checks again at the next checkinterval; there is no separate retry delay")
		case "warmup":
			im.drop(n, conf.LdirectordName, "ldirectord checks every real server at start")
		default:
			first := s.values[k]
			if first != nil && strings.Join(first.Args, " ") != strings.Join(n.Args, " ") {
				im.drop(n, conf.LdirectordName, fmt.Sprintf("differs from %s; ldirectord sets %s per virtual service", first.Pos(), k))
			} else {
				im.use(n)
			}
		}
	}
}

// checkerBody reads a checker's own settings. first is set for the real
// server whose check becomes the virtual service's.
func (im *importer) checkerBody(s *checkSig, ck *Node, first bool) (req, rcv string) {
	var urls []*Node
	for _, c := range ck.Block {
		arg := ""
		if len(c.Args) > 0 {
			arg = c.Args[0]
		}
		switch c.Key {
		case "connect_port", "type", "name", "misc_path", "misc_timeout":
			if f := s.values[c.Key]; f != nil && !first && strings.Join(f.Args, " ") != strings.Join(c.Args, " ") {
				im.drop(c, conf.LdirectordName, fmt.Sprintf("differs from %s; ldirectord sets it per virtual service", f.Pos()))
				continue
			}
			if first {
				s.values[c.Key] = c
			}
			im.use(c)
			if c.Key == "type" && strings.ToUpper(arg) != "A" {
				im.drop(c, conf.LdirectordName, "ldirectord's dns check asks for an A record")
			}
		case "url":
			urls = append(urls, c)
		case "virtualhost":
			im.use(c)
			if first {
				s.values["virtualhost"] = c
			}
		case "connect_timeout", "retry", "nb_get_retry", "delay_before_retry", "warmup", "delay_loop":
			// timing, read by timing()
		case "connect_ip", "bindto", "bind_if", "bind_port", "fwmark":
			im.drop(c, conf.LdirectordName, "ldirectord checks the real server's address from the director's own address")
		case "helo_name":
			im.drop(c, conf.LdirectordName, "ldirectord's smtp check sends its own HELO")
		case "misc_dynamic":
			im.drop(c, conf.LdirectordName, "ldirectord's external check passes or fails; it does not set weights")
		case "user":
			im.drop(c, conf.LdirectordName, "ldirectord runs checkcommand as root")
		default:
			im.drop(c, conf.LdirectordName, "no equivalent in ldirectord's "+strings.ToLower(s.kind)+" check")
		}
	}
	for i, u := range urls {
		if i > 0 {
			im.drop(u, conf.LdirectordName, "ldirectord fetches one URL per check; only the first is carried")
			continue
		}
		im.use(u)
		s.hasURL = true
		for _, c := range u.Block {
			arg := strings.Join(c.Args, " ")
			switch c.Key {
			case "path":
				im.use(c)
				req = strings.TrimPrefix(arg, "/")
			case "regex":
				im.use(c)
				rcv = arg
			case "status_code":
				if arg == "200-299" {
					im.use(c) // ldirectord accepts any 2xx, the same
				} else {
					im.drop(c, conf.LdirectordName, "ldirectord accepts any 2xx status and no other; status_code "+arg+" cannot be expressed")
				}
			case "digest":
				im.drop(c, conf.LdirectordName, "ldirectord cannot compare an MD5 digest of the page; use receive= with a string of the page")
			case "virtualhost":
				im.use(c)
				if first {
					s.values["virtualhost"] = c
				}
			default:
				im.drop(c, conf.LdirectordName, "no equivalent in ldirectord's http check")
			}
		}
	}
	if first {
		s.request, s.receive = req, rcv
	}
	return req, rcv
}

// compareSig reads another real server's checker against the first; it
// returns a per-server request and receive when its URL differs.
func (im *importer) compareSig(s *checkSig, vs, r, ck *Node) (string, string) {
	im.use(ck)
	req, rcv := im.checkerBody(s, ck, false)
	im.timing(s, vs, r, ck)
	if s.hasURL && (req != s.request || rcv != s.receive) {
		return req, rcv
	}
	return "", ""
}

// lines renders the check settings of a virtual service.
func (s *checkSig) lines() []string {
	val := func(k string) string {
		if n := s.values[k]; n != nil && len(n.Args) > 0 {
			return strings.Join(n.Args, " ")
		}
		return ""
	}
	var out []string
	switch s.kind {
	case "none":
		return []string{"checktype=on"}
	case "TCP_CHECK":
		out = append(out, "checktype=connect")
	case "HTTP_GET", "SSL_GET":
		svc := "http"
		if s.kind == "SSL_GET" {
			svc = "https"
		}
		out = append(out, "checktype=negotiate", "service="+svc)
		if s.request != "" {
			out = append(out, fmt.Sprintf("request=%q", s.request))
		}
		if s.receive != "" {
			out = append(out, fmt.Sprintf("receive=%q", s.receive))
		}
	case "SMTP_CHECK":
		out = append(out, "checktype=negotiate", "service=smtp")
	case "DNS_CHECK":
		out = append(out, "checktype=negotiate", "service=dns")
		name := val("name")
		if name == "" {
			name = "."
		}
		out = append(out, fmt.Sprintf("request=%q", name))
	case "MISC_CHECK":
		out = append(out, "checktype=external")
		if p := val("misc_path"); p != "" {
			out = append(out, fmt.Sprintf("checkcommand=%q", p))
		}
	case "PING_CHECK":
		out = append(out, "checktype=ping")
	default:
		out = append(out, "checktype=on")
	}
	if v := val("virtualhost"); v != "" {
		out = append(out, "virtualhost="+v)
	}
	if p := val("connect_port"); p != "" {
		out = append(out, "checkport="+p)
	}
	t := val("connect_timeout")
	if s.kind == "MISC_CHECK" {
		t = val("misc_timeout")
	}
	if t != "" {
		out = append(out, "checktimeout="+t, "negotiatetimeout="+t)
	}
	if d := val("delay_loop"); d != "" {
		out = append(out, "checkinterval="+d)
	}
	retry := 1
	if n, ok := retryDefaults[s.kind]; ok {
		retry = n
	}
	for _, k := range []string{"nb_get_retry", "retry"} {
		if v := val(k); v != "" {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				retry = n
			}
		}
	}
	out = append(out, fmt.Sprintf("failurecount=%d", retry+1))
	return out
}
