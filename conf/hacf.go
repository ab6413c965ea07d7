package conf

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseHACF reads ha.cf. It always returns a configuration, filled with
// defaults where the file is silent, and reports every problem to ds as
// file:line; it never stops at the first one.
func ParseHACF(file string, data []byte, ds *Diags) *HAConfig {
	if ds == nil {
		ds = new(Diags)
	}
	p := &hacfParser{
		file: file,
		c:    NewHAConfig(file),
		ds:   ds,
		seen: map[string]int{},
	}
	for _, l := range SplitLines(file, data, ds) {
		p.line(l)
	}
	p.finish()
	return p.c
}

// hacfParser carries the state that makes ha.cf order-dependent.
type hacfParser struct {
	file string
	c    *HAConfig
	ds   *Diags
	seen map[string]int // single-valued directive -> line that last set it

	portUsedAt int // first bcast/ucast line, which took the udpport then in force
	baudUsedAt int // first serial line, which took the baud then in force

	nodeLines    map[string]int // lower-cased name -> line
	witnessLines map[string]int
	pingLines    map[string]int // host -> line
	mediaLines   map[Medium]int // medium, Line and settings zeroed -> line
}

// hacfDirective describes one ha.cf keyword: its arguments (the last may
// repeat when it ends in "..."), and whether a second line replaces the first.
type hacfDirective struct {
	args   []string
	min    int
	single bool
	fn     func(p *hacfParser, l Line, args []string)
}

// hacfAliases maps old spellings to the directive that took their name.
var hacfAliases = map[string]string{
	"udp":           "bcast",
	"nice_failback": "auto_failback",
	"pacemaker":     "crm",
}

var hacfDirectives map[string]hacfDirective

// hacfNames lists every directive, for "did you mean" hints; hacfLongest
// is the length of the longest.
var (
	hacfNames   []string
	hacfLongest int
)

func init() {
	d := func(args string, min int, single bool, fn func(*hacfParser, Line, []string)) hacfDirective {
		return hacfDirective{args: strings.Fields(args), min: min, single: single, fn: fn}
	}
	hacfDirectives = map[string]hacfDirective{
		// Timing.
		"keepalive":        d("TIME", 1, true, (*hacfParser).timing),
		"deadtime":         d("TIME", 1, true, (*hacfParser).timing),
		"warntime":         d("TIME", 1, true, (*hacfParser).timing),
		"initdead":         d("TIME", 1, true, (*hacfParser).timing),
		"deadping":         d("TIME", 1, true, (*hacfParser).timing),
		"conn_logd_time":   d("TIME", 1, true, (*hacfParser).timing),
		"max_rexmit_delay": d("TIME", 1, true, (*hacfParser).timing),

		// Media and what they take from the lines before them.
		"udpport": d("PORT", 1, false, (*hacfParser).udpport),
		"baud":    d("RATE", 1, false, (*hacfParser).baud),
		"bcast":   d("IFACE...", 1, false, (*hacfParser).bcast),
		"udp":     d("IFACE...", 1, false, (*hacfParser).bcast),
		"mcast":   d("IFACE GROUP PORT TTL LOOP", 5, false, (*hacfParser).mcast),
		"mcast6":  d("IFACE GROUP PORT HOPS LOOP", 5, false, (*hacfParser).mcast),
		"ucast":   d("IFACE PEER", 2, false, (*hacfParser).ucast),
		"ucast6":  d("IFACE PEER", 2, false, (*hacfParser).ucast),
		"serial":  d("DEVICE...", 1, false, (*hacfParser).serial),

		// Members.
		"node":     d("NAME...", 1, false, (*hacfParser).node),
		"witness":  d("NAME...", 1, false, (*hacfParser).witness),
		"autojoin": d("none|other|any", 1, true, (*hacfParser).word),

		// Failover policy and connectivity.
		"auto_failback": d("on|off|legacy", 1, true, (*hacfParser).autoFailback),
		"nice_failback": d("on|off", 1, true, (*hacfParser).autoFailback),
		"ping":          d("HOST...", 1, false, (*hacfParser).ping),
		"ping6":         d("HOST...", 1, false, (*hacfParser).ping),
		"ping_group":    d("NAME HOST...", 2, false, (*hacfParser).pingGroup),
		"hbaping":       d("CARD...", 1, false, (*hacfParser).replaced),

		// Logging and process.
		"logfile":      d("FILE", 1, true, (*hacfParser).word),
		"debugfile":    d("FILE", 1, true, (*hacfParser).word),
		"logfacility":  d("FACILITY", 1, true, (*hacfParser).word),
		"debug":        d("LEVEL", 1, true, (*hacfParser).number),
		"watchdog":     d("DEVICE", 1, true, (*hacfParser).word),
		"realtime":     d("on|off", 1, true, (*hacfParser).boolean),
		"rtprio":       d("PRIORITY", 1, true, (*hacfParser).number),
		"coredumps":    d("on|off", 1, true, (*hacfParser).boolean),
		"coreroot":     d("DIR", 1, true, (*hacfParser).word),
		"log_badpack":  d("on|off", 1, true, (*hacfParser).boolean),
		"syslogmsgfmt": d("on|off", 1, true, (*hacfParser).boolean),
		"uuidfrom":     d("file|nodename", 1, true, (*hacfParser).word),
		"hbgenmethod":  d("file|time", 1, true, (*hacfParser).word),
		"hopfudge":     d("COUNT", 1, true, (*hacfParser).number),
		"cluster":      d("NAME", 1, true, (*hacfParser).word),

		// Replaced by hbgo: accepted, with a warning naming the replacement.
		"use_logd":                d("on|off", 1, true, (*hacfParser).boolean),
		"msgfmt":                  d("classic|netstring", 1, true, (*hacfParser).word),
		"compression":             d("zlib|bz2", 1, true, (*hacfParser).word),
		"compression_threshold":   d("KB", 1, true, (*hacfParser).number),
		"traditional_compression": d("on|off", 1, true, (*hacfParser).boolean),
		"memreserve":              d("KB", 1, true, (*hacfParser).number),
		"crm":                     d("on|off|respawn|minimal|manual|ccm-only|valgrind", 1, true, (*hacfParser).crm),
		"pacemaker":               d("on|off|respawn|minimal|manual|ccm-only|valgrind", 1, true, (*hacfParser).crm),
		"respawn":                 d("USER PROGRAM ARGS...", 2, false, (*hacfParser).respawn),
		"failfast":                d("USER PROGRAM ARGS...", 2, false, (*hacfParser).replaced),
		"apiauth":                 d("CLIENT IDS...", 2, false, (*hacfParser).apiauth),
		"stonith":                 d("TYPE FILE", 2, false, (*hacfParser).replaced),
		"stonith_host":            d("HOST TYPE PARAMS...", 2, false, (*hacfParser).replaced),
		"use_apphbd":              d("on|off", 1, true, (*hacfParser).boolean),
		"env":                     d("NAME=VALUE", 1, false, (*hacfParser).replaced),
		"quorum_server":           d("HOST", 1, true, (*hacfParser).replaced),
		"crm_daemon_dir":          d("DIR", 1, true, (*hacfParser).replaced),
		"crmd_spawns_pengine":     d("on|off", 1, true, (*hacfParser).boolean),
		"record_config_changes":   d("on|off", 1, true, (*hacfParser).boolean),
		"record_pengine_inputs":   d("on|off", 1, true, (*hacfParser).boolean),
		"enable_config_writes":    d("on|off", 1, true, (*hacfParser).boolean),

		// hbgo's own.
		"raft_port":   d("PORT", 1, true, (*hacfParser).port),
		"gossip_port": d("PORT", 1, true, (*hacfParser).port),
		"metrics":     d("ADDR:PORT", 1, true, (*hacfParser).metrics),

		// Announcing a VIP (gratuitous ARP, neighbour advertisements).
		"arp_count":    d("COUNT", 1, true, (*hacfParser).arp),
		"arp_interval": d("TIME", 1, true, (*hacfParser).arp),
		"arp_refresh":  d("TIME|off", 1, true, (*hacfParser).arp),

		// MailTo's SMTP server and sender; the IPVS sync daemons of
		// LVSSyncDaemonSwap.
		"mail_server":        d("HOST[:PORT]", 1, true, (*hacfParser).mailServer),
		"mail_from":          d("ADDRESS", 1, true, (*hacfParser).mailFrom),
		"lvs_sync_interface": d("IFACE", 1, true, (*hacfParser).lvsSync),
		"lvs_syncid":         d("0-255", 1, true, (*hacfParser).lvsSync),

		// The BGP speaker of anycast groups (BGPaddr).
		"bgp_as":        d("AS", 1, true, (*hacfParser).bgpAS),
		"bgp_neighbor":  d("ADDR AS [hold SECONDS] [password SECRET] [port PORT] [source ADDR] [passive] [bfd] [bfd_interval DURATION] [bfd_multiplier N]", 2, false, (*hacfParser).bgpNeighbor),
		"bgp_community": d("ASN:VALUE...", 1, false, (*hacfParser).bgpCommunity),
	}
	for name := range hacfDirectives {
		hacfNames = append(hacfNames, name)
		hacfLongest = max(hacfLongest, len(name))
	}
	slices.Sort(hacfNames)
}

// hacfReplacement says, for each directive hbgo accepts but does not act
// on, what takes its place.
var hacfReplacement = map[string]string{
	"use_logd":                "hbgo writes its own log (logfile, debugfile, logfacility)",
	"conn_logd_time":          "hbgo writes its own log and never connects to logd",
	"msgfmt":                  "hbgo's packet format is its own",
	"compression":             "hbgo's packets are small and never compressed",
	"compression_threshold":   "hbgo's packets are small and never compressed",
	"traditional_compression": "hbgo's packets are small and never compressed",
	"max_rexmit_delay":        "hbgo retransmits nothing on heartbeat links; cluster state travels by raft",
	"memreserve":              "the Go runtime manages hbgo's memory",
	"crm":                     "hbgo places the groups of haresources itself, by raft, without Pacemaker",
	"apiauth":                 "hbgo's control socket admits only root and the haclient group",
	"stonith":                 "not needed: hbgo's leases keep a group from running on two nodes at once",
	"stonith_host":            "not needed: hbgo's leases keep a group from running on two nodes at once",
	"hbaping":                 "Fibre Channel ping is not supported; use ping or ping_group",
	"use_apphbd":              "apphbd is not used; let systemd supervise hbgo",
	"env":                     "hbgo starts no respawn clients to pass it to",
	"failfast":                "hbgo starts no respawn clients; run the program under systemd (Restart=, or a unit that stops hbgo when it fails)",
	"quorum_server":           "declare a witness instead",
	"crm_daemon_dir":          "hbgo runs no Pacemaker daemons",
	"crmd_spawns_pengine":     "hbgo runs no Pacemaker daemons",
	"record_config_changes":   "it concerns Pacemaker's CIB, which hbgo does not use",
	"record_pengine_inputs":   "it concerns Pacemaker's policy engine, which hbgo does not use",
	"enable_config_writes":    "it concerns Pacemaker's CIB, which hbgo does not use",
}

// hacfFacilities are the facility names logfacility accepts.
var hacfFacilities = []string{
	"auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news",
	"syslog", "user", "uucp", "local0", "local1", "local2", "local3", "local4",
	"local5", "local6", "local7", "none",
}

// hacfWords are the enumerated values of word directives.
var hacfWords = map[string][]string{
	"autojoin":    {"none", "other", "any"},
	"uuidfrom":    {"file", "nodename"},
	"hbgenmethod": {"file", "time"},
	"msgfmt":      {"classic", "netstring"},
	"compression": {"zlib", "bz2"},
	"logfacility": hacfFacilities,
}

func (p *hacfParser) errorf(line int, format string, args ...any) {
	p.ds.Errorf(p.file, line, format, args...)
}

func (p *hacfParser) warnf(line int, format string, args ...any) {
	p.ds.Warnf(p.file, line, format, args...)
}

// line dispatches one logical line.
func (p *hacfParser) line(l Line) {
	name, args := l.Fields[0], l.Fields[1:]
	d, ok := hacfDirectives[name]
	if !ok {
		shown := name
		if !hacfHostname(name) {
			shown = strconv.Quote(name)
		}
		hint := ""
		if len(name) <= hacfLongest+3 { // longer words are no typo of a directive
			hint = didYouMean(name, hacfNames)
		}
		p.errorf(l.Num, "unknown directive %s%s", shown, hint)
		return
	}
	key := name
	if a, ok := hacfAliases[name]; ok {
		key = a
	}
	if hacfCommaLists[key] {
		// Heartbeat splits these values on commas too (its DELIMS):
		// "node alice,bob", "bcast eth0, eth1".
		var split []string
		for _, a := range args {
			for _, f := range strings.Split(a, ",") {
				if f != "" {
					split = append(split, f)
				}
			}
		}
		args = split
	}
	if len(args) < d.min {
		p.errorf(l.Num, "%s: missing %s (syntax: %s)", name, strings.TrimSuffix(d.args[len(args)], "..."), hacfUsage(name, d))
		return
	}
	variadic := len(d.args) > 0 && strings.HasSuffix(d.args[len(d.args)-1], "...")
	if !variadic && len(args) > len(d.args) {
		p.errorf(l.Num, "%s: unexpected extra value %q (syntax: %s)", name, args[len(d.args)], hacfUsage(name, d))
		return
	}
	before := len(*p.ds)
	d.fn(p, l, args)
	accepted := !(*p.ds)[before:].HasErrors()
	if !accepted && d.single {
		return // a rejected value sets nothing, so it overrides nothing
	}
	p.c.Lines[key] = l.Num
	if d.single {
		if prev, ok := p.seen[key]; ok {
			p.warnf(l.Num, "%s repeated; this overrides line %d", name, prev)
		}
		p.seen[key] = l.Num
	}
	if why, ok := hacfReplacement[key]; ok && !hacfCustomWarning[key] && accepted {
		p.warnf(l.Num, "%s ignored: %s", name, why)
	}
}

// hacfCommaLists are the list directives whose values Heartbeat also
// splits on commas.
var hacfCommaLists = map[string]bool{"node": true, "bcast": true, "serial": true, "ping": true, "ping6": true}

// hacfCustomWarning marks replaced directives whose handler words its own
// warning, because some of their values are harmless.
var hacfCustomWarning = map[string]bool{"crm": true, "use_logd": true, "apiauth": true}

func hacfUsage(name string, d hacfDirective) string {
	return strings.TrimSpace(name + " " + strings.Join(d.args, " "))
}

// --- values -----------------------------------------------------------------

func (p *hacfParser) duration(l Line, name, s string) (time.Duration, bool) {
	v, err := ParseDuration(s)
	if err != nil {
		p.errorf(l.Num, "%s: %v", name, err)
		return 0, false
	}
	return v, true
}

// integer reads a decimal number within [lo, hi].
func (p *hacfParser) integer(l Line, name, s string, lo, hi int) (int, bool) {
	v, err := strconv.Atoi(s)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			p.errorf(l.Num, "%s: %s is out of range %d-%d", name, s, lo, hi)
		} else {
			p.errorf(l.Num, "%s: %q is not a number", name, s)
		}
		return 0, false
	}
	if v < lo || v > hi {
		p.errorf(l.Num, "%s: %d is out of range %d-%d", name, v, lo, hi)
		return 0, false
	}
	return v, true
}

func (p *hacfParser) portValue(l Line, name, s string) (int, bool) {
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > 65535 {
		p.errorf(l.Num, "%s: %q is not a port (1-65535)", name, s)
		return 0, false
	}
	return v, true
}

// enum reads one of allowed, case-insensitively, hinting at the closest.
func (p *hacfParser) enum(l Line, name, s string, allowed []string) (string, bool) {
	v := strings.ToLower(s)
	if slices.Contains(allowed, v) {
		return v, true
	}
	p.errorf(l.Num, "%s: bad value %q, want %s%s", name, s, hacfOrList(allowed), didYouMean(s, allowed))
	return "", false
}

// Heartbeat's boolean spellings, case-insensitive.
var (
	hacfTrue  = []string{"true", "on", "yes", "y", "1"}
	hacfFalse = []string{"false", "off", "no", "n", "0"}
)

func (p *hacfParser) boolValue(l Line, name, s string) (bool, bool) {
	v := strings.ToLower(s)
	switch {
	case slices.Contains(hacfTrue, v):
		return true, true
	case slices.Contains(hacfFalse, v):
		return false, true
	}
	p.errorf(l.Num, "%s: bad value %q, want on or off%s", name, s, didYouMean(s, []string{"on", "off", "yes", "no", "true", "false"}))
	return false, false
}

func hacfOrList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// hacfDur prints a duration the way a person writes it in ha.cf messages.
func hacfDur(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return d.String()
}

// ifaceName checks a network interface name as Linux does: 1-15 bytes, no
// slash, blank or colon. An alias label ("eth0:0") is reduced to its device
// with a warning, since heartbeats bind to devices.
func (p *hacfParser) ifaceName(l Line, name, s string) (string, bool) {
	if dev, label, ok := strings.Cut(s, ":"); ok && dev != "" && label != "" && !strings.Contains(label, ":") {
		if _, ok := hacfCheckIface(dev); ok {
			p.warnf(l.Num, "%s: %s is an address label; heartbeats use device %s", name, s, dev)
			return dev, true
		}
	}
	if why, ok := hacfCheckIface(s); !ok {
		p.errorf(l.Num, "%s: %q is not an interface name (%s)", name, s, why)
		return "", false
	}
	return s, true
}

func hacfCheckIface(s string) (string, bool) {
	switch {
	case s == "" || s == "." || s == "..":
		return "empty or a dot", false
	case len(s) > 15:
		return "longer than 15 bytes", false
	case strings.ContainsAny(s, "/: \t\n"):
		return "contains a slash, colon or blank", false
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return "contains a control or non-ASCII character", false
		}
	}
	return "", true
}

// hacfHostname reports whether s is an RFC 1123 host name (underscores
// allowed, as uname -n may hold them).
func hacfHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// host checks an IP address or host name.
func (p *hacfParser) host(l Line, name, s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if hacfHostname(s) {
		return true
	}
	p.errorf(l.Num, "%s: %q is neither an IP address nor a host name", name, s)
	return false
}

func (p *hacfParser) absPath(l Line, name, s string, isErr bool) bool {
	if strings.HasPrefix(s, "/") {
		return true
	}
	if isErr {
		p.errorf(l.Num, "%s: %s is not an absolute path", name, s)
		return false
	}
	p.warnf(l.Num, "%s: %s is not an absolute path; it is taken from hbgo's working directory", name, s)
	return true
}

// --- directives -------------------------------------------------------------

func (p *hacfParser) timing(l Line, args []string) {
	name := l.Fields[0]
	v, ok := p.duration(l, name, args[0])
	if !ok {
		return
	}
	switch name {
	case "keepalive":
		if v <= 0 {
			p.errorf(l.Num, "keepalive must be longer than 0")
			return
		}
		p.c.Keepalive = v
	case "deadtime":
		if v <= 0 {
			p.errorf(l.Num, "deadtime must be longer than 0")
			return
		}
		p.c.Deadtime = v
	case "warntime":
		p.c.Warntime = v
	case "initdead":
		p.c.Initdead = v
	case "deadping":
		p.c.Deadping = v
	case "conn_logd_time":
		p.c.ConnLogdTime = v
	case "max_rexmit_delay":
		p.c.MaxRexmitDelay = v
	}
}

func (p *hacfParser) udpport(l Line, args []string) {
	v, ok := p.portValue(l, "udpport", args[0])
	if !ok {
		return
	}
	p.positional(l, "udpport", p.portUsedAt, args[0], "bcast or ucast")
	p.c.UDPPort = v
}

func (p *hacfParser) baud(l Line, args []string) {
	v, err := strconv.Atoi(args[0])
	if err != nil || !slices.Contains(ValidBauds, v) {
		var rates []string
		for _, b := range ValidBauds {
			rates = append(rates, strconv.Itoa(b))
		}
		p.errorf(l.Num, "baud: bad rate %q, want %s", args[0], hacfOrList(rates))
		return
	}
	p.positional(l, "baud", p.baudUsedAt, args[0], "serial")
	p.c.Baud = v
}

// positional explains a udpport or baud line whose predecessor was used by
// media already, or was never used at all.
func (p *hacfParser) positional(l Line, name string, usedAt int, now, media string) {
	if usedAt > 0 {
		// Heartbeat refuses this order; hbgo follows the file as written.
		p.warnf(l.Num, "%s %s comes after %s media (first at line %d); it applies only to media after it", name, now, media, usedAt)
		return
	}
	if prev, ok := p.seen[name]; ok {
		p.warnf(l.Num, "%s repeated; this overrides line %d", name, prev)
	}
	p.seen[name] = l.Num
}

func (p *hacfParser) addMedium(l Line, m Medium) {
	id := Medium{Kind: m.Kind, Iface: m.Iface, Peer: m.Peer, Device: m.Device, Group: m.Group}
	if prev, ok := p.mediaLines[id]; ok {
		p.warnf(l.Num, "%s %s%s", m.Kind, hacfMediumText(m), hacfRepeats(l.Num, prev))
	} else {
		if p.mediaLines == nil {
			p.mediaLines = map[Medium]int{}
		}
		p.mediaLines[id] = l.Num
	}
	m.Line = l.Num
	p.c.Media = append(p.c.Media, m)
}

func hacfMediumText(m Medium) string {
	switch m.Kind {
	case MediumMcast:
		return m.Iface + " " + m.Group.String()
	case MediumUcast:
		return m.Iface + " " + m.Peer
	case MediumSerial:
		return m.Device
	}
	return m.Iface
}

func (p *hacfParser) bcast(l Line, args []string) {
	name := l.Fields[0]
	if name == "udp" {
		p.warnf(l.Num, "udp is the old name of bcast; write bcast")
	}
	for _, a := range args {
		iface, ok := p.ifaceName(l, name, a)
		if !ok {
			continue
		}
		p.udpMediumSeen(l)
		p.addMedium(l, Medium{Kind: MediumBcast, Iface: iface, Port: p.c.UDPPort})
	}
}

func (p *hacfParser) udpMediumSeen(l Line) {
	if p.portUsedAt == 0 {
		p.portUsedAt = l.Num
	}
}

func (p *hacfParser) mcast(l Line, args []string) {
	name := l.Fields[0]
	v6 := name == "mcast6"
	iface, ok := p.ifaceName(l, name, args[0])
	group, err := netip.ParseAddr(args[1])
	switch {
	case err != nil || group.Zone() != "":
		p.errorf(l.Num, "%s: %q is not an IP address", name, args[1])
		ok = false
	case !v6 && !group.Is4():
		p.errorf(l.Num, "%s: group %s is not IPv4 (use mcast6)", name, group)
		ok = false
	case v6 && (!group.Is6() || group.Is4In6()):
		p.errorf(l.Num, "%s: group %s is not IPv6 (use mcast)", name, group)
		ok = false
	case !group.IsMulticast():
		if v6 {
			p.errorf(l.Num, "%s: %s is not a multicast group (ff00::/8)", name, group)
		} else {
			p.errorf(l.Num, "%s: %s is not a multicast group (224.0.0.0-239.255.255.255)", name, group)
		}
		ok = false
	case !v6 && netip.MustParsePrefix("224.0.0.0/24").Contains(group):
		p.warnf(l.Num, "%s: %s is reserved for local network control; choose from 239.192.0.0/14", name, group)
	case v6 && group.IsInterfaceLocalMulticast():
		p.errorf(l.Num, "%s: %s is interface-local and never leaves this host", name, group)
		ok = false
	}
	port, pok := p.portValue(l, name, args[2])
	ttlName := "ttl"
	if v6 {
		ttlName = "hops"
	}
	ttl, tok := p.integer(l, name+" "+ttlName, args[3], 1, 255)
	var loop bool
	switch args[4] {
	case "0":
	case "1":
		loop = true
	default:
		p.errorf(l.Num, "%s: loop must be 0 or 1, not %q", name, args[4])
		ok = false
	}
	if !ok || !pok || !tok {
		return
	}
	p.addMedium(l, Medium{Kind: MediumMcast, Iface: iface, Group: group, Port: port, TTL: ttl, Loop: loop})
}

func (p *hacfParser) ucast(l Line, args []string) {
	name := l.Fields[0]
	iface, ok := p.ifaceName(l, name, args[0])
	peer := args[1]
	if name == "ucast6" {
		a, err := netip.ParseAddr(peer)
		switch {
		case err != nil || !a.Is6() || a.Is4In6():
			p.errorf(l.Num, "ucast6: %q is not an IPv6 address", peer)
			ok = false
		case a.Zone() != "" && ok && a.Zone() != iface:
			p.errorf(l.Num, "ucast6: scope %%%s of %s differs from device %s", a.Zone(), peer, iface)
			ok = false
		}
	} else if !p.host(l, name, peer) {
		ok = false
	} else if a, err := netip.ParseAddr(peer); err == nil && a.IsMulticast() {
		p.errorf(l.Num, "ucast: %s is a multicast group; use mcast", peer)
		ok = false
	}
	if !ok {
		return
	}
	p.udpMediumSeen(l)
	p.addMedium(l, Medium{Kind: MediumUcast, Iface: iface, Peer: peer, Port: p.c.UDPPort})
}

func (p *hacfParser) serial(l Line, args []string) {
	for _, dev := range args {
		if !p.absPath(l, "serial", dev, true) {
			continue
		}
		if p.baudUsedAt == 0 {
			p.baudUsedAt = l.Num
		}
		p.addMedium(l, Medium{Kind: MediumSerial, Device: path.Clean(dev), Baud: p.c.Baud})
	}
}

func (p *hacfParser) memberName(l Line, name, s string) bool {
	if hacfHostname(s) {
		return true
	}
	p.errorf(l.Num, "%s: %q is not a valid node name (as uname -n prints it)", name, s)
	return false
}

func (p *hacfParser) node(l Line, args []string) {
	if p.nodeLines == nil {
		p.nodeLines = map[string]int{}
	}
	for _, n := range args {
		if !p.memberName(l, "node", n) {
			continue
		}
		k := strings.ToLower(n)
		if prev, ok := p.nodeLines[k]; ok {
			p.warnf(l.Num, "node %s%s", n, hacfRepeats(l.Num, prev))
			continue
		}
		p.nodeLines[k] = l.Num
		p.c.Nodes = append(p.c.Nodes, k) // lowercased, as Heartbeat's add_node does
	}
}

func (p *hacfParser) witness(l Line, args []string) {
	if p.witnessLines == nil {
		p.witnessLines = map[string]int{}
	}
	for _, n := range args {
		if !p.memberName(l, "witness", n) {
			continue
		}
		k := strings.ToLower(n)
		if prev, ok := p.witnessLines[k]; ok {
			p.warnf(l.Num, "witness %s%s", n, hacfRepeats(l.Num, prev))
			continue
		}
		p.witnessLines[k] = l.Num
		p.c.Witnesses = append(p.c.Witnesses, k)
	}
}

// hacfRepeats words a second mention of a name.
func hacfRepeats(line, prev int) string {
	if line == prev {
		return " is listed twice"
	}
	return fmt.Sprintf(" repeats line %d", prev)
}

func (p *hacfParser) autoFailback(l Line, args []string) {
	v := strings.ToLower(args[0])
	if l.Fields[0] == "nice_failback" {
		b, ok := p.boolValue(l, "nice_failback", args[0])
		if !ok {
			return
		}
		if b {
			p.c.AutoFailback = "off"
			p.warnf(l.Num, "nice_failback is obsolete: nice_failback %s means auto_failback off; write that", args[0])
		} else {
			p.c.AutoFailback = "legacy"
			p.warnf(l.Num, "nice_failback is obsolete: nice_failback %s means auto_failback legacy; write auto_failback on", args[0])
		}
		return
	}
	switch {
	case v == "legacy":
		p.c.AutoFailback = "legacy"
		p.warnf(l.Num, "auto_failback legacy is deprecated and behaves as on; write auto_failback on")
	case slices.Contains(hacfTrue, v):
		p.c.AutoFailback = "on"
	case slices.Contains(hacfFalse, v):
		p.c.AutoFailback = "off"
	default:
		p.enum(l, "auto_failback", args[0], []string{"off", "on", "legacy"})
	}
}

func (p *hacfParser) ping(l Line, args []string) {
	name := l.Fields[0]
	for _, h := range args {
		if name == "ping6" {
			if a, err := netip.ParseAddr(h); err != nil || !a.Is6() || a.Is4In6() {
				p.errorf(l.Num, "ping6: %q is not an IPv6 address", h)
				continue
			}
		} else if !p.host(l, name, h) {
			continue
		}
		if prev, ok := p.pingLines[h]; ok {
			p.warnf(l.Num, "%s %s%s", name, h, hacfRepeats(l.Num, prev))
			continue
		}
		if p.pingLines == nil {
			p.pingLines = map[string]int{}
		}
		p.pingLines[h] = l.Num
		p.c.Ping = append(p.c.Ping, h)
	}
}

func (p *hacfParser) pingGroup(l Line, args []string) {
	g := PingGroup{Name: args[0], Line: l.Num}
	if !hacfHostname(g.Name) {
		p.errorf(l.Num, "ping_group: %q is not a valid group name", g.Name)
		return
	}
	for _, o := range p.c.PingGroups {
		if strings.EqualFold(o.Name, g.Name) {
			p.errorf(l.Num, "ping_group %s is already defined at line %d", g.Name, o.Line)
			return
		}
	}
	for _, h := range args[1:] {
		if p.host(l, "ping_group", h) {
			g.Hosts = append(g.Hosts, h)
		}
	}
	if len(g.Hosts) > 0 {
		p.c.PingGroups = append(p.c.PingGroups, g)
	}
}

// word handles directives that take one free or enumerated word.
func (p *hacfParser) word(l Line, args []string) {
	name, s := l.Fields[0], args[0]
	if allowed, ok := hacfWords[name]; ok {
		v, ok := p.enum(l, name, s, allowed)
		if !ok {
			return
		}
		s = v
	}
	switch name {
	case "autojoin":
		p.c.Autojoin = s
	case "uuidfrom":
		p.c.UUIDFrom = s
	case "hbgenmethod":
		p.c.HBGenMethod = s
	case "msgfmt":
		p.c.MsgFmt = s
	case "compression":
		p.c.Compression = s
	case "logfacility":
		p.c.LogFacility = s
	case "logfile":
		if p.absPath(l, name, s, false) {
			p.c.LogFile = s
		}
	case "debugfile":
		if p.absPath(l, name, s, false) {
			p.c.DebugFile = s
		}
	case "coreroot":
		if p.absPath(l, name, s, false) {
			p.c.CoreRoot = s
		}
	case "watchdog":
		if p.absPath(l, name, s, true) {
			p.c.Watchdog = s
		}
	case "cluster":
		if !hacfHostname(s) {
			p.errorf(l.Num, "cluster: %q is not a valid cluster name (letters, digits, '-', '_', '.')", s)
			return
		}
		p.c.ClusterName = s
	}
}

func (p *hacfParser) number(l Line, args []string) {
	name := l.Fields[0]
	switch name {
	case "debug":
		if v, ok := p.integer(l, name, args[0], 0, 255); ok {
			p.c.Debug = v
		}
	case "rtprio":
		if v, ok := p.integer(l, name, args[0], 1, 99); ok {
			p.c.Rtprio = v
		}
	case "hopfudge":
		if v, ok := p.integer(l, name, args[0], 0, 255); ok {
			p.c.Hopfudge = v
		}
	case "compression_threshold":
		if v, ok := p.integer(l, name, args[0], 1, 1<<20); ok {
			p.c.CompressionThreshold = v
		}
	case "memreserve":
		if v, ok := p.integer(l, name, args[0], 0, 1<<30); ok {
			p.c.Memreserve = v
		}
	}
}

func (p *hacfParser) boolean(l Line, args []string) {
	name := l.Fields[0]
	b, ok := p.boolValue(l, name, args[0])
	if !ok {
		return
	}
	switch name {
	case "realtime":
		p.c.Realtime = b
	case "coredumps":
		p.c.Coredumps = b
	case "log_badpack":
		p.c.LogBadPack = b
	case "syslogmsgfmt":
		p.c.SyslogMsgFmt = b
	case "traditional_compression":
		p.c.TraditionalCompression = b
	case "use_logd":
		p.c.UseLogd = b
		if b {
			p.warnf(l.Num, "use_logd ignored: %s", hacfReplacement["use_logd"])
		}
	}
}

func (p *hacfParser) crm(l Line, args []string) {
	name := l.Fields[0]
	v := strings.ToLower(args[0])
	switch {
	case slices.Contains(hacfFalse, v):
		p.c.Crm = "off"
		return
	case slices.Contains(hacfTrue, v):
		p.c.Crm = "on"
	case slices.Contains([]string{"respawn", "minimal", "manual", "ccm-only", "valgrind"}, v):
		p.c.Crm = v
	default:
		p.enum(l, name, args[0], []string{"on", "off", "respawn", "minimal", "manual", "ccm-only", "valgrind"})
		return
	}
	p.c.CrmLine = l.Num
	p.warnf(l.Num, "%s %s ignored: %s", name, args[0], hacfReplacement["crm"])
}

func (p *hacfParser) respawn(l Line, args []string) {
	prog := args[1]
	if path.Base(prog) == "ipfail" {
		p.warnf(l.Num, "respawn of ipfail ignored: hbgo's ping and ping_group scores replace ipfail")
		return
	}
	p.warnf(l.Num, "respawn ignored: hbgo starts no other programs; run %s as a systemd service", prog)
}

func (p *hacfParser) apiauth(l Line, args []string) {
	var uid, gid bool
	for _, a := range args[1:] {
		switch {
		case strings.HasPrefix(a, "uid=") && !uid:
			uid = true
		case strings.HasPrefix(a, "gid=") && !gid:
			gid = true
		case strings.HasPrefix(a, "uid=") || strings.HasPrefix(a, "gid="):
			p.errorf(l.Num, "apiauth: second %s list for client %s", a[:3], args[0])
			return
		default:
			p.errorf(l.Num, "apiauth: %q is neither uid=LIST nor gid=LIST", a)
			return
		}
	}
	p.warnf(l.Num, "apiauth ignored: %s", hacfReplacement["apiauth"])
}

// replaced handles directives whose arguments hbgo has no use for; the
// warning comes from line().
func (p *hacfParser) replaced(Line, []string) {}

func (p *hacfParser) port(l Line, args []string) {
	name := l.Fields[0]
	v, ok := p.portValue(l, name, args[0])
	if !ok {
		return
	}
	if name == "raft_port" {
		p.c.RaftPort = v
	} else {
		p.c.GossipPort = v
	}
}

func (p *hacfParser) metrics(l Line, args []string) {
	s := args[0]
	if v := strings.ToLower(s); v == "off" || v == "none" {
		p.c.Metrics = ""
		return
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		p.errorf(l.Num, "metrics: %q is not ADDR:PORT (like 127.0.0.1:9695, [::1]:9695 or :9695)", s)
		return
	}
	if host != "" && !p.host(l, "metrics", host) {
		return
	}
	if _, ok := p.portValue(l, "metrics", port); !ok {
		return
	}
	p.c.Metrics = s
}

// Defaults of announcing a VIP, Heartbeat's send_arp defaults: 5 rounds
// of gratuitous ARP 200 ms apart, the first at once.
const (
	DefaultArpCount    = 5
	DefaultArpInterval = 200 * time.Millisecond
	// MaxArpCount and MaxArpInterval bound a burst to what still helps a
	// takeover; a longer announcement is arp_refresh's job.
	MaxArpCount    = 100
	MaxArpInterval = 10 * time.Second
	// MinArpRefresh: a shorter refresh floods the segment with broadcasts.
	MinArpRefresh = time.Second
)

// mailServer reads mail_server HOST[:PORT].
func (p *hacfParser) mailServer(l Line, args []string) {
	s := args[0]
	host, port := s, ""
	if h, pt, err := net.SplitHostPort(s); err == nil {
		host, port = h, pt
	} else if strings.Count(s, ":") == 1 {
		p.errorf(l.Num, "mail_server: %q is not HOST or HOST:PORT", s)
		return
	}
	if host == "" {
		p.errorf(l.Num, "mail_server: %q has no host", s)
		return
	}
	if port != "" {
		if _, ok := p.portValue(l, "mail_server", port); !ok {
			return
		}
	}
	p.c.MailServer = s
}

// mailFrom reads mail_from ADDRESS.
func (p *hacfParser) mailFrom(l Line, args []string) {
	if !strings.Contains(args[0], "@") || strings.ContainsAny(args[0], " \t<>") {
		p.errorf(l.Num, "mail_from: %q is not an address like root@host.example", args[0])
		return
	}
	p.c.MailFrom = args[0]
}

// lvsSync reads lvs_sync_interface and lvs_syncid.
func (p *hacfParser) lvsSync(l Line, args []string) {
	switch l.Fields[0] {
	case "lvs_sync_interface":
		if len(args[0]) > 15 || strings.ContainsAny(args[0], "/ ") {
			p.errorf(l.Num, "lvs_sync_interface: %q is not an interface name", args[0])
			return
		}
		p.c.LVSSyncInterface = args[0]
	case "lvs_syncid":
		if v, ok := p.integer(l, "lvs_syncid", args[0], 0, 255); ok {
			p.c.LVSSyncID = v
		}
	}
}

// arp reads arp_count, arp_interval and arp_refresh.
func (p *hacfParser) arp(l Line, args []string) {
	name, s := l.Fields[0], args[0]
	switch name {
	case "arp_count":
		if v, ok := p.integer(l, name, s, 1, MaxArpCount); ok {
			p.c.ArpCount = v
		}
	case "arp_interval":
		v, ok := p.duration(l, name, s)
		switch {
		case !ok:
		case v <= 0 || v > MaxArpInterval:
			p.errorf(l.Num, "arp_interval %s is out of range: want more than 0 and at most %s", hacfDur(v), hacfDur(MaxArpInterval))
		default:
			p.c.ArpInterval = v
		}
	case "arp_refresh":
		if v := strings.ToLower(s); v == "off" || v == "none" {
			p.c.ArpRefresh = 0
			return
		}
		v, ok := p.duration(l, name, s)
		switch {
		case !ok:
		case v > 0 && v < MinArpRefresh:
			p.errorf(l.Num, "arp_refresh %s is too short: want 0 (off) or at least %s", hacfDur(v), hacfDur(MinArpRefresh))
		default:
			p.c.ArpRefresh = v
		}
	}
}

// --- whole-file checks ------------------------------------------------------

// at returns the line a directive was set on, or 0 (the whole file).
func (p *hacfParser) at(key string) int { return p.c.Lines[key] }

// nodeLineMin is the first node line (0 when there is none).
func (p *hacfParser) nodeLineMin() int {
	first := 0
	for _, l := range p.nodeLines {
		if first == 0 || l < first {
			first = l
		}
	}
	return first
}

// atLater returns the later of two directives' lines.
func (p *hacfParser) atLater(a, b string) int { return max(p.at(a), p.at(b)) }

// SerialHeartbeatWireBytes is the typical size of one framed heartbeat on
// a serial line (a 100-byte packet and 7 bytes of framing), for the budget
// check of serial media.
const SerialHeartbeatWireBytes = 107

func (p *hacfParser) finish() {
	c := p.c
	if c.Deadtime <= c.Keepalive {
		p.errorf(p.atLater("deadtime", "keepalive"), "deadtime %s must exceed keepalive %s", hacfDur(c.Deadtime), hacfDur(c.Keepalive))
	} else if c.Warntime > 0 && (c.Warntime <= c.Keepalive || c.Warntime >= c.Deadtime) {
		p.warnf(p.at("warntime"), "warntime %s should lie between keepalive %s and deadtime %s", hacfDur(c.Warntime), hacfDur(c.Keepalive), hacfDur(c.Deadtime))
	}
	if c.Initdead > 0 && c.Initdead < c.Deadtime {
		p.warnf(p.at("initdead"), "initdead %s is shorter than deadtime %s; make it at least twice deadtime (%s)", hacfDur(c.Initdead), hacfDur(c.Deadtime), hacfDur(2*c.Deadtime))
	}
	if c.Deadping > 0 && c.Deadping <= c.Keepalive {
		p.errorf(p.atLater("deadping", "keepalive"), "deadping %s must exceed keepalive %s", hacfDur(c.Deadping), hacfDur(c.Keepalive))
	}

	if len(c.Media) == 0 {
		p.errorf(0, "no heartbeat media: add a bcast, mcast, ucast or serial line")
	}
	// A serial line carries baud/10 bytes a second each way; a heartbeat
	// of about 100 bytes costs 107 on the wire with its framing.
	for _, m := range c.Media {
		if m.Kind != MediumSerial || c.Keepalive <= 0 {
			continue
		}
		need := float64(SerialHeartbeatWireBytes) * float64(time.Second) / float64(c.Keepalive)
		if line := float64(m.Baud) / 10; need > 0.8*line {
			p.warnf(m.Line, "serial %s at %d baud carries %.0f bytes/s; heartbeats every %s need about %.0f: raise baud or keepalive", m.Device, m.Baud, line, hacfDur(c.Keepalive), need)
		}
		// Two-node mode: over the cable alone, a director must see its
		// heartbeats acknowledged within its ack lease, deadtime less a
		// tenth (at least 20ms). A round trip takes two paced frames each
		// way, up to a keepalive at the peer before it answers, and a
		// keepalive until the next answer; 100ms covers the machines.
		if len(c.Nodes) == 2 && len(c.Witnesses) == 0 && c.Deadtime > c.Keepalive {
			frame := time.Duration(SerialHeartbeatWireBytes*10) * time.Second / time.Duration(m.Baud)
			rtt := 4*frame + 2*c.Keepalive + 100*time.Millisecond
			if lease := c.Deadtime - max(c.Deadtime/10, 20*time.Millisecond); lease < rtt {
				p.warnf(m.Line, "serial %s at %d baud: with only the cable left, a heartbeat's acknowledgement takes up to about %s, longer than the ack lease %s (deadtime %s less a tenth): both directors would stop their groups; raise deadtime to %s or more", m.Device, m.Baud, hacfDur(rtt.Round(time.Millisecond)), hacfDur(lease), hacfDur(c.Deadtime), hacfDur((rtt*10/9).Round(100*time.Millisecond)+100*time.Millisecond))
			}
		}
	}
	// Two-node mode: a director's lease lasts the ack lease (deadtime less
	// a tenth, at least 20ms) from the send time of its newest heartbeat
	// the peer acknowledged, and the next acknowledgement comes a
	// keepalive and a half after that (the second director sends half a
	// keepalive after the first). Less than 20ms to spare, and a busy
	// machine darkens the VIP now and then.
	if len(c.Nodes) == 2 && len(c.Witnesses) == 0 && c.Keepalive > 0 && c.Deadtime > c.Keepalive {
		const spare = 20 * time.Millisecond
		lease := c.Deadtime - max(c.Deadtime/10, 20*time.Millisecond)
		renew := c.Keepalive * 3 / 2
		if left := lease - renew; left < spare {
			need := max(renew+spare+20*time.Millisecond, (renew+spare)*10/9)
			need = (need + 10*time.Millisecond - 1) / (10 * time.Millisecond) * (10 * time.Millisecond)
			p.warnf(p.atLater("deadtime", "keepalive"), "two-node mode at keepalive %s and deadtime %s: a director's lease (the ack lease %s) is renewed with %s to spare, a keepalive and a half after the heartbeat it counts from: on a busy machine the VIP will go dark now and then; raise deadtime to %s or more", hacfDur(c.Keepalive), hacfDur(c.Deadtime), hacfDur(lease), hacfDur(max(left, 0)), hacfDur(need))
		}
	}
	// Quorum mode without a witness: any director may lead the placement
	// log, and when the leader crashes its groups wait for an election
	// (up to twice raft's heartbeat timeout, max(deadtime, 100ms)) and
	// then for every lease the old leader granted (deadtime with three
	// voters, deadtime plus the heartbeat timeout with more). A witness
	// leads instead (hbgo hands it the leadership), and then a director's
	// crash costs deadtime and two commits. docs/cluster.md has the
	// formula.
	if len(c.Witnesses) == 0 && len(c.Nodes) >= 3 && c.Deadtime > c.Keepalive {
		hbt := max(c.Deadtime, 100*time.Millisecond)
		worst := 2*hbt + c.Deadtime
		if len(c.Nodes) > 3 {
			worst += hbt
		}
		if worst > c.Deadtime+100*time.Millisecond {
			p.warnf(p.nodeLineMin(), "no witness: a crash of the director that leads the placement log moves its groups after up to %s (an election, then the wait for the leases it granted), not deadtime %s; add a witness line (a small machine running hbgo as a witness, which then leads)", hacfDur(worst), hacfDur(c.Deadtime))
		}
	}
	if len(c.Nodes) == 0 && c.Autojoin == "none" {
		p.errorf(0, "no node line: list every director with node NAME (or set autojoin any)")
	}
	if _, ok := p.seen["auto_failback"]; !ok {
		p.warnf(0, "auto_failback not set: Heartbeat's default legacy applies, which behaves as on; set auto_failback on or off")
	}

	for _, w := range c.Witnesses {
		if nl, ok := p.nodeLines[strings.ToLower(w)]; ok {
			p.errorf(p.witnessLines[strings.ToLower(w)], "%s is both a node (line %d) and a witness", w, nl)
		}
	}
	for _, h := range c.Ping {
		if _, ok := p.nodeLines[strings.ToLower(h)]; ok {
			p.warnf(p.pingLines[h], "ping node %s is a cluster node; ping a router or a host outside the cluster", h)
		}
	}
	for _, g := range c.PingGroups {
		if _, ok := p.nodeLines[strings.ToLower(g.Name)]; ok {
			p.errorf(g.Line, "ping_group %s has the name of a node", g.Name)
		}
	}

	// Ports: raft is TCP, gossip is TCP and UDP, heartbeats are UDP.
	if c.RaftPort == c.GossipPort {
		p.errorf(p.atLater("raft_port", "gossip_port"), "raft_port and gossip_port are both %d; they must differ", c.RaftPort)
	}
	udp := map[int]int{c.UDPPort: p.at("udpport")}
	for _, m := range c.Media {
		if m.Kind != MediumSerial {
			if _, ok := udp[m.Port]; !ok {
				udp[m.Port] = m.Line
			}
		}
	}
	if line, ok := udp[c.GossipPort]; ok {
		p.errorf(max(p.at("gossip_port"), line), "gossip_port %d is also a heartbeat UDP port; give gossip_port another port", c.GossipPort)
	}
	if c.Metrics != "" {
		if _, port, err := net.SplitHostPort(c.Metrics); err == nil {
			if n, _ := strconv.Atoi(port); n == c.RaftPort || n == c.GossipPort {
				p.errorf(p.at("metrics"), "metrics port %d is taken by raft_port or gossip_port", n)
			}
		}
	}
}

// --- BGP ----------------------------------------------------------------------

// BGP's limits as the speaker takes them: hold times in whole seconds
// from 3 (RFC 4271 allows 0, which turns the session's liveness off and
// is refused), TCP MD5 keys of at most 80 bytes.
const (
	MinBGPHold     = 3 * time.Second
	MaxBGPHold     = 65535 * time.Second
	maxBGPPassword = 80
)

// BFD's settings on bgp_neighbor: an interval of whole milliseconds from
// 10 ms to 60 s (FRR's range), a detection multiplier from 2 to 255 (one
// byte on the wire); by default 100 ms and 3, so a lost router or
// director is declared dead after 300 ms.
const (
	MinBFDInterval       = 10 * time.Millisecond
	MaxBFDInterval       = 60 * time.Second
	DefaultBFDInterval   = 100 * time.Millisecond
	MinBFDMultiplier     = 2
	MaxBFDMultiplier     = 255
	DefaultBFDMultiplier = 3
)

// bgpWellKnown are the well-known communities (RFC 1997, RFC 7999,
// RFC 8326) bgp_community takes by name.
var bgpWellKnown = map[string]bool{
	"no-export": true, "no-advertise": true, "no-export-subconfed": true,
	"blackhole": true, "graceful-shutdown": true, "no-peer": true,
}

func (p *hacfParser) bgp() *BGPConfig {
	if p.c.BGP == nil {
		p.c.BGP = &BGPConfig{}
	}
	return p.c.BGP
}

// asNumber reads a 4-byte AS number (plain, or the asdot form HIGH.LOW).
func (p *hacfParser) asNumber(l Line, name, s string) (uint32, bool) {
	if hi, lo, ok := strings.Cut(s, "."); ok {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		w, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 == nil && err2 == nil && h<<16|w != 0 {
			return uint32(h<<16 | w), true
		}
	} else if v, err := strconv.ParseUint(s, 10, 32); err == nil && v != 0 {
		return uint32(v), true
	}
	p.errorf(l.Num, "%s: %q is not an AS number (1-4294967295, or HIGH.LOW)", name, s)
	return 0, false
}

// bgpAS reads bgp_as AS.
func (p *hacfParser) bgpAS(l Line, args []string) {
	if v, ok := p.asNumber(l, "bgp_as", args[0]); ok {
		p.bgp().AS, p.bgp().Line = v, l.Num
	}
}

// bgpNeighbor reads bgp_neighbor ADDR AS [hold SECONDS] [password SECRET]
// [port PORT] [source ADDR] [passive] [bfd] [bfd_interval DURATION]
// [bfd_multiplier N]; bfd_interval and bfd_multiplier imply bfd.
func (p *hacfParser) bgpNeighbor(l Line, args []string) {
	n := BGPNeighbor{Line: l.Num}
	addr, err := netip.ParseAddr(args[0])
	if err != nil || addr.IsUnspecified() || addr.Zone() != "" {
		p.errorf(l.Num, "bgp_neighbor: %q is not the router's IP address", args[0])
		return
	}
	n.Addr = addr.Unmap()
	as, ok := p.asNumber(l, "bgp_neighbor", args[1])
	if !ok {
		return
	}
	n.AS = as
	for _, prev := range p.bgp().Neighbors {
		if prev.Addr == n.Addr {
			p.errorf(l.Num, "bgp_neighbor %s: already given at line %d", n.Addr, prev.Line)
			return
		}
	}
	rest := args[2:]
	for len(rest) > 0 {
		key := strings.ToLower(rest[0])
		if key == "passive" || key == "bfd" {
			if key == "passive" {
				n.Passive = true
			} else {
				n.BFD = true
			}
			rest = rest[1:]
			continue
		}
		if len(rest) < 2 {
			p.errorf(l.Num, "bgp_neighbor %s: %q wants a value (hold SECONDS, password SECRET, port PORT, source ADDR, bfd_interval DURATION, bfd_multiplier N, passive, bfd)", n.Addr, rest[0])
			return
		}
		opt, val := rest[0], rest[1]
		rest = rest[2:]
		switch key {
		case "hold":
			v, err := ParseDuration(val)
			switch {
			case err != nil:
				p.errorf(l.Num, "bgp_neighbor %s: hold: %v", n.Addr, err)
				return
			case v < MinBGPHold || v > MaxBGPHold || v%time.Second != 0:
				p.errorf(l.Num, "bgp_neighbor %s: hold %s: want whole seconds from %s to %s", n.Addr, val, hacfDur(MinBGPHold), hacfDur(MaxBGPHold))
				return
			}
			n.Hold = v
		case "password":
			if len(val) > maxBGPPassword {
				p.errorf(l.Num, "bgp_neighbor %s: password of %d bytes: TCP MD5 keys have at most %d", n.Addr, len(val), maxBGPPassword)
				return
			}
			n.Password = val
		case "port":
			v, ok := p.portValue(l, "bgp_neighbor port", val)
			if !ok {
				return
			}
			n.Port = v
		case "source":
			a, err := netip.ParseAddr(val)
			if err != nil || a.Unmap().Is4() != n.Addr.Is4() {
				p.errorf(l.Num, "bgp_neighbor %s: source %q is not an address of the router's family", n.Addr, val)
				return
			}
			n.Source = a.Unmap()
		case "bfd_interval":
			v, err := ParseDuration(val)
			switch {
			case err != nil:
				p.errorf(l.Num, "bgp_neighbor %s: bfd_interval: %v", n.Addr, err)
				return
			case v < MinBFDInterval || v > MaxBFDInterval || v%time.Millisecond != 0:
				p.errorf(l.Num, "bgp_neighbor %s: bfd_interval %s: want whole milliseconds from %s to %s", n.Addr, val, hacfDur(MinBFDInterval), hacfDur(MaxBFDInterval))
				return
			}
			n.BFD, n.BFDInterval = true, v
		case "bfd_multiplier":
			v, err := strconv.Atoi(val)
			if err != nil || v < MinBFDMultiplier || v > MaxBFDMultiplier {
				p.errorf(l.Num, "bgp_neighbor %s: bfd_multiplier %s: want a whole number from %d to %d", n.Addr, val, MinBFDMultiplier, MaxBFDMultiplier)
				return
			}
			n.BFD, n.BFDMultiplier = true, v
		default:
			p.errorf(l.Num, "bgp_neighbor %s: unknown option %q (hold, password, port, source, bfd_interval, bfd_multiplier, passive, bfd)", n.Addr, opt)
			return
		}
	}
	if n.BFD {
		hold := n.Hold
		if hold == 0 {
			hold = MinBGPHold
		}
		if detect := n.BFDDetectTime(); detect >= hold {
			p.warnf(l.Num, "bgp_neighbor %s: BFD declares the router dead after %s (bfd_interval x bfd_multiplier), no sooner than the BGP hold time %s: BFD gains nothing here", n.Addr, hacfDur(detect), hacfDur(hold))
		}
		if n.Source.IsValid() {
			// GoBGP's BFD socket binds no address (pkg/server/bfd_peer.go).
			p.warnf(l.Num, "bgp_neighbor %s: BFD packets leave from the address the kernel picks toward the router, not from source %s: unless that is the address, the router's BFD session for %s does not come up", n.Addr, n.Source, n.Source)
		}
	}
	b := p.bgp()
	b.Neighbors = append(b.Neighbors, n)
}

// bgpCommunity reads bgp_community ASN:VALUE... (or well-known names).
func (p *hacfParser) bgpCommunity(l Line, args []string) {
	for _, a := range args {
		c := strings.ToLower(a)
		if asn, val, ok := strings.Cut(c, ":"); ok {
			_, err1 := strconv.ParseUint(asn, 10, 16)
			_, err2 := strconv.ParseUint(val, 10, 16)
			if err1 == nil && err2 == nil {
				p.bgp().Communities = append(p.bgp().Communities, c)
				continue
			}
		} else if bgpWellKnown[c] {
			p.bgp().Communities = append(p.bgp().Communities, c)
			continue
		}
		p.errorf(l.Num, "bgp_community: %q is not ASN:VALUE (each 0-65535) or a well-known name (no-export, no-advertise, ...)", a)
	}
}
