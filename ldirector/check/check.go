// Package check runs one health check of one real server: connect,
// negotiate (per service), ping and external, as ldirectord's check types
// do. The ldirector schedules checks; this package only runs one.
package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"hbgo/conf"
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
	// ExternalPerl runs Command as a Perl script (perl FILE ARGS...), with
	// the arguments of External; ldirectord runs it inside its own Perl.
	ExternalPerl = "external-perl"
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
	if s.Type != External && s.Type != ExternalPerl {
		return ""
	}
	return fmt.Sprintf("%s/%d/%d", s.Virtual, s.FWMark, s.RealPort)
}

// Run runs one check. nil means the server is healthy; an error says why
// it is not. Run returns by ctx's deadline at the latest, and leaves no
// connection, process or goroutine of its own behind.
func Run(ctx context.Context, s Spec) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s check of %s not run: %w", s.Type, s.Addr, err)
	}
	switch s.Type {
	case Connect, Ping, Negotiate:
		// Never a name to look up: the ldirector resolves host names.
		if !s.Addr.Addr().IsValid() && !(s.Type == Negotiate && (s.Service == "none" || s.Service == "")) {
			return fmt.Errorf("%s check: no real server address", s.Type)
		}
	}
	switch s.Type {
	case On:
		return nil
	case Off:
		return errors.New("checktype off")
	case Connect:
		return connect(ctx, s)
	case Ping:
		return ping(ctx, s.Addr.Addr())
	case External, ExternalPerl:
		return external(ctx, s)
	case Negotiate:
		return negotiate(ctx, s)
	}
	return fmt.Errorf("%w: checktype %s", ErrUnsupported, s.Type)
}

// negotiate speaks the service's protocol, as ldirectord's _check_real
// picks a checker.
func negotiate(ctx context.Context, s Spec) error {
	switch s.Service {
	case "http", "https", "http_proxy":
		return checkHTTP(ctx, s)
	case "ftp":
		return checkFTP(ctx, s)
	case "smtp", "submission":
		return checkSMTP(ctx, s)
	case "pop":
		return checkPOP(ctx, s, false)
	case "pops":
		return checkPOP(ctx, s, true)
	case "imap":
		return checkIMAP(ctx, s, false)
	case "imaps":
		return checkIMAP(ctx, s, true)
	case "nntp":
		return checkNNTP(ctx, s)
	case "ldap", "ldaps":
		return checkLDAP(ctx, s)
	case "dns":
		return checkDNS(ctx, s)
	case "mysql":
		return checkMySQL(ctx, s)
	case "pgsql":
		return checkPgSQL(ctx, s)
	case "radius":
		return checkRADIUS(ctx, s)
	case "sip":
		return checkSIP(ctx, s)
	case "simpletcp":
		return checkSimpleTCP(ctx, s)
	case "none", "":
		// ldirectord's check_none: the server is up without a check.
		return nil
	}
	return fmt.Errorf("%w: negotiate check of service %s", ErrUnsupported, s.Service)
}

// connect opens a TCP connection and closes it. A UDP service has no
// connection to open; ldirectord pings the server instead, and so does
// this check.
func connect(ctx context.Context, s Spec) error {
	if s.Protocol == "udp" {
		return ping(ctx, s.Addr.Addr())
	}
	c, release, err := dial(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	release()
	return c.Close()
}

// FromConfig builds the Spec of real server r of virtual service v, as
// ldirectord's ld_setup prepares a check: the real server's own request
// and receive when its line has them, else the section's; the checkport,
// else the server's port; the logins' defaults (anonymous for ftp,
// ldirectord@HOSTNAME for sip). A checktype written as a number gives
// Negotiate: the ldirector runs the connect checks before it. r's
// address must be resolved (r.Addr holding it) before the Spec is used.
func FromConfig(v *conf.Virtual, r *conf.Real) Spec {
	host := hostname()
	s := Spec{
		Type:        v.CheckType,
		Service:     v.Service,
		Protocol:    v.Protocol,
		Addr:        netip.AddrPortFrom(r.Addr.Addr(), v.CheckPortFor(r)),
		Virtual:     v.Addr,
		FWMark:      v.FWMark,
		RealPort:    v.RealPort(r),
		Request:     v.Request,
		Receive:     v.Receive,
		HTTPMethod:  v.HTTPMethod,
		VirtualHost: v.VirtualHost,
		Login:       v.EffectiveLogin(host),
		Passwd:      v.EffectivePasswd(host),
		Database:    v.Database,
		Secret:      v.Secret,
	}
	if s.Type == "combined" {
		s.Type = Negotiate
	}
	if s.Protocol == "fwm" || s.Protocol == "" {
		s.Protocol = "tcp"
	}
	if r.Request != "" || r.Receive != "" {
		s.Request, s.Receive = r.Request, r.Receive
	}
	if s.Type == External || s.Type == ExternalPerl {
		s.Command = v.CheckCommand
	}
	return s
}
