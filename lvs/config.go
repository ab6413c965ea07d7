package lvs

import (
	"fmt"
	"net/netip"

	"hbgo/conf"
)

// ServiceFromConfig turns an ldirectord.cf virtual section into the
// virtual service it programs (without its real servers). A section given
// by host name must be resolved first: its Addr then carries the address.
func ServiceFromConfig(v *conf.Virtual) (Service, error) {
	s := Service{
		Scheduler:  v.Scheduler,
		SchedFlags: append([]string(nil), v.SchedFlags...),
		Persistent: v.Persistent,
		Netmask:    v.Netmask,
		OnePacket:  v.OnePacket,
	}
	if v.Protocol == "fwm" || v.FWMark != 0 {
		s.ServiceKey = ServiceKey{Protocol: FWM, FWMark: v.FWMark, IPv6: v.IPv6}
	} else {
		if !v.Addr.Addr().IsValid() {
			return Service{}, fmt.Errorf("virtual %s: address not resolved", v.ID())
		}
		p := Protocol(v.Protocol)
		if p == "" {
			p = TCP
		}
		s.ServiceKey = ServiceKey{Protocol: p, Addr: v.Addr}
	}
	s.ServiceKey = s.ServiceKey.normal()
	if err := s.validate(); err != nil {
		return Service{}, fmt.Errorf("virtual %s: %w", v.ID(), err)
	}
	return s.Normal(), nil
}

// DestFromConfig turns a real line of section v into the real server it
// programs, with the port IPVS uses (conf.Virtual.RealPort) and the
// weight as written; the checker decides later whether it is live. A
// server given by host name must be resolved first.
func DestFromConfig(v *conf.Virtual, r *conf.Real) (Dest, error) {
	if !r.Addr.Addr().IsValid() {
		return Dest{}, fmt.Errorf("real %s: address not resolved", r.String())
	}
	d := Dest{
		Addr:           netip.AddrPortFrom(r.Addr.Addr(), v.RealPort(r)),
		Method:         Method(r.Method),
		Weight:         r.Weight,
		UpperThreshold: r.UpperThreshold,
		LowerThreshold: r.LowerThreshold,
	}
	return d.Normal(), nil
}

// EntriesFromConfig turns every section of cfg into an entry with all its
// real servers at their configured weights (no fallback): the table
// ldirectord would program when every check passes. Errors name the
// file and line of each section or server that could not be converted;
// the others are returned.
func EntriesFromConfig(cfg *conf.LdirectordConfig) ([]Entry, error) {
	var out []Entry
	var errs []error
	for _, v := range cfg.Virtuals {
		s, err := ServiceFromConfig(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", cfg.File, v.Line, err))
			continue
		}
		e := Entry{Service: s}
		for i := range v.Reals {
			d, err := DestFromConfig(v, &v.Reals[i])
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", cfg.File, v.Reals[i].Line, err))
				continue
			}
			if err := d.validate(s.ServiceKey); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", cfg.File, v.Reals[i].Line, err))
				continue
			}
			e.Dests = append(e.Dests, d)
		}
		out = append(out, e)
	}
	return out, joinErrs(errs)
}
