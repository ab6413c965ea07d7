package smtpsend

import (
	"context"
	"errors"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"hbgo/internal/smtpsend/mtatest"
)

func TestSendThroughExim(t *testing.T) {
	mta := mtatest.Start(t)
	cfg := Config{Server: mta.Addr, From: `"ldirectord Alerts" <alerts@example.com>`, Hostname: "n1.example.com"}
	body := "first line\n.a line that starts with a dot\n\nlast line"
	subject := "Deleted real server: 192.0.2.11:80 (192.0.2.100:80) — ünïcode"
	if err := Send(context.Background(), cfg, []string{"ops@example.com", "root"}, subject, body); err != nil {
		t.Fatal(err)
	}
	msgs := mta.Wait(t, 1, 20*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("want 1 mail, got %d:\n%s", len(msgs), mtatest.Summary(msgs))
	}
	m := msgs[0]
	if m.Subject != subject {
		t.Errorf("subject %q, want %q", m.Subject, subject)
	}
	if want := []string{"ops@example.com", "root@" + mtatest.Domain}; !slices.Equal(m.EnvelopeTo, want) {
		t.Errorf("envelope recipients %q, want %q", m.EnvelopeTo, want)
	}
	if m.ReturnPath != "alerts@example.com" {
		t.Errorf("envelope sender %q, want alerts@example.com", m.ReturnPath)
	}
	if got := m.Header.Get("From"); got != cfg.From {
		t.Errorf("From %q, want %q", got, cfg.From)
	}
	// Exim qualifies the local user in the header too.
	if got := m.Header.Get("To"); got != "ops@example.com, root@"+mtatest.Domain {
		t.Errorf("To %q", got)
	}
	if _, err := mail.ParseDate(m.Header.Get("Date")); err != nil {
		t.Errorf("Date %q: %v", m.Header.Get("Date"), err)
	}
	if id := m.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@n1.example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	if m.Body != body+"\n" {
		t.Errorf("body %q, want %q", m.Body, body+"\n")
	}
}

func TestSendDefaultSender(t *testing.T) {
	mta := mtatest.Start(t)
	if err := Send(context.Background(), Config{Server: mta.Addr, Hostname: "n2"}, []string{"root"}, "s", "b"); err != nil {
		t.Fatal(err)
	}
	m := mta.Wait(t, 1, 20*time.Second)[0]
	if m.ReturnPath != "root@n2" || m.Header.Get("From") != "root@n2" {
		t.Errorf("sender %q, From %q; want root@n2", m.ReturnPath, m.Header.Get("From"))
	}
}

func TestSendRefused(t *testing.T) {
	addr := mtatest.RefusedAddr(t)
	err := Send(context.Background(), Config{Server: addr, Timeout: 5 * time.Second}, []string{"root"}, "s", "b")
	var se *Error
	if !errors.As(err, &se) || se.Step != "dial" || se.Server != addr {
		t.Fatalf("want a dial error naming %s, got %v", addr, err)
	}
	if !strings.Contains(err.Error(), "smtp "+addr+": dial: ") {
		t.Errorf("error text %q", err)
	}
}

// A server that accepts and never greets: Send gives up at its timeout.
func TestSendSilentServerTimesOut(t *testing.T) {
	addr := mtatest.SilentAddr(t)
	start := time.Now()
	err := Send(context.Background(), Config{Server: addr, Timeout: 300 * time.Millisecond}, []string{"root"}, "s", "b")
	took := time.Since(start)
	var se *Error
	if !errors.As(err, &se) || se.Step != "greeting" {
		t.Fatalf("want a greeting error, got %v", err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("want a timeout, got %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("Send took %v with a 300ms timeout", took)
	}
}

// A cancelled context cuts the exchange even when the timeout is long.
func TestSendCancelled(t *testing.T) {
	addr := mtatest.SilentAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := Send(ctx, Config{Server: addr, Timeout: time.Hour}, []string{"root"}, "s", "b")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Send took %v after its context was cancelled at 200ms", took)
	}
}

func TestSendBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		to   []string
		want string
	}{
		{"no recipient", Config{}, nil, "rcpt to: no recipient"},
		{"blank recipients", Config{}, []string{" ", ""}, "rcpt to: no recipient"},
		{"recipient with line break", Config{}, []string{"a@b\r\nRCPT TO:<c@d>"}, "is not a mail address"},
		{"bad sender", Config{From: "<<nope"}, []string{"root"}, "mail from: sender"},
		{"sender with line break", Config{From: "a@b\nBcc: x@y"}, []string{"root"}, "holds a line break"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Nothing listens there: input is refused before any dial.
			tc.cfg.Server = "127.0.0.1:1"
			err := Send(context.Background(), tc.cfg, tc.to, "s", "b")
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "dial") {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestSender(t *testing.T) {
	for _, tc := range []struct{ from, env, hdr string }{
		{"", "root@n1", "root@n1"},
		{"root", "root", "root"},
		{"alerts@example.com", "alerts@example.com", "alerts@example.com"},
		{`"ldirectord Alerts" <alerts@example.com>`, "alerts@example.com", `"ldirectord Alerts" <alerts@example.com>`},
		{"<alerts@example.com>", "alerts@example.com", "<alerts@example.com>"},
		{`"alerts@example.com"`, "alerts@example.com", "alerts@example.com"},
	} {
		env, hdr, err := Config{From: tc.from}.sender("n1")
		if err != nil || env != tc.env || hdr != tc.hdr {
			t.Errorf("sender(%q) = %q, %q, %v; want %q, %q", tc.from, env, hdr, err, tc.env, tc.hdr)
		}
	}
}

func TestServerAddr(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "localhost:25",
		"mail.example.com": "mail.example.com:25",
		"192.0.2.25":       "192.0.2.25:25",
		"192.0.2.25:2525":  "192.0.2.25:2525",
		"2001:db8::25":     "[2001:db8::25]:25",
		"[2001:db8::25]":   "[2001:db8::25]:25",
		"[2001:db8::25]:1": "[2001:db8::25]:1",
	} {
		if got := (Config{Server: in}).ServerAddr(); got != want {
			t.Errorf("ServerAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMessageHeaders(t *testing.T) {
	now := time.Date(2026, 11, 29, 14, 1, 56, 0, time.UTC)
	msg := string(Message("root@n1", []string{"a@b", "c"}, "hi\r\nBcc: evil@example.com", "body", "n1", now))
	head, body, ok := strings.Cut(msg, "\n\n")
	if !ok || body != "body\n" {
		t.Fatalf("message %q", msg)
	}
	lines := strings.Split(head, "\n")
	for _, want := range []string{
		"From: root@n1",
		"To: a@b, c",
		"Subject: hi Bcc: evil@example.com",
		"Date: Sun, 29 Nov 2026 14:01:56 +0000",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("no header line %q in\n%s", want, head)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "Bcc") {
			t.Errorf("header injected: %q", l)
		}
	}
}

// BenchmarkSend measures one mail handed to a local Exim.
func BenchmarkSend(b *testing.B) {
	mta := mtatest.Start(b)
	cfg := Config{Server: mta.Addr, Hostname: "n1"}
	for b.Loop() {
		if err := Send(context.Background(), cfg, []string{"root"}, "bench", "body"); err != nil {
			b.Fatal(err)
		}
	}
}
