package conf

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ldirectord.cf syntax, as ldirectord 4.12's read_config reads it:
//
//   - one "directive = value" a line; global directives start at column 0;
//   - "virtual = ..." (or virtual6) at column 0 opens a section, and the
//     lines after it that are indented by at least 4 columns (a tab counts
//     as 4) belong to it;
//   - a line starting with '#' (after blanks) is a comment and does not end
//     a section; the first other line that is not indented enough ends it,
//     a blank line included. hbgo reports an indented line after such a
//     blank line, where ldirectord would fail on an "Unknown command".
//
// hbgo also drops a '#' comment at the end of a line (outside double
// quotes), which ldirectord does inside sections and not outside, and
// trims blanks after a value, which ldirectord keeps and then refuses.

// ParseLdirectord reads an ldirectord.cf. It always returns a
// configuration, holding ldirectord's defaults where the file is silent or
// wrong, and records every problem in ds with its line.
func ParseLdirectord(file string, data []byte, ds *Diags) *LdirectordConfig {
	p := &ldParser{file: file, ds: ds, c: NewLdirectordConfig(file), ids: map[string]*Virtual{}}
	start := len(*ds)
	for i, raw := range bytes.Split(data, []byte("\n")) {
		p.line(i+1, strings.TrimSuffix(string(raw), "\r"))
	}
	p.endVirtual()
	p.finish()
	(*ds)[start:].Sort()
	return p.c
}

type ldParser struct {
	file string
	ds   *Diags
	c    *LdirectordConfig
	v    *Virtual // the open section, nil at top level
	vOK  bool     // the open section's address is valid
	gap  int      // a blank line inside the open section, 0 if none
	ids  map[string]*Virtual
	// reals maps the open section's real servers to their lines.
	reals map[string]int
}

func (p *ldParser) errorf(line int, format string, args ...any) {
	p.ds.Errorf(p.file, line, format, args...)
}

func (p *ldParser) warnf(line int, format string, args ...any) {
	p.ds.Warnf(p.file, line, format, args...)
}

// ldKV is one directive line.
type ldKV struct {
	num int
	key string
	val string
	eq  bool // an '=' follows the key
}

func (p *ldParser) line(num int, text string) {
	if strings.HasPrefix(strings.TrimLeft(text, " \t"), "#") {
		return
	}
	text = strings.TrimRight(ldStripComment(text), " \t")
	if text == "" {
		if p.v != nil && p.gap == 0 {
			p.gap = num
		}
		return
	}
	body := strings.TrimLeft(text, " \t")
	indent := 0
	for _, c := range text[:len(text)-len(body)] {
		if c == '\t' {
			indent += 4
		} else {
			indent++
		}
	}
	kv := ldSplitKV(num, body)
	if indent == 0 {
		p.endVirtual()
		p.global(kv)
		return
	}
	if p.v == nil {
		p.errorf(num, "indented line outside a virtual section (virtual lines start at column 0)")
		return
	}
	if p.gap != 0 {
		p.errorf(num, "blank line %d ends the virtual section of line %d; remove it or make it a comment", p.gap, p.v.Line)
		p.gap = 0
	}
	if indent < 4 {
		p.errorf(num, "a line of a virtual section must be indented by at least 4 spaces or a tab")
	}
	p.virtual(kv)
}

// ldStripComment drops a '#' comment that is not inside double quotes.
func ldStripComment(s string) string {
	in := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if in {
				i++
			}
		case '"':
			in = !in
		case '#':
			if !in {
				return s[:i]
			}
		}
	}
	return s
}

func ldSplitKV(num int, s string) ldKV {
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
		i++
	}
	kv := ldKV{num: num, key: s[:i]}
	rest := strings.TrimLeft(s[i:], " \t")
	if v, ok := strings.CutPrefix(rest, "="); ok {
		kv.eq, kv.val = true, strings.TrimSpace(v)
	} else {
		kv.val = rest
	}
	return kv
}

// Where a directive may appear.
type ldScope uint8

const (
	ldGlobal ldScope = 1 << iota
	ldSection
	ldBoth = ldGlobal | ldSection
)

type ldDirective struct {
	scope ldScope
	multi bool // may repeat (real, execute)
	fn    func(p *ldParser, kv ldKV)
}

var ldDirectives map[string]ldDirective

var ldDirectiveNames []string

func init() {
	ldDirectives = map[string]ldDirective{
		// Both scopes: a section's value overrides the global one.
		"checktimeout":     {scope: ldBoth, fn: (*ldParser).timeout},
		"negotiatetimeout": {scope: ldBoth, fn: (*ldParser).timeout},
		"connecttimeout":   {scope: ldBoth, fn: (*ldParser).replaced},
		"checkinterval":    {scope: ldBoth, fn: (*ldParser).timeout},
		"checkcount":       {scope: ldBoth, fn: (*ldParser).count},
		"failurecount":     {scope: ldBoth, fn: (*ldParser).count},
		"fallback":         {scope: ldBoth, fn: (*ldParser).fallback},
		"fallback6":        {scope: ldBoth, fn: (*ldParser).fallback},
		"fallbackcommand":  {scope: ldBoth, fn: (*ldParser).fallbackCommand},
		"quiescent":        {scope: ldBoth, fn: (*ldParser).yesNoBoth},
		"cleanstop":        {scope: ldBoth, fn: (*ldParser).yesNoBoth},
		"emailalert":       {scope: ldBoth, fn: (*ldParser).emailAlert},
		"emailalertfreq":   {scope: ldBoth, fn: (*ldParser).emailAlertFreq},
		"emailalertstatus": {scope: ldBoth, fn: (*ldParser).emailAlertStatus},
		"smtp":             {scope: ldBoth, fn: (*ldParser).smtp},

		// Global only.
		"virtual":        {scope: ldGlobal, multi: true},
		"virtual6":       {scope: ldGlobal, multi: true},
		"autoreload":     {scope: ldGlobal, fn: (*ldParser).yesNoGlobal},
		"fork":           {scope: ldGlobal, fn: (*ldParser).yesNoGlobal},
		"supervised":     {scope: ldGlobal, fn: (*ldParser).yesNoGlobal},
		"readdquiescent": {scope: ldGlobal, fn: (*ldParser).yesNoGlobal},
		"callback":       {scope: ldGlobal, fn: (*ldParser).callback},
		"logfile":        {scope: ldGlobal, fn: (*ldParser).logfile},
		"execute":        {scope: ldGlobal, multi: true, fn: (*ldParser).execute},
		"emailalertfrom": {scope: ldGlobal, fn: (*ldParser).emailAlertFrom},
		"maintenancedir": {scope: ldGlobal, fn: (*ldParser).maintenanceDir},
		"timeout":        {scope: ldGlobal, fn: (*ldParser).replaced},

		// Sections only.
		"real":         {scope: ldSection, multi: true, fn: (*ldParser).real},
		"real6":        {scope: ldSection, multi: true, fn: (*ldParser).real},
		"request":      {scope: ldSection, fn: (*ldParser).quotedField},
		"receive":      {scope: ldSection, fn: (*ldParser).quotedField},
		"login":        {scope: ldSection, fn: (*ldParser).quotedField},
		"passwd":       {scope: ldSection, fn: (*ldParser).quotedField},
		"database":     {scope: ldSection, fn: (*ldParser).quotedField},
		"secret":       {scope: ldSection, fn: (*ldParser).quotedField},
		"load":         {scope: ldSection, fn: (*ldParser).quotedField},
		"checktype":    {scope: ldSection, fn: (*ldParser).checkType},
		"checkcommand": {scope: ldSection, fn: (*ldParser).textField},
		"checkport":    {scope: ldSection, fn: (*ldParser).checkPort},
		"scheduler":    {scope: ldSection, fn: (*ldParser).scheduler},
		"schedflags":   {scope: ldSection, fn: (*ldParser).schedFlags},
		"persistent":   {scope: ldSection, fn: (*ldParser).persistent},
		"netmask":      {scope: ldSection, fn: (*ldParser).netmask},
		"protocol":     {scope: ldSection, fn: (*ldParser).protocol},
		"ops":          {scope: ldSection, fn: (*ldParser).ops},
		"service":      {scope: ldSection, fn: (*ldParser).service},
		"httpmethod":   {scope: ldSection, fn: (*ldParser).httpMethod},
		"virtualhost":  {scope: ldSection, fn: (*ldParser).textField},
		"monitorfile":  {scope: ldSection, fn: (*ldParser).textField},
		"servicename":  {scope: ldSection, fn: (*ldParser).textField},
		"comment":      {scope: ldSection, fn: (*ldParser).textField},
	}
	for k := range ldDirectives {
		ldDirectiveNames = append(ldDirectiveNames, k)
	}
	slices.Sort(ldDirectiveNames)
}

// lookup finds the directive of kv for scope, reporting what is wrong
// with the line otherwise.
func (p *ldParser) lookup(kv ldKV, scope ldScope) (ldDirective, bool) {
	d, known := ldDirectives[kv.key]
	switch {
	case kv.key == "":
		p.errorf(kv.num, "missing directive name before =")
		return d, false
	case !known:
		p.errorf(kv.num, "unknown directive %s%s", ldShow(kv.key), didYouMean(kv.key, ldDirectiveNames))
		return d, false
	case d.scope&scope == 0 && scope == ldGlobal:
		p.errorf(kv.num, "%s belongs inside a virtual section (indent it under a virtual line)", kv.key)
		return d, false
	case d.scope&scope == 0 && (kv.key == "virtual" || kv.key == "virtual6"):
		p.errorf(kv.num, "%s starts a new section and must not be indented", kv.key)
		return d, false
	case d.scope&scope == 0:
		p.errorf(kv.num, "%s is a global directive and cannot be inside the virtual section of line %d", kv.key, p.v.Line)
		return d, false
	case !kv.eq && kv.key == "supervised" && kv.val == "":
		p.warnf(kv.num, "bare supervised: write supervised = yes")
		p.c.Supervised = true
		p.mark(kv, d)
		return d, false
	case !kv.eq:
		p.errorf(kv.num, "%s needs = before its value: %s = ...", kv.key, kv.key)
		return d, false
	}
	p.mark(kv, d)
	return d, true
}

// mark records the directive's line and warns about a repeated one, of
// which ldirectord silently keeps the last.
func (p *ldParser) mark(kv ldKV, d ldDirective) {
	if d.multi {
		return
	}
	lines := p.c.Lines
	if p.v != nil {
		lines = p.v.Lines
	}
	if prev, ok := lines[kv.key]; ok {
		p.warnf(kv.num, "%s repeats line %d; the last value counts", kv.key, prev)
	}
	lines[kv.key] = kv.num
}

func (p *ldParser) global(kv ldKV) {
	d, ok := p.lookup(kv, ldGlobal)
	if !ok {
		return
	}
	if kv.key == "virtual" || kv.key == "virtual6" {
		p.startVirtual(kv)
		return
	}
	d.fn(p, kv)
}

func (p *ldParser) virtual(kv ldKV) {
	d, ok := p.lookup(kv, ldSection)
	if !ok {
		return
	}
	d.fn(p, kv)
}

// Values.

// quoted reads a value ldirectord wants in double quotes: everything from
// the first quote to the last, as its "(.*)" takes it.
func (p *ldParser) quoted(kv ldKV) (string, bool) {
	if !strings.HasPrefix(kv.val, `"`) {
		if kv.val == "" {
			p.errorf(kv.num, "%s needs a value in double quotes", kv.key)
		} else {
			p.errorf(kv.num, "%s value must be in double quotes: %s = \"%s\"", kv.key, kv.key, ldShow(kv.val))
		}
		return "", false
	}
	end := strings.LastIndexByte(kv.val, '"')
	if end == 0 {
		p.errorf(kv.num, "%s: unterminated quote", kv.key)
		return "", false
	}
	if rest := kv.val[end+1:]; strings.TrimSpace(rest) != "" {
		p.errorf(kv.num, "%s: unexpected %q after the closing quote", kv.key, ldClip(strings.TrimSpace(rest)))
		return "", false
	}
	s := kv.val[1:end]
	if s == "" {
		p.errorf(kv.num, "%s is empty", kv.key)
		return "", false
	}
	return s, true
}

// text reads a value that may be in double quotes.
func (p *ldParser) text(kv ldKV) (string, bool) {
	if strings.HasPrefix(kv.val, `"`) {
		return p.quoted(kv)
	}
	if kv.val == "" {
		p.errorf(kv.num, "%s needs a value", kv.key)
		return "", false
	}
	return kv.val, true
}

func (p *ldParser) yesNo(kv ldKV) (bool, bool) {
	switch kv.val {
	case "yes":
		return true, true
	case "no":
		return false, true
	}
	p.errorf(kv.num, "%s must be yes or no, not %q", kv.key, ldClip(kv.val))
	return false, false
}

// duration reads a time value: whole seconds as ldirectord takes them, or
// any form ParseDuration reads; it must be positive unless zeroOK.
func (p *ldParser) duration(kv ldKV, zeroOK bool) (time.Duration, bool) {
	d, err := ParseDuration(kv.val)
	if err != nil {
		p.errorf(kv.num, "%s: %v", kv.key, ldClipErr(err))
		return 0, false
	}
	if d == 0 && !zeroOK {
		p.errorf(kv.num, "%s must be more than 0", kv.key)
		return 0, false
	}
	return d, true
}

func ldClipErr(err error) string {
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// Directives of both scopes.

func (p *ldParser) timeout(kv ldKV) {
	d, ok := p.duration(kv, false)
	if !ok {
		return
	}
	c, v := p.c, p.v
	switch {
	case kv.key == "checktimeout" && v != nil:
		v.CheckTimeout = d
	case kv.key == "checktimeout":
		c.CheckTimeout = d
	case kv.key == "negotiatetimeout" && v != nil:
		v.NegotiateTimeout = d
	case kv.key == "negotiatetimeout":
		c.NegotiateTimeout = d
	case v != nil:
		v.CheckInterval = d
	default:
		c.CheckInterval = d
	}
}

func (p *ldParser) replaced(kv ldKV) {
	if kv.key == "timeout" {
		p.errorf(kv.num, "timeout is no longer accepted; use checktimeout and negotiatetimeout")
		return
	}
	p.errorf(kv.num, "connecttimeout is no longer accepted; use negotiatetimeout")
}

func (p *ldParser) count(kv ldKV) {
	n, err := strconv.Atoi(kv.val)
	if err != nil || n < 1 || !ldAllDigits(kv.val) {
		p.errorf(kv.num, "%s must be a whole number of at least 1, not %q", kv.key, ldClip(kv.val))
		return
	}
	if kv.key == "checkcount" {
		p.warnf(kv.num, "checkcount is deprecated; use failurecount")
	}
	switch {
	case kv.key == "checkcount" && p.v != nil:
		p.v.CheckCount = n
	case kv.key == "checkcount":
		p.c.CheckCount = n
	case p.v != nil:
		p.v.FailureCount = n
	default:
		p.c.FailureCount = n
	}
}

func (p *ldParser) fallback(kv ldKV) {
	six := kv.key == "fallback6"
	if p.v != nil && six != p.v.IPv6 {
		want := "fallback"
		if p.v.IPv6 {
			want = "fallback6"
		}
		p.errorf(kv.num, "%s in a %s section; use %s", kv.key, ldSectionKind(p.v), want)
		return
	}
	f, ok := p.parseFallback(kv, six)
	if !ok {
		return
	}
	switch {
	case p.v != nil:
		p.v.Fallback = f
	case six:
		p.c.Fallback6 = f
	default:
		p.c.Fallback = f
	}
}

func ldSectionKind(v *Virtual) string {
	if v.IPv6 {
		return "virtual6"
	}
	return "virtual"
}

// parseFallback reads "host[:port] [gate|masq|ipip]".
func (p *ldParser) parseFallback(kv ldKV, six bool) (*Real, bool) {
	fields := strings.Fields(kv.val)
	if len(fields) == 0 || len(fields) > 2 {
		p.errorf(kv.num, "%s wants host[:port] [gate|masq|ipip], not %q", kv.key, ldClip(kv.val))
		return nil, false
	}
	h, port, hasPort := ldSplitHostPort(fields[0])
	host, err := ldParseHost(h, six, kv.key)
	if err != nil {
		p.errorf(kv.num, "%v", err)
		return nil, false
	}
	f := &Real{Line: kv.num, Host: host.name, Method: "gate", Weight: 1}
	var pn uint16
	if hasPort {
		if pn, err = ldParsePort(port); err != nil {
			p.errorf(kv.num, "%s: %v", kv.key, err)
			return nil, false
		}
	}
	f.Addr = netip.AddrPortFrom(host.addr, pn)
	if len(fields) == 2 {
		m := fields[1]
		if !ldIn(m, ldMethods) {
			p.errorf(kv.num, "%s: unknown forwarding method %q, want gate, masq or ipip%s", kv.key, ldClip(m), didYouMean(m, ldMethods))
			return nil, false
		}
		f.Method = m
	}
	return f, true
}

func (p *ldParser) fallbackCommand(kv ldKV) {
	s, ok := p.text(kv)
	if !ok {
		return
	}
	if p.v != nil {
		p.v.FallbackCommand = s
	} else {
		p.c.FallbackCommand = s
	}
}

func (p *ldParser) yesNoBoth(kv ldKV) {
	b, ok := p.yesNo(kv)
	if !ok {
		return
	}
	switch {
	case kv.key == "quiescent" && p.v != nil:
		p.v.Quiescent = &b
	case kv.key == "quiescent":
		p.c.Quiescent = b
	case p.v != nil:
		p.v.CleanStop = &b
	default:
		p.c.CleanStop = b
	}
}

func (p *ldParser) emailAlert(kv ldKV) {
	s := kv.val
	if strings.HasPrefix(s, `"`) {
		var ok bool
		if s, ok = p.quoted(kv); !ok {
			return
		}
	}
	var addrs []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			p.errorf(kv.num, "emailalert: empty address in %q", ldClip(kv.val))
			return
		}
		addrs = append(addrs, a)
	}
	if p.v != nil {
		p.v.EmailAlert = addrs
	} else {
		p.c.EmailAlert = addrs
	}
}

func (p *ldParser) emailAlertFreq(kv ldKV) {
	d, ok := p.duration(kv, true)
	if !ok {
		return
	}
	if p.v != nil {
		p.v.EmailAlertFreq = &d
	} else {
		p.c.EmailAlertFreq = d
	}
}

func (p *ldParser) emailAlertStatus(kv ldKV) {
	var s AlertStatus
	var none, other bool
	names := []string{"all", "none", "starting", "running", "stopping", "reloading"}
	for _, w := range strings.Split(kv.val, ",") {
		w = strings.TrimSpace(w)
		switch w {
		case "none":
			none = true
			continue
		case "all":
			s = AlertAll
		case "starting":
			s |= AlertStarting
		case "running":
			s |= AlertRunning
		case "stopping":
			s |= AlertStopping
		case "reloading":
			s |= AlertReloading
		default:
			p.errorf(kv.num, "emailalertstatus: unknown state %q, want all, none or a list of starting, running, stopping, reloading%s", ldClip(w), didYouMean(w, names))
			return
		}
		other = true
	}
	if none && other {
		p.errorf(kv.num, "emailalertstatus: none cannot be combined with other states")
		return
	}
	if p.v != nil {
		p.v.EmailAlertStatus = &s
	} else {
		p.c.EmailAlertStatus = s
	}
}

func (p *ldParser) smtp(kv ldKV) {
	s := kv.val
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		s = a.String()
	} else if !ldHostnameOK(s) || strings.Trim(s, "0123456789.") == "" {
		p.errorf(kv.num, "smtp: bad server address %q", ldClip(kv.val))
		return
	}
	if p.v != nil {
		p.v.SMTP = s
	} else {
		p.c.SMTP = s
	}
}

// Global directives.

func (p *ldParser) yesNoGlobal(kv ldKV) {
	b, ok := p.yesNo(kv)
	if !ok {
		return
	}
	switch kv.key {
	case "autoreload":
		p.c.AutoReload = b
	case "fork":
		p.c.Fork = b
	case "supervised":
		p.c.Supervised = b
	case "readdquiescent":
		p.c.ReaddQuiescent = b
	}
}

func (p *ldParser) callback(kv ldKV) {
	if s, ok := p.quoted(kv); ok {
		p.c.Callback = s
	}
}

var ldSyslogFacilities = []string{
	"auth", "authpriv", "cron", "daemon", "ftp", "kern", "local0", "local1", "local2", "local3",
	"local4", "local5", "local6", "local7", "lpr", "mail", "news", "syslog", "user", "uucp",
}

func (p *ldParser) logfile(kv ldKV) {
	s, ok := p.quoted(kv)
	if !ok {
		return
	}
	if !strings.HasPrefix(s, "/") && !ldIn(s, ldSyslogFacilities) {
		p.errorf(kv.num, "logfile %q is neither an absolute path nor a syslog facility%s", ldClip(s), didYouMean(s, ldSyslogFacilities))
		return
	}
	p.c.LogFile, p.c.LogFileLine = s, kv.num
}

func (p *ldParser) execute(kv ldKV) {
	if s, ok := p.text(kv); ok {
		p.c.Execute = append(p.c.Execute, LdirectordInstance{Line: kv.num, Config: s})
	}
}

func (p *ldParser) emailAlertFrom(kv ldKV) {
	// Kept as written, quotes included: it is a From header.
	if kv.val == "" {
		p.errorf(kv.num, "emailalertfrom needs an address")
		return
	}
	p.c.EmailAlertFrom = kv.val
}

func (p *ldParser) maintenanceDir(kv ldKV) {
	if s, ok := p.text(kv); ok {
		p.c.MaintenanceDir = s
	}
}

// Virtual sections.

func (p *ldParser) startVirtual(kv ldKV) {
	six := kv.key == "virtual6"
	v := &Virtual{
		Line: kv.num, IPv6: six, Protocol: "tcp", Scheduler: "wrr", CheckType: "negotiate",
		CheckCommand: DefaultLdirectordCheckCommand, HTTPMethod: "GET", Netmask: 32,
		Lines: map[string]int{}, cfg: p.c,
	}
	if six {
		v.Netmask = 128
	}
	p.v, p.vOK, p.gap, p.reals = v, false, 0, map[string]int{}
	fields := strings.Fields(kv.val)
	if len(fields) > 1 {
		p.errorf(kv.num, "%s: unexpected %q after the address", kv.key, ldClip(strings.Join(fields[1:], " ")))
		return
	}
	val := strings.Join(fields, "")
	if ldAllDigits(val) {
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil || n == 0 {
			p.errorf(kv.num, "%s: firewall mark %s is out of range 1..4294967295", kv.key, ldClip(val))
			return
		}
		v.FWMark, v.Protocol, v.Service = uint32(n), "fwm", "none"
		p.vOK = true
		return
	}
	h, port, hasPort := ldSplitHostPort(val)
	host, err := ldParseHost(h, six, kv.key)
	if err != nil {
		p.errorf(kv.num, "%v", err)
		return
	}
	if !hasPort {
		p.errorf(kv.num, "%s: %s needs a port (host:port), or give a firewall mark (a number)", kv.key, ldShow(val))
		return
	}
	pn, err := ldParsePort(port)
	if err != nil {
		p.errorf(kv.num, "%s: %v", kv.key, err)
		return
	}
	v.Host, v.Addr = host.name, netip.AddrPortFrom(host.addr, pn)
	if pn == 53 {
		v.Protocol = "udp"
	}
	p.vOK = true
}

// endVirtual checks what needs the whole section and files it.
func (p *ldParser) endVirtual() {
	v := p.v
	if v == nil {
		return
	}
	p.v, p.gap = nil, 0
	if !p.vOK {
		return
	}
	if v.Service == "" {
		v.Service = ldPortService[v.Addr.Port()]
		if v.Service == "" {
			v.Service = "none"
		}
	}
	id := v.ID()
	if first, dup := p.ids[id]; dup {
		p.errorf(v.Line, "virtual service %s is already defined at line %d", id, first.Line)
		return
	}
	p.ids[id] = v
	if v.FWMark == 0 && v.Addr.Port() == 0 && v.Persistent == 0 {
		p.errorf(v.Line, "port 0 needs persistent: IPVS refuses a non-persistent service on port 0")
	}
	if l, ok := v.Lines["ops"]; ok && v.OnePacket && v.Protocol != "udp" {
		p.warnf(l, "ops applies only to protocol udp; ignored")
	}
	if _, ok := v.Lines["persistent"]; !ok && v.Lines["netmask"] != 0 {
		l := v.Lines["netmask"]
		p.warnf(l, "netmask only matters with persistent; ignored")
	}
	negotiates := v.CheckType == "negotiate" || v.CheckType == "combined"
	if negotiates {
		switch v.Service {
		case "mysql", "pgsql", "oracle":
			if v.Login == "" {
				p.warnf(v.Line, "service %s needs a login line: its check fails without one", v.Service)
			}
			if v.Request == "" {
				p.warnf(v.Line, "service %s needs a request line (an SQL query): its check fails without one", v.Service)
			}
		}
	}
	if l, ok := v.Lines["receive"]; ok && v.HTTPMethod == "HEAD" {
		p.warnf(l, "receive is not matched with httpmethod HEAD, which fetches no body")
	}
	external := v.CheckType == "external" || v.CheckType == "external-perl"
	if l, ok := v.Lines["checkcommand"]; ok && !external {
		p.warnf(l, "checkcommand is used only with checktype external or external-perl")
	}
	if _, ok := v.Lines["checkcommand"]; !ok && external {
		p.warnf(v.Lines["checktype"], "checktype %s without checkcommand runs %s: every server passes", v.CheckType, DefaultLdirectordCheckCommand)
	}
	p.c.Virtuals = append(p.c.Virtuals, v)
}

// finish runs the checks that depend on global settings, which may come
// after a section.
func (p *ldParser) finish() {
	for _, v := range p.c.Virtuals {
		f := v.EffectiveFallback()
		if len(v.Reals) == 0 && f == nil {
			p.warnf(v.Line, "virtual service %s has no real server and no fallback", v.ID())
			continue
		}
		if f == nil {
			continue
		}
		key := ldServerKey(v, f)
		for i := range v.Reals {
			r := &v.Reals[i]
			if ldServerKey(v, r) == key {
				p.warnf(f.Line, "fallback %s is also a real server of %s (line %d)", f, v.ID(), r.Line)
				break
			}
		}
	}
}

func (p *ldParser) real(kv ldKV) {
	v := p.v
	six := kv.key == "real6"
	if six != v.IPv6 {
		want := "real"
		if v.IPv6 {
			want = "real6"
		}
		p.errorf(kv.num, "%s in a %s section; use %s", kv.key, ldSectionKind(v), want)
		return
	}
	addr, flags, _ := strings.Cut(strings.ReplaceAll(kv.val, "\t", " "), " ")
	spec, err := ldParseRealSpec(addr, six, kv.key)
	if err != nil {
		p.errorf(kv.num, "%v", err)
		return
	}
	var tmpl Real
	if err := ldRealFlags(flags, &tmpl); err != nil {
		p.errorf(kv.num, "%s: %v", kv.key, err)
		return
	}
	if !p.vOK {
		return
	}
	if v.FWMark == 0 && tmpl.Method != "masq" && spec.port != 0 && spec.port != v.Addr.Port() {
		p.warnf(kv.num, "%s: port %d is ignored with %s; IPVS forwards to the service's port %d (only masq maps ports)", kv.key, spec.port, tmpl.Method, v.Addr.Port())
	}
	for _, h := range spec.hosts {
		r := tmpl
		r.Line, r.Host, r.Addr = kv.num, h.name, netip.AddrPortFrom(h.addr, spec.port)
		r.HostRangeEnd = spec.rangeEnd
		key := ldServerKey(v, &r)
		if prev, dup := p.reals[key]; dup {
			p.errorf(kv.num, "real server %s is already listed at line %d", r.String(), prev)
			continue
		}
		p.reals[key] = kv.num
		v.Reals = append(v.Reals, r)
	}
}

// ldServerKey identifies r as an IPVS destination of v.
func ldServerKey(v *Virtual, r *Real) string {
	host := r.Host
	if r.HostRangeEnd != "" {
		host += "->" + r.HostRangeEnd
	}
	return ldHostPort(host, r.Addr.Addr(), v.RealPort(r))
}

func (p *ldParser) quotedField(kv ldKV) {
	s, ok := p.quoted(kv)
	if !ok {
		return
	}
	v := p.v
	switch kv.key {
	case "request":
		v.Request = s
	case "receive":
		v.Receive = s
	case "login":
		v.Login = s
	case "passwd":
		v.Passwd = s
	case "database":
		v.Database = s
	case "secret":
		v.Secret = s
	case "load":
		v.Load = s
	}
}

func (p *ldParser) textField(kv ldKV) {
	var s string
	var ok bool
	if kv.key == "servicename" || kv.key == "comment" {
		// Free text for email alerts, taken as written.
		s, ok = kv.val, kv.val != ""
		if !ok {
			p.errorf(kv.num, "%s needs a value", kv.key)
		}
	} else {
		s, ok = p.text(kv)
	}
	if !ok {
		return
	}
	v := p.v
	switch kv.key {
	case "checkcommand":
		v.CheckCommand = s
	case "virtualhost":
		v.VirtualHost = s
	case "monitorfile":
		v.MonitorFile = s
	case "servicename":
		v.ServiceName = s
	case "comment":
		v.Comment = s
	}
}

var ldCheckTypes = []string{"connect", "negotiate", "ping", "external", "external-perl", "on", "off"}

func (p *ldParser) checkType(kv ldKV) {
	v := p.v
	if ldAllDigits(kv.val) {
		n, err := strconv.ParseInt(kv.val, 10, 32)
		if err != nil {
			p.errorf(kv.num, "checktype %s is too large", ldClip(kv.val))
			return
		}
		if n == 0 {
			p.warnf(kv.num, "checktype = 0 negotiates on every check; write checktype = negotiate")
		}
		v.CheckType, v.CheckConnects = "combined", int(n)
		return
	}
	if !ldIn(kv.val, ldCheckTypes) {
		p.errorf(kv.num, "checktype must be connect, negotiate, ping, external, external-perl, on, off or a number, not %q%s", ldClip(kv.val), didYouMean(kv.val, ldCheckTypes))
		return
	}
	v.CheckType, v.CheckConnects = kv.val, 0
}

func (p *ldParser) checkPort(kv ldKV) {
	n, err := strconv.Atoi(kv.val)
	if err != nil || !ldAllDigits(kv.val) || n < 1 || n > 65535 {
		p.errorf(kv.num, "checkport must be a port number 1..65535, not %q", ldClip(kv.val))
		return
	}
	p.v.CheckPort = uint16(n)
}

// ldSchedulers are the IPVS schedulers of current kernels.
var ldSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}

func (p *ldParser) scheduler(kv ldKV) {
	s := kv.val
	if s == "" || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz") != "" {
		p.errorf(kv.num, "scheduler %q: a scheduler name is lowercase letters only%s", ldClip(s), didYouMean(s, ldSchedulers))
		return
	}
	if !ldIn(s, ldSchedulers) {
		// ldirectord accepts any name and leaves it to the kernel; a near
		// miss of a known one is a typo, anything else may be a module
		// this list does not know yet.
		if hint := didYouMean(s, ldSchedulers); hint != "" {
			p.errorf(kv.num, "unknown scheduler %s%s", s, hint)
			return
		}
		p.warnf(kv.num, "unknown scheduler %s: the kernel must provide ip_vs_%s", s, s)
	}
	p.v.Scheduler = s
}

var ldSchedFlags = []string{"flag-1", "flag-2", "flag-3", "sh-fallback", "sh-port", "mh-fallback", "mh-port"}

func (p *ldParser) schedFlags(kv ldKV) {
	var flags []string
	for _, f := range strings.Split(kv.val, ",") {
		f = strings.TrimSpace(f)
		if !ldIn(f, ldSchedFlags) {
			p.errorf(kv.num, "schedflags: unknown flag %q%s", ldClip(f), didYouMean(f, ldSchedFlags))
			return
		}
		flags = append(flags, f)
	}
	p.v.SchedFlags = flags
}

// ldMaxPersistent is ipvsadm's limit on a persistence timeout: 31 days.
const ldMaxPersistent = 31 * 24 * time.Hour

func (p *ldParser) persistent(kv ldKV) {
	var d time.Duration
	if ldAllDigits(kv.val) {
		n, err := strconv.ParseInt(kv.val, 10, 64)
		if err != nil || n > int64(ldMaxPersistent/time.Second) {
			p.errorf(kv.num, "persistent %s is longer than 31 days", ldClip(kv.val))
			return
		}
		d = time.Duration(n) * time.Second
	} else {
		var err error
		if d, err = ParseDuration(kv.val); err != nil {
			p.errorf(kv.num, "persistent: %v", ldClipErr(err))
			return
		}
	}
	if d < time.Second || d%time.Second != 0 {
		p.errorf(kv.num, "persistent must be a whole number of seconds, at least 1, not %q", ldClip(kv.val))
		return
	}
	p.v.Persistent = d
}

func (p *ldParser) netmask(kv ldKV) {
	v := p.v
	if v.IPv6 {
		n, err := strconv.Atoi(kv.val)
		if err != nil || !ldAllDigits(kv.val) || n < 1 || n > 128 {
			p.errorf(kv.num, "netmask of an IPv6 service must be a prefix length 1..128, not %q", ldClip(kv.val))
			return
		}
		v.Netmask = n
		return
	}
	a, err := netip.ParseAddr(kv.val)
	if err != nil || !a.Is4() {
		p.errorf(kv.num, "netmask must be a dotted quad like 255.255.255.0, not %q", ldClip(kv.val))
		return
	}
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for m&(1<<31) != 0 {
		ones++
		m <<= 1
	}
	if m != 0 {
		p.errorf(kv.num, "netmask %s is not contiguous", kv.val)
		return
	}
	v.Netmask = ones
}

func (p *ldParser) protocol(kv ldKV) {
	v := p.v
	switch {
	case v.FWMark != 0 && kv.val != "fwm":
		p.errorf(kv.num, "protocol must be fwm for a firewall-mark service, not %q", ldClip(kv.val))
	case v.FWMark == 0 && p.vOK && kv.val == "fwm":
		p.errorf(kv.num, "protocol fwm needs a firewall mark (virtual = a number), not an address")
	case kv.val == "tcp" || kv.val == "udp":
		v.Protocol = kv.val
	case kv.val != "fwm":
		p.errorf(kv.num, "protocol must be tcp, udp or fwm, not %q%s", ldClip(kv.val), didYouMean(kv.val, []string{"tcp", "udp", "fwm"}))
	}
}

func (p *ldParser) ops(kv ldKV) {
	if b, ok := p.yesNo(kv); ok {
		p.v.OnePacket = b
	}
}

func (p *ldParser) service(kv ldKV) {
	if !ldIn(kv.val, ldServices) {
		p.errorf(kv.num, "unknown service %q%s", ldClip(kv.val), didYouMean(kv.val, ldServices))
		return
	}
	p.v.Service = kv.val
}

func (p *ldParser) httpMethod(kv ldKV) {
	m := strings.ToUpper(kv.val)
	if m != "GET" && m != "HEAD" {
		p.errorf(kv.num, "httpmethod must be GET or HEAD, not %q", ldClip(kv.val))
		return
	}
	p.v.HTTPMethod = m
}
