package check

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// checkDNS asks the server for the request name, over TCP when the
// virtual service is TCP and UDP otherwise (a truncated UDP answer is
// asked again over TCP, as Net::DNS does). A request that is an IP
// address asks for its PTR record, as Net::DNS's search does; any other
// name asks for A. The answer must hold an A address or a PTR name that
// receive matches; an empty receive never matches, as in ldirectord.
func checkDNS(ctx context.Context, s Spec) error {
	name := trimSlash(s.Request)
	target := "dns " + s.Addr.String()
	if name == "" {
		return fmt.Errorf("%s: no request (the name to look up)", target)
	}
	if s.Receive == "" {
		return fmt.Errorf("%s: no receive pattern: ldirectord's dns check passes only when receive matches", target)
	}
	re, err := receiveRE(s.Receive)
	if err != nil {
		return err
	}
	qtype := dns.TypeA
	qname := dns.Fqdn(name)
	if a, err := netip.ParseAddr(name); err == nil {
		qtype = dns.TypePTR
		if qname, err = dns.ReverseAddr(a.String()); err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
	}
	q := fmt.Sprintf("%s %s", strings.TrimSuffix(qname, "."), dns.TypeToString[qtype])
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.RecursionDesired = true
	netw := "udp"
	if s.Protocol == "tcp" {
		netw = "tcp"
	}
	resp, err := dnsExchange(ctx, netw, m, s.Addr)
	if err == nil && resp.Truncated && netw == "udp" {
		resp, err = dnsExchange(ctx, "tcp", m, s.Addr)
	}
	if err != nil {
		return fmt.Errorf("%s: query %s: %w", target, q, stageErr(ctx, "", err))
	}
	if resp.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("%s: query %s: %s", target, q, dns.RcodeToString[resp.Rcode])
	}
	var seen []string
	for _, rr := range resp.Answer {
		var v string
		switch r := rr.(type) {
		case *dns.A:
			v = r.A.String()
		case *dns.PTR:
			v = strings.TrimSuffix(r.Ptr, ".")
		default:
			continue
		}
		if perlMatch(re, v) {
			return nil
		}
		seen = append(seen, v)
	}
	if len(seen) == 0 {
		return fmt.Errorf("%s: query %s: no A or PTR record in the answer", target, q)
	}
	return fmt.Errorf("%s: query %s: %w", target, q, notFound(s.Receive, "the answer "+strings.Join(seen, " ")))
}

// dnsExchange sends one query on its own connection, bound to ctx.
func dnsExchange(ctx context.Context, netw string, m *dns.Msg, addr netip.AddrPort) (*dns.Msg, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, netw, addr.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	release := guard(ctx, c)
	defer release()
	co := &dns.Conn{Conn: c}
	if err := co.WriteMsg(m); err != nil {
		return nil, err
	}
	for {
		r, err := co.ReadMsg()
		if err != nil {
			return nil, err
		}
		if r.Id == m.Id {
			return r, nil
		}
	}
}
