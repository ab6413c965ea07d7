package kaimport

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"hbgo/conf"
)

// Options adjusts Import.
type Options struct {
	// NodeNames names the nodes of the first and second config (or this
	// node and its peer when there is one config); empty means router_id.
	NodeNames []string
	// ReadFile reads a file; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// Rand makes an authkeys secret when keepalived had no auth_pass; nil
	// means crypto/rand.
	Rand io.Reader
}

// File is one output file.
type File struct {
	Name string
	Mode os.FileMode
	Data []byte
}

// Item is a keepalived setting that could not be carried over, or a point
// the operator must look at, with the file it concerns.
type Item struct {
	File   string // keepalived file
	Line   int
	Target string // ha.cf, authkeys, haresources or ldirectord.cf
	What   string
	Why    string
}

func (it Item) String() string {
	pos := it.File
	if pos == "" {
		pos = "note"
	} else if it.Line > 0 {
		pos = fmt.Sprintf("%s:%d", it.File, it.Line)
	}
	return fmt.Sprintf("%s: %s: %s", pos, it.What, it.Why)
}

// Result is what Import produced: the files (nil when Diags has errors),
// the problems of the input, and what was not carried over.
type Result struct {
	Files      []File
	Diags      conf.Diags
	NotCarried []Item
	// Nodes lists every statement of the input; tests use it to prove that
	// each one was carried or listed.
	Nodes []*Node
	// Carried holds the statements that ended in an output directive.
	Carried []*Node
}

// Output file names, as conf reads them.
var targets = []string{conf.HACFName, conf.AuthkeysName, conf.HaresourcesName, conf.LdirectordName}

// Import reads one keepalived.conf, or the two of a pair, and converts it.
func Import(paths []string, opt Options) *Result {
	r := &Result{}
	im := &importer{res: r, opt: opt, out: map[string]*strings.Builder{}}
	if opt.Rand == nil {
		im.opt.Rand = rand.Reader
	}
	var cfgs []*kaConf
	for _, p := range paths {
		nodes := Parse(p, opt.ReadFile, &r.Diags)
		walk(nodes, func(n *Node) { r.Nodes = append(r.Nodes, n) })
		checkKeywords(nodes, nil, &r.Diags)
		cfgs = append(cfgs, im.model(p, nodes))
	}
	if len(cfgs) == 2 {
		comparePair(cfgs[0], cfgs[1], &r.Diags)
	}
	if len(cfgs) > 0 {
		im.convert(cfgs)
	}
	r.Diags.Sort()
	sort.SliceStable(r.NotCarried, func(i, j int) bool {
		a, b := r.NotCarried[i], r.NotCarried[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	if r.Diags.HasErrors() {
		return r
	}
	for _, t := range targets {
		b := im.out[t]
		if b == nil {
			continue
		}
		var h strings.Builder
		fmt.Fprintf(&h, "# %s made by hbgo import keepalived from %s.\n", t, strings.Join(paths, " and "))
		var items []Item
		for _, it := range r.NotCarried {
			if it.Target == t {
				items = append(items, it)
			}
		}
		if len(items) > 0 {
			h.WriteString("#\n# Not carried over from keepalived (check each):\n")
			for _, it := range items {
				fmt.Fprintf(&h, "#   %s\n", it)
			}
		}
		h.WriteString("\n")
		mode := os.FileMode(0o644)
		if t == conf.AuthkeysName {
			mode = 0o600
		}
		r.Files = append(r.Files, File{Name: t, Mode: mode, Data: []byte(h.String() + b.String())})
	}
	return r
}

func walk(nodes []*Node, fn func(*Node)) {
	for _, n := range nodes {
		fn(n)
		walk(n.Block, fn)
	}
}

// checkKeywords reports unknown keywords: an error with a suggestion when
// one is near; the others are listed later as not carried.
func checkKeywords(nodes []*Node, parent *Node, ds *conf.Diags) {
	ctx, check := contextOf(parent)
	for _, n := range nodes {
		if check {
			known := keywords[ctx]
			if !contains(known, n.Key) {
				if s := conf.Suggest(n.Key, known); s != "" {
					ds.Errorf(n.File, n.Line, "unknown keyword %s in %s (did you mean %s?)", n.Key, blockName(parent), s)
				}
			}
		}
		checkKeywords(n.Block, n, ds)
	}
}

func blockName(n *Node) string {
	if n == nil {
		return "the top level"
	}
	return n.Key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// --- the model of one keepalived.conf ---------------------------------------

type kaConf struct {
	path      string
	nodes     []*Node
	routerID  string
	instances []*instance
	syncGroup map[string]string // instance -> sync group name
	vss       []*Node
	vsGroups  map[string]*Node
	lvsSync   *Node // global_defs lvs_sync_daemon
	vipSet    map[netip.Addr]bool
	addrs     map[*Node][]vsAddr // vsAddrs' results, so each error is told once
}

type instance struct {
	n         *Node
	name      string
	state     string
	iface     string
	prio      int
	advert    time.Duration
	nopreempt bool
	vips      []vip
	peers     []*Node
	src       *Node
	authType  string
	authPass  *Node
	lvsIface  *Node
}

type vip struct {
	n      *Node
	addr   netip.Addr
	prefix int
	dev    string
	brd    string
}

type importer struct {
	res     *Result
	opt     Options
	out     map[string]*strings.Builder
	carried map[*Node]bool
}

func (im *importer) errorf(n *Node, format string, args ...any) {
	im.res.Diags.Errorf(n.File, n.Line, format, args...)
}

// use marks a statement as carried into an output directive.
func (im *importer) use(n *Node) {
	if n == nil || n.used {
		return
	}
	n.used = true
	im.res.Carried = append(im.res.Carried, n)
}

// drop lists a statement (and its whole block) as not carried.
func (im *importer) drop(n *Node, target, why string) {
	if n == nil || n.used {
		return
	}
	n.used = true
	walk(n.Block, func(c *Node) { c.used = true })
	im.res.NotCarried = append(im.res.NotCarried, Item{File: n.File, Line: n.Line, Target: target, What: n.Text(), Why: why})
}

// note lists a point to check that is not one statement's loss.
func (im *importer) note(n *Node, target, what, why string) {
	it := Item{Target: target, What: what, Why: why}
	if n != nil {
		it.File, it.Line = n.File, n.Line
	}
	im.res.NotCarried = append(im.res.NotCarried, it)
}

func (im *importer) w(target, format string, args ...any) {
	b := im.out[target]
	if b == nil {
		b = &strings.Builder{}
		im.out[target] = b
	}
	fmt.Fprintf(b, format, args...)
}

func (im *importer) model(path string, nodes []*Node) *kaConf {
	c := &kaConf{path: path, nodes: nodes, syncGroup: map[string]string{}, vsGroups: map[string]*Node{}, vipSet: map[netip.Addr]bool{}, addrs: map[*Node][]vsAddr{}}
	for _, n := range nodes {
		switch n.Key {
		case "global_defs":
			if r := n.Find("router_id"); r != nil && len(r.Args) > 0 {
				c.routerID = r.Args[0]
			} else if r := n.Find("lvs_id"); r != nil && len(r.Args) > 0 {
				c.routerID = r.Args[0]
			}
			c.lvsSync = n.Find("lvs_sync_daemon")
		case "vrrp_instance":
			c.instances = append(c.instances, im.instance(n))
		case "vrrp_sync_group":
			if g := n.Find("group"); g != nil && len(n.Args) > 0 {
				for _, m := range g.Block {
					c.syncGroup[m.Key] = n.Args[0]
					m.used = true // the group's instances share one haresources line
				}
			}
		case "virtual_server":
			c.vss = append(c.vss, n)
		case "virtual_server_group":
			if len(n.Args) > 0 {
				c.vsGroups[n.Args[0]] = n
			}
		case "static_ipaddress":
			for _, a := range n.Block {
				if p, err := parseAddrMask(a.Key); err == nil {
					c.vipSet[p.Addr()] = true
				}
			}
		}
	}
	for _, in := range c.instances {
		for _, v := range in.vips {
			c.vipSet[v.addr] = true
		}
	}
	// A virtual_server address that no vrrp_instance brings up.
	for _, vs := range c.vss {
		for _, a := range im.vsAddrs(c, vs) {
			if a.addr.IsValid() && !c.vipSet[a.addr] {
				im.errorf(a.n, "virtual_server %s: no vrrp_instance brings up %s (add it to a virtual_ipaddress block)", vs.Text()[len("virtual_server "):], a.addr)
			}
		}
	}
	return c
}

func (im *importer) instance(n *Node) *instance {
	in := &instance{n: n, state: "BACKUP", prio: 100, advert: time.Second}
	if len(n.Args) > 0 {
		in.name = n.Args[0]
	}
	for _, c := range n.Block {
		arg := ""
		if len(c.Args) > 0 {
			arg = c.Args[0]
		}
		switch c.Key {
		case "state":
			in.state = strings.ToUpper(arg)
			if in.state != "MASTER" && in.state != "BACKUP" {
				im.errorf(c, "state %q: want MASTER or BACKUP", arg)
			}
		case "interface":
			in.iface = arg
		case "priority":
			p, err := strconv.Atoi(arg)
			if err != nil || p < 1 || p > 255 {
				im.errorf(c, "priority %q: want a number 1..255", arg)
			} else {
				in.prio = p
			}
		case "advert_int":
			f, err := strconv.ParseFloat(arg, 64)
			if err != nil || f <= 0 || f > 255 {
				im.errorf(c, "advert_int %q: want seconds, more than 0 and at most 255", arg)
			} else {
				in.advert = time.Duration(math.Round(f*1000)) * time.Millisecond
			}
		case "nopreempt":
			in.nopreempt = true
		case "virtual_ipaddress":
			for _, a := range c.Block {
				in.vips = append(in.vips, im.parseVIP(a))
			}
		case "unicast_peer":
			in.peers = append(in.peers, c.Block...)
		case "unicast_src_ip":
			in.src = c
		case "authentication":
			if t := c.Find("auth_type"); t != nil && len(t.Args) > 0 {
				in.authType = strings.ToUpper(t.Args[0])
			}
			in.authPass = c.Find("auth_pass")
		case "lvs_sync_daemon_interface":
			in.lvsIface = c
		}
	}
	return in
}

func parseAddrMask(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseVIP reads "ADDR[/MASK] [brd B] [dev D] [label L] [scope S] ...".
func (im *importer) parseVIP(n *Node) vip {
	v := vip{n: n}
	p, err := parseAddrMask(n.Key)
	if err != nil {
		im.errorf(n, "virtual_ipaddress %q is not ADDR[/PREFIX]", n.Key)
		return v
	}
	v.addr, v.prefix = p.Addr(), p.Bits()
	for i := 0; i < len(n.Args); i++ {
		k := n.Args[i]
		val := ""
		if i+1 < len(n.Args) {
			val = n.Args[i+1]
		}
		switch k {
		case "dev":
			v.dev = val
			i++
		case "label":
			v.dev = val // IPaddr2 takes an alias label as its interface
			i++
		case "brd":
			v.brd = val
			i++
		case "scope", "peer", "preferred_lft":
			im.note(n, conf.HaresourcesName, n.Text(), fmt.Sprintf("%s %s not carried: IPaddr2 sets no %s", k, val, k))
			i++
		default:
			im.note(n, conf.HaresourcesName, n.Text(), fmt.Sprintf("option %s not carried", k))
		}
	}
	return v
}

type vsAddr struct {
	n      *Node
	addr   netip.Addr // invalid for fwmark
	port   int
	fwmark int
}

// vsAddrs lists the services a virtual_server declares: its own address,
// its fwmark, or every entry of its group (ranges expanded).
func (im *importer) vsAddrs(c *kaConf, vs *Node) []vsAddr {
	if got, ok := c.addrs[vs]; ok {
		return got
	}
	got := im.readVSAddrs(c, vs)
	c.addrs[vs] = got
	return got
}

func (im *importer) readVSAddrs(c *kaConf, vs *Node) []vsAddr {
	a := vs.Args
	switch {
	case len(a) == 2 && a[0] == "fwmark":
		m, err := strconv.Atoi(a[1])
		if err != nil || m < 1 {
			im.errorf(vs, "virtual_server fwmark %q: want a number of at least 1", a[1])
			return nil
		}
		return []vsAddr{{n: vs, fwmark: m}}
	case len(a) == 2 && a[0] == "group":
		g := c.vsGroups[a[1]]
		if g == nil {
			im.errorf(vs, "virtual_server group %s: no virtual_server_group %s", a[1], a[1])
			return nil
		}
		var out []vsAddr
		for _, e := range g.Block {
			out = append(out, im.groupEntry(e)...)
		}
		return out
	case len(a) == 1 || len(a) == 2:
		addr, err := netip.ParseAddr(a[0])
		if err != nil {
			im.errorf(vs, "virtual_server %q is not an address", a[0])
			return nil
		}
		port := 0
		if len(a) == 2 {
			if port, err = strconv.Atoi(a[1]); err != nil || port < 0 || port > 65535 {
				im.errorf(vs, "virtual_server port %q: want 0..65535", a[1])
				return nil
			}
		}
		return []vsAddr{{n: vs, addr: addr, port: port}}
	}
	im.errorf(vs, "virtual_server wants ADDR [PORT], fwmark N or group NAME")
	return nil
}

// maxRange bounds the expansion of an address range of a group.
const maxRange = 256

func (im *importer) groupEntry(e *Node) []vsAddr {
	if e.Key == "fwmark" {
		if len(e.Args) == 0 {
			im.errorf(e, "fwmark needs a number")
			return nil
		}
		m, err := strconv.Atoi(e.Args[0])
		if err != nil || m < 1 {
			im.errorf(e, "fwmark %q: want a number of at least 1", e.Args[0])
			return nil
		}
		return []vsAddr{{n: e, fwmark: m}}
	}
	port := 0
	if len(e.Args) > 0 {
		p, err := strconv.Atoi(e.Args[0])
		if err != nil || p < 0 || p > 65535 {
			im.errorf(e, "port %q: want 0..65535", e.Args[0])
			return nil
		}
		port = p
	}
	first, last, isRange := strings.Cut(e.Key, "-")
	a, err := netip.ParseAddr(first)
	if err != nil || !a.Is4() && isRange {
		im.errorf(e, "%q is not an address or an IPv4 range A.B.C.D-E", e.Key)
		return nil
	}
	if !isRange {
		return []vsAddr{{n: e, addr: a, port: port}}
	}
	end, err := strconv.Atoi(last)
	b := a.As4()
	if err != nil || end < int(b[3]) || end > 255 || end-int(b[3]) >= maxRange {
		im.errorf(e, "range %q: want A.B.C.D-E with D <= E <= 255", e.Key)
		return nil
	}
	var out []vsAddr
	for i := int(b[3]); i <= end; i++ {
		b[3] = byte(i)
		out = append(out, vsAddr{n: e, addr: netip.AddrFrom4(b), port: port})
	}
	return out
}

// --- conversion -------------------------------------------------------------

// group is one haresources line: one vrrp_instance, or the instances of a
// vrrp_sync_group.
type group struct {
	name      string
	local     []*instance // of the first config
	other     []*instance // the same instances in the second config, if any
	home      int         // index into names
	ldir      bool
	lvsMaster bool
}

func (im *importer) convert(cfgs []*kaConf) {
	a := cfgs[0]
	var b *kaConf
	if len(cfgs) > 1 {
		b = cfgs[1]
	}
	names := im.nodeNames(a, b)

	// Mark what the model consumed directly or by its meaning.
	walk(a.nodes, func(n *Node) {
		switch n.Key {
		case "global_defs", "vrrp_instance", "vrrp_sync_group", "virtual_server_group", "authentication", "virtual_ipaddress", "unicast_peer", "group":
			im.use(n)
		}
	})
	if b != nil {
		// The second config was compared statement by statement; it adds
		// its node name, priority and unicast addresses.
		walk(b.nodes, func(n *Node) { n.used = true })
	}
	for _, n := range a.nodes {
		if n.Key == "global_defs" {
			im.globalDefs(n)
		}
	}

	groups := im.groups(a, b)
	if len(groups) == 0 {
		im.errorf(&Node{File: a.path, Line: 0}, "no vrrp_instance: nothing brings up a virtual address")
		return
	}
	im.hacf(a, b, names, groups)
	im.authkeys(a, b)
	im.ldirectord(a)
	im.haresources(a, names, groups)

	for _, n := range a.nodes {
		if why, ok := topLevelWhy[n.Key]; ok {
			im.drop(n, targetOf(n), why)
		}
	}
	// Whatever no step consumed is listed, never dropped.
	leftovers(a.nodes, nil, func(n, parent *Node) {
		ctx, check := contextOf(parent)
		if check && !contains(keywords[ctx], n.Key) {
			im.drop(n, targetOf(n), "unknown keyword in "+blockName(parent)+", not carried")
			return
		}
		im.drop(n, targetOf(n), "hbgo has no equivalent")
	})
}

// leftovers calls fn for each statement no step consumed, parents first.
func leftovers(nodes []*Node, parent *Node, fn func(n, parent *Node)) {
	for _, n := range nodes {
		if !n.used {
			fn(n, parent)
		}
		leftovers(n.Block, n, fn)
	}
}

// topLevelWhy says why a top-level block of keepalived is not carried.
var topLevelWhy = map[string]string{
	"vrrp_script":         "hbgo runs no tracking scripts; ping and ping_group in ha.cf move groups away from a node that lost its uplink",
	"vrrp_track_process":  "hbgo tracks no processes",
	"track_file":          "hbgo tracks no files",
	"static_ipaddress":    "static addresses stay where they are: configure them in the system's network setup",
	"static_routes":       "static routes stay where they are: configure them in the system's network setup",
	"static_rules":        "static rules stay where they are: configure them in the system's network setup",
	"SSL":                 "ldirectord's https check presents no client certificate",
	"linkbeat_interfaces": "hbgo watches heartbeat links, not carrier",
	"garp_group":          "gratuitous ARP is set by arp_count, arp_interval and arp_refresh in ha.cf",
	"bfd_instance":        "hbgo has no BFD; its heartbeats detect a dead peer",
	"net_namespace":       "run hbgo inside the namespace instead",
}

// targetOf names the output file a leftover statement concerns.
func targetOf(n *Node) string {
	if strings.HasPrefix(n.Key, "virtual_server") || strings.HasPrefix(n.Key, "real_server") || checkerKeys[n.Key] {
		return conf.LdirectordName
	}
	return conf.HACFName
}

func (im *importer) nodeNames(a, b *kaConf) []string {
	names := []string{"node1", "node2"}
	if a.routerID != "" {
		names[0] = a.routerID
		names[1] = a.routerID + "-peer"
	}
	if b != nil && b.routerID != "" && b.routerID != names[0] {
		names[1] = b.routerID
	}
	for i, n := range im.opt.NodeNames {
		if i < 2 && n != "" {
			names[i] = n
		}
	}
	if b == nil && len(im.opt.NodeNames) < 2 {
		im.note(nil, conf.HACFName, "node "+names[1], "the peer's name is not in one keepalived.conf; replace it with what uname -n prints there, or give --node-names or both configs")
	}
	return names
}

func (im *importer) globalDefs(g *Node) {
	for _, c := range g.Block {
		switch c.Key {
		case "router_id", "lvs_id":
			im.use(c) // names the node
		case "lvs_sync_daemon":
			// handled with the groups
		case "notification_email", "notification_email_from", "smtp_server", "smtp_connect_timeout", "smtp_helo_name", "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker":
			im.drop(c, conf.HACFName, "keepalived's mail alerts are not carried; use a MailTo resource in haresources or emailalert in ldirectord.cf")
		case "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "vrrp_garp_interval", "vrrp_gna_interval":
			im.drop(c, conf.HACFName, "gratuitous ARP timing is set by arp_count, arp_interval and arp_refresh in ha.cf; set them by hand")
		case "enable_script_security", "script_user":
			im.drop(c, conf.HACFName, "hbgo runs no vrrp_script; its resource scripts run as root")
		default:
			im.drop(c, conf.HACFName, "a keepalived daemon setting with no equivalent in hbgo")
		}
	}
}

func (im *importer) groups(a, b *kaConf) []*group {
	var gs []*group
	byName := map[string]*group{}
	for _, in := range a.instances {
		name := in.name
		if sg, ok := a.syncGroup[in.name]; ok {
			name = sg
		}
		g := byName[name]
		if g == nil {
			g = &group{name: name}
			byName[name] = g
			gs = append(gs, g)
		}
		g.local = append(g.local, in)
		if b != nil {
			for _, o := range b.instances {
				if o.name == in.name {
					g.other = append(g.other, o)
				}
			}
		}
	}
	for _, g := range gs {
		in := g.local[0]
		switch {
		case len(g.other) > 0:
			o := g.other[0]
			if o.prio > in.prio || o.prio == in.prio && o.state == "MASTER" && in.state != "MASTER" {
				g.home = 1
			}
		case in.state != "MASTER" && in.prio < 255:
			g.home = 1
		}
	}
	if len(gs) == 0 {
		return nil
	}
	// LVSSyncDaemonSwap goes with the instance the sync daemon follows.
	syncInst := ""
	if a.lvsSync != nil {
		for i, arg := range a.lvsSync.Args {
			if i > 0 && arg != "inst" && arg != "id" && (i < 2 || a.lvsSync.Args[i-1] != "id") {
				syncInst = arg
				break
			}
		}
	}
	for _, g := range gs {
		for _, in := range g.local {
			if in.lvsIface != nil || (a.lvsSync != nil && in.name == syncInst) {
				g.lvsMaster = true
			}
		}
	}
	if a.lvsSync != nil && syncInst == "" && len(gs) > 0 {
		gs[0].lvsMaster = true
	}
	// ldirectord goes with the group that brings up the first virtual_server
	// address, or the first group.
	if len(a.vss) > 0 {
		owner := gs[0]
	find:
		for _, vs := range a.vss {
			for _, sa := range im.vsAddrs(a, vs) {
				for _, g := range gs {
					for _, in := range g.local {
						for _, v := range in.vips {
							if sa.addr.IsValid() && v.addr == sa.addr {
								owner = g
								break find
							}
						}
					}
				}
			}
		}
		owner.ldir = true
	}
	return gs
}

// fmtDur writes a duration as ha.cf reads it: whole seconds bare, else ms.
func fmtDur(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

// MasterDown is VRRP's master-down interval (RFC 3768 section 6.1):
// three advertisement intervals plus the skew time (256-priority)/256 of
// an interval, rounded up to whole milliseconds. The backup with the given
// priority declares the master dead after it.
func MasterDown(advert time.Duration, backupPriority int) time.Duration {
	skew := advert * time.Duration(256-backupPriority) / 256
	d := 3*advert + skew
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

func (im *importer) hacf(a, b *kaConf, names []string, groups []*group) {
	advert, backupPrio := time.Duration(0), 255
	var advertAt *Node
	nopreempt := false
	for _, in := range a.instances {
		if in.advert > advert {
			advert = in.advert
		}
		if f := in.n.Find("advert_int"); f != nil && len(f.Args) > 0 {
			advertAt = f
			im.use(f)
		}
		if in.nopreempt {
			nopreempt = true
			im.use(in.n.Find("nopreempt"))
		}
	}
	for _, g := range groups {
		// The backup's priority sets the skew: the node that is not home.
		switch {
		case g.home == 1:
			backupPrio = min(backupPrio, g.local[0].prio)
		case len(g.other) > 0:
			backupPrio = min(backupPrio, g.other[0].prio)
		default:
			backupPrio = min(backupPrio, 100) // an unknown peer: keepalived's default priority
		}
	}
	dead := MasterDown(advert, backupPrio)
	warn := 2 * advert
	initdead := ((2*dead + time.Second - 1) / time.Second) * time.Second
	initdead = max(initdead, 10*time.Second)
	src := "advert_int 1 (keepalived's default)"
	if advertAt != nil {
		src = fmt.Sprintf("advert_int %s (%s)", advertAt.Args[0], advertAt.Pos())
	}
	im.w(conf.HACFName, "# Timing from %s: a heartbeat every advert_int; a peer is dead after\n", src)
	im.w(conf.HACFName, "# VRRP's master-down interval, 3 x advert_int + (256 - %d) / 256 x advert_int.\n", backupPrio)
	im.w(conf.HACFName, "keepalive\t%s\ndeadtime\t%s\nwarntime\t%s\ninitdead\t%s\n\n", fmtDur(advert), fmtDur(dead), fmtDur(warn), fmtDur(initdead))

	im.w(conf.HACFName, "udpport\t\t694\n")
	seen := map[string]bool{}
	line := func(s string) {
		if !seen[s] {
			seen[s] = true
			im.w(conf.HACFName, "%s\n", s)
		}
	}
	insts := append([]*instance{}, a.instances...)
	if b != nil {
		insts = append(insts, b.instances...)
	}
	for _, in := range insts {
		if in.iface == "" {
			im.errorf(in.n, "vrrp_instance %s has no interface", in.name)
			continue
		}
		im.use(in.n.Find("interface"))
		if len(in.peers) == 0 {
			line("bcast\t\t" + in.iface)
			continue
		}
		if in.src != nil && len(in.src.Args) > 0 {
			line("ucast\t\t" + in.iface + " " + in.src.Args[0])
			im.use(in.src)
		}
		for _, p := range in.peers {
			line("ucast\t\t" + in.iface + " " + p.Key)
			im.use(p)
			if len(p.Args) > 0 {
				im.note(p, conf.HACFName, p.Text(), "min_ttl/max_ttl not carried")
			}
		}
	}
	if b == nil {
		for _, in := range a.instances {
			if len(in.peers) > 0 && in.src == nil {
				im.note(in.n, conf.HACFName, "vrrp_instance "+in.name, "no unicast_src_ip: add ucast "+in.iface+" <this node's address> so that the peer, reading the same ha.cf, sends here")
			}
		}
	}
	im.w(conf.HACFName, "\n")
	if nopreempt {
		im.w(conf.HACFName, "# nopreempt: the VIPs stay where they are when the home node returns.\nauto_failback\toff\n")
	} else {
		im.w(conf.HACFName, "# keepalived preempts: the VIPs return to the higher priority node.\nauto_failback\ton\n")
	}
	im.w(conf.HACFName, "\nnode\t\t%s\nnode\t\t%s\n", names[0], names[1])

	// The IPVS connection-sync daemon.
	iface, id := "", -1
	var at *Node
	if s := a.lvsSync; s != nil && len(s.Args) > 0 {
		iface, at = s.Args[0], s
		for i := 1; i+1 < len(s.Args); i++ {
			if s.Args[i] == "id" {
				if v, err := strconv.Atoi(s.Args[i+1]); err == nil && v >= 0 && v <= 255 {
					id = v
				} else {
					im.errorf(s, "lvs_sync_daemon id %q: want 0..255", s.Args[i+1])
				}
			}
		}
		for _, x := range s.Args[1:] {
			if x == "maxlen" || x == "port" || x == "ttl" || x == "group" {
				im.note(s, conf.HACFName, s.Text(), "only the interface and id are carried")
				break
			}
		}
	}
	for _, in := range a.instances {
		if in.lvsIface != nil && len(in.lvsIface.Args) > 0 {
			if iface == "" {
				iface, at = in.lvsIface.Args[0], in.lvsIface
			}
			im.use(in.lvsIface)
		}
	}
	if iface != "" {
		im.use(at)
		im.w(conf.HACFName, "\n# The IPVS connection-sync daemon (%s).\nlvs_sync_interface\t%s\n", at.Pos(), iface)
		if id >= 0 {
			im.w(conf.HACFName, "lvs_syncid\t%d\n", id)
		}
	}

	// The rest of each vrrp_instance.
	for _, in := range a.instances {
		for _, c := range in.n.Block {
			switch c.Key {
			case "state", "priority":
				im.use(c) // they choose the home node in haresources
			case "virtual_router_id":
				im.drop(c, conf.HACFName, "hbgo needs no router id: each haresources line is its own group")
			case "preempt_delay":
				im.drop(c, conf.HACFName, "hbgo fails back at once when auto_failback is on; there is no delay")
			case "track_interface", "track_script", "track_file", "track_process", "track_bfd":
				im.drop(c, conf.HACFName, "hbgo does not track interfaces or scripts; ping and ping_group nodes in ha.cf move groups away from a node that lost its uplink")
			case "notify", "notify_master", "notify_backup", "notify_fault", "notify_stop":
				im.drop(c, conf.HaresourcesName, "hbgo runs no notify scripts; add a script resource to the haresources line instead")
			case "garp_master_delay", "garp_master_repeat", "garp_master_refresh", "garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat":
				im.drop(c, conf.HACFName, "gratuitous ARP is set by arp_count, arp_interval and arp_refresh in ha.cf")
			case "mcast_src_ip", "mcast_dst_ip":
				im.drop(c, conf.HACFName, "heartbeats go by bcast on the interface; use mcast in ha.cf by hand for a multicast group")
			case "smtp_alert":
				im.drop(c, conf.HACFName, "use a MailTo resource in haresources for mail on takeover")
			case "dont_track_primary", "use_vmac", "vmac_xmit_base", "native_ipv6", "version", "strict_mode", "garp_extra_if", "unicast_ttl":
				im.drop(c, conf.HACFName, "a VRRP protocol detail with no meaning for hbgo's heartbeats")
			case "virtual_ipaddress_excluded":
				im.drop(c, conf.HaresourcesName, "these addresses are not announced in VRRP packets; add them as IPaddr2 resources by hand if they must move")
			case "virtual_routes", "virtual_rules":
				im.drop(c, conf.HaresourcesName, "hbgo moves no routes or rules; add a script resource that adds them")
			}
		}
	}
}

func (im *importer) authkeys(a, b *kaConf) {
	var pass *Node
	for _, in := range a.instances {
		if in.authPass != nil {
			if pass == nil {
				pass = in.authPass
			} else if len(in.authPass.Args) > 0 && len(pass.Args) > 0 && in.authPass.Args[0] == pass.Args[0] {
				im.use(in.authPass)
			} else {
				im.drop(in.authPass, conf.AuthkeysName, "differs from "+pass.Pos()+"; hbgo has one key for the cluster, the first is used")
			}
			if in.authType == "AH" {
				im.drop(in.n.Find("authentication").Find("auth_type"), conf.AuthkeysName, "IPsec AH is not used; hbgo signs heartbeats with HMAC-SHA1 of the secret")
			} else {
				im.use(in.n.Find("authentication").Find("auth_type"))
			}
		}
	}
	im.w(conf.AuthkeysName, "auth 1\n")
	if pass != nil && len(pass.Args) > 0 {
		im.use(pass)
		im.w(conf.AuthkeysName, "# From auth_pass (%s). keepalived sent this password in plain text in\n", pass.Pos())
		im.w(conf.AuthkeysName, "# every VRRP packet; hbgo uses it as an HMAC key and never sends it. Anyone\n")
		im.w(conf.AuthkeysName, "# who saw the VRRP traffic knows it: replace it with a long random secret.\n")
		im.w(conf.AuthkeysName, "1 sha1 %s\n", pass.Args[0])
		return
	}
	buf := make([]byte, 20)
	if _, err := io.ReadFull(im.opt.Rand, buf); err != nil {
		im.errorf(&Node{File: a.path}, "cannot make a secret: %v", err)
		return
	}
	im.w(conf.AuthkeysName, "# keepalived had no auth_pass: a random secret. Copy this file to both nodes.\n")
	im.w(conf.AuthkeysName, "1 sha1 %s\n", hex.EncodeToString(buf))
}

func (im *importer) haresources(a *kaConf, names []string, groups []*group) {
	im.w(conf.HaresourcesName, "# One line per vrrp_instance (or vrrp_sync_group); the first node is the\n")
	im.w(conf.HaresourcesName, "# home, the MASTER or higher priority side.\n")
	for _, g := range groups {
		var res []string
		for _, in := range g.local {
			for _, v := range in.vips {
				if !v.addr.IsValid() {
					continue
				}
				im.use(v.n)
				dev := v.dev
				if dev == "" {
					dev = in.iface
				}
				if v.addr.Is4() {
					s := fmt.Sprintf("IPaddr2::%s/%d/%s", v.addr, v.prefix, dev)
					if v.brd != "" {
						s += "/" + v.brd
					}
					res = append(res, s)
				} else {
					res = append(res, fmt.Sprintf("IPv6addr::%s/%d/%s", v.addr, v.prefix, dev))
				}
			}
		}
		if g.ldir {
			res = append(res, "ldirectord::"+conf.LdirectordName)
		}
		if g.lvsMaster {
			res = append(res, "LVSSyncDaemonSwap::master")
		}
		im.w(conf.HaresourcesName, "%s %s\n", names[g.home], strings.Join(res, " "))
	}
}
