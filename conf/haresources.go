package conf

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Resource is one resource of a group as haresources names it:
// NAME::ARG::ARG, or a bare IPv4 address, which means IPaddr::ADDRESS.
type Resource struct {
	Name  string   // the agent's name: IPaddr for a bare address
	Args  []string // the "::"-separated arguments
	Raw   string   // the resource as written
	Line  int      // the physical line it is written on
	Agent string   // "builtin:NAME" or a script path, set by ResolveResources
}

// ResourceGroup is one logical line of haresources: the node that prefers
// the group, then its resources, started left to right and stopped right to
// left.
type ResourceGroup struct {
	Name      string // the first resource as written, which identifies the group
	Home      string // the preferred node
	Line      int
	Resources []Resource
}

// Haresources is a parsed haresources file.
type Haresources struct {
	File   string
	Groups []ResourceGroup
}

// Names of the built-in agents, which hbgo runs itself whatever resource.d
// holds.
const (
	AgentIPaddr            = "IPaddr"
	AgentIPaddr2           = "IPaddr2"
	AgentIPv6addr          = "IPv6addr"
	AgentIPsrcaddr         = "IPsrcaddr"
	AgentLVSSyncDaemonSwap = "LVSSyncDaemonSwap"
	AgentMailTo            = "MailTo"
	AgentLdirectord        = "ldirectord"
	AgentSendArp           = "SendArp"
	// AgentBGPaddr is an anycast VIP: on lo, announced by BGP while this
	// director serves it; its group runs on every healthy director.
	AgentBGPaddr = "BGPaddr"
)

// builtinAgentArgs checks the arguments of each built-in agent.
var builtinAgentArgs = map[string]func([]string) error{
	AgentIPaddr:            func(a []string) error { _, err := ParseIPaddrArgs(a); return err },
	AgentIPaddr2:           func(a []string) error { _, err := ParseIPaddrArgs(a); return err },
	AgentIPv6addr:          func(a []string) error { _, err := ParseIPv6addrArgs(a); return err },
	AgentIPsrcaddr:         func(a []string) error { _, err := ParseIPsrcaddrArgs(a); return err },
	AgentLVSSyncDaemonSwap: func(a []string) error { _, err := ParseLVSSyncDaemonSwapArgs(a); return err },
	AgentMailTo:            func(a []string) error { _, err := ParseMailToArgs(a); return err },
	AgentLdirectord:        func(a []string) error { _, err := ParseLdirectordResourceArgs(a); return err },
	AgentSendArp:           func(a []string) error { _, err := ParseSendArpArgs(a); return err },
	AgentBGPaddr:           func(a []string) error { _, err := ParseBGPaddrArgs(a); return err },
}

// ParseBGPaddrArgs reads BGPaddr::ADDRESS[/32|/128]: one host address,
// IPv4 or IPv6, announced as a host route.
func ParseBGPaddrArgs(args []string) (netip.Prefix, error) {
	if len(args) != 1 {
		return netip.Prefix{}, fmt.Errorf("BGPaddr takes one argument, ADDRESS[/32|/128], not %d", len(args))
	}
	s := args[0]
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Bits() != p.Addr().BitLen() {
			return netip.Prefix{}, fmt.Errorf("BGPaddr %s: an anycast VIP is one address (/%d)", s, p.Addr().BitLen())
		}
		s = p.Addr().String()
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
		return netip.Prefix{}, fmt.Errorf("BGPaddr %s: not a unicast IP address", args[0])
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// IsAnycast reports whether g is an anycast group: it has a BGPaddr
// resource, and runs on every healthy director at once.
func (g *ResourceGroup) IsAnycast() bool {
	for _, r := range g.Resources {
		if r.Name == AgentBGPaddr {
			return true
		}
	}
	return false
}

// anycastCapable: the resources an anycast group may hold besides its
// BGPaddr, those that may run on every director at once (an ldirector
// runs on every director anyway; the IPVS sync daemons in both roles).
var anycastCapable = map[string]bool{AgentBGPaddr: true, AgentLdirectord: true, AgentLVSSyncDaemonSwap: true}

// BuiltinAgents returns the names of the built-in agents, sorted.
func BuiltinAgents() []string {
	names := make([]string, 0, len(builtinAgentArgs))
	for n := range builtinAgentArgs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// IsBuiltinAgent reports whether hbgo runs the agent name itself.
func IsBuiltinAgent(name string) bool {
	_, ok := builtinAgentArgs[name]
	return ok
}

// ParseHaresources reads a haresources file: each logical line (a trailing
// backslash continues it) is "NODE RESOURCE RESOURCE ...". Arguments of the
// built-in agents are checked here; a group is named by its first resource,
// which must be unique, and no address may be brought up by two resources.
// Every problem goes to ds; the result holds whatever could be read.
func ParseHaresources(file string, data []byte, ds *Diags) *Haresources {
	h := &Haresources{File: file}
	phys := strings.Split(string(data), "\n")
	groupLines := map[string]int{}
	vips := map[netip.Addr]haVIPUse{}
	for _, l := range SplitLines(file, data, ds) {
		nums := fieldLineNums(phys, l)
		home := l.Fields[0]
		if home == "" {
			ds.Errorf(file, l.Num, "empty node name")
			continue
		}
		if strings.Contains(home, "::") || IsBuiltinAgent(home) {
			ds.Errorf(file, l.Num, "line starts with resource %s; a group starts with the node that prefers it", clipArg(home))
			continue
		}
		if heartbeatIsIP(home) {
			ds.Warnf(file, l.Num, "node %s looks like an address; a group starts with the node that prefers it", clipArg(home))
		}
		if len(l.Fields) == 1 {
			ds.Errorf(file, l.Num, "node %s lists no resources", clipArg(home))
			continue
		}
		// Node names compare as Heartbeat compares them: lowercased.
		g := ResourceGroup{Name: l.Fields[1], Home: strings.ToLower(home), Line: l.Num}
		if prev, ok := groupLines[g.Name]; ok {
			ds.Errorf(file, nums[1], "group %s repeats line %d; the first resource names a group and must be unique", clipArg(g.Name), prev)
		} else {
			groupLines[g.Name] = l.Num
		}
		for i, raw := range l.Fields[1:] {
			if r, ok := parseHaresource(file, raw, nums[i+1], ds); ok {
				g.Resources = append(g.Resources, r)
			}
		}
		checkGroupAddresses(file, &g, len(h.Groups), vips, ds)
		for _, r := range g.Resources {
			// ::both runs the daemons of both roles on every director at
			// once: only an anycast group does that.
			if role, err := ParseLVSSyncDaemonSwapArgs(r.Args); r.Name == AgentLVSSyncDaemonSwap && err == nil && (role == "both") != g.IsAnycast() {
				if g.IsAnycast() {
					ds.Errorf(file, r.Line, "%s in anycast group %s: every director of an anycast group sends its connections and takes the others'; write LVSSyncDaemonSwap::both", clipArg(r.Raw), clipArg(g.Name))
				} else {
					ds.Errorf(file, r.Line, "%s: both roles at once are for anycast groups (with a BGPaddr), where every director is active; a pair swaps master and backup", clipArg(r.Raw))
				}
			}
		}
		if g.IsAnycast() {
			for _, r := range g.Resources {
				if !anycastCapable[r.Name] {
					ds.Errorf(file, r.Line, "%s in anycast group %s: a group with a BGPaddr runs on every director at once, so it may hold only BGPaddr, ldirectord and LVSSyncDaemonSwap::both resources; put %s in a group of its own", clipArg(r.Raw), clipArg(g.Name), clipArg(r.Name))
				}
			}
		}
		h.Groups = append(h.Groups, g)
	}
	return h
}

// fieldLineNums returns the physical line of each field of l, so that an
// error in a group continued over several lines points at the right one.
// When the physical lines cannot be matched with the fields (a quote spans
// a line break), every field gets the line the group starts on.
func fieldLineNums(phys []string, l Line) []int {
	out := make([]int, 0, len(l.Fields))
	for n := l.Num; n <= len(phys); n++ {
		text := strings.TrimRight(phys[n-1], "\r")
		cont := false
		if c, ok := strings.CutSuffix(text, "\\"); ok && !inComment(c) {
			text, cont = c, true
		}
		fields, err := splitFields(text)
		if err != nil {
			break
		}
		for range fields {
			out = append(out, n)
		}
		if !cont {
			break
		}
	}
	if len(out) != len(l.Fields) {
		out = out[:0]
		for range l.Fields {
			out = append(out, l.Num)
		}
	}
	return out
}

// parseHaresource splits one resource and checks a built-in's arguments.
func parseHaresource(file, raw string, line int, ds *Diags) (Resource, bool) {
	r := Resource{Raw: raw, Line: line}
	if raw == "" {
		ds.Errorf(file, line, "empty resource name")
		return r, false
	}
	if before, _, _ := strings.Cut(raw, "/"); strings.Contains(raw, ":") {
		if a, err := netip.ParseAddr(before); err == nil && a.Is6() {
			ds.Errorf(file, line, "bare IPv6 address %s: only an IPv4 address implies IPaddr; write IPv6addr::%s", clipArg(raw), clipArg(raw))
			return r, false
		}
	}
	name, rest, hasArgs := strings.Cut(raw, "::")
	switch {
	case hasArgs && (name == AgentIPv6addr || name == AgentBGPaddr):
		// An IPv6 address holds "::" itself, and IPv6addr and BGPaddr
		// take one argument, so the rest is that argument whole. (Heartbeat split
		// it and so could only take addresses written without "::".)
		r.Name, r.Args = name, []string{rest}
	case hasArgs:
		r.Name, r.Args = name, strings.Split(rest, "::")
	case heartbeatIsIP(raw):
		r.Name, r.Args = AgentIPaddr, []string{raw}
	default:
		r.Name = raw
	}
	switch {
	case r.Name == "":
		ds.Errorf(file, line, "resource %s has no name before ::", clipArg(raw))
		return r, false
	case strings.ContainsRune(r.Name, '/') || r.Name == "." || r.Name == "..":
		ds.Errorf(file, line, "resource name %s is not a script name; put the script in resource.d", clipArg(r.Name))
		return r, false
	}
	if check, ok := builtinAgentArgs[r.Name]; ok {
		if err := check(r.Args); err != nil {
			ds.Errorf(file, line, "%s: %v", clipArg(raw), err)
		}
		return r, true
	}
	if slices.Contains(r.Args, "") {
		ds.Errorf(file, line, "%s: empty argument between ::", clipArg(raw))
	}
	return r, true
}

type haVIPUse struct {
	line  int
	index int // of the group in the file
	group string
}

// checkGroupAddresses finds an address brought up twice, a broadcast outside its
// subnet, and an IPsrcaddr whose address the group has not brought up
// before it.
func checkGroupAddresses(file string, g *ResourceGroup, index int, vips map[netip.Addr]haVIPUse, ds *Diags) {
	var mine []netip.Addr
	for _, r := range g.Resources {
		var addr netip.Addr
		switch r.Name {
		case AgentIPaddr, AgentIPaddr2:
			s, err := ParseIPaddrArgs(r.Args)
			if err != nil {
				continue
			}
			if s.Prefix >= 0 && s.Broadcast.IsValid() {
				if p := netip.PrefixFrom(s.Addr, s.Prefix).Masked(); !p.Contains(s.Broadcast) {
					ds.Warnf(file, r.Line, "%s: broadcast %s is outside %s", clipArg(r.Raw), s.Broadcast, p)
				}
			}
			addr = s.Addr
		case AgentIPv6addr:
			s, err := ParseIPv6addrArgs(r.Args)
			if err != nil {
				continue
			}
			addr = s.Addr
		case AgentBGPaddr:
			p, err := ParseBGPaddrArgs(r.Args)
			if err != nil {
				continue
			}
			addr = p.Addr()
		case AgentIPsrcaddr:
			s, err := ParseIPsrcaddrArgs(r.Args)
			if err == nil && !slices.Contains(mine, s.Addr) {
				ds.Warnf(file, r.Line, "%s: %s is not brought up earlier in this group; IPsrcaddr needs the address on the host first", clipArg(r.Raw), s.Addr)
			}
			continue
		default:
			continue
		}
		if prev, ok := vips[addr]; ok {
			if prev.index == index {
				ds.Errorf(file, r.Line, "address %s is already brought up on line %d of this group", addr, prev.line)
			} else {
				ds.Errorf(file, r.Line, "address %s is already brought up on line %d by group %s", addr, prev.line, clipArg(prev.group))
			}
			continue
		}
		vips[addr] = haVIPUse{line: r.Line, index: index, group: g.Name}
		mine = append(mine, addr)
	}
}

// heartbeatIsIP is Heartbeat's test for a bare address resource: a digit
// first, and three dots each followed by a digit.
func heartbeatIsIP(s string) bool {
	if s == "" || !isASCIIDigit(s[0]) {
		return false
	}
	dots := 0
	for i := 1; i+1 < len(s); i++ {
		if s[i] == '.' && isASCIIDigit(s[i+1]) {
			dots++
		}
	}
	return dots >= 3
}

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }

// VIPs returns every address an IPaddr, IPaddr2, IPv6addr or BGPaddr resource brings
// up, in file order. An address written without a prefix length gets the
// full length (/32, /128).
func (h *Haresources) VIPs() []netip.Prefix {
	if h == nil {
		return nil
	}
	var out []netip.Prefix
	for _, g := range h.Groups {
		for _, r := range g.Resources {
			var addr netip.Addr
			prefix := -1
			switch r.Name {
			case AgentIPaddr, AgentIPaddr2:
				s, err := ParseIPaddrArgs(r.Args)
				if err != nil {
					continue
				}
				addr, prefix = s.Addr, s.Prefix
			case AgentIPv6addr:
				s, err := ParseIPv6addrArgs(r.Args)
				if err != nil {
					continue
				}
				addr, prefix = s.Addr, s.Prefix
			case AgentBGPaddr:
				p, err := ParseBGPaddrArgs(r.Args)
				if err != nil {
					continue
				}
				addr, prefix = p.Addr(), p.Bits()
			default:
				continue
			}
			if prefix < 0 {
				prefix = addr.BitLen()
			}
			out = append(out, netip.PrefixFrom(addr, prefix))
		}
	}
	return out
}

// ResolveResources sets each resource's Agent: "builtin:NAME" for a
// built-in agent (which wins over a script of the same name, as every
// Heartbeat install has resource.d/IPaddr), else the path lookup finds.
// A resource with neither is an error.
func ResolveResources(h *Haresources, lookup func(name string) (path string, ok bool), ds *Diags) {
	if h == nil {
		return
	}
	builtins := BuiltinAgents()
	for gi := range h.Groups {
		for ri := range h.Groups[gi].Resources {
			r := &h.Groups[gi].Resources[ri]
			if IsBuiltinAgent(r.Name) {
				r.Agent = "builtin:" + r.Name
				continue
			}
			if lookup != nil {
				if p, ok := lookup(r.Name); ok {
					r.Agent = p
					continue
				}
			}
			n := clipArg(r.Name)
			ds.Errorf(h.File, r.Line, "resource %s has no agent: no built-in, no resource.d/%s, no /etc/init.d/%s%s", n, n, n, didYouMean(r.Name, builtins))
		}
	}
}

// ScriptLookup finds a resource script as Heartbeat does: an executable
// regular file confDir/resource.d/NAME, else initDir/NAME (an LSB init
// script). Names with a slash are never looked up.
func ScriptLookup(confDir, initDir string) func(string) (string, bool) {
	dirs := []string{filepath.Join(confDir, "resource.d"), initDir}
	return func(name string) (string, bool) {
		if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
			return "", false
		}
		for _, dir := range dirs {
			if dir == "" {
				continue
			}
			p := filepath.Join(dir, name)
			fi, err := os.Stat(p)
			if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
				return p, true
			}
		}
		return "", false
	}
}

// IPaddrSpec is the argument of IPaddr and IPaddr2:
// ADDR[/PREFIX[/IFACE[/BROADCAST]]] or ADDR/PREFIX/BROADCAST.
type IPaddrSpec struct {
	Addr      netip.Addr
	Prefix    int        // -1 when unset: the agent takes the matching route's
	Iface     string     // "" when unset; may carry an alias label, "eth0:vip"
	Broadcast netip.Addr // invalid when unset
}

const ipaddrArgSyntax = "ADDR[/PREFIX[/IFACE[/BROADCAST]]]"

// ParseIPaddrArgs parses the arguments of IPaddr or IPaddr2 as Heartbeat's
// wrappers split them: the third part is the broadcast address when it
// starts with a digit, else the interface. PREFIX may also be a dotted
// netmask (255.255.255.0).
func ParseIPaddrArgs(args []string) (IPaddrSpec, error) {
	s := IPaddrSpec{Prefix: -1}
	if len(args) != 1 {
		return s, fmt.Errorf("want one argument %s, got %d", ipaddrArgSyntax, len(args))
	}
	parts := strings.Split(args[0], "/")
	if len(parts) > 4 {
		return s, fmt.Errorf("%q has too many parts; want %s", clipArg(args[0]), ipaddrArgSyntax)
	}
	var err error
	if s.Addr, err = resIPv4(parts[0]); err != nil {
		return s, err
	}
	if len(parts) > 1 && parts[1] != "" {
		if s.Prefix, err = resPrefixLen(parts[1], 32); err != nil {
			return s, err
		}
	}
	bcast := ""
	if len(parts) > 2 {
		third := parts[2]
		switch {
		case third != "" && isASCIIDigit(third[0]):
			if len(parts) > 3 {
				return s, fmt.Errorf("%q follows broadcast %s; want %s", clipArg(parts[3]), clipArg(third), ipaddrArgSyntax)
			}
			bcast = third
		case third != "":
			if err := resIface(third, true); err != nil {
				return s, err
			}
			s.Iface = third
		}
		if len(parts) > 3 {
			bcast = parts[3]
		}
	}
	if bcast != "" {
		b, err := resIPv4(bcast)
		if err != nil {
			return s, fmt.Errorf("broadcast: %w", err)
		}
		s.Broadcast = b
	}
	return s, nil
}

// IPv6addrSpec is the argument of IPv6addr: ADDR[/PREFIX[/IFACE]].
type IPv6addrSpec struct {
	Addr   netip.Addr
	Prefix int    // -1 when unset
	Iface  string // "" when unset
}

const ipv6addrArgSyntax = "ADDR[/PREFIX[/IFACE]]"

// ParseIPv6addrArgs parses the argument of IPv6addr. The address may
// contain "::"; the parser of haresources keeps it whole.
func ParseIPv6addrArgs(args []string) (IPv6addrSpec, error) {
	s := IPv6addrSpec{Prefix: -1}
	if len(args) != 1 {
		return s, fmt.Errorf("want one argument %s, got %d", ipv6addrArgSyntax, len(args))
	}
	parts := strings.Split(args[0], "/")
	if len(parts) > 3 {
		return s, fmt.Errorf("%q has too many parts; want %s", clipArg(args[0]), ipv6addrArgSyntax)
	}
	a, err := netip.ParseAddr(parts[0])
	switch {
	case err != nil || !a.Is6() || a.Is4In6():
		return s, fmt.Errorf("%q is not an IPv6 address", clipArg(parts[0]))
	case a.Zone() != "":
		return s, fmt.Errorf("%q: give the interface after the prefix (ADDR/PREFIX/IFACE), not as a zone", clipArg(parts[0]))
	}
	s.Addr = a
	if len(parts) > 1 && parts[1] != "" {
		if s.Prefix, err = resPrefixLen(parts[1], 128); err != nil {
			return s, err
		}
	}
	if len(parts) > 2 && parts[2] != "" {
		if err := resIface(parts[2], false); err != nil {
			return s, err
		}
		s.Iface = parts[2]
	}
	return s, nil
}

// IPsrcaddrSpec is the argument of IPsrcaddr: ADDR[/PREFIX], the preferred
// source address for the default route.
type IPsrcaddrSpec struct {
	Addr   netip.Addr
	Prefix int // -1 when unset
}

// ParseIPsrcaddrArgs parses the argument of IPsrcaddr.
func ParseIPsrcaddrArgs(args []string) (IPsrcaddrSpec, error) {
	s := IPsrcaddrSpec{Prefix: -1}
	if len(args) != 1 {
		return s, fmt.Errorf("want one argument ADDR[/PREFIX], got %d", len(args))
	}
	addr, prefix, hasPrefix := strings.Cut(args[0], "/")
	var err error
	if s.Addr, err = resIPv4(addr); err != nil {
		return s, err
	}
	if hasPrefix {
		if s.Prefix, err = resPrefixLen(prefix, 32); err != nil {
			return s, err
		}
	}
	return s, nil
}

// SendArpSpec is the argument of SendArp: ADDR/IFACE, an address to
// announce on an interface without adding it there.
type SendArpSpec struct {
	Addr  netip.Addr
	Iface string
}

// ParseSendArpArgs parses the argument of SendArp.
func ParseSendArpArgs(args []string) (SendArpSpec, error) {
	var s SendArpSpec
	if len(args) != 1 {
		return s, fmt.Errorf("want one argument ADDR/IFACE, got %d", len(args))
	}
	addr, iface, ok := strings.Cut(args[0], "/")
	var err error
	if s.Addr, err = resIPv4(addr); err != nil {
		return s, err
	}
	if !ok || iface == "" {
		return s, fmt.Errorf("no interface; want ADDR/IFACE")
	}
	if err := resIface(iface, false); err != nil {
		return s, err
	}
	s.Iface = iface
	return s, nil
}

// MailToSpec is the argument list of MailTo: ADDR[,ADDR...][::SUBJECT].
type MailToSpec struct {
	To      []string
	Subject string // "" when unset
}

// ParseMailToArgs parses the arguments of MailTo. An address is a local
// user (root) or user@domain.
func ParseMailToArgs(args []string) (MailToSpec, error) {
	var s MailToSpec
	if len(args) < 1 || len(args) > 2 {
		return s, fmt.Errorf("want ADDR[,ADDR...][::SUBJECT], got %d arguments", len(args))
	}
	for _, a := range strings.Split(args[0], ",") {
		if err := resMailAddr(a); err != nil {
			return s, err
		}
		s.To = append(s.To, a)
	}
	if len(args) == 2 {
		s.Subject = args[1]
	}
	return s, nil
}

func resMailAddr(a string) error {
	if a == "" {
		return fmt.Errorf("empty mail address")
	}
	if strings.ContainsAny(a, " \t<>\"") {
		return fmt.Errorf("%q is not a mail address", clipArg(a))
	}
	if strings.Contains(a, "@") {
		local, domain, _ := strings.Cut(a, "@")
		if local == "" || domain == "" || strings.Contains(domain, "@") {
			return fmt.Errorf("%q is not a mail address", clipArg(a))
		}
	}
	return nil
}

// ParseLVSSyncDaemonSwapArgs parses the argument of LVSSyncDaemonSwap, the
// role ("master" or "backup") of the IPVS sync daemon started while the
// group runs here; the other role runs while it does not.
func ParseLVSSyncDaemonSwapArgs(args []string) (string, error) {
	roles := []string{"master", "backup", "both"}
	if len(args) != 1 {
		return "", fmt.Errorf("want one argument master, backup or both, got %d", len(args))
	}
	if !slices.Contains(roles, args[0]) {
		return "", fmt.Errorf("%q is not master, backup or both%s", clipArg(args[0]), didYouMean(args[0], roles))
	}
	return args[0], nil
}

// DefaultLdirectordConfig is the configuration ldirectord reads when the
// resource names none.
const DefaultLdirectordConfig = "ldirectord.cf"

// ParseLdirectordResourceArgs parses the argument of ldirectord: its
// configuration file, relative to the configuration directory unless
// absolute, DefaultLdirectordConfig when omitted.
func ParseLdirectordResourceArgs(args []string) (string, error) {
	switch {
	case len(args) == 0:
		return DefaultLdirectordConfig, nil
	case len(args) > 1:
		return "", fmt.Errorf("want at most one argument, the configuration file; got %d", len(args))
	case args[0] == "":
		return "", fmt.Errorf("empty configuration file name")
	}
	return args[0], nil
}

// resIPv4 reads a dotted IPv4 address.
func resIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", clipArg(s))
	}
	return a, nil
}

// resPrefixLen reads a prefix length 0-bits, or for IPv4 a dotted
// netmask with contiguous ones.
func resPrefixLen(s string, bits int) (int, error) {
	if bits == 32 && strings.Contains(s, ".") {
		m, err := netip.ParseAddr(s)
		if err == nil && m.Is4() {
			b := m.As4()
			v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			ones := 0
			for ones < 32 && v&(1<<(31-ones)) != 0 {
				ones++
			}
			if ones == 32 || v<<ones == 0 {
				return ones, nil
			}
		}
		return 0, fmt.Errorf("netmask %q is not contiguous ones then zeros", clipArg(s))
	}
	n, err := strconv.Atoi(s)
	if err != nil || !isASCIIDigit(s[0]) || len(s) > 3 || n > bits {
		return 0, fmt.Errorf("prefix length %q is not 0-%d", clipArg(s), bits)
	}
	return n, nil
}

// resIface checks a Linux interface name (at most 15 bytes; no slash,
// colon or blank), allowing an IPv4 alias label after a colon when label
// is set.
func resIface(s string, label bool) error {
	name := s
	if label {
		name, _, _ = strings.Cut(s, ":")
	}
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%q is not an interface name", clipArg(s))
	case len(s) > 15:
		return fmt.Errorf("interface %q is longer than 15 bytes", clipArg(s))
	case strings.ContainsAny(name, ": \t\n/"):
		return fmt.Errorf("%q is not an interface name", clipArg(s))
	}
	return nil
}
