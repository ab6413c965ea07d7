package check

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// POP3 and IMAP are written here rather than taken from a library: a
// health check needs the greeting, one login and a goodbye, a few lines
// each, and the well-kept Go IMAP library is a full client whose
// version 2 is still in beta. The lines follow RFC 1939 and RFC 9051.

// mailDial connects, in TLS for the "s" services.
func mailDial(ctx context.Context, s Spec, useTLS bool) (*lineConn, func(), error) {
	c, release, err := dial(ctx, "tcp", s.Addr)
	if err != nil {
		return nil, nil, err
	}
	closer := func() { release(); c.Close() }
	var nc net.Conn = c
	if useTLS {
		if nc, err = startTLS(ctx, c); err != nil {
			closer()
			return nil, nil, err
		}
	}
	return newLineConn(nc), closer, nil
}

// checkPOP wants the +OK greeting and, with a login, USER and PASS
// accepted; as Mail::POP3Client does for ldirectord.
func checkPOP(ctx context.Context, s Spec, useTLS bool) error {
	target := s.Service + " " + s.Addr.String()
	l, closer, err := mailDial(ctx, s, useTLS)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer closer()
	ok := func(stage string) error {
		line, err := l.readLine()
		if err != nil {
			return fmt.Errorf("%s: %w", target, stageErr(ctx, stage, err))
		}
		if !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("%s: %s: server said %s", target, stage, clip(line))
		}
		return nil
	}
	if err := ok("greeting"); err != nil {
		return err
	}
	if s.Login != "" {
		if strings.ContainsAny(s.Login+s.Passwd, "\r\n") {
			return fmt.Errorf("%s: login or passwd holds a line break", target)
		}
		if err := l.cmd("USER " + s.Login); err != nil {
			return fmt.Errorf("%s: %w", target, stageErr(ctx, "USER", err))
		}
		if err := ok("USER " + s.Login); err != nil {
			return err
		}
		if err := l.cmd("PASS " + s.Passwd); err != nil {
			return fmt.Errorf("%s: %w", target, stageErr(ctx, "PASS", err))
		}
		if err := ok("login as " + s.Login); err != nil {
			return err
		}
	}
	if l.cmd("QUIT") == nil {
		_, _ = l.readLine()
	}
	return nil
}

// imapQuote makes an IMAP quoted string.
func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// checkIMAP wants the OK (or PREAUTH) greeting and, with a login, LOGIN
// accepted; as Net::IMAP::Simple does for ldirectord.
func checkIMAP(ctx context.Context, s Spec, useTLS bool) error {
	target := s.Service + " " + s.Addr.String()
	l, closer, err := mailDial(ctx, s, useTLS)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer closer()
	line, err := l.readLine()
	if err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "greeting", err))
	}
	if !strings.HasPrefix(line, "* OK") && !strings.HasPrefix(line, "* PREAUTH") {
		return fmt.Errorf("%s: greeting: server said %s", target, clip(line))
	}
	// tagged sends a command and reads to its tagged answer.
	tagged := func(tag, command, stage string) error {
		if err := l.cmd(tag + " " + command); err != nil {
			return fmt.Errorf("%s: %w", target, stageErr(ctx, stage, err))
		}
		for {
			line, err := l.readLine()
			if err != nil {
				return fmt.Errorf("%s: %w", target, stageErr(ctx, stage, err))
			}
			if !strings.HasPrefix(line, tag+" ") {
				continue // untagged data and continuation requests
			}
			if strings.HasPrefix(line, tag+" OK") {
				return nil
			}
			return fmt.Errorf("%s: %s: server said %s", target, stage, clip(strings.TrimPrefix(line, tag+" ")))
		}
	}
	if s.Login != "" {
		if strings.ContainsAny(s.Login+s.Passwd, "\r\n") {
			return fmt.Errorf("%s: login or passwd holds a line break", target)
		}
		if err := tagged("a1", "LOGIN "+imapQuote(s.Login)+" "+imapQuote(s.Passwd), "login as "+s.Login); err != nil {
			return err
		}
	}
	_ = tagged("a2", "LOGOUT", "LOGOUT")
	return nil
}
