// Package check runs one health check of one real server: connect,
// negotiate (per service), ping and external, as ldirectord's check types
// do. The ldirector schedules checks; this package only runs one.
package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// The check types a Spec may name. A checktype written as a number N is
// the ldirector's business: it runs Connect N times, then Negotiate.
const (
	Connect   = "connect"
	Negotiate = "negotiate"
	Ping      = "ping"
	External  = "external"
	On        = "on"
	Off       = "off"
)

// ErrUnsupported is returned for a check type or service this build
// cannot run.
var ErrUnsupported = errors.New("unsupported check")

// Spec is everything one check needs.
type Spec struct {
	Type     string // Connect, Negotiate, Ping, External, On or Off
	Service  string // what Negotiate speaks: http, https, ftp, smtp, dns, mysql, ...
	Protocol string // tcp or udp (the virtual service's; fwm counts as tcp)
	// Addr is the address and port checked: the real server's address
	// with the checkport when one is set.
	Addr netip.AddrPort
	// Virtual and FWMark are the virtual service's, passed to an external
	// command as ldirectord passes them.
	Virtual netip.AddrPort
	FWMark  uint32
	// RealPort is the real server's own port (an external command gets
	// it even when Addr carries a checkport).
	RealPort uint16

	Request     string
	Receive     string
	HTTPMethod  string // GET or HEAD
	VirtualHost string
	Login       string
	Passwd      string
	Database    string
	Secret      string
	Command     string // External: the program to run
}

// Key is the same for two Specs whose checks are the same, so one check
// can serve every virtual service that lists the server with that check.
func (s Spec) Key() string {
	return strings.Join([]string{s.Type, s.Service, s.Protocol, s.Addr.String(),
		s.Request, s.Receive, s.HTTPMethod, s.VirtualHost, s.Login, s.Passwd,
		s.Database, s.Secret, s.Command, externalKey(s)}, "\x00")
}

// externalKey adds what only an external command sees.
func externalKey(s Spec) string {
	if s.Type != External {
		return ""
	}
	return fmt.Sprintf("%s/%d/%d", s.Virtual, s.FWMark, s.RealPort)
}

// Run runs one check. nil means the server is healthy; an error says why
// it is not. Run returns by ctx's deadline at the latest.
func Run(ctx context.Context, s Spec) error {
	switch s.Type {
	case On:
		return nil
	case Off:
		return errors.New("checktype off")
	case Connect:
		return connect(ctx, s)
	}
	return fmt.Errorf("%w: checktype %s", ErrUnsupported, s.Type)
}

func connect(ctx context.Context, s Spec) error {
	if s.Protocol == "udp" {
		return fmt.Errorf("%w: connect check of a UDP service", ErrUnsupported)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.Addr.String())
	if err != nil {
		return err
	}
	return c.Close()
}
