package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// checkLDAP binds (with login and passwd when both are given, else
// anonymously), reads the entry named by the request (a base-scope
// search for (objectClass=*); the root DSE when the request is empty)
// and wants exactly one entry whose DN receive matches, as ldirectord's
// check_ldap. ldaps speaks TLS without verifying the certificate.
// go-ldap speaks the protocol.
func checkLDAP(ctx context.Context, s Spec) error {
	target := s.Service + " " + s.Addr.String()
	var re *regexp.Regexp
	if s.Receive != "" {
		r, err := receiveRE(s.Receive)
		if err != nil {
			return err
		}
		re = r
	}
	c, release, err := dial(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer c.Close()
	defer release()
	var nc net.Conn = c
	if s.Service == "ldaps" {
		if nc, err = startTLS(ctx, c); err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
	}
	l := ldap.NewConn(nc, s.Service == "ldaps")
	l.Start()
	defer l.Close()
	if d, ok := ctx.Deadline(); ok {
		l.SetTimeout(time.Until(d))
	}
	if s.Login != "" && s.Passwd != "" {
		err = l.Bind(s.Login, s.Passwd)
	} else {
		err = l.UnauthenticatedBind("")
	}
	if err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "bind", ldapErr(err)))
	}
	base := trimSlash(s.Request)
	res, err := l.Search(ldap.NewSearchRequest(base, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	if err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, fmt.Sprintf("search base %q", base), ldapErr(err)))
	}
	if len(res.Entries) != 1 {
		return fmt.Errorf("%s: search base %q: %d entries, want 1", target, base, len(res.Entries))
	}
	if re != nil && !perlMatch(re, res.Entries[0].DN) {
		return fmt.Errorf("%s: %w", target, notFound(s.Receive, fmt.Sprintf("the DN %q", res.Entries[0].DN)))
	}
	return nil
}

// ldapErr words a server's refusal as its result name, code and
// diagnostic message.
func ldapErr(err error) error {
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode == ldap.ErrorNetwork {
		return err
	}
	msg := fmt.Sprintf("server said %s (result code %d)", ldap.LDAPResultCodeMap[le.ResultCode], le.ResultCode)
	if le.MatchedDN != "" {
		msg += ", matched " + le.MatchedDN
	}
	if le.Err != nil && le.Err.Error() != "" {
		msg += ": " + le.Err.Error()
	}
	return errors.New(msg)
}
