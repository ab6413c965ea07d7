// Package mtatest owns the real mail server tests send to: Exim, started
// by the test on a free loopback port with its own configuration, spool
// and mailbox in a directory of its own, and the dead servers a sender
// must survive.
package mtatest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hbgo/internal/testsrv"
)

// Domain is the MTA's own domain: a local user such as root is received
// as root@Domain.
const Domain = "mta.test"

// MTA is a running Exim that accepts every mail from loopback and
// appends it, once for all its recipients, to one mbox file.
type MTA struct {
	// Addr is where it listens, 127.0.0.1:PORT.
	Addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Message is one mail as the MTA delivered it.
type Message struct {
	Header mail.Header
	// Subject is the Subject header, RFC 2047 words decoded.
	Subject string
	// EnvelopeTo are the recipients of the SMTP transaction, qualified
	// by the MTA (root becomes root@Domain).
	EnvelopeTo []string
	// ReturnPath is the envelope sender, without angle brackets.
	ReturnPath string
	Body       string
}

// need fails the test when a tool is missing under CI=true, and skips it
// otherwise.
func need(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing tool is a failure)", what)
	}
	t.Skip(what)
}

const config = `# Written by mtatest: accept all from loopback, one mbox.
primary_hostname = {{DOMAIN}}
local_interfaces = 127.0.0.1
spool_directory = {{DIR}}/spool
log_file_path = {{DIR}}/log/%slog
exim_user = root
exim_group = root
keep_environment =
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
smtp_enforce_sync = false
recipient_unqualified_hosts = *
sender_unqualified_hosts = *
acl_smtp_rcpt = acl_rcpt

begin acl
acl_rcpt:
  accept

begin routers
all:
  driver = accept
  transport = mbox

begin transports
mbox:
  driver = appendfile
  file = {{DIR}}/mail/mbox
  batch_max = 1000
  user = nobody
  group = nogroup
  mode = 0666
  envelope_to_add
  return_path_add
`

// Start runs Exim (Debian package exim4-daemon-light) for the test on a
// free loopback port and stops it when the test ends. It needs root, as
// the tests run in CI; without exim4 or root it skips, or fails under
// CI=true.
func Start(t testing.TB) *MTA {
	t.Helper()
	return start(t, nil, freePort(t))
}

// Host is where StartIn runs Exim: a lab host of test/netns.
type Host interface {
	// Command prepares a command that runs in the host.
	Command(name string, args ...string) *exec.Cmd
	// Do runs fn with its sockets in the host's network.
	Do(fn func() error) error
}

// StartIn runs Exim inside h, listening on 127.0.0.1:port there (25 for
// a peer that cannot be told a port). Addr is then an address in h.
func StartIn(t testing.TB, h Host, port int) *MTA {
	t.Helper()
	return start(t, h, port)
}

func start(t testing.TB, h Host, port int) *MTA {
	t.Helper()
	bin, err := exec.LookPath("exim4")
	if err != nil {
		if bin, err = exec.LookPath("exim"); err != nil {
			need(t, "exim4 not found (Debian package exim4-daemon-light)")
		}
	}
	if os.Geteuid() != 0 {
		need(t, "the test MTA runs as root")
	}
	// Deliveries run as nobody, who must reach the mailbox: the
	// directory is searchable by all, its mail folder writable.
	dir, err := os.MkdirTemp("", "hbgo-mta-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"", 0o711}, {"spool", 0o700}, {"log", 0o700}, {"mail", 0o777}} {
		p := filepath.Join(dir, d.name)
		if err := os.MkdirAll(p, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	cfg := strings.NewReplacer("{{DIR}}", dir, "{{DOMAIN}}", Domain).Replace(config)
	cfgFile := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &MTA{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, done: make(chan struct{})}
	out := &lockedBuffer{}
	args := []string{"-C", cfgFile, "-bdf", "-oX", strconv.Itoa(port), "-oP", filepath.Join(dir, "exim.pid")}
	dial := func() error {
		c, err := net.DialTimeout("tcp", m.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	if h == nil {
		m.cmd = exec.Command(bin, args...)
		// Its own process group, so that the connection and delivery
		// processes it forks go with it.
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	} else {
		// ip netns exec execs Exim: the process is Exim, in a group of
		// its own.
		m.cmd = h.Command(bin, args...)
		d := dial
		dial = func() error { return h.Do(d) }
	}
	m.cmd.Stdout, m.cmd.Stderr = out, out
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(m.stop)

	deadline := time.Now().Add(15 * time.Second)
	for {
		err := dial()
		if err == nil {
			return m
		}
		select {
		case <-m.done:
			t.Fatalf("exim exited before listening on %s: %s\n%s", m.Addr, out.String(), m.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("exim not listening on %s after 15s: %v\n%s\n%s", m.Addr, err, out.String(), m.Log())
		}
	}
}

func (m *MTA) stop() {
	pgid := m.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-m.done
	}
	// Leftover children of the group (a delivery in progress).
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Log is Exim's main log so far, for failure messages.
func (m *MTA) Log() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "log", "mainlog"))
	return string(b)
}

// Received counts the mails the MTA has accepted so far. Exim logs each
// before it answers the end of DATA, so once a sender has returned its
// mail is counted, delivered or not.
func (m *MTA) Received() int {
	return strings.Count(m.Log(), " <= ")
}

// Messages reads every mail delivered so far, oldest first.
func (m *MTA) Messages() ([]Message, error) {
	b, err := os.ReadFile(filepath.Join(m.dir, "mail", "mbox"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseMbox(b)
}

// Wait returns the delivered mails once there are at least n, failing
// the test when that takes longer than within.
func (m *MTA) Wait(t testing.TB, n int, within time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msgs, err := m.Messages()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails delivered after %v, want %d:\n%s\nexim log:\n%s", len(msgs), within, n, Summary(msgs), m.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Summary lists mails one a line (recipients and subject), for messages.
func Summary(msgs []Message) string {
	var b strings.Builder
	for i, msg := range msgs {
		fmt.Fprintf(&b, "  %d: to %s: %q\n", i, strings.Join(msg.EnvelopeTo, ","), msg.Subject)
	}
	return b.String()
}

func parseMbox(b []byte) ([]Message, error) {
	var raw [][]byte
	var cur []byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	prevBlank := true
	for sc.Scan() {
		line := sc.Bytes()
		if prevBlank && bytes.HasPrefix(line, []byte("From ")) {
			if cur != nil {
				raw = append(raw, cur)
			}
			cur = []byte{}
			prevBlank = false
			continue
		}
		if cur != nil {
			cur = append(cur, line...)
			cur = append(cur, '\n')
		}
		prevBlank = len(line) == 0
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		raw = append(raw, cur)
	}
	// Exim appends to the mbox while it is read: a last message not yet
	// ended by its blank line is still being written, and is left for
	// the next reading (it failed the parse as "EOF" once in CI).
	if len(raw) > 0 && !bytes.HasSuffix(b, []byte("\n\n")) {
		raw = raw[:len(raw)-1]
	}
	var msgs []Message
	for i, r := range raw {
		pm, err := mail.ReadMessage(bytes.NewReader(r))
		if err != nil {
			return nil, fmt.Errorf("mbox message %d: %w", i, err)
		}
		body, err := io.ReadAll(pm.Body)
		if err != nil {
			return nil, err
		}
		msg := Message{Header: pm.Header, Body: strings.TrimSuffix(string(body), "\n")} // the blank line before the next From
		var dec mime.WordDecoder
		if s, err := dec.DecodeHeader(pm.Header.Get("Subject")); err == nil {
			msg.Subject = s
		} else {
			msg.Subject = pm.Header.Get("Subject")
		}
		for _, a := range strings.Split(pm.Header.Get("Envelope-To"), ",") {
			if a = strings.TrimSpace(a); a != "" {
				msg.EnvelopeTo = append(msg.EnvelopeTo, a)
			}
		}
		msg.ReturnPath = strings.Trim(pm.Header.Get("Return-Path"), "<> ")
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RefusedAddr is a loopback address where nothing listens: a dial is
// refused.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
}

// SilentAddr is a loopback address that accepts connections and never
// says a word (a hung server); the connections close when the test ends.
func SilentAddr(t testing.TB) string {
	t.Helper()
	return testsrv.Silent(t, "127.0.0.1:0")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
