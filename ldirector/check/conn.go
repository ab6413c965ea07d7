package check

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// maxRead bounds what a check reads of one answer (a body, a file, a
// reply): enough for any page a health check fetches, and a runaway
// server cannot fill the director's memory.
const maxRead = 4 << 20

// dial connects to addr within ctx and ties the connection to ctx: its
// deadline is ctx's, and a cancelled ctx unblocks its reads and writes.
// release undoes the tie (call it before Close, or defer both); it waits
// for the watcher, so nothing of the connection outlives the check.
func dial(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, func(), error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr.String())
	if err != nil {
		return nil, nil, stageErr(ctx, "", err)
	}
	return c, guard(ctx, c), nil
}

// deadliner is what guard needs of a connection.
type deadliner interface {
	SetDeadline(time.Time) error
}

// guard sets c's deadline to ctx's and expires it when ctx is done. The
// returned function stops the watch and waits for a watcher that already
// started.
func guard(ctx context.Context, c deadliner) func() {
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		_ = c.SetDeadline(time.Unix(1, 0))
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			if !stop() {
				<-done
			}
		})
	}
}

// stageErr words an I/O error of one stage of a check: a timeout says
// so, whatever the layer reported.
func stageErr(ctx context.Context, stage string, err error) error {
	if err == nil {
		return nil
	}
	prefix := ""
	if stage != "" {
		prefix = stage + ": "
	}
	expired := false
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		expired = true
	}
	if expired || ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%sno answer within the timeout (%w)", prefix, err)
	}
	return fmt.Errorf("%s%w", prefix, err)
}

// receiveRE compiles a receive string. ldirectord matches it as a Perl
// regular expression; Go's syntax is the common subset (no
// backreferences or lookaround), and anything else is an error that
// names the pattern.
func receiveRE(receive string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(receive)
	if err != nil {
		return nil, fmt.Errorf("receive pattern %q is not a regular expression hbgo can match: %v", receive, err)
	}
	return re, nil
}

// perlMatch matches as Perl's =~ does for the patterns ldirectord users
// write: "$" also matches before a final line break, which Go's "$"
// does not, so the text is tried without it too.
func perlMatch(re *regexp.Regexp, text string) bool {
	return re.MatchString(text) || (strings.HasSuffix(text, "\n") && re.MatchString(text[:len(text)-1]))
}

// notFound is the error of a receive pattern that did not match.
func notFound(receive, where string) error {
	return fmt.Errorf("receive pattern %q not found in %s", receive, where)
}

// trimSlash strips the "/" ldirectord puts before every request, for
// protocols where the request is not a path.
func trimSlash(request string) string {
	return strings.TrimPrefix(request, "/")
}

// serverHost is the real server as ldirectord writes it: an IPv6
// address in brackets.
func serverHost(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// insecureTLS is the client side of ldirectord's TLS checks: the
// certificate is not verified (LWP's verify_hostname => 0, and the mail
// and LDAP modules' defaults), since real servers are addressed by IP
// and often carry the virtual service's name or a self-signed one.
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // as ldirectord
}

// startTLS wraps c in TLS and shakes hands within ctx.
func startTLS(ctx context.Context, c net.Conn) (net.Conn, error) {
	tc := tls.Client(c, insecureTLS())
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, stageErr(ctx, "TLS handshake", err)
	}
	return tc, nil
}

// lineConn reads CRLF-terminated lines of a text protocol and writes
// commands.
type lineConn struct {
	c net.Conn
	r *bufio.Reader
}

func newLineConn(c net.Conn) *lineConn {
	return &lineConn{c: c, r: bufio.NewReaderSize(io.LimitReader(c, maxRead), 4096)}
}

// readLine returns one line without its line end.
func (l *lineConn) readLine() (string, error) {
	s, err := l.r.ReadString('\n')
	if err != nil {
		if err == io.EOF {
			if s != "" {
				return strings.TrimRight(s, "\r\n"), nil
			}
			return "", errors.New("connection closed by the server")
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// cmd sends one command line.
func (l *lineConn) cmd(line string) error {
	_, err := io.WriteString(l.c, line+"\r\n")
	return err
}

// clip shortens a server's answer for an error message.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// hostname is the director's name, for HELO and the default logins.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
