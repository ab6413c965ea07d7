// Package alert owns the ldirector's e-mail alerts: ldirectord's
// emailalert, emailalertfreq, emailalertstatus, emailalertfrom and smtp,
// with its subjects and bodies.
package alert

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"hbgo/conf"
	"hbgo/internal/smtpsend"
)

// Event is a change of one real server of one virtual service.
type Event struct {
	Virtual *conf.Virtual
	// Real is the server as ldirectord prints it: host:port, the port
	// being the one IPVS forwards to.
	Real string
	// Up: the server was added or restored; else it was deleted or made
	// quiescent.
	Up bool
	// Detail is the ldirectord log line of the change, which becomes the
	// alert's subject ("Deleted real server: 192.0.2.11:80
	// (192.0.2.100:80)"); when empty the Alerter writes that line itself
	// from the virtual service's quiescent setting and the server's weight.
	// As in ldirectord, "Readd Quiescent ..." is mailed as "Quiescent
	// ...", and a fallback server's removal ("Deleted fallback server:
	// ...") is not repeated.
	Detail string
}

// Options tune an Alerter.
type Options struct {
	// Hostname names this director in the mail ("ldirectord host: ") and
	// to the SMTP server; "" is the kernel's host name.
	Hostname string
	// Logger gets ldirectord's "emailalert: SUBJECT" lines and the
	// failures; nil discards.
	Logger *slog.Logger
	// Timeout bounds one mail's exchange with the server, and Close; 0
	// is 10s.
	Timeout time.Duration
	// Now is the clock alerts are stamped with; nil is time.Now.
	Now func() time.Time
}

// Queue bounds. A mass failure queues one mail per server, as ldirectord
// sends; past maxQueued per SMTP server mails are dropped and counted.
const (
	maxQueued       = 10000
	failureLogEvery = time.Minute
)

// Alerter sends the alerts of one ldirector. Mails leave in the
// background, one SMTP server's in order and one at a time, so a hung
// server delays only its own mails and nothing ever waits for one.
type Alerter struct {
	opts     Options
	hostname string
	log      *slog.Logger

	// base is cancelled when Close gives up on the mails still queued.
	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	cfg     *conf.LdirectordConfig
	state   conf.AlertStatus
	closed  bool
	down    map[string]*repeat // by ldirectord's id, "REAL (VIRTUAL)"
	outbox  map[string]*outbox // by SMTP server
	limiter map[string]*failures
	gen     uint64 // the last repeat timer armed
}

// repeat is a real server that is down and whose alert repeats.
type repeat struct {
	v     *conf.Virtual
	real  string
	at    time.Time // the last alert
	timer *time.Timer
	gen   uint64 // which timer is the live one, unique in the Alerter
}

type outbox struct {
	jobs    []job
	running bool
	dropped int
}

type job struct {
	cfg     smtpsend.Config
	to      []string
	subject string
	body    string
}

// failures rate-limits the failure log lines of one SMTP server.
type failures struct {
	logged     time.Time
	suppressed int
}

// New makes the Alerter of cfg, in state starting (as ldirectord begins).
func New(cfg *conf.LdirectordConfig, opts Options) *Alerter {
	if opts.Timeout <= 0 {
		opts.Timeout = smtpsend.DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	host := opts.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if cfg == nil {
		cfg = conf.NewLdirectordConfig("")
	}
	base, cancel := context.WithCancel(context.Background())
	return &Alerter{
		opts:     opts,
		hostname: host,
		log:      lg,
		base:     base,
		cancel:   cancel,
		cfg:      cfg,
		state:    conf.AlertStarting,
		down:     map[string]*repeat{},
		outbox:   map[string]*outbox{},
		limiter:  map[string]*failures{},
	}
}

// SetConfig takes the global settings (emailalertfrom) of a reloaded
// configuration. The settings of a virtual service come with its events.
func (a *Alerter) SetConfig(cfg *conf.LdirectordConfig) {
	if cfg == nil {
		return
	}
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
}

// SetState records the daemon's state, one of conf.AlertStarting,
// AlertRunning, AlertStopping, AlertReloading: a virtual service's
// emailalertstatus says in which of them its alerts are sent.
func (a *Alerter) SetState(s conf.AlertStatus) {
	a.mu.Lock()
	a.state = s
	a.mu.Unlock()
}

// Notify alerts about one change, as ldirectord's ld_emailalert_send: a
// mail to the virtual service's emailalert addresses when its
// emailalertstatus includes the daemon's state now. A server that goes
// down is alerted again every emailalertfreq ("Inaccessible real server:
// ...") until an event says it is up. Notify never blocks; after Close it
// does nothing.
func (a *Alerter) Notify(e Event) {
	if e.Virtual == nil || e.Real == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	v := e.Virtual
	if len(v.EffectiveEmailAlert()) == 0 {
		a.forget(e.Real, v)
		return
	}
	subject := e.Detail
	if subject == "" {
		subject = changeLine(e)
	}
	// _quiescent_server logs "Readd Quiescent" but mails "Quiescent".
	subject = strings.TrimPrefix(subject, "Readd ")
	// A fallback server's removal is sent with time 0: no repeat.
	fallback := strings.Contains(subject, " fallback server: ")
	id := ID(e.Real, v)
	if e.Up || fallback {
		a.forget(e.Real, v)
	} else if freq := v.EffectiveEmailAlertFreq(); freq > 0 {
		r := a.down[id]
		if r == nil {
			r = &repeat{}
			a.down[id] = r
		}
		r.v, r.real, r.at = v, e.Real, a.opts.Now()
		a.schedule(id, r, freq)
	}
	a.send(v, subject)
}

// forget stops the repeated alert of a server.
func (a *Alerter) forget(real string, v *conf.Virtual) {
	id := ID(real, v)
	if r := a.down[id]; r != nil {
		if r.timer != nil {
			r.timer.Stop()
		}
		delete(a.down, id)
	}
}

// schedule arms r's next repeat, freq after its last alert. Called with
// a.mu held.
func (a *Alerter) schedule(id string, r *repeat, freq time.Duration) {
	if r.timer != nil {
		r.timer.Stop()
	}
	a.gen++
	gen := a.gen
	r.gen = gen
	delay := max(r.at.Add(freq).Sub(a.opts.Now()), 0)
	r.timer = time.AfterFunc(delay, func() { a.fire(id, gen) })
}

// fire repeats a down server's alert, ldirectord's ld_emailalert_resend.
func (a *Alerter) fire(id string, gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.down[id]
	if a.closed || r == nil || r.gen != gen {
		return // stopped, or replaced by a newer alert
	}
	freq := r.v.EffectiveEmailAlertFreq()
	if freq <= 0 || len(r.v.EffectiveEmailAlert()) == 0 {
		delete(a.down, id)
		return
	}
	r.at = a.opts.Now()
	a.schedule(id, r, freq)
	a.send(r.v, "Inaccessible real server: "+id)
}

// Down lists the servers whose alert repeats, as "REAL (VIRTUAL)", for
// status pages and tests.
func (a *Alerter) Down() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]string, 0, len(a.down))
	for id := range a.down {
		ids = append(ids, id)
	}
	return ids
}

// send queues the mail of one log line to v's addresses, when v's
// emailalertstatus lets it out in the current state. Called with a.mu
// held.
func (a *Alerter) send(v *conf.Virtual, subject string) {
	if a.state&v.EffectiveEmailAlertStatus() == 0 {
		return
	}
	to := v.EffectiveEmailAlert()
	if len(to) == 0 {
		return
	}
	a.log.Info("emailalert: "+subject, "virtual", VirtualString(v))
	if v.ServiceName != "" {
		subject = "[" + v.ServiceName + "] " + subject
	}
	j := job{
		cfg: smtpsend.Config{
			Server:   v.EffectiveSMTP(),
			From:     a.cfg.EmailAlertFrom,
			Timeout:  a.opts.Timeout,
			Hostname: a.hostname,
		},
		to:      to,
		subject: subject,
		body:    Body(a.hostname, subject, a.state, v),
	}
	server := j.cfg.ServerAddr()
	ob := a.outbox[server]
	if ob == nil {
		ob = &outbox{}
		a.outbox[server] = ob
	}
	if len(ob.jobs) >= maxQueued {
		ob.dropped++
		if ob.dropped == 1 || ob.dropped%1000 == 0 {
			a.log.Error("emailalert: "+strconv.Itoa(ob.dropped)+" mails dropped: "+strconv.Itoa(maxQueued)+" wait for "+server,
				"server", server, "dropped", ob.dropped)
		}
		return
	}
	ob.jobs = append(ob.jobs, j)
	if !ob.running {
		ob.running = true
		a.wg.Add(1)
		go a.drain(server, ob)
	}
}

// drain sends one server's queued mails in order, then ends.
func (a *Alerter) drain(server string, ob *outbox) {
	defer a.wg.Done()
	for {
		a.mu.Lock()
		if len(ob.jobs) == 0 || a.base.Err() != nil {
			if n := len(ob.jobs); n > 0 {
				a.log.Error("emailalert: "+strconv.Itoa(n)+" mails not sent: stopped", "server", server, "dropped", n)
			}
			ob.jobs, ob.running = nil, false
			a.mu.Unlock()
			return
		}
		j := ob.jobs[0]
		ob.jobs[0] = job{}
		ob.jobs = ob.jobs[1:]
		a.mu.Unlock()

		ctx, cancel := context.WithTimeout(a.base, a.opts.Timeout)
		err := smtpsend.Send(ctx, j.cfg, j.to, j.subject, j.body)
		cancel()
		if err != nil {
			a.failed(server, j, err)
		} else {
			a.log.Debug("emailalert sent to "+strings.Join(j.to, ",")+": "+j.subject, "server", server)
		}
	}
}

// failed logs a mail that did not leave: the first failure of a server
// at once, then one line a minute with the count of those in between.
func (a *Alerter) failed(server string, j job, err error) {
	a.mu.Lock()
	f := a.limiter[server]
	if f == nil {
		f = &failures{}
		a.limiter[server] = f
	}
	now := a.opts.Now()
	if !f.logged.IsZero() && now.Sub(f.logged) < failureLogEvery {
		f.suppressed++
		a.mu.Unlock()
		return
	}
	n := f.suppressed
	f.logged, f.suppressed = now, 0
	a.mu.Unlock()
	msg := "failed to send SMTP email message: " + j.subject + ": " + err.Error()
	if n > 0 {
		msg += " (and " + strconv.Itoa(n) + " more failures since the last report)"
	}
	a.log.Error(msg, "server", server, "to", strings.Join(j.to, ","), "err", err)
}

// Close stops the repeated alerts and waits for the mails queued so far,
// as long as Timeout at most; what is still queued then is dropped and
// logged.
func (a *Alerter) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		a.wg.Wait()
		return
	}
	a.closed = true
	for id, r := range a.down {
		if r.timer != nil {
			r.timer.Stop()
		}
		delete(a.down, id)
	}
	a.mu.Unlock()
	giveUp := time.AfterFunc(a.opts.Timeout, a.cancel)
	a.wg.Wait()
	giveUp.Stop()
	a.cancel()
}

// ID is ldirectord's name of a server in a virtual service, which its
// repeated alerts print: "REAL (VIRTUAL)".
func ID(real string, v *conf.Virtual) string {
	return real + " (" + VirtualString(v) + ")"
}

// VirtualString writes a virtual service as ldirectord's get_virtual:
// address:port, or the firewall mark.
func VirtualString(v *conf.Virtual) string {
	if v.Protocol == "fwm" || v.FWMark != 0 {
		return strconv.FormatUint(uint64(v.FWMark), 10)
	}
	return hostPort(v.Host, v.Addr.Addr(), v.Addr.Port())
}

func hostPort(host string, addr netip.Addr, port uint16) string {
	if host == "" {
		switch {
		case addr.Is6():
			host = "[" + addr.String() + "]"
		case addr.IsValid():
			host = addr.String()
		default:
			host = "?"
		}
	}
	return host + ":" + strconv.Itoa(int(port))
}

// changeLine writes ldirectord's log line for a change when the event
// brings none: _quiescent_server's and _restore_service's texts.
func changeLine(e Event) string {
	v := e.Virtual
	id := "real server: " + ID(e.Real, v)
	if !e.Up {
		if v.EffectiveQuiescent() {
			return "Quiescent " + id + " (Weight set to 0)"
		}
		return "Deleted " + id
	}
	verb := "Added "
	if v.EffectiveQuiescent() {
		verb = "Restored "
	}
	if w, ok := weight(v, e.Real); ok {
		return verb + id + " (Weight set to " + strconv.Itoa(w) + ")"
	}
	return verb + id
}

// weight finds the configured weight of the server printed as real.
func weight(v *conf.Virtual, real string) (int, bool) {
	for i := range v.Reals {
		r := &v.Reals[i]
		if hostPort(r.Host, r.Addr.Addr(), v.RealPort(r)) == real {
			return r.Weight, true
		}
	}
	return 0, false
}

// Body is the text of an alert, as ldirectord writes it.
func Body(hostname, subject string, state conf.AlertStatus, v *conf.Virtual) string {
	var b strings.Builder
	b.WriteString("ldirectord host: " + hostname + "\n")
	b.WriteString("Log-Message: " + subject + "\n")
	b.WriteString("Daemon-Status: " + stateString(state) + "\n")
	var extra string
	if v.ServiceName != "" {
		extra += "Service name: " + v.ServiceName + "\n"
	}
	if v.Comment != "" {
		extra += "Comment: " + v.Comment + "\n"
	}
	if extra != "" {
		b.WriteString("\n" + extra + "\n")
	}
	return b.String()
}

// stateString is ldirectord's daemon_status_str.
func stateString(s conf.AlertStatus) string {
	switch s {
	case conf.AlertStarting, conf.AlertRunning, conf.AlertStopping, conf.AlertReloading:
		return s.String()
	}
	return "UNKNOWN"
}
