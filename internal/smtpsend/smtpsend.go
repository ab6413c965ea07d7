// Package smtpsend owns sending one plain-text mail through an SMTP server
// within a bounded time, for MailTo and the ldirector's alerts.
package smtpsend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultServer  = "localhost:25"
	DefaultTimeout = 10 * time.Second
	defaultPort    = "25"
)

// Config says how a mail leaves this node.
type Config struct {
	// Server is the SMTP server, host:port; a host alone takes port 25,
	// "" is DefaultServer. IPv6 addresses may be bracketed or bare.
	Server string
	// From is the sender, a plain address (root@n1, root) or a From
	// header's text ("ldirectord Alerts" <alerts@example.com>); the
	// envelope sender is its address. "" is root@HOSTNAME.
	From string
	// Timeout bounds the whole exchange, from the dial to QUIT; 0 is
	// DefaultTimeout. The context's deadline, when earlier, wins.
	Timeout time.Duration
	// Hostname names this node in HELO/EHLO, the default sender and the
	// Message-ID; "" is the kernel's host name.
	Hostname string
}

// Error is a failed send: which server, which step of the exchange
// (dial, greeting, hello, mail from, rcpt to ADDR, data, quit), and why.
type Error struct {
	Server string
	Step   string
	Err    error
}

func (e *Error) Error() string {
	return "smtp " + e.Server + ": " + e.Step + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNoRecipient: Send was given no address to send to.
var ErrNoRecipient = errors.New("no recipient")

// ServerAddr is the host:port c.Server stands for.
func (c Config) ServerAddr() string {
	s := strings.TrimSpace(c.Server)
	if s == "" {
		return DefaultServer
	}
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), defaultPort)
}

func (c Config) hostname() string {
	if c.Hostname != "" {
		return c.Hostname
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// sender returns the envelope address and the From header of c.From.
func (c Config) sender(host string) (envelope, header string, err error) {
	from := strings.TrimSpace(c.From)
	if from == "" {
		a := "root@" + host
		return a, a, nil
	}
	if strings.ContainsAny(from, "\r\n") {
		return "", "", fmt.Errorf("sender %q holds a line break", from)
	}
	if !strings.ContainsAny(from, "<@") {
		// A local user, as mail(1) takes it.
		return from, from, nil
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		// "root@n1" quoted whole, as ldirectord's manual warns against
		// and mail(1) forgives.
		inner, ok := strings.CutPrefix(from, `"`)
		if inner, ok2 := strings.CutSuffix(inner, `"`); ok && ok2 {
			if b, err2 := mail.ParseAddress(inner); err2 == nil {
				return b.Address, inner, nil
			}
		}
		return "", "", fmt.Errorf("sender %q: %w", from, err)
	}
	return a.Address, from, nil
}

// Send mails subject and body to every address of to through c.Server,
// in one SMTP transaction, and returns when the server has accepted it
// for every recipient or the exchange failed. The whole exchange is
// bounded by c.Timeout and ctx: the dial carries the deadline, the
// connection's deadline is set to it, and a cancelled ctx cuts the
// connection at once. A failure is an *Error naming the server and step.
//
// STARTTLS and authentication are not used: the server is the local MTA
// or a relay that trusts this node.
func Send(ctx context.Context, c Config, to []string, subject, body string) error {
	server := c.ServerAddr()
	fail := func(step string, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", err, ctxErr)
		}
		return &Error{Server: server, Step: step, Err: err}
	}
	host := c.hostname()
	envFrom, fromHdr, err := c.sender(host)
	if err != nil {
		return &Error{Server: server, Step: "mail from", Err: err}
	}
	var rcpts []string
	for _, a := range to {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if strings.ContainsAny(a, "\r\n<>") {
			return &Error{Server: server, Step: "rcpt to", Err: fmt.Errorf("%q is not a mail address", a)}
		}
		rcpts = append(rcpts, a)
	}
	if len(rcpts) == 0 {
		return &Error{Server: server, Step: "rcpt to", Err: ErrNoRecipient}
	}

	deadline := time.Now().Add(c.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", server)
	if err != nil {
		return fail("dial", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return fail("dial", err)
	}
	// A cancelled ctx interrupts whatever read or write is pending.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	serverHost, _, _ := net.SplitHostPort(server)
	cl, err := smtp.NewClient(conn, serverHost)
	if err != nil {
		return fail("greeting", err)
	}
	defer cl.Close()
	if err := cl.Hello(host); err != nil {
		return fail("hello", err)
	}
	if err := cl.Mail(envFrom); err != nil {
		return fail("mail from", err)
	}
	for _, a := range rcpts {
		if err := cl.Rcpt(a); err != nil {
			return fail("rcpt to "+a, err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return fail("data", err)
	}
	msg := Message(fromHdr, rcpts, subject, body, host, time.Now())
	if _, err := w.Write(msg); err != nil {
		return fail("data", err)
	}
	if err := w.Close(); err != nil {
		return fail("data", err)
	}
	// The server took the mail at the end of DATA. QUIT is said but its
	// reply not awaited: some servers (Exim) hold it back a while so that
	// the client closes first, which would cost a whole sender queue that
	// long per mail.
	_, _ = cl.Text.Cmd("QUIT")
	return nil
}

// Message renders the mail as it goes after DATA: the headers From, To,
// Subject (RFC 2047-encoded when not ASCII), Date, Message-ID and MIME
// ones, a blank line, the body. Line breaks are LF; the SMTP layer sends
// CRLF and dot-stuffs.
func Message(from string, to []string, subject, body, host string, now time.Time) []byte {
	var b strings.Builder
	header := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\n")
	}
	header("From", oneLine(from))
	header("To", oneLine(strings.Join(to, ", ")))
	header("Subject", encodeHeader(oneLine(subject)))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+messageID(now)+"@"+oneLine(host)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\n")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\n") {
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// oneLine keeps a header value on one line, so no text can add headers.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

func encodeHeader(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || (s[i] < 0x20 && s[i] != '\t') {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

func messageID(now time.Time) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return now.UTC().Format("20060102150405.") + hex.EncodeToString(r[:])
}
