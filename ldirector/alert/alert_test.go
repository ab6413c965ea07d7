package alert

import (
	"bytes"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hbgo/conf"
	"hbgo/internal/smtpsend/mtatest"
)

const testCf = `
emailalert = "ops@example.com, root"
emailalertfreq = 1
emailalertfrom = "ldirectord Alerts" <alerts@example.com>
smtp = 127.0.0.1
virtual = 192.0.2.100:80
	real = 192.0.2.11:80 gate 2
	real = 192.0.2.12:80 gate
	servicename = web
	comment = front door
virtual = 192.0.2.100:443
	real = 192.0.2.11:443 gate
	emailalertstatus = running
	emailalertfreq = 0
	emailalert = ops@example.com
	quiescent = yes
virtual = 192.0.2.100:25
	real = 192.0.2.13:25 gate
	emailalertstatus = none
`

// parse reads testCf with the MTA as the smtp server (ldirectord.cf's smtp
// takes no port; hbgo's sender takes host:port too).
func parse(t *testing.T, smtp string) *conf.LdirectordConfig {
	t.Helper()
	var ds conf.Diags
	cfg := conf.ParseLdirectord("ldirectord.cf", []byte(testCf), &ds)
	if ds.HasErrors() {
		t.Fatal(ds.String())
	}
	cfg.SMTP = smtp
	return cfg
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newAlerter(t *testing.T, cfg *conf.LdirectordConfig, timeout time.Duration) (*Alerter, *logBuf) {
	t.Helper()
	lg := &logBuf{}
	a := New(cfg, Options{Hostname: "lvs1", Logger: slog.New(slog.NewTextHandler(lg, nil)), Timeout: timeout})
	t.Cleanup(a.Close)
	return a, lg
}

// A server goes down: one mail, then one every emailalertfreq; it comes
// back: one mail, and no more repeats.
func TestDownRepeatUp(t *testing.T) {
	mta := mtatest.Start(t)
	cfg := parse(t, mta.Addr)
	a, lg := newAlerter(t, cfg, 10*time.Second)
	a.SetState(conf.AlertRunning)
	web := cfg.Virtuals[0]

	a.Notify(Event{Virtual: web, Real: "192.0.2.11:80"})
	msgs := mta.Wait(t, 1, 20*time.Second)
	m := msgs[0]
	const down = "[web] Deleted real server: 192.0.2.11:80 (192.0.2.100:80)"
	if m.Subject != down {
		t.Errorf("subject %q, want %q", m.Subject, down)
	}
	if want := []string{"ops@example.com", "root@" + mtatest.Domain}; !slices.Equal(m.EnvelopeTo, want) {
		t.Errorf("recipients %q, want %q", m.EnvelopeTo, want)
	}
	if got := m.Header.Get("From"); got != `"ldirectord Alerts" <alerts@example.com>` {
		t.Errorf("From %q", got)
	}
	wantBody := "ldirectord host: lvs1\n" +
		"Log-Message: " + down + "\n" +
		"Daemon-Status: running\n" +
		"\nService name: web\nComment: front door\n\n"
	if m.Body != wantBody {
		t.Errorf("body %q, want %q", m.Body, wantBody)
	}
	if !strings.Contains(lg.String(), `msg="emailalert: Deleted real server: 192.0.2.11:80 (192.0.2.100:80)"`) {
		t.Errorf("no emailalert log line:\n%s", lg)
	}
	if d := a.Down(); !slices.Equal(d, []string{"192.0.2.11:80 (192.0.2.100:80)"}) {
		t.Errorf("Down() = %q", d)
	}

	// emailalertfreq = 1: two repeats within a few seconds.
	msgs = mta.Wait(t, 3, 20*time.Second)
	for _, m := range msgs[1:3] {
		if m.Subject != "[web] Inaccessible real server: 192.0.2.11:80 (192.0.2.100:80)" {
			t.Errorf("repeat subject %q", m.Subject)
		}
	}

	a.Notify(Event{Virtual: web, Real: "192.0.2.11:80", Up: true})
	const up = "[web] Added real server: 192.0.2.11:80 (192.0.2.100:80) (Weight set to 2)"
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, _ = mta.Messages()
		if slices.ContainsFunc(msgs, func(m mtatest.Message) bool { return m.Subject == up }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q mail:\n%s", up, mtatest.Summary(msgs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := a.Down(); len(d) != 0 {
		t.Errorf("Down() = %q after the server came back", d)
	}
	// Two periods more: no repeat may follow the up mail.
	n := mta.Received()
	time.Sleep(2500 * time.Millisecond)
	if got := mta.Received(); got != n {
		msgs, _ = mta.Messages()
		t.Errorf("%d mails after the server came back:\n%s", got-n, mtatest.Summary(msgs))
	}
}

// emailalertstatus: a service that alerts only while running stays quiet
// while starting; emailalertstatus none never mails.
func TestStatusFilter(t *testing.T) {
	mta := mtatest.Start(t)
	cfg := parse(t, mta.Addr)
	a, _ := newAlerter(t, cfg, 10*time.Second)
	https, smtp := cfg.Virtuals[1], cfg.Virtuals[2]

	// starting: filtered out.
	a.Notify(Event{Virtual: https, Real: "192.0.2.11:443"})
	a.Notify(Event{Virtual: smtp, Real: "192.0.2.13:25"})
	a.SetState(conf.AlertRunning)
	a.Notify(Event{Virtual: smtp, Real: "192.0.2.13:25", Up: true})
	a.Notify(Event{Virtual: https, Real: "192.0.2.11:443", Up: true})
	a.SetState(conf.AlertStopping)
	a.Notify(Event{Virtual: https, Real: "192.0.2.11:443", Detail: "Deleted real server: 192.0.2.11:443 (192.0.2.100:443)"})
	a.Close() // every mail queued has been taken by the MTA now

	if n := mta.Received(); n != 1 {
		t.Errorf("MTA received %d mails, want 1\n%s", n, mta.Log())
	}
	m := mta.Wait(t, 1, 20*time.Second)[0]
	const want = "Restored real server: 192.0.2.11:443 (192.0.2.100:443) (Weight set to 1)"
	if m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if !slices.Equal(m.EnvelopeTo, []string{"ops@example.com"}) {
		t.Errorf("recipients %q", m.EnvelopeTo)
	}
	if !strings.HasSuffix(m.Body, "Daemon-Status: running\n") {
		t.Errorf("body %q", m.Body)
	}
}

// Repeats are filtered by the state at the time they fire.
func TestRepeatFilteredByState(t *testing.T) {
	mta := mtatest.Start(t)
	cfg := parse(t, mta.Addr)
	freq := time.Second
	https := cfg.Virtuals[1]
	https.EmailAlertFreq = &freq
	a, _ := newAlerter(t, cfg, 10*time.Second)
	a.SetState(conf.AlertRunning)
	a.Notify(Event{Virtual: https, Real: "192.0.2.11:443"})
	mta.Wait(t, 2, 20*time.Second) // the alert and a repeat
	a.SetState(conf.AlertReloading)
	time.Sleep(100 * time.Millisecond) // a send under way finishes
	n := mta.Received()
	time.Sleep(2500 * time.Millisecond)
	if got := mta.Received(); got != n {
		t.Errorf("%d repeats sent while reloading, which emailalertstatus = running excludes", got-n)
	}
	if len(a.Down()) != 1 {
		t.Errorf("the repeat was forgotten while filtered: %q", a.Down())
	}
	a.SetState(conf.AlertRunning)
	mta.Wait(t, n+1, 20*time.Second)
}

// A dead mail server: Notify returns at once, the failure is logged with
// the server, and Close returns within the timeout.
func TestDeadServer(t *testing.T) {
	for _, tc := range []struct {
		name, step string
		addr       func(testing.TB) string
	}{
		{"refused", "dial", mtatest.RefusedAddr},
		{"silent", "greeting", mtatest.SilentAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			cfg := parse(t, addr)
			const timeout = time.Second
			a, lg := newAlerter(t, cfg, timeout)
			a.SetState(conf.AlertRunning)
			began := time.Now()
			for i := range 50 {
				a.Notify(Event{Virtual: cfg.Virtuals[0], Real: "192.0.2.11:80", Up: i%2 == 1})
			}
			if took := time.Since(began); took > 200*time.Millisecond {
				t.Errorf("50 Notify calls took %v with a dead mail server", took)
			}
			want := "smtp " + addr + ": " + tc.step + ": "
			for !strings.Contains(lg.String(), want) {
				if time.Since(began) > timeout+2*time.Second {
					t.Fatalf("no failure logged %v after Notify; log:\n%s", time.Since(began), lg)
				}
				time.Sleep(20 * time.Millisecond)
			}
			began = time.Now()
			a.Close()
			if took := time.Since(began); took > timeout+2*time.Second {
				t.Errorf("Close took %v with timeout %v", took, timeout)
			}
			// Failures are rate-limited: one line, not fifty.
			if n := strings.Count(lg.String(), "failed to send SMTP email message"); n != 1 {
				t.Errorf("%d failure lines, want 1:\n%s", n, lg)
			}
			if tc.name == "silent" && !strings.Contains(lg.String(), "not sent: stopped") {
				t.Errorf("mails dropped at Close not logged:\n%s", lg)
			}
		})
	}
}

func TestTexts(t *testing.T) {
	cfg := parse(t, "")
	web, https := cfg.Virtuals[0], cfg.Virtuals[1]
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Virtual: web, Real: "192.0.2.12:80"}, "Deleted real server: 192.0.2.12:80 (192.0.2.100:80)"},
		{Event{Virtual: web, Real: "192.0.2.12:80", Up: true}, "Added real server: 192.0.2.12:80 (192.0.2.100:80) (Weight set to 1)"},
		{Event{Virtual: https, Real: "192.0.2.11:443"}, "Quiescent real server: 192.0.2.11:443 (192.0.2.100:443) (Weight set to 0)"},
		{Event{Virtual: https, Real: "192.0.2.11:443", Up: true}, "Restored real server: 192.0.2.11:443 (192.0.2.100:443) (Weight set to 1)"},
		{Event{Virtual: web, Real: "192.0.2.99:80", Up: true}, "Added real server: 192.0.2.99:80 (192.0.2.100:80)"},
	} {
		if got := changeLine(tc.e); got != tc.want {
			t.Errorf("changeLine(%s up=%v) = %q, want %q", tc.e.Real, tc.e.Up, got, tc.want)
		}
	}
	fwm := &conf.Virtual{Protocol: "fwm", FWMark: 7}
	if got := VirtualString(fwm); got != "7" {
		t.Errorf("fwm virtual %q", got)
	}
	v6 := &conf.Virtual{Protocol: "tcp", Addr: netip.MustParseAddrPort("[2001:db8::1]:80")}
	if got := ID("[2001:db8::11]:80", v6); got != "[2001:db8::11]:80 ([2001:db8::1]:80)" {
		t.Errorf("IPv6 id %q", got)
	}
	if got := Body("lvs1", "s", conf.AlertStarting, v6); got != "ldirectord host: lvs1\nLog-Message: s\nDaemon-Status: starting\n" {
		t.Errorf("body %q", got)
	}
	if got := stateString(conf.AlertAll); got != "UNKNOWN" {
		t.Errorf("state of a set %q", got)
	}
}

// The engine's log lines as details: readded quiescent servers are
// mailed as Quiescent, a fallback's removal does not repeat.
func TestDetails(t *testing.T) {
	cfg := parse(t, mtatest.RefusedAddr(t))
	a, lg := newAlerter(t, cfg, time.Second)
	a.SetState(conf.AlertRunning)
	web := cfg.Virtuals[0]
	a.Notify(Event{Virtual: web, Real: "192.0.2.12:80", Detail: "Readd Quiescent real server: 192.0.2.12:80 (192.0.2.100:80) (Weight set to 0)"})
	a.Notify(Event{Virtual: web, Real: "192.0.2.200:80", Detail: "Deleted fallback server: 192.0.2.200:80 (192.0.2.100:80)"})
	if !strings.Contains(lg.String(), `msg="emailalert: Quiescent real server: 192.0.2.12:80 (192.0.2.100:80) (Weight set to 0)"`) {
		t.Errorf("readded quiescent server not mailed as Quiescent:\n%s", lg)
	}
	if !strings.Contains(lg.String(), `msg="emailalert: Deleted fallback server: 192.0.2.200:80 (192.0.2.100:80)"`) {
		t.Errorf("fallback removal not mailed:\n%s", lg)
	}
	if d := a.Down(); !slices.Equal(d, []string{"192.0.2.12:80 (192.0.2.100:80)"}) {
		t.Errorf("Down() = %q, want only the quiescent real server", d)
	}
}

// No emailalert anywhere: nothing is tracked or sent, nothing blocks.
func TestNoAddresses(t *testing.T) {
	var ds conf.Diags
	cfg := conf.ParseLdirectord("ldirectord.cf", []byte("emailalertfreq = 1\nvirtual = 192.0.2.100:80\n\treal = 192.0.2.11:80 gate\n"), &ds)
	if ds.HasErrors() {
		t.Fatal(ds.String())
	}
	a := New(cfg, Options{})
	a.SetState(conf.AlertRunning)
	a.Notify(Event{Virtual: cfg.Virtuals[0], Real: "192.0.2.11:80"})
	a.Notify(Event{}) // no virtual: ignored
	if d := a.Down(); len(d) != 0 {
		t.Errorf("Down() = %q without addresses", d)
	}
	a.Close()
	a.Close() // twice is fine
	a.Notify(Event{Virtual: cfg.Virtuals[0], Real: "192.0.2.11:80"})
}

// BenchmarkNotify measures queuing one alert (the cost the ldirector's
// loop pays), to a mail server that refuses.
func BenchmarkNotify(b *testing.B) {
	var ds conf.Diags
	cfg := conf.ParseLdirectord("ldirectord.cf", []byte(testCf), &ds)
	cfg.SMTP = mtatest.RefusedAddr(b)
	a := New(cfg, Options{Hostname: "lvs1", Timeout: time.Second})
	a.SetState(conf.AlertRunning)
	for b.Loop() {
		a.Notify(Event{Virtual: cfg.Virtuals[0], Real: "192.0.2.11:80"})
	}
	b.StopTimer()
	a.Close()
}
