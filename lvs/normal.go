package lvs

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// Schedulers are the IPVS schedulers of Linux, as ipvsadm -s names them.
// twos arrived in Linux 6.7; older kernels refuse it.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}

// DefaultScheduler is what an empty Service.Scheduler means, as in ipvsadm.
const DefaultScheduler = "wlc"

// The service flags of ipvsadm -b, as bits of the kernel's service flags.
const (
	flagPersistent = 0x0001
	flagHashed     = 0x0002
	flagOnePacket  = 0x0004
	flagSched1     = 0x0008
	flagSched2     = 0x0010
	flagSched3     = 0x0020
)

// schedFlagBits maps ipvsadm -b names to kernel bits.
var schedFlagBits = map[string]uint32{
	"flag-1": flagSched1, "flag-2": flagSched2, "flag-3": flagSched3,
	"sh-fallback": flagSched1, "sh-port": flagSched2,
	"mh-fallback": flagSched1, "mh-port": flagSched2,
}

// schedFlagsToBits turns -b names into kernel bits.
func schedFlagsToBits(flags []string) (uint32, error) {
	var b uint32
	for _, f := range flags {
		v, ok := schedFlagBits[strings.ToLower(strings.TrimSpace(f))]
		if !ok {
			return 0, fmt.Errorf("scheduler flag %q: %w (want flag-1..3, sh-fallback, sh-port, mh-fallback, mh-port)", f, ErrInvalid)
		}
		b |= v
	}
	return b, nil
}

// schedFlagNames names kernel bits as ipvsadm does for the scheduler.
func schedFlagNames(sched string, bits uint32) []string {
	var out []string
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	switch sched {
	case "sh":
		names[0], names[1] = "sh-fallback", "sh-port"
	case "mh":
		names[0], names[1] = "mh-fallback", "mh-port"
	}
	for i, bit := range []uint32{flagSched1, flagSched2, flagSched3} {
		if bits&bit != 0 {
			out = append(out, names[i])
		}
	}
	return out
}

// String names a service the way ipvsadm -L shows it: "TCP
// 10.0.0.100:80", "FWM 5", "FWM 5 IPv6".
func (k ServiceKey) String() string {
	if k.Protocol == FWM {
		if k.IPv6 {
			return fmt.Sprintf("FWM %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return strings.ToUpper(string(k.Protocol)) + " " + k.Addr.String()
}

// Is6 reports whether the service is of the IPv6 family.
func (k ServiceKey) Is6() bool {
	if k.Protocol == FWM {
		return k.IPv6
	}
	return k.Addr.Addr().Unmap().Is6()
}

// normal returns the key in the form tables store: an IPv4-mapped address
// unmapped, fields that do not apply cleared, IPv6 set from the address.
func (k ServiceKey) normal() ServiceKey {
	if k.Protocol == FWM {
		return ServiceKey{Protocol: FWM, FWMark: k.FWMark, IPv6: k.IPv6}
	}
	a := netip.AddrPortFrom(k.Addr.Addr().Unmap(), k.Addr.Port())
	return ServiceKey{Protocol: k.Protocol, Addr: a, IPv6: a.Addr().Is6()}
}

// validate checks a key as the kernel would.
func (k ServiceKey) validate() error {
	switch k.Protocol {
	case TCP, UDP, SCTP:
		if !k.Addr.Addr().IsValid() {
			return fmt.Errorf("service %s: no address: %w", k, ErrInvalid)
		}
	case FWM:
		if k.FWMark == 0 {
			return fmt.Errorf("service %s: firewall mark 0: %w", k, ErrInvalid)
		}
	default:
		return fmt.Errorf("service %s: protocol %q: %w (want tcp, udp, sctp or fwm)", k, k.Protocol, ErrInvalid)
	}
	return nil
}

// fullMask is the netmask of one address of the family.
func (k ServiceKey) fullMask() int {
	if k.Is6() {
		return 128
	}
	return 32
}

// Normal returns the service in the form tables store and List returns:
// key normalised, scheduler defaulted, flags in ipvsadm's names and
// order, persistence in whole seconds, netmask set.
func (s Service) Normal() Service {
	s.ServiceKey = s.ServiceKey.normal()
	s.Scheduler = strings.ToLower(s.Scheduler)
	if s.Scheduler == "" {
		s.Scheduler = DefaultScheduler
	}
	if bits, err := schedFlagsToBits(s.SchedFlags); err == nil {
		s.SchedFlags = schedFlagNames(s.Scheduler, bits)
	}
	if s.Persistent > 0 {
		sec := s.Persistent.Round(time.Second)
		if sec < time.Second {
			sec = time.Second
		}
		s.Persistent = sec
	} else {
		s.Persistent = 0
	}
	if s.Netmask == 0 {
		s.Netmask = s.fullMask()
	}
	return s
}

// validate checks a service as the kernel would.
func (s Service) validate() error {
	if err := s.ServiceKey.validate(); err != nil {
		return err
	}
	if !slices.Contains(Schedulers, strings.ToLower(s.Scheduler)) && s.Scheduler != "" {
		return fmt.Errorf("service %s: scheduler %q: %w (want one of %s)", s.ServiceKey, s.Scheduler, ErrInvalid, strings.Join(Schedulers, " "))
	}
	if _, err := schedFlagsToBits(s.SchedFlags); err != nil {
		return fmt.Errorf("service %s: %w", s.ServiceKey, err)
	}
	if s.Persistent < 0 || s.Persistent > time.Duration(1<<31-1)*time.Second {
		return fmt.Errorf("service %s: persistence %v: %w", s.ServiceKey, s.Persistent, ErrInvalid)
	}
	if s.Netmask < 0 || s.Netmask > s.fullMask() {
		return fmt.Errorf("service %s: netmask /%d: %w", s.ServiceKey, s.Netmask, ErrInvalid)
	}
	return nil
}

// equal reports whether two services have the same settings once normal.
func (s Service) equal(o Service) bool {
	a, b := s.Normal(), o.Normal()
	return a.ServiceKey == b.ServiceKey && a.Scheduler == b.Scheduler && slices.Equal(a.SchedFlags, b.SchedFlags) &&
		a.Persistent == b.Persistent && a.Netmask == b.Netmask && a.OnePacket == b.OnePacket
}

// Normal returns the real server in the form tables store: address
// unmapped, method lower case (gate when empty, as ipvsadm's default).
func (d Dest) Normal() Dest {
	d.Addr = netip.AddrPortFrom(d.Addr.Addr().Unmap(), d.Addr.Port())
	d.Method = Method(strings.ToLower(string(d.Method)))
	if d.Method == "" {
		d.Method = Gate
	}
	return d
}

// validate checks a real server of service k as the kernel would.
func (d Dest) validate(k ServiceKey) error {
	d = d.Normal()
	what := fmt.Sprintf("service %s: real server %s", k, d.Addr)
	if !d.Addr.Addr().IsValid() {
		return fmt.Errorf("%s: no address: %w", what, ErrInvalid)
	}
	switch d.Method {
	case Gate, Masq, Ipip:
	default:
		return fmt.Errorf("%s: method %q: %w (want gate, masq or ipip)", what, d.Method, ErrInvalid)
	}
	if d.Weight < 0 || d.Weight > 65535 {
		return fmt.Errorf("%s: weight %d: %w (want 0..65535)", what, d.Weight, ErrInvalid)
	}
	if d.UpperThreshold < 0 || d.LowerThreshold < 0 || d.UpperThreshold > 1<<31-1 || d.LowerThreshold > 1<<31-1 {
		return fmt.Errorf("%s: negative threshold: %w", what, ErrInvalid)
	}
	if d.UpperThreshold != 0 && d.LowerThreshold > d.UpperThreshold {
		return fmt.Errorf("%s: lower threshold %d above upper %d: %w", what, d.LowerThreshold, d.UpperThreshold, ErrInvalid)
	}
	if d.Addr.Addr().Is6() != k.Is6() && d.Method != Ipip {
		return fmt.Errorf("%s: address family differs from the service's (only ipip may mix families): %w", what, ErrInvalid)
	}
	return nil
}

func (d Dest) equal(o Dest) bool { return d.Normal() == o.Normal() }

// lessKey orders services: protocol, then address or mark.
func lessKey(a, b ServiceKey) bool {
	if a.Protocol != b.Protocol {
		return a.Protocol < b.Protocol
	}
	if a.Protocol == FWM {
		if a.FWMark != b.FWMark {
			return a.FWMark < b.FWMark
		}
		return !a.IPv6 && b.IPv6
	}
	return a.Addr.Compare(b.Addr) < 0
}

// SortEntries orders entries by service and their servers by address, so
// tables read from different sources compare as text.
func SortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool { return lessKey(es[i].ServiceKey, es[j].ServiceKey) })
	for _, e := range es {
		sort.Slice(e.Dests, func(i, j int) bool { return e.Dests[i].Addr.Compare(e.Dests[j].Addr) < 0 })
	}
}

// String renders the service and its settings on one line, in the words
// of ipvsadm -L: "TCP 10.0.0.100:80 wrr persistent 300 mask 255.255.255.0".
func (s Service) String() string {
	n := s.Normal()
	var b strings.Builder
	b.WriteString(n.ServiceKey.String() + " " + n.Scheduler)
	if len(n.SchedFlags) > 0 {
		b.WriteString(" (" + strings.Join(n.SchedFlags, ",") + ")")
	}
	if n.Persistent > 0 {
		fmt.Fprintf(&b, " persistent %d", n.Persistent/time.Second)
	}
	if n.Netmask != n.fullMask() {
		b.WriteString(" mask " + ipvsadmNetmask(n.Netmask, n.Is6()))
	}
	if n.OnePacket {
		b.WriteString(" ops")
	}
	return b.String()
}

// String renders the server in the words of ipvsadm -L: "10.0.0.11:80
// Route 1" with thresholds when set.
func (d Dest) String() string {
	n := d.Normal()
	fwd := map[Method]string{Gate: "Route", Masq: "Masq", Ipip: "Tunnel"}[n.Method]
	if fwd == "" {
		fwd = string(n.Method)
	}
	s := fmt.Sprintf("%s %s %d", ipvsadmAddr(n.Addr), fwd, n.Weight)
	if n.UpperThreshold != 0 || n.LowerThreshold != 0 {
		s += fmt.Sprintf(" x %d y %d", n.UpperThreshold, n.LowerThreshold)
	}
	return s
}

// String renders the service and, after " -> ", each of its servers.
func (e Entry) String() string {
	var b strings.Builder
	b.WriteString(e.Service.String())
	for _, d := range e.Dests {
		b.WriteString(" -> " + d.String())
	}
	return b.String()
}

// FormatEntries renders a table one service a line (Entry.String), for
// logs and for comparing tables as text.
func FormatEntries(es []Entry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.String() + "\n")
	}
	return b.String()
}
