// Package lvs is the IPVS table as hbgo drives it: virtual services and
// their real servers, read and changed through one small interface (the
// kernel's table over netlink, or an in-memory table for --dry-run and
// unit tests), and changed only by difference.
package lvs

import (
	"context"
	"net/netip"
	"time"
)

// Protocol is a virtual service's protocol as ipvsadm names it.
type Protocol string

// The protocols of virtual services; FWM marks a firewall-mark service.
const (
	TCP  Protocol = "tcp"
	UDP  Protocol = "udp"
	SCTP Protocol = "sctp"
	FWM  Protocol = "fwm"
)

// Method is a real server's forwarding method as ldirectord.cf names it.
type Method string

// The forwarding methods: direct routing (ipvsadm -g), NAT (-m) and
// IP-in-IP tunnelling (-i).
const (
	Gate Method = "gate"
	Masq Method = "masq"
	Ipip Method = "ipip"
)

// ServiceKey names a virtual service: protocol and address, or a firewall
// mark and family.
type ServiceKey struct {
	Protocol Protocol
	Addr     netip.AddrPort // the zero value for a firewall-mark service
	FWMark   uint32         // only for FWM
	IPv6     bool           // the family of a firewall-mark service
}

// Service is a virtual service's own settings.
type Service struct {
	ServiceKey
	Scheduler  string        // rr, wrr, lc, ... (ipvsadm -s)
	SchedFlags []string      // ipvsadm -b flags: sh-fallback, sh-port, mh-fallback, mh-port, flag-1..3
	Persistent time.Duration // 0: not persistent; whole seconds (ipvsadm -p)
	Netmask    int           // persistence granularity as a prefix length (ipvsadm -M); 32 or 128 when 0
	OnePacket  bool          // ipvsadm -o
}

// Dest is a real server of a virtual service.
type Dest struct {
	Addr           netip.AddrPort
	Method         Method
	Weight         int // 0..65535; 0 is quiescent
	UpperThreshold int // ipvsadm -x; 0 is none
	LowerThreshold int // ipvsadm -y; 0 is none
}

// Entry is a virtual service with its real servers.
type Entry struct {
	Service
	Dests []Dest
}

// Table is an IPVS table. Every call is bounded by ctx (the kernel table
// also bounds each netlink request on its own). Errors name the service
// and server they concern.
type Table interface {
	// List returns every virtual service in the table with its real
	// servers, including those hbgo did not create.
	List(ctx context.Context) ([]Entry, error)
	AddService(ctx context.Context, s Service) error
	// UpdateService replaces a service's settings (scheduler,
	// persistence, flags); its real servers stay.
	UpdateService(ctx context.Context, s Service) error
	DelService(ctx context.Context, k ServiceKey) error
	AddDest(ctx context.Context, k ServiceKey, d Dest) error
	// UpdateDest replaces a real server's settings (weight, method,
	// thresholds); its connections stay.
	UpdateDest(ctx context.Context, k ServiceKey, d Dest) error
	DelDest(ctx context.Context, k ServiceKey, addr netip.AddrPort) error
}
