package resources

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"hbgo/conf"
	"hbgo/internal/smtpsend"
)

// MailOptions say how MailTo sends its mail. Heartbeat piped it to the
// local mail(1); hbgo speaks SMTP to a server instead.
type MailOptions struct {
	// Server is the SMTP server, host:port (a host alone is port 25);
	// "" is localhost:25, the node's own MTA.
	Server string
	// From is the sender, an address or a From header's text; "" is
	// root@NODE.
	From string
	// Timeout bounds one mail's whole exchange; 0 is 10s.
	Timeout time.Duration
}

// mailDefaultSubject is what MailTo's subject starts with when haresources
// gives none (OCF_RESKEY_subject_default).
const mailDefaultSubject = "Resource Group"

// mailDate is date(1)'s output in the C locale, which Heartbeat's MailTo
// puts in its subjects.
const mailDate = "Mon Jan _2 15:04:05 MST 2006"

func init() {
	Register(conf.AgentMailTo, func(res conf.Resource, env Env) (Agent, error) {
		spec, err := conf.ParseMailToArgs(res.Args)
		if err != nil {
			return nil, err
		}
		return NewMailTo(ResourceName(res.Name, res.Args), spec, env), nil
	})
}

// MailTo is the agent of MailTo::ADDR[,ADDR...][::SUBJECT]: it tells
// people by mail that this node takes the group over (start) or gives it
// away (stop), with the subjects of Heartbeat's MailTo:
//
//	SUBJECT Takeover in progress at DATE on NODE
//	SUBJECT Migrating resource away at DATE from NODE
//
// SUBJECT is "Resource Group" when haresources gives none.
//
// A mail never delays a takeover: Start and Stop return at once and the
// mail goes in the background, bounded by its timeout; a failure is
// logged with the server and the reason, and does not fail the group.
//
// Like Heartbeat's pseudo resource, its state is this agent's memory:
// Running between Start and Stop. A restarted daemon sees it Stopped,
// and the chain's start then mails again, which is what an operator
// wants to hear about anyway.
type MailTo struct {
	name string
	to   []string
	subj string
	node string
	cfg  smtpsend.Config
	log  *slog.Logger
	now  func() time.Time

	mu       sync.Mutex
	running  bool
	inflight sync.WaitGroup
}

// NewMailTo makes the agent of one MailTo resource; name is the resource
// as haresources writes it.
func NewMailTo(name string, spec conf.MailToSpec, env Env) *MailTo {
	node := env.Node
	if node == "" {
		node, _ = os.Hostname()
	}
	lg := env.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &MailTo{
		name: name,
		to:   spec.To,
		subj: spec.Subject,
		node: node,
		cfg: smtpsend.Config{
			Server:   env.Mail.Server,
			From:     env.Mail.From,
			Timeout:  env.Mail.Timeout,
			Hostname: node,
		},
		log: lg,
		now: time.Now,
	}
}

func (m *MailTo) Name() string { return m.name }

// Start mails the takeover, unless the resource is already running.
func (m *MailTo) Start(context.Context) error {
	m.transition(true)
	return nil
}

// Stop mails the release, unless the resource is already stopped.
func (m *MailTo) Stop(context.Context) error {
	m.transition(false)
	return nil
}

// Status is Running between Start and Stop.
func (m *MailTo) Status(context.Context) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running {
		return Running, nil
	}
	return Stopped, nil
}

func (m *MailTo) transition(start bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running == start {
		return
	}
	m.running = start
	op := "stop"
	if start {
		op = "start"
	}
	subject, body := m.mail(start)
	m.inflight.Add(1)
	go func() {
		defer m.inflight.Done()
		m.send(op, subject, body)
	}()
}

// mail writes the subject and body of Heartbeat's MailTo.
func (m *MailTo) mail(start bool) (subject, body string) {
	head := strings.Join(strings.Fields(m.subj), " ")
	if len(head) < 2 { // SubjectLine: a one-letter subject is none
		head = mailDefaultSubject
	}
	date := m.now().Format(mailDate)
	op := "stop"
	if start {
		subject = head + " Takeover in progress at " + date + " on " + m.node
		op = "start"
	} else {
		subject = head + " Migrating resource away at " + date + " from " + m.node
	}
	// The line of one space is in the script's here-document too.
	body = "        " + subject + "\n" +
		" \n" +
		"        Command line was:\n" +
		"        " + m.name + " " + op + "\n"
	return subject, body
}

func (m *MailTo) send(op, subject, body string) {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout())
	defer cancel()
	server := m.cfg.ServerAddr()
	to := strings.Join(m.to, ",")
	if err := smtpsend.Send(ctx, m.cfg, m.to, subject, body); err != nil {
		m.log.Error("Resource "+m.name+" "+op+": mail to "+to+" not sent: "+err.Error(),
			"resource", m.name, "op", op, "server", server, "to", to, "err", err)
		return
	}
	m.log.Info("Resource "+m.name+" "+op+": mailed "+to+": "+subject,
		"resource", m.name, "op", op, "server", server, "to", to)
}

func (m *MailTo) timeout() time.Duration {
	if m.cfg.Timeout > 0 {
		return m.cfg.Timeout
	}
	return smtpsend.DefaultTimeout
}

// wait returns when no mail is in flight (for tests).
func (m *MailTo) wait() { m.inflight.Wait() }
