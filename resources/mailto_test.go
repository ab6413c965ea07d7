package resources

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hbgo/conf"
	"hbgo/internal/smtpsend/mtatest"
)

// mailLog is a slog text handler's output, safe for the agent's goroutines.
type mailLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *mailLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *mailLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newMailTo(t *testing.T, args []string, mail MailOptions) (*MailTo, *mailLog) {
	t.Helper()
	lg := &mailLog{}
	env := Env{Node: "n1", Logger: slog.New(slog.NewTextHandler(lg, nil)), Mail: mail}
	a, err := New(conf.Resource{Name: conf.AgentMailTo, Args: args, Agent: builtinPrefix + conf.AgentMailTo}, env)
	if err != nil {
		t.Fatal(err)
	}
	return a.(*MailTo), lg
}

func wantState(t *testing.T, a Agent, want State) {
	t.Helper()
	if s, err := a.Status(context.Background()); err != nil || s != want {
		t.Fatalf("status %v, %v; want %v", s, err, want)
	}
}

func TestMailToStartStopMail(t *testing.T) {
	mta := mtatest.Start(t)
	a, lg := newMailTo(t, []string{"ops@example.com,root", "Web farm"}, MailOptions{Server: mta.Addr})
	if a.Name() != "MailTo::ops@example.com,root::Web farm" {
		t.Errorf("name %q", a.Name())
	}
	ctx := context.Background()
	wantState(t, a, Stopped)

	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wantState(t, a, Running)
	if err := a.Start(ctx); err != nil { // idempotent: no second mail
		t.Fatal(err)
	}
	a.wait()
	msgs := mta.Wait(t, 1, 20*time.Second)
	m := msgs[0]
	if !strings.HasPrefix(m.Subject, "Web farm Takeover in progress at ") || !strings.HasSuffix(m.Subject, " on n1") {
		t.Errorf("start subject %q", m.Subject)
	}
	if want := []string{"ops@example.com", "root@" + mtatest.Domain}; !slices.Equal(m.EnvelopeTo, want) {
		t.Errorf("recipients %q, want %q", m.EnvelopeTo, want)
	}
	if m.ReturnPath != "root@n1" {
		t.Errorf("sender %q, want root@n1", m.ReturnPath)
	}
	wantBody := "        " + m.Subject + "\n \n        Command line was:\n        MailTo::ops@example.com,root::Web farm start\n"
	if m.Body != wantBody {
		t.Errorf("body %q, want %q", m.Body, wantBody)
	}
	// The date is date(1)'s.
	date := strings.TrimSuffix(strings.TrimPrefix(m.Subject, "Web farm Takeover in progress at "), " on n1")
	if _, err := time.Parse(mailDate, date); err != nil {
		t.Errorf("date %q in the subject: %v", date, err)
	}

	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	wantState(t, a, Stopped)
	if err := a.Stop(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	a.wait()
	msgs = mta.Wait(t, 2, 20*time.Second)
	m = msgs[1]
	if !strings.HasPrefix(m.Subject, "Web farm Migrating resource away at ") || !strings.HasSuffix(m.Subject, " from n1") {
		t.Errorf("stop subject %q", m.Subject)
	}
	if !strings.HasSuffix(m.Body, "MailTo::ops@example.com,root::Web farm stop\n") {
		t.Errorf("stop body %q", m.Body)
	}
	// Exim has delivered both by now; a third would be a repeated Start
	// or Stop mailing again.
	time.Sleep(500 * time.Millisecond)
	if msgs, _ = mta.Messages(); len(msgs) != 2 {
		t.Errorf("want 2 mails, got %d:\n%s", len(msgs), mtatest.Summary(msgs))
	}
	if n := strings.Count(lg.String(), "mailed ops@example.com,root"); n != 2 {
		t.Errorf("want 2 sent lines in the log, got %d:\n%s", n, lg)
	}
}

func TestMailToDefaultSubject(t *testing.T) {
	mta := mtatest.Start(t)
	a, _ := newMailTo(t, []string{"root"}, MailOptions{Server: mta.Addr, From: "hb@example.com"})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.wait()
	m := mta.Wait(t, 1, 20*time.Second)[0]
	if !strings.HasPrefix(m.Subject, "Resource Group Takeover in progress at ") {
		t.Errorf("subject %q", m.Subject)
	}
	if m.ReturnPath != "hb@example.com" {
		t.Errorf("sender %q", m.ReturnPath)
	}
}

// A dead mail server delays nothing: Start returns at once, and the
// failure is logged, with the server and the step, within the timeout.
func TestMailToDeadServer(t *testing.T) {
	for _, tc := range []struct {
		name, step string
		addr       func(testing.TB) string
	}{
		{"refused", "dial", mtatest.RefusedAddr},
		{"silent", "greeting", mtatest.SilentAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			const timeout = time.Second
			a, lg := newMailTo(t, []string{"root"}, MailOptions{Server: addr, Timeout: timeout})
			began := time.Now()
			if err := a.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(began); took > 200*time.Millisecond {
				t.Errorf("Start took %v with a dead mail server", took)
			}
			wantState(t, a, Running)
			want := "smtp " + addr + ": " + tc.step + ": "
			for !strings.Contains(lg.String(), want) {
				if time.Since(began) > timeout+2*time.Second {
					t.Fatalf("no failure logged %v after Start (timeout %v); log:\n%s", time.Since(began), timeout, lg)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !strings.Contains(lg.String(), "level=ERROR") || !strings.Contains(lg.String(), "server="+addr) {
				t.Errorf("log line without level or server:\n%s", lg)
			}
			began = time.Now()
			if err := a.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(began); took > 200*time.Millisecond {
				t.Errorf("Stop took %v with a dead mail server", took)
			}
			a.wait()
		})
	}
}

func TestMailToBadArgs(t *testing.T) {
	for _, args := range [][]string{nil, {"a b@example.com"}, {"root", "s", "x"}} {
		_, err := New(conf.Resource{Name: conf.AgentMailTo, Args: args, Agent: builtinPrefix + conf.AgentMailTo}, Env{})
		if err == nil || !strings.HasPrefix(err.Error(), "resource MailTo") {
			t.Errorf("args %q: got %v, want an error naming the resource", args, err)
		}
	}
}
