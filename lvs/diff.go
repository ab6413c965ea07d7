package lvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Op is what one Change does.
type Op int

// The operations of a Change, each one ipvsadm command (-A -E -D -a -e -d).
const (
	AddService Op = iota + 1
	EditService
	DelService
	AddDest
	EditDest
	DelDest
)

var opNames = map[Op]string{
	AddService: "AddService", EditService: "EditService", DelService: "DelService",
	AddDest: "AddDest", EditDest: "EditDest", DelDest: "DelDest",
}

func (o Op) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Change is one step that brings a table closer to what is wanted.
type Change struct {
	Op Op
	// Service is the virtual service changed, or the one whose real
	// server is changed; DelService and the server operations use only
	// its key.
	Service Service
	// Dest is the real server of AddDest, EditDest and DelDest (DelDest
	// uses only its address).
	Dest Dest
}

// String is the change as an ipvsadm command line (Ipvsadm).
func (c Change) String() string { return c.Ipvsadm() }

// Ipvsadm renders the change as the arguments of the ipvsadm command that
// makes it, in ipvsadm's own syntax: "-A -t 10.0.0.100:80 -s wrr",
// "-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1", "-D -f 5".
func (c Change) Ipvsadm() string {
	var b strings.Builder
	switch c.Op {
	case AddService:
		b.WriteString("-A ")
	case EditService:
		b.WriteString("-E ")
	case DelService:
		b.WriteString("-D ")
	case AddDest:
		b.WriteString("-a ")
	case EditDest:
		b.WriteString("-e ")
	case DelDest:
		b.WriteString("-d ")
	default:
		return "# " + c.Op.String()
	}
	s := c.Service.Normal()
	b.WriteString(ipvsadmService(s.ServiceKey))
	switch c.Op {
	case AddService, EditService:
		b.WriteString(" -s " + s.Scheduler)
		if len(s.SchedFlags) > 0 {
			b.WriteString(" -b " + strings.Join(s.SchedFlags, ","))
		}
		if s.Persistent > 0 {
			b.WriteString(" -p " + strconv.FormatInt(int64(s.Persistent/time.Second), 10))
		}
		if s.Netmask != s.fullMask() {
			b.WriteString(" -M " + ipvsadmNetmask(s.Netmask, s.Is6()))
		}
		if s.OnePacket {
			b.WriteString(" -o")
		}
	case AddDest, EditDest, DelDest:
		d := c.Dest.Normal()
		b.WriteString(" -r " + ipvsadmAddr(d.Addr))
		if c.Op == DelDest {
			break
		}
		switch d.Method {
		case Gate:
			b.WriteString(" -g")
		case Masq:
			b.WriteString(" -m")
		case Ipip:
			b.WriteString(" -i")
		}
		b.WriteString(" -w " + strconv.Itoa(d.Weight))
		if d.UpperThreshold != 0 {
			b.WriteString(" -x " + strconv.Itoa(d.UpperThreshold))
		}
		if d.LowerThreshold != 0 {
			b.WriteString(" -y " + strconv.Itoa(d.LowerThreshold))
		}
	}
	return b.String()
}

// ipvsadmService renders the service part: -t, -u, --sctp-service, -f.
func ipvsadmService(k ServiceKey) string {
	switch k.Protocol {
	case TCP:
		return "-t " + ipvsadmAddr(k.Addr)
	case UDP:
		return "-u " + ipvsadmAddr(k.Addr)
	case SCTP:
		return "--sctp-service " + ipvsadmAddr(k.Addr)
	case FWM:
		if k.IPv6 {
			return "-f " + strconv.FormatUint(uint64(k.FWMark), 10) + " -6"
		}
		return "-f " + strconv.FormatUint(uint64(k.FWMark), 10)
	}
	return "--" + string(k.Protocol) + "-service " + ipvsadmAddr(k.Addr)
}

// ipvsadmAddr renders address and port, IPv6 in brackets, the port left
// out when 0 (a firewall-mark service's server on the packet's port);
// ipvsadm takes an IPv6 address without port only bare.
func ipvsadmAddr(ap netip.AddrPort) string {
	if ap.Port() != 0 {
		return ap.String()
	}
	return ap.Addr().String()
}

// ipvsadmNetmask renders a persistence netmask as ipvsadm -M takes it:
// dotted for IPv4, a prefix length for IPv6.
func ipvsadmNetmask(bits int, v6 bool) string {
	if v6 {
		return strconv.Itoa(bits)
	}
	p, err := netip.ParseAddr("255.255.255.255")
	if err != nil {
		return strconv.Itoa(bits)
	}
	pfx, err := p.Prefix(bits)
	if err != nil {
		return strconv.Itoa(bits)
	}
	return pfx.Addr().String()
}

// Diff returns the changes that turn the table have into want, in an
// order safe to apply one by one:
//
//   - a service is added before its real servers;
//   - within a service, new servers are added first, then changed ones
//     are edited in place, then old ones are deleted, so a service that
//     has a server before and after never has an instant without one;
//   - a service whose settings differ is edited in place (never deleted
//     and added again, which would drop its connections), and an
//     unchanged service or server yields no change at all;
//   - services in have but not in want are deleted last, and only when
//     owned reports them as hbgo's own; others (made by hand, or by
//     another program) are left alone. A nil owned owns nothing.
//
// Services and servers compare in their normal form (Service.Normal,
// Dest.Normal); a wanted server reached by direct routing or tunnelling
// takes its service's port, as ipvsadm makes it. A service repeated in
// want counts once (its first entry), as does a server repeated within a
// service.
func Diff(have, want []Entry, owned func(ServiceKey) bool) []Change {
	haveBy := make(map[ServiceKey]*Entry, len(have))
	for i := range have {
		k := have[i].ServiceKey.normal()
		if _, dup := haveBy[k]; !dup {
			haveBy[k] = &have[i]
		}
	}
	var out []Change
	seen := make(map[ServiceKey]bool, len(want))
	for _, w := range want {
		ws := w.Service.Normal()
		if seen[ws.ServiceKey] {
			continue
		}
		seen[ws.ServiceKey] = true
		h, ok := haveBy[ws.ServiceKey]
		if !ok {
			out = append(out, Change{Op: AddService, Service: ws})
			for _, d := range uniqueDests(ws.ServiceKey, w.Dests) {
				out = append(out, Change{Op: AddDest, Service: ws, Dest: d})
			}
			continue
		}
		if !h.Service.equal(ws) {
			out = append(out, Change{Op: EditService, Service: ws})
		}
		haveD := make(map[netip.AddrPort]Dest, len(h.Dests))
		for _, d := range h.Dests {
			d = d.Normal()
			haveD[d.Addr] = d
		}
		wantD := uniqueDests(ws.ServiceKey, w.Dests)
		wantSet := make(map[netip.AddrPort]bool, len(wantD))
		var adds, edits, dels []Change
		for _, d := range wantD {
			wantSet[d.Addr] = true
			hd, ok := haveD[d.Addr]
			switch {
			case !ok:
				adds = append(adds, Change{Op: AddDest, Service: ws, Dest: d})
			case !hd.equal(d):
				edits = append(edits, Change{Op: EditDest, Service: ws, Dest: d})
			}
		}
		for _, d := range h.Dests {
			d = d.Normal()
			if !wantSet[d.Addr] {
				wantSet[d.Addr] = true // once, should have listed it twice
				dels = append(dels, Change{Op: DelDest, Service: ws, Dest: d})
			}
		}
		out = append(out, adds...)
		out = append(out, edits...)
		out = append(out, dels...)
	}
	for _, h := range have {
		k := h.ServiceKey.normal()
		if seen[k] {
			continue
		}
		seen[k] = true
		if owned != nil && owned(k) {
			out = append(out, Change{Op: DelService, Service: h.Service.Normal()})
		}
	}
	return out
}

// uniqueDests returns the servers of service k in normal form, each
// address once. A server reached by direct routing or tunnelling gets
// the service's port, as ipvsadm gives it (those methods cannot change
// the port; a firewall-mark service's servers keep theirs).
func uniqueDests(k ServiceKey, ds []Dest) []Dest {
	out := make([]Dest, 0, len(ds))
	seen := make(map[netip.AddrPort]bool, len(ds))
	for _, d := range ds {
		d = d.Normal()
		if k.Protocol != FWM && (d.Method == Gate || d.Method == Ipip) {
			d.Addr = netip.AddrPortFrom(d.Addr.Addr(), k.Addr.Port())
		}
		if !seen[d.Addr] {
			seen[d.Addr] = true
			out = append(out, d)
		}
	}
	return out
}

// ChangeError is the failure of one change of Apply.
type ChangeError struct {
	Change Change
	Err    error
}

func (e *ChangeError) Error() string { return "ipvsadm " + e.Change.Ipvsadm() + ": " + e.Err.Error() }
func (e *ChangeError) Unwrap() error { return e.Err }

// Apply makes the changes on t in order. A failed change does not stop
// the others, but what depends on it is skipped: the servers of a
// service that could not be added, and the deletions of servers of a
// service where an addition or edit failed (so a failure never leaves a
// service with fewer live servers than it had). The error joins one
// *ChangeError per failed change; it is nil when all were made. A
// cancelled ctx stops at once.
func Apply(ctx context.Context, t Table, changes []Change) error {
	var errs []error
	failedSvc := map[ServiceKey]bool{} // AddService failed
	failedDst := map[ServiceKey]bool{} // an AddDest or EditDest failed
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		k := c.Service.ServiceKey.normal()
		if failedSvc[k] && c.Op != AddService {
			continue
		}
		if c.Op == DelDest && failedDst[k] {
			continue
		}
		var err error
		switch c.Op {
		case AddService:
			err = t.AddService(ctx, c.Service)
		case EditService:
			err = t.UpdateService(ctx, c.Service)
		case DelService:
			err = t.DelService(ctx, c.Service.ServiceKey)
		case AddDest:
			err = t.AddDest(ctx, c.Service.ServiceKey, c.Dest)
		case EditDest:
			err = t.UpdateDest(ctx, c.Service.ServiceKey, c.Dest)
		case DelDest:
			err = t.DelDest(ctx, c.Service.ServiceKey, c.Dest.Addr)
		default:
			err = fmt.Errorf("unknown operation %v: %w", c.Op, ErrInvalid)
		}
		if err == nil {
			continue
		}
		errs = append(errs, &ChangeError{Change: c, Err: err})
		switch c.Op {
		case AddService:
			failedSvc[k] = true
		case AddDest, EditDest:
			failedDst[k] = true
		}
	}
	return errors.Join(errs...)
}

// Sync reads t, computes the difference to want (Diff, with owned) and
// applies it (Apply). It returns the changes it tried.
func Sync(ctx context.Context, t Table, want []Entry, owned func(ServiceKey) bool) ([]Change, error) {
	have, err := t.List(ctx)
	if err != nil {
		return nil, err
	}
	changes := Diff(have, want, owned)
	return changes, Apply(ctx, t, changes)
}
