// Package realserver owns what an LVS direct-routing real server needs:
// the VIPs on lo as host addresses and the ARP sysctls that keep the real
// server from answering ARP for them, set up idempotently and undone
// exactly, with what was there before kept in a state file.
package realserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// DefaultStateFile is where Start remembers what it changed.
const DefaultStateFile = "/run/hbgo-realserver.state"

// Loopback is the interface the VIPs go on.
const Loopback = "lo"

// Sysctls are the ARP settings of the LVS-DR how-tos, as /proc/sys paths
// and the values Start writes: answer ARP only for addresses of the
// interface asked on (arp_ignore 1), and announce from the best address
// of the outgoing interface (arp_announce 2), on lo and on all (the kernel
// uses the larger of "all" and the interface's own value).
var Sysctls = []Setting{
	{"net/ipv4/conf/lo/arp_ignore", "1"},
	{"net/ipv4/conf/lo/arp_announce", "2"},
	{"net/ipv4/conf/all/arp_ignore", "1"},
	{"net/ipv4/conf/all/arp_announce", "2"},
}

// Setting is one sysctl: its path under /proc/sys and a value.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Name is the dotted sysctl name (net.ipv4.conf.lo.arp_ignore).
func (s Setting) Name() string { return strings.ReplaceAll(s.Key, "/", ".") }

// Addr is an address on an interface.
type Addr struct {
	Prefix netip.Prefix
	Label  string
}

// System is what the helper changes: sysctls and lo's addresses. Linux
// has one real implementation (NewSystem); tests may use another.
type System interface {
	ReadSysctl(key string) (string, error)
	WriteSysctl(key, value string) error
	LoAddrs() ([]Addr, error)
	AddLo(a Addr) error
	DelLo(p netip.Prefix) error
}

// State is what Start changed: the sysctl values it found, and the VIPs it
// added (not those that were on lo already).
type State struct {
	Saved []Setting `json:"saved"`
	Added []string  `json:"added"`
}

// Helper sets a real server up and undoes it.
type Helper struct {
	Sys       System
	StateFile string
	Log       io.Writer // one line per change; nil for none
}

func (h *Helper) logf(format string, args ...any) {
	if h.Log != nil {
		fmt.Fprintf(h.Log, format+"\n", args...)
	}
}

// ParseVIPs reads VIP arguments: addresses, or addresses with /32 (IPv4)
// or /128 (IPv6), as the how-to scripts write them.
func ParseVIPs(args []string) ([]netip.Addr, error) {
	var vips []netip.Addr
	var errs []error
	seen := map[netip.Addr]bool{}
	for _, a := range args {
		s := a
		if i := strings.IndexByte(s, '/'); i >= 0 {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("VIP %q: %v", a, err))
				continue
			}
			if !p.IsSingleIP() {
				errs = append(errs, fmt.Errorf("VIP %q: a real server holds the VIP as a host address (/%d), not /%d", a, p.Addr().BitLen(), p.Bits()))
				continue
			}
			s = p.Addr().String()
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("VIP %q is not an IP address", a))
			continue
		}
		ip = ip.Unmap()
		if ip.Zone() != "" || ip.IsLoopback() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalUnicast() {
			errs = append(errs, fmt.Errorf("VIP %q cannot be a virtual service address", a))
			continue
		}
		if !seen[ip] {
			seen[ip] = true
			vips = append(vips, ip)
		}
	}
	if len(vips) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no VIP given"))
	}
	return vips, errors.Join(errs...)
}

func (h *Helper) stateFile() string {
	if h.StateFile == "" {
		return DefaultStateFile
	}
	return h.StateFile
}

// Load reads the state file; a missing file is an empty state.
func (h *Helper) Load() (*State, error) {
	b, err := os.ReadFile(h.stateFile())
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %v (remove it if nothing is set up)", h.stateFile(), err)
	}
	return &st, nil
}

func (h *Helper) save(st *State) error {
	path := h.stateFile()
	if len(st.Saved) == 0 && len(st.Added) == 0 {
		err := os.Remove(path)
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// hostPrefix is the VIP as lo holds it: /32 or /128.
func hostPrefix(ip netip.Addr) netip.Prefix {
	return netip.PrefixFrom(ip, ip.BitLen())
}

// onLo finds ip among lo's addresses, whatever its prefix length.
func onLo(addrs []Addr, ip netip.Addr) (Addr, bool) {
	for _, a := range addrs {
		if a.Prefix.Addr().Unmap() == ip {
			return a, true
		}
	}
	return Addr{}, false
}

// freeLabel is the first lo:N not in use, as the how-to scripts number
// their aliases.
func freeLabel(addrs []Addr) string {
	used := map[string]bool{}
	for _, a := range addrs {
		used[a.Label] = true
	}
	for i := 0; ; i++ {
		l := Loopback + ":" + strconv.Itoa(i)
		if !used[l] {
			return l
		}
	}
}

// Start puts the VIPs on lo and sets the ARP sysctls; what it finds set
// up already it leaves, so a second Start changes nothing. The sysctls'
// values from before the first Start are kept for Stop.
func (h *Helper) Start(vips []netip.Addr) error {
	st, err := h.Load()
	if err != nil {
		return err
	}
	if len(st.Saved) == 0 {
		for _, s := range Sysctls {
			v, err := h.Sys.ReadSysctl(s.Key)
			if err != nil {
				return fmt.Errorf("read %s: %w", s.Name(), err)
			}
			st.Saved = append(st.Saved, Setting{s.Key, v})
		}
		// Saved before anything changes, so a failure part way is undone
		// by stop.
		if err := h.save(st); err != nil {
			return err
		}
	}
	for _, s := range Sysctls {
		v, err := h.Sys.ReadSysctl(s.Key)
		if err != nil {
			return fmt.Errorf("read %s: %w", s.Name(), err)
		}
		if v == s.Value {
			continue
		}
		if err := h.Sys.WriteSysctl(s.Key, s.Value); err != nil {
			return fmt.Errorf("set %s = %s: %w", s.Name(), s.Value, err)
		}
		h.logf("%s = %s (was %s)", s.Name(), s.Value, v)
	}
	addrs, err := h.Sys.LoAddrs()
	if err != nil {
		return err
	}
	var errs []error
	for _, ip := range vips {
		if _, ok := onLo(addrs, ip); ok {
			continue
		}
		a := Addr{Prefix: hostPrefix(ip)}
		if ip.Is4() {
			a.Label = freeLabel(addrs)
		}
		if err := h.Sys.AddLo(a); err != nil {
			errs = append(errs, fmt.Errorf("add %s to %s: %w", a.Prefix, Loopback, err))
			continue
		}
		addrs = append(addrs, a)
		if !slices.Contains(st.Added, ip.String()) { // removed behind our back, added again
			st.Added = append(st.Added, ip.String())
		}
		if a.Label != "" {
			h.logf("%s added on %s (%s)", a.Prefix, Loopback, a.Label)
		} else {
			h.logf("%s added on %s", a.Prefix, Loopback)
		}
		if err := h.save(st); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// Stop removes the given VIPs, or with none every VIP Start added; a VIP
// that was on lo before Start stays. When no VIP of Start's is left, the
// sysctls get back the values Start found and the state file goes.
func (h *Helper) Stop(vips []netip.Addr) error {
	st, err := h.Load()
	if err != nil {
		return err
	}
	addrs, err := h.Sys.LoAddrs()
	if err != nil {
		return err
	}
	drop := map[string]bool{}
	for _, ip := range vips {
		drop[ip.String()] = true
	}
	var errs []error
	var kept []string
	for _, s := range st.Added {
		if len(vips) > 0 && !drop[s] {
			kept = append(kept, s)
			continue
		}
		delete(drop, s)
		ip, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		if a, ok := onLo(addrs, ip); ok {
			if err := h.Sys.DelLo(a.Prefix); err != nil {
				errs = append(errs, fmt.Errorf("remove %s from %s: %w", a.Prefix, Loopback, err))
				kept = append(kept, s)
				continue
			}
			h.logf("%s removed from %s", a.Prefix, Loopback)
		}
	}
	for _, s := range sortedKeys(drop) {
		h.logf("%s was not added by start; left as it is", s)
	}
	st.Added = kept
	if len(kept) == 0 && len(errs) == 0 {
		for _, s := range st.Saved {
			v, err := h.Sys.ReadSysctl(s.Key)
			if err == nil && v == s.Value {
				continue
			}
			if err := h.Sys.WriteSysctl(s.Key, s.Value); err != nil {
				errs = append(errs, fmt.Errorf("restore %s = %s: %w", s.Name(), s.Value, err))
				continue
			}
			h.logf("%s = %s (restored)", s.Name(), s.Value)
		}
		if len(errs) == 0 {
			st.Saved = nil
		}
	}
	if err := h.save(st); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Report is what Status found.
type Report struct {
	Sysctls []Setting // current values
	SysOK   bool      // every sysctl is at least what Start sets
	VIPs    []VIPState
	Added   []string // VIPs the state file says Start added
}

// VIPState is one VIP's presence on lo.
type VIPState struct {
	VIP   netip.Addr
	On    bool
	Addr  Addr
	Added bool // Start added it (stop removes it)
}

// OK says whether everything asked for is set up.
func (r *Report) OK() bool {
	if !r.SysOK {
		return false
	}
	for _, v := range r.VIPs {
		if !v.On {
			return false
		}
	}
	return true
}

// Status reads the sysctls and lo's addresses. arp_ignore counts as set
// from 1 (2, 3 and 8 are stricter), arp_announce only at 2.
func (h *Helper) Status(vips []netip.Addr) (*Report, error) {
	st, err := h.Load()
	if err != nil {
		return nil, err
	}
	r := &Report{SysOK: true, Added: st.Added}
	for _, s := range Sysctls {
		v, err := h.Sys.ReadSysctl(s.Key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.Name(), err)
		}
		r.Sysctls = append(r.Sysctls, Setting{s.Key, v})
		if !sysctlOK(s, v) {
			r.SysOK = false
		}
	}
	addrs, err := h.Sys.LoAddrs()
	if err != nil {
		return nil, err
	}
	added := map[string]bool{}
	for _, s := range st.Added {
		added[s] = true
	}
	for _, ip := range vips {
		a, ok := onLo(addrs, ip)
		r.VIPs = append(r.VIPs, VIPState{VIP: ip, On: ok, Addr: a, Added: added[ip.String()]})
	}
	return r, nil
}

func sysctlOK(want Setting, got string) bool {
	if strings.HasSuffix(want.Key, "arp_ignore") {
		switch got {
		case "1", "2", "3", "8":
			return true
		}
		return false
	}
	return got == want.Value
}

// Write prints a report as the status command does.
func (r *Report) Write(w io.Writer) {
	for _, s := range r.Sysctls {
		fmt.Fprintf(w, "%s = %s\n", s.Name(), s.Value)
	}
	for _, v := range r.VIPs {
		switch {
		case !v.On:
			fmt.Fprintf(w, "%s: not on %s\n", v.VIP, Loopback)
		default:
			how := ""
			if v.Addr.Label != "" && v.Addr.Label != Loopback {
				how = " (" + v.Addr.Label + ")"
			}
			if !v.Added {
				how += ", not added by start"
			}
			fmt.Fprintf(w, "%s: on %s as %s%s\n", v.VIP, Loopback, v.Addr.Prefix, how)
		}
	}
	if r.OK() {
		fmt.Fprintln(w, "real server: set up")
	} else {
		fmt.Fprintln(w, "real server: not set up")
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
