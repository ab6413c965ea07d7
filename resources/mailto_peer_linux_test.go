//go:build linux

package resources

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"hbgo/internal/smtpsend/mtatest"
	"hbgo/test/peers"
)

// heartbeatMailTo is Heartbeat's MailTo as haresources calls it (Debian
// package heartbeat; it runs resource-agents' OCF script).
const heartbeatMailTo = "/etc/ha.d/resource.d/MailTo"

// fakeMail stands in for mail(1) under Heartbeat's MailTo: it writes
// the subject, the addresses and the body to $MAILOUT.
const fakeMail = `#!/bin/sh
[ "$1" = -s ] || exit 2
printf '%s\n%s\n' "$2" "$3" > "$MAILOUT"
cat >> "$MAILOUT"
`

// mailDateRE finds the date(1) stamp of a MailTo subject.
var mailDateRE = regexp.MustCompile(`[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d [A-Z]+ \d{4}`)

// Heartbeat's own MailTo is the oracle of the texts: run with the same
// arguments, its subjects and bodies are ours, but for the date and the
// command line (its script's path; ours the resource as haresources
// writes it).
func TestMailToTextsMatchHeartbeat(t *testing.T) {
	if err := peers.Ensure(heartbeatMailTo + ":heartbeat"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Heartbeat's MailTo cannot run here: %v", err)
		}
		t.Skipf("Heartbeat's MailTo cannot run here: %v", err)
	}
	dir := t.TempDir()
	mailCmd := filepath.Join(dir, "mail")
	if err := os.WriteFile(mailCmd, []byte(fakeMail), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "rsctmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	const addrs, subject = "ops@example.com,root", "Web farm"
	theirs := map[string][]string{} // op: subject, addresses, body lines
	for _, op := range []string{"start", "stop"} {
		out := filepath.Join(dir, op+".out")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, heartbeatMailTo, addrs, subject, op)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "MAILCMD=" + mailCmd,
			"MAILOUT=" + out, "HA_RSCTMP=" + filepath.Join(dir, "rsctmp")}
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", heartbeatMailTo, op, err, b)
		}
		text, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("%s %s sent no mail: %v", heartbeatMailTo, op, err)
		}
		theirs[op] = strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	}

	node, err := os.Hostname() // the script's uname -n
	if err != nil {
		t.Fatal(err)
	}
	mta := mtatest.Start(t)
	a, _ := newMailTo(t, []string{addrs, subject}, MailOptions{Server: mta.Addr})
	a.node = node
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	a.wait()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	a.wait()
	msgs := mta.Wait(t, 2, 20*time.Second)

	for i, op := range []string{"start", "stop"} {
		want, got := theirs[op], msgs[i]
		if len(want) < 3 {
			t.Fatalf("Heartbeat's %s mail: %q", op, want)
		}
		wantSubj, wantTo, wantBody := want[0], want[1], want[2:]
		if !mailDateRE.MatchString(wantSubj) || !mailDateRE.MatchString(got.Subject) {
			t.Fatalf("%s: no date in %q or %q", op, wantSubj, got.Subject)
		}
		if g, w := mailDateRE.ReplaceAllString(got.Subject, "DATE"), mailDateRE.ReplaceAllString(wantSubj, "DATE"); g != w {
			t.Errorf("%s subject %q, Heartbeat's %q", op, g, w)
		}
		if wantTo != addrs {
			t.Errorf("Heartbeat's %s mail went to %q", op, wantTo)
		}
		gotBody := strings.Split(strings.TrimSuffix(got.Body, "\n"), "\n")
		if len(gotBody) != len(wantBody) {
			t.Fatalf("%s body %q, Heartbeat's %q", op, gotBody, wantBody)
		}
		for j := range wantBody {
			g, w := mailDateRE.ReplaceAllString(gotBody[j], "DATE"), mailDateRE.ReplaceAllString(wantBody[j], "DATE")
			if j == len(wantBody)-1 {
				// The command line: the same indent and operation.
				g, w = cmdShape(g), cmdShape(w)
			}
			if g != w {
				t.Errorf("%s body line %d %q, Heartbeat's %q", op, j+1, gotBody[j], wantBody[j])
			}
		}
	}
}

// cmdShape keeps a command line's indent and last word.
func cmdShape(l string) string {
	indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
	return indent + "CMD " + l[strings.LastIndex(l, " ")+1:]
}
