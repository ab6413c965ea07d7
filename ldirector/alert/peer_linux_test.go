//go:build linux

package alert

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hbgo/conf"
	"hbgo/internal/smtpsend/mtatest"
	"hbgo/test/ldbench"
	"hbgo/test/peers"
)

// Debian's ldirectord is the oracle of the texts: in a lab host it checks
// one real server that dies and comes back, and mails its alerts to an
// Exim on that host's port 25 (ldirectord's smtp takes no port). The
// Alerter, given the same changes, must write the same mails. One
// recipient: ldirectord 4.12 hands Net::SMTP the emailalert list as one
// address, which a server rejects when it holds several.
func TestTextsMatchLdirectord(t *testing.T) {
	checker, farm := ldbench.NewLab(t, 1)
	if err := peers.EnsureLdirectord(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ldirectord cannot run here: %v", err)
		}
		t.Skipf("ldirectord cannot run here: %v", err)
	}
	peerMTA := mtatest.StartIn(t, checker, 25)
	dir := t.TempDir()
	standin, err := ldbench.Build(dir, "./test/ldbench/ipvsadm", "ipvsadm-standin")
	if err != nil {
		t.Fatal(err)
	}
	real := farm.Addr(0).String()
	vip := ldbench.VirtualAddr(0)
	cf := fmt.Sprintf(`checktimeout = 1
checkinterval = 1
quiescent = no
autoreload = no
emailalert = ops@example.com
emailalertfreq = 2
smtp = 127.0.0.1
virtual = %s:%d
	protocol = tcp
	scheduler = wrr
	checktype = connect
	servicename = web
	comment = front door
	real = %s gate 2
`, vip, ldbench.RealPort, real)
	ld, err := peers.StartLdirectord(checker, filepath.Join(dir, "ld"), peers.LdirectordSpec{Config: cf, Ipvsadm: standin})
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Stop()

	// waitFor returns the first of the peer's mails from index from on
	// whose subject starts with prefix, and its index.
	waitFor := func(from int, prefix string) (mtatest.Message, int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			msgs, err := peerMTA.Messages()
			if err != nil {
				t.Fatal(err)
			}
			for i := from; i < len(msgs); i++ {
				if strings.HasPrefix(msgs[i].Subject, prefix) {
					return msgs[i], i
				}
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "ld", "daemon.log"))
				t.Fatalf("ldirectord sent no %q mail within 60s; its mails:\n%s\nits log:\n%s\nexim:\n%s",
					prefix, mtatest.Summary(msgs), log, peerMTA.Log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var oracle []mtatest.Message
	m, i := waitFor(0, "[web] Added real server: ")
	oracle = append(oracle, m)
	// ldirectord may flap at its start; the server's last mail before
	// the kill is where the story begins.
	time.Sleep(3 * time.Second)
	if msgs, _ := peerMTA.Messages(); len(msgs) > 0 {
		i = len(msgs) - 1
	}
	if err := farm.Kill(0); err != nil {
		t.Fatal(err)
	}
	m, i = waitFor(i+1, "[web] Deleted real server: ")
	oracle = append(oracle, m)
	m, i = waitFor(i+1, "[web] Inaccessible real server: ")
	oracle = append(oracle, m)
	if err := farm.Revive(0); err != nil {
		t.Fatal(err)
	}
	m, _ = waitFor(i+1, "[web] Added real server: ")
	oracle = append(oracle, m)
	ld.Stop()

	// The same changes through the Alerter, named as ldirectord names
	// its host, in the states ldirectord was in.
	host := strings.TrimPrefix(strings.SplitN(oracle[0].Body, "\n", 2)[0], "ldirectord host: ")
	state := func(m mtatest.Message) conf.AlertStatus {
		for _, s := range []conf.AlertStatus{conf.AlertStarting, conf.AlertRunning, conf.AlertStopping, conf.AlertReloading} {
			if strings.Contains(m.Body, "\nDaemon-Status: "+s.String()+"\n") {
				return s
			}
		}
		t.Fatalf("no daemon status in ldirectord's mail %q", m.Body)
		return 0
	}
	mta := mtatest.Start(t)
	var ds conf.Diags
	cfg := conf.ParseLdirectord("ldirectord.cf", []byte(cf), &ds)
	if ds.HasErrors() {
		t.Fatal(ds.String())
	}
	cfg.SMTP = mta.Addr
	a := New(cfg, Options{Hostname: host, Timeout: 10 * time.Second})
	defer a.Close()
	v := cfg.Virtuals[0]
	a.SetState(state(oracle[0]))
	a.Notify(Event{Virtual: v, Real: real, Up: true})
	mta.Wait(t, 1, 20*time.Second)
	a.SetState(state(oracle[1]))
	a.Notify(Event{Virtual: v, Real: real})
	mta.Wait(t, 3, 20*time.Second) // the alert and its repeat
	a.SetState(state(oracle[3]))
	a.Notify(Event{Virtual: v, Real: real, Up: true})
	ours := mta.Wait(t, 4, 20*time.Second)

	for i, want := range oracle {
		got := ours[i]
		if got.Subject != want.Subject {
			t.Errorf("mail %d: subject %q, ldirectord's %q", i, got.Subject, want.Subject)
		}
		if got.Body != want.Body {
			t.Errorf("mail %d: body %q, ldirectord's %q", i, got.Body, want.Body)
		}
		for _, h := range []string{"To", "From"} {
			if got.Header.Get(h) != want.Header.Get(h) {
				t.Errorf("mail %d: %s %q, ldirectord's %q", i, h, got.Header.Get(h), want.Header.Get(h))
			}
		}
		if strings.Join(got.EnvelopeTo, ",") != strings.Join(want.EnvelopeTo, ",") {
			t.Errorf("mail %d: recipients %q, ldirectord's %q", i, got.EnvelopeTo, want.EnvelopeTo)
		}
	}
	t.Logf("ldirectord's mails:\n%sours:\n%s", mtatest.Summary(oracle), mtatest.Summary(ours))
}
