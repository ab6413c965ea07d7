package conf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ldServices are the values of service, ldirectord 4.12's list.
var ldServices = []string{
	"dns", "ftp", "http", "https", "http_proxy", "imap", "imaps", "ldap", "ldaps", "mysql",
	"nntp", "none", "oracle", "pgsql", "pop", "pops", "radius", "simpletcp", "sip", "smtp",
	"submission",
}

// ldServiceDefaultPort maps a service to its well-known port, and
// ldPortService the other way: ldirectord's ld_service_to_port and
// ld_port_to_service.
var ldServiceDefaultPort = map[string]uint16{
	"ftp": 21, "smtp": 25, "dns": 53, "http": 80, "pop": 110, "nntp": 119, "imap": 143,
	"ldap": 389, "https": 443, "submission": 587, "ldaps": 636, "imaps": 993, "pops": 995,
	"oracle": 1521, "radius": 1812, "http_proxy": 3128, "mysql": 3306, "sip": 5060, "pgsql": 5432,
}

var ldPortService = func() map[uint16]string {
	m := map[uint16]string{}
	for s, p := range ldServiceDefaultPort {
		m[p] = s
	}
	return m
}()

// ldPortNames are the port names ldirectord would find through
// getservbyname in a stock /etc/services, the common ones first (a typo
// suggests the first of equally close names). conf never reads the system's
// file: a config must mean the same on every director.
var ldPortNames = []struct {
	name string
	port uint16
}{
	{"http", 80}, {"https", 443}, {"smtp", 25}, {"domain", 53}, {"ftp", 21}, {"pop3", 110},
	{"imap", 143}, {"imap2", 143}, {"imaps", 993}, {"pop3s", 995}, {"submission", 587},
	{"ldap", 389}, {"ldaps", 636}, {"mysql", 3306}, {"postgresql", 5432}, {"postgres", 5432},
	{"nntp", 119}, {"sip", 5060}, {"radius", 1812}, {"http-alt", 8080}, {"webcache", 8080},
	{"www", 80}, {"mail", 25}, {"pop-3", 110}, {"submissions", 465}, {"smtps", 465},
	{"ssmtp", 465}, {"ssh", 22}, {"telnet", 23}, {"tftp", 69}, {"kerberos", 88}, {"ntp", 123},
	{"snmp", 161}, {"bgp", 179}, {"syslog", 514}, {"printer", 515}, {"ipp", 631},
	{"rsync", 873}, {"ftps", 990}, {"ms-sql-s", 1433}, {"radius-acct", 1813}, {"nfs", 2049},
	{"sieve", 4190}, {"sip-tls", 5061}, {"xmpp-client", 5222}, {"redis", 6379},
}

var ldPortNameList = func() []string {
	var l []string
	for _, n := range ldPortNames {
		l = append(l, n.name)
	}
	return l
}()

func ldPortByName(name string) (uint16, bool) {
	for _, n := range ldPortNames {
		if n.name == name {
			return n.port, true
		}
	}
	return 0, false
}

// ldParsePort reads a port number (0..65535) or a port name.
func ldParsePort(s string) (uint16, error) {
	if s == "" {
		return 0, fmt.Errorf("missing port")
	}
	if ldAllDigits(s) {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n > 65535 {
			return 0, fmt.Errorf("port %s is out of range 0..65535", ldClip(s))
		}
		return uint16(n), nil
	}
	if p, ok := ldPortByName(s); ok {
		return p, nil
	}
	if p, ok := ldServiceDefaultPort[s]; ok {
		return 0, fmt.Errorf("unknown port name %q (the service %s is port %d)", s, s, p)
	}
	return 0, fmt.Errorf("unknown port name %q%s", ldClip(s), didYouMean(s, ldPortNameList))
}

func ldAllDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ldClip shortens what a message quotes from the input.
func ldClip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// ldShow is ldClip for text a message shows bare: quoted and escaped when
// it holds anything unprintable.
func ldShow(s string) string {
	c := ldClip(s)
	for _, r := range c {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(c)
		}
	}
	return c
}

// ldHost is an address or a host name as a config line gives it.
type ldHost struct {
	addr netip.Addr
	name string
}

func (h ldHost) String() string { return ldHostPort(h.name, h.addr, 0) }

// ldHostPort renders host:port as ldirectord writes it, with IPv6 in
// brackets, and the host alone when port is 0.
func ldHostPort(name string, addr netip.Addr, port uint16) string {
	h := name
	if h == "" {
		switch {
		case addr.Is6():
			h = "[" + addr.String() + "]"
		case addr.IsValid():
			h = addr.String()
		default:
			h = "?"
		}
	}
	if port == 0 {
		return h
	}
	return h + ":" + strconv.Itoa(int(port))
}

// ldParseHost reads an IPv4 address or host name (six false), or a bracketed
// IPv6 address or host name (six true). what names the directive for
// messages ("real", "virtual6").
func ldParseHost(s string, six bool, what string) (ldHost, error) {
	switch {
	case s == "":
		return ldHost{}, fmt.Errorf("%s: missing address", what)
	case strings.HasPrefix(s, "["):
		inner, ok := strings.CutSuffix(s[1:], "]")
		a, err := netip.ParseAddr(inner)
		if !ok || err != nil || !a.Is6() || a.Zone() != "" {
			return ldHost{}, fmt.Errorf("%s: bad IPv6 address %q", what, ldClip(s))
		}
		if !six {
			return ldHost{}, fmt.Errorf("%s: %s is an IPv6 address; use %s6", what, s, what)
		}
		return ldHost{addr: a}, nil
	case strings.Contains(s, ":"):
		if _, err := netip.ParseAddr(s); err == nil {
			return ldHost{}, fmt.Errorf("%s: IPv6 address %s needs brackets: [%s]", what, ldShow(s), ldShow(s))
		}
		return ldHost{}, fmt.Errorf("%s: bad address %q", what, ldClip(s))
	case strings.Trim(s, "0123456789.") == "":
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return ldHost{}, fmt.Errorf("%s: bad IPv4 address %q", what, ldClip(s))
		}
		if six {
			base := strings.TrimSuffix(what, "6")
			return ldHost{}, fmt.Errorf("%s: %s is an IPv4 address; use %s", what, s, base)
		}
		return ldHost{addr: a}, nil
	case !ldHostnameOK(s):
		return ldHost{}, fmt.Errorf("%s: bad host name %q", what, ldClip(s))
	}
	return ldHost{name: strings.ToLower(s)}, nil
}

// ldHostnameOK accepts DNS names: labels of letters, digits, '-' and '_'
// (some resolvers allow it), not starting or ending with '-'.
func ldHostnameOK(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ldSplitHostPort splits "host:port", "[v6]:port", "host" or "[v6]".
func ldSplitHostPort(s string) (host, port string, hasPort bool) {
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i >= 0 {
			rest := s[i+1:]
			if p, ok := strings.CutPrefix(rest, ":"); ok {
				return s[:i+1], p, true
			}
			if rest == "" {
				return s, "", false
			}
		}
		return s, "", false // ldParseHost reports it
	}
	if strings.Count(s, ":") != 1 {
		return s, "", false
	}
	h, p, _ := strings.Cut(s, ":")
	return h, p, true
}

// ldMaxRange bounds how many real servers one range line may expand to.
const ldMaxRange = 4096

// ldRealSpec is the address part of a real line: one host, or an IPv4
// range, and a port (0 when not written).
type ldRealSpec struct {
	hosts    []ldHost
	rangeEnd string // a range given by host names: its last host
	port     uint16
}

// ldParseRealSpec reads "host[->host][:port]" of a real or real6 line.
func ldParseRealSpec(s string, six bool, what string) (ldRealSpec, error) {
	var spec ldRealSpec
	first, last, isRange := strings.Cut(s, "->")
	tail := first
	if isRange {
		tail = last
	}
	h, p, hasPort := ldSplitHostPort(tail)
	if hasPort {
		port, err := ldParsePort(p)
		if err != nil {
			return spec, fmt.Errorf("%s: %v", what, err)
		}
		spec.port = port
	}
	if !isRange {
		host, err := ldParseHost(h, six, what)
		if err != nil {
			return spec, err
		}
		spec.hosts = []ldHost{host}
		return spec, nil
	}
	if six {
		return spec, fmt.Errorf("%s: address ranges are IPv4 only", what)
	}
	if _, _, ok := ldSplitHostPort(first); ok {
		return spec, fmt.Errorf("%s: the port goes after the range: first->last:port", what)
	}
	lo, err := ldParseHost(first, false, what)
	if err != nil {
		return spec, err
	}
	hi, err := ldParseHost(h, false, what)
	if err != nil {
		return spec, err
	}
	if !lo.addr.IsValid() || !hi.addr.IsValid() {
		// Names resolve when the service starts; the range is expanded
		// then.
		spec.hosts = []ldHost{{name: lo.String()}}
		spec.rangeEnd = hi.String()
		return spec, nil
	}
	if hi.addr.Less(lo.addr) {
		return spec, fmt.Errorf("%s: range %s->%s runs backwards", what, lo, hi)
	}
	for a := lo.addr; ; a = a.Next() {
		if len(spec.hosts) == ldMaxRange {
			return ldRealSpec{}, fmt.Errorf("%s: range %s->%s has more than %d addresses", what, lo, hi, ldMaxRange)
		}
		spec.hosts = append(spec.hosts, ldHost{addr: a})
		if a == hi.addr {
			break
		}
	}
	return spec, nil
}

// ldTok is a word of a real line after the address: bare, quoted, or a
// comma.
type ldTok struct {
	text   string
	quoted bool
}

// ldTokens splits the flags of a real line. A double-quoted string is one
// token (a backslash keeps a quote inside it, both kept as written, as
// ldirectord's greedy match does); a comma between words is a token of its
// own.
func ldTokens(s string) ([]ldTok, error) {
	var toks []ldTok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == ',':
			toks = append(toks, ldTok{text: ","})
			i++
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
			}
			if j >= len(s) {
				return toks, fmt.Errorf("unterminated quote in %s", ldShow(s[i:]))
			}
			toks = append(toks, ldTok{text: s[i+1 : j], quoted: true})
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != ',' && s[j] != '"' {
				j++
			}
			toks = append(toks, ldTok{text: s[i:j]})
			i = j
		}
	}
	return toks, nil
}

var ldMethods = []string{"gate", "masq", "ipip"}

// ldRealFlags reads "gate|masq|ipip [weight] ["request", "receive"]
// [l:N] [u:N]" into r. ldirectord takes any weight and leaves the check to
// ipvsadm, which allows 0..65535 (releases since 2024 allow up to INT_MAX,
// as the kernel does); hbgo keeps the classic limit so a file stays valid
// for both.
func ldRealFlags(s string, r *Real) error {
	toks, err := ldTokens(s)
	if err != nil {
		return err
	}
	if len(toks) == 0 || toks[0].quoted || toks[0].text == "," {
		return fmt.Errorf("missing forwarding method (gate, masq or ipip)")
	}
	m := toks[0].text
	if !ldIn(m, ldMethods) {
		return fmt.Errorf("unknown forwarding method %q, want gate, masq or ipip%s", ldClip(m), didYouMean(m, ldMethods))
	}
	r.Method, r.Weight = m, 1
	toks = toks[1:]
	if len(toks) > 0 && !toks[0].quoted {
		w := toks[0].text
		if ldAllDigits(strings.TrimPrefix(w, "-")) {
			n, err := strconv.Atoi(w)
			if err != nil || n < 0 || n > 65535 {
				return fmt.Errorf("weight %s is out of range 0..65535", ldClip(w))
			}
			r.Weight = n
			toks = toks[1:]
		}
	}
	if len(toks) > 0 && toks[0].quoted {
		req := toks[0].text
		toks = toks[1:]
		if len(toks) > 0 && toks[0].text == "," && !toks[0].quoted {
			toks = toks[1:]
		}
		if len(toks) == 0 || !toks[0].quoted {
			return fmt.Errorf("request %q needs a receive string after it: \"request\", \"receive\"", ldClip(req))
		}
		r.Request, r.Receive = req, toks[0].text
		toks = toks[1:]
	}
	var seenL, seenU bool
	for len(toks) > 0 {
		t := toks[0]
		k, n, ok := strings.Cut(t.text, ":")
		if t.quoted || !ok || (k != "l" && k != "u") {
			return fmt.Errorf("unexpected %q in real server line", ldClip(t.text))
		}
		v, err := strconv.Atoi(n)
		if err != nil || !ldAllDigits(n) || v > 1<<31-1 {
			return fmt.Errorf("connection threshold %s: want a number 0..2147483647", ldShow(t.text))
		}
		if k == "l" {
			if seenL {
				return fmt.Errorf("lower threshold given twice")
			}
			seenL, r.LowerThreshold = true, v
		} else {
			if seenU {
				return fmt.Errorf("upper threshold given twice")
			}
			seenU, r.UpperThreshold = true, v
		}
		toks = toks[1:]
	}
	return nil
}

func ldIn(s string, list []string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
