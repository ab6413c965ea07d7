package ldirector

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hbgo/conf"
	"hbgo/internal/smtpsend/mtatest"
	"hbgo/internal/testsrv"
)

// farm starts n real servers on 127.77.<net>.1.. sharing one port.
func farm(t *testing.T, net, n int) ([]*realServer, uint16) {
	t.Helper()
	var addrs []string
	for i := 1; i <= n; i++ {
		addrs = append(addrs, fmt.Sprintf("127.77.%d.%d", net, i))
	}
	port := freePort(t, addrs...)
	var out []*realServer
	for _, a := range addrs {
		out = append(out, startReal(t, ap(a, port)))
	}
	return out, port
}

func realLines(rs []*realServer, extra string) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\treal = %s gate%s\n", r.addr, extra)
	}
	return b.String()
}

func TestStartWritesFirstChecksOnce(t *testing.T) {
	rs, port := farm(t, 1, 3)
	rs[2].Close() // down from the start
	vip := ap("10.255.0.1", port)
	cfg := cfgHead + "fallback = 127.0.0.1:80\nvirtual = " + vip + "\n" + realLines(rs, "") + "\tchecktype = connect\n"
	r := startRig(t, cfg)
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1})
	// Let a few more rounds pass: nothing may change.
	time.Sleep(600 * time.Millisecond)
	ops := r.table.Ops()
	want := []string{
		"-A -t " + vip + " -s wrr",
		"-a -t " + vip + " -r " + rs[0].addr.String() + " -g -w 1",
		"-a -t " + vip + " -r " + rs[1].addr.String() + " -g -w 1",
	}
	// The servers' order follows their answers.
	slices.Sort(ops[1:])
	slices.Sort(want[1:])
	if strings.Join(ops, "\n") != strings.Join(want, "\n") {
		t.Errorf("start wrote\n%s\nwant\n%s", strings.Join(ops, "\n"), strings.Join(want, "\n"))
	}
	if r.log.has("fallback") {
		t.Errorf("fallback touched at start:\n%s", r.log)
	}
}

func TestFailureCountThenRemoved(t *testing.T) {
	rs, port := farm(t, 2, 2)
	vip := ap("10.255.0.2", port)
	r := startRig(t, cfgHead+"virtual = "+vip+"\n"+realLines(rs, " 3")+"\tchecktype = connect\n\tfailurecount = 3\n")
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 3, rs[1].addr.String(): 3})
	rs[0].Close()
	r.waitDests(vip, map[string]int{rs[1].addr.String(): 3})
	for _, l := range []string{
		"Soft failure real server: " + rs[0].addr.String() + " (tcp:" + vip + ") failure 1/3",
		"Soft failure real server: " + rs[0].addr.String() + " (tcp:" + vip + ") failure 2/3",
		"Deleted real server: " + rs[0].addr.String() + " (" + vip + ")",
	} {
		r.waitLog(l)
	}
	// It comes back with its configured weight.
	rs[0] = startReal(t, rs[0].addr.String())
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 3, rs[1].addr.String(): 3})
	r.waitLog("Added real server: " + rs[0].addr.String() + " (" + vip + ") (Weight set to 3)")
}

func TestQuiescent(t *testing.T) {
	rs, port := farm(t, 3, 2)
	vip := ap("10.255.0.3", port)
	r := startRig(t, cfgHead+"quiescent = yes\nvirtual = "+vip+"\n"+realLines(rs, " 2")+"\tchecktype = connect\n")
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 2, rs[1].addr.String(): 2})
	rs[1].Close()
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 2, rs[1].addr.String(): 0})
	r.waitLog("Quiescent real server: " + rs[1].addr.String() + " (" + vip + ") (Weight set to 0)")
	rs[1] = startReal(t, rs[1].addr.String())
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 2, rs[1].addr.String(): 2})
	r.waitLog("Restored real server: " + rs[1].addr.String() + " (" + vip + ") (Weight set to 2)")
}

func TestFallbackBeforeLastLeaves(t *testing.T) {
	rs, port := farm(t, 4, 2)
	vip := ap("10.255.0.4", port)
	out := filepath.Join(t.TempDir(), "fallback.out")
	script := filepath.Join(t.TempDir(), "fb.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fb := "127.0.0.1:" + fmt.Sprint(port)
	r := startRig(t, cfgHead+"fallbackcommand = "+script+"\nvirtual = "+vip+"\n"+realLines(rs, "")+
		"\tchecktype = connect\n\tfallback = 127.0.0.1 gate\n")
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1})
	rs[0].Close()
	rs[1].Close()
	r.waitDests(vip, map[string]int{fb: 1})
	if g := r.table.Gaps(); len(g) > 0 {
		t.Errorf("the service had no live server after %v", g)
	}
	r.waitLog("Added fallback server: " + fb + " (" + vip + ") (Weight set to 1)")
	rs[1] = startReal(t, rs[1].addr.String())
	r.waitDests(vip, map[string]int{rs[1].addr.String(): 1})
	r.waitLog("Deleted fallback server: " + fb + " (" + vip + ")")
	r.waitFor("fallback command runs", func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == "stop "+vip+" tcp\nstart "+vip+" tcp\nstop "+vip+" tcp\n"
	})
}

// TestFallbackCommandLeavingAChild: a fallback command that leaves a
// child running in the background (holding its output open) holds up
// neither the commands after it nor the checks. The runner once waited
// for the child, so the next command came 30 s later.
func TestFallbackCommandLeavingAChild(t *testing.T) {
	rs, port := farm(t, 7, 1)
	vip := ap("10.255.0.7", port)
	out := filepath.Join(t.TempDir(), "fallback.out")
	script := filepath.Join(t.TempDir(), "fb.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$1\" >> "+out+"\nsleep 30 &\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := startRig(t, cfgHead+"fallbackcommand = "+script+"\nvirtual = "+vip+"\n"+realLines(rs, "")+
		"\tchecktype = connect\n\tfallback = 127.0.0.1 gate\n")
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1})
	start := time.Now()
	rs[0].Close()
	r.waitLog("Added fallback server: 127.0.0.1:" + fmt.Sprint(port) + " (" + vip + ") (Weight set to 1)")
	rs[0] = startReal(t, rs[0].addr.String())
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1})
	r.waitFor("both fallback commands ran", func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == "stop\nstart\nstop\n"
	})
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the commands took %v: the runner waited for the background child", took)
	}
}

func TestQuiescentLastGoesAfterFallback(t *testing.T) {
	// Quiescing the last server (an edit to weight 0) must also come
	// after the fallback is in.
	rs, port := farm(t, 5, 1)
	vip := ap("10.255.0.5", port)
	r := startRig(t, cfgHead+"quiescent = yes\nfallback = 127.0.0.2\nvirtual = "+vip+"\n"+realLines(rs, "")+"\tchecktype = connect\n")
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1})
	rs[0].Close()
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 0, ap("127.0.0.2", port): 1})
	if g := r.table.Gaps(); len(g) > 0 {
		t.Errorf("the service had no live server after %v", g)
	}
}

func TestReloadChangesOnlyDifferences(t *testing.T) {
	rs, port := farm(t, 6, 4)
	vip := ap("10.255.0.6", port)
	vip2 := ap("10.255.0.7", port)
	base := cfgHead + "virtual = " + vip + "\n" + realLines(rs[:3], "") + "\tchecktype = connect\n" +
		"virtual = " + vip2 + "\n" + realLines(rs[:1], "") + "\tchecktype = connect\n"
	r := startRig(t, base)
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1, rs[2].addr.String(): 1})
	r.waitDests(vip2, map[string]int{rs[0].addr.String(): 1})
	n := len(r.table.Ops())
	// Same config again: nothing.
	if err := r.d.Reload(parseCfg(t, r.file, base)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if ops := r.table.Ops()[n:]; len(ops) != 0 {
		t.Errorf("reload of the same config changed %v", ops)
	}
	// Weight of one, one removed, one added, vip2 dropped.
	next := cfgHead + "virtual = " + vip + "\n" +
		"\treal = " + rs[0].addr.String() + " gate 5\n" +
		"\treal = " + rs[1].addr.String() + " gate\n" +
		"\treal = " + rs[3].addr.String() + " gate\n" +
		"\tchecktype = connect\n"
	if err := r.d.Reload(parseCfg(t, r.file, next)); err != nil {
		t.Fatal(err)
	}
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 5, rs[1].addr.String(): 1, rs[3].addr.String(): 1})
	r.waitFor("vip2 gone", func() bool { return r.table.dests(t, vip2) == nil })
	time.Sleep(500 * time.Millisecond)
	got := r.table.Ops()[n:]
	want := map[string]bool{
		"-e -t " + vip + " -r " + rs[0].addr.String() + " -g -w 5": true,
		"-d -t " + vip + " -r " + rs[2].addr.String():              true,
		"-a -t " + vip + " -r " + rs[3].addr.String() + " -g -w 1": true,
		"-D -t " + vip2: true,
	}
	if len(got) != len(want) {
		t.Errorf("reload made %d changes, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected change %q", g)
		}
	}
	r.waitLog("Purged virtual server (start): " + vip2)
}

func TestOneCheckServesEveryService(t *testing.T) {
	rs, port := farm(t, 8, 2)
	vips := []string{ap("10.255.0.8", port), ap("10.255.0.9", port)}
	cfg := "checkinterval = 500ms\nchecktimeout = 1s\n"
	for _, v := range vips {
		cfg += "virtual = " + v + "\n" + realLines(rs, "") + "\tchecktype = connect\n"
	}
	r := startRig(t, cfg)
	for _, v := range vips {
		r.waitDests(v, map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1})
	}
	before := rs[0].accepted.Load()
	time.Sleep(3 * time.Second)
	n := rs[0].accepted.Load() - before
	// Six intervals: one check each, not two (allow a round of slack
	// either way for the edges of the window).
	// Six intervals: about six checks; two services checked apart would
	// make about twelve. Late checks on a loaded machine only lower it.
	if n < 3 || n > 8 {
		t.Errorf("server saw %d checks in 3s at checkinterval 500ms for two services, want about 6", n)
	}
}

// hungServer listens with a full accept queue, so a connect to it hangs
// until the client gives up (SYNs are dropped).
func hungServer(t *testing.T, addr string, port uint16) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	var a [4]byte
	copy(a[:], []byte{127, 77, 9, 9})
	_ = addr
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(port), Addr: a}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	// Fill the queue: connections that complete but are never accepted.
	for i := 0; i < 3; i++ {
		c, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Close(c) })
		_ = syscall.Connect(c, &syscall.SockaddrInet4{Port: int(port), Addr: a})
	}
	time.Sleep(100 * time.Millisecond)
}

func TestHungServerDelaysNobody(t *testing.T) {
	rs, port := farm(t, 10, 2)
	hungServer(t, "127.77.9.9", port)
	vip := ap("10.255.0.10", port)
	r := startRig(t, "checkinterval = 200ms\nchecktimeout = 10s\nvirtual = "+vip+"\n"+realLines(rs, "")+
		"\treal = 127.77.9.9:"+fmt.Sprint(port)+" gate\n\tchecktype = connect\n")
	// The first table does not wait for the hung check (its window is
	// one checkinterval).
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1})
	rs[0].Close()
	r.waitDests(vip, map[string]int{rs[1].addr.String(): 1})
	for _, st := range r.d.Status() {
		for _, rl := range st.Reals {
			if rl.Addr.Addr().String() == "127.77.9.9" && rl.Failures+boolInt(!rl.LastCheck.IsZero()) != 0 {
				t.Errorf("the hung check answered (%+v) before the killed server was removed: the test proves nothing", rl)
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestMaintenanceDir(t *testing.T) {
	rs, port := farm(t, 11, 2)
	dir := t.TempDir()
	vip := ap("10.255.0.11", port)
	mon := filepath.Join(t.TempDir(), "monitor.log")
	r := startRig(t, cfgHead+"maintenancedir = "+dir+"\nvirtual = "+vip+"\n"+realLines(rs, "")+
		"\tchecktype = connect\n\tfailurecount = 3\n\tmonitorfile = "+mon+"\n")
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1})
	f := filepath.Join(dir, rs[0].addr.String())
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Maintenance takes it out at the next check, failurecount or not.
	r.waitDests(vip, map[string]int{rs[1].addr.String(): 1})
	before := rs[0].accepted.Load()
	time.Sleep(500 * time.Millisecond)
	if n := rs[0].accepted.Load() - before; n != 0 {
		t.Errorf("a server in maintenance was checked %d times", n)
	}
	os.Remove(f)
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1})
	// Address alone works too.
	f = filepath.Join(dir, rs[1].addr.Addr().String())
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1})
	b, err := os.ReadFile(mon)
	if err != nil {
		t.Fatal(err)
	}
	id := "connect tcp " + strings.ReplaceAll(rs[0].addr.String(), ":", " ")
	if !strings.Contains(string(b), id+" 1 gate  [down] Server in maintenance\n") ||
		!strings.Contains(string(b), id+" 1 gate  [up] -\n") {
		t.Errorf("monitor file lacks the maintenance and up lines:\n%s", b)
	}
}

func TestAutoreloadAndCallback(t *testing.T) {
	rs, port := farm(t, 12, 2)
	vip := ap("10.255.0.12", port)
	cbOut := filepath.Join(t.TempDir(), "cb.out")
	cb := filepath.Join(t.TempDir(), "cb.sh")
	if err := os.WriteFile(cb, []byte("#!/bin/sh\necho \"$@\" >> "+cbOut+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	head := cfgHead + "autoreload = yes\ncallback = \"" + cb + "\"\n"
	r := startRig(t, head+"virtual = "+vip+"\n"+realLines(rs[:1], "")+"\tchecktype = connect\n")
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1})
	time.Sleep(300 * time.Millisecond)
	if err := os.WriteFile(r.file, []byte(head+"virtual = "+vip+"\n"+realLines(rs, "")+"\tchecktype = connect\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1})
	r.waitLog("Configuration file '" + r.file + "' has changed on disk")
	r.waitFor("callback", func() bool {
		b, _ := os.ReadFile(cbOut)
		return string(b) == r.file+"\n"
	})
	// A broken edit is refused and the running config stays.
	if err := os.WriteFile(r.file, []byte(head+"virtual = "+vip+"\n\treal = nonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.waitFor("refusal", func() bool { return r.log.has("keeping the running configuration") })
	if got := r.table.dests(t, vip); len(got) != 2 {
		t.Errorf("after a broken edit the table holds %v", got)
	}
}

func TestCleanStop(t *testing.T) {
	rs, port := farm(t, 13, 1)
	vipGone := ap("10.255.0.13", port)
	vipKept := ap("10.255.0.14", port)
	r := startRig(t, cfgHead+"virtual = "+vipGone+"\n"+realLines(rs, "")+"\tchecktype = connect\n"+
		"virtual = "+vipKept+"\n"+realLines(rs, "")+"\tchecktype = connect\n\tcleanstop = no\n")
	r.waitDests(vipGone, map[string]int{rs[0].addr.String(): 1})
	r.waitDests(vipKept, map[string]int{rs[0].addr.String(): 1})
	r.stop()
	if got := r.table.dests(t, vipGone); got != nil {
		t.Errorf("cleanstop = yes left %s with %v", vipGone, got)
	}
	if got := r.table.dests(t, vipKept); len(got) != 1 {
		t.Errorf("cleanstop = no: %s holds %v, want its server", vipKept, got)
	}
	r.waitLog("Purged virtual server (stop): " + vipGone)
}

func TestOnOff(t *testing.T) {
	port := uint16(8080)
	vipOn := ap("10.255.0.15", port)
	vipOff := ap("10.255.0.16", port)
	r := startRig(t, cfgHead+"virtual = "+vipOn+"\n\treal = 127.77.14.1 gate\n\tchecktype = on\n"+
		"virtual = "+vipOff+"\n\treal = 127.77.14.1 gate\n\tchecktype = off\n")
	r.waitDests(vipOn, map[string]int{ap("127.77.14.1", port): 1})
	r.waitFor("off service", func() bool { return r.table.dests(t, vipOff) != nil })
	time.Sleep(300 * time.Millisecond)
	if got := r.table.dests(t, vipOff); len(got) != 0 {
		t.Errorf("checktype off added %v", got)
	}
}

func TestStatus(t *testing.T) {
	rs, port := farm(t, 15, 2)
	rs[1].Close()
	vip := ap("10.255.0.17", port)
	r := startRig(t, cfgHead+"quiescent = yes\nvirtual = "+vip+"\n"+realLines(rs, " 4")+"\tchecktype = connect\n")
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 4, rs[1].addr.String(): 0})
	r.waitFor("both checked", func() bool {
		for _, rl := range r.d.Status()[0].Reals {
			if rl.LastCheck.IsZero() {
				return false
			}
		}
		return true
	})
	st := r.d.Status()
	if len(st) != 1 || st[0].ID != "tcp:"+vip || len(st[0].Reals) != 2 || st[0].InFallback {
		t.Fatalf("status %+v", st)
	}
	a, b := st[0].Reals[0], st[0].Reals[1]
	if !a.Healthy || a.Weight != 4 || a.CurrentWeight != 4 || a.LastResult != "" || a.LastCheck.IsZero() {
		t.Errorf("healthy server: %+v", a)
	}
	if b.Healthy || b.Weight != 4 || b.CurrentWeight != 0 || b.LastResult == "" {
		t.Errorf("dead server: %+v", b)
	}
}

func TestEmailAlertOnChange(t *testing.T) {
	mta := mtatest.Start(t)
	rs, port := farm(t, 16, 2)
	vip := ap("10.255.0.18", port)
	r := startRigWith(t, cfgHead+"emailalert = ops@example.com\nvirtual = "+vip+"\n"+realLines(rs, "")+"\tchecktype = connect\n",
		func(c *conf.LdirectordConfig) { c.SMTP = mta.Addr })
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1})
	rs[0].Close()
	want := "Deleted real server: " + rs[0].addr.String() + " (" + vip + ")"
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Messages may fail while Exim is still writing the mailbox;
		// read it again then.
		msgs, err := mta.Messages()
		if err == nil && slices.ContainsFunc(msgs, func(m mtatest.Message) bool { return m.Subject == want }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q mail (%v):\n%s\nexim log:\n%s", want, err, mtatest.Summary(msgs), mta.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// httpFarm starts HTTP servers on 127.77.<net>.1.. sharing one port; each
// counts the connections it accepts and the requests it answers.
type httpReal struct {
	*realServer
	requests atomic.Int64
	srv      *http.Server
}

func startHTTPReal(t *testing.T, addr string) *httpReal {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	h := &httpReal{realServer: &realServer{ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String()), done: make(chan struct{})}}
	h.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.requests.Add(1)
			io.WriteString(w, "alive\n")
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				h.accepted.Add(1)
			}
		},
	}
	go func() {
		defer close(h.done)
		h.srv.Serve(ln)
	}()
	t.Cleanup(func() { h.srv.Close(); <-h.done })
	return h
}

func (h *httpReal) kill() {
	h.srv.Close()
	<-h.done
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T, addr string) {
	t.Helper()
	testsrv.Silent(t, addr)
}

func TestSilentServerDelaysNobody(t *testing.T) {
	port := freePort(t, "127.77.17.1", "127.77.17.2", "127.77.17.3")
	a := startHTTPReal(t, ap("127.77.17.1", port))
	b := startHTTPReal(t, ap("127.77.17.2", port))
	silentServer(t, ap("127.77.17.3", port))
	vip := ap("10.255.0.19", port)
	r := startRig(t, "checkinterval = 200ms\nnegotiatetimeout = 10s\nvirtual = "+vip+"\n"+
		"\treal = 127.77.17.1 gate\n\treal = 127.77.17.2 gate\n\treal = 127.77.17.3 gate\n"+
		"\tchecktype = negotiate\n\tservice = http\n\treceive = \"alive\"\n")
	r.waitDests(vip, map[string]int{a.addr.String(): 1, b.addr.String(): 1})
	a.kill()
	r.waitDests(vip, map[string]int{b.addr.String(): 1})
	for _, st := range r.d.Status() {
		for _, rl := range st.Reals {
			if rl.Addr.Addr().String() == "127.77.17.3" && !rl.LastCheck.IsZero() {
				t.Errorf("the silent server's check ended (%+v) before the killed server was removed: the test proves nothing", rl)
			}
		}
	}
}

func TestCombinedCheck(t *testing.T) {
	port := freePort(t, "127.77.18.1")
	h := startHTTPReal(t, ap("127.77.18.1", port))
	vip := ap("10.255.0.20", port)
	r := startRig(t, "checkinterval = 200ms\nchecktimeout = 2s\nvirtual = "+vip+"\n\treal = 127.77.18.1 gate\n"+
		"\tchecktype = 2\n\tservice = http\n")
	r.waitDests(vip, map[string]int{h.addr.String(): 1})
	time.Sleep(300 * time.Millisecond)
	c0, q0 := h.accepted.Load(), h.requests.Load()
	r.waitFor("nine more checks", func() bool { return h.accepted.Load()-c0 >= 9 })
	c, q := h.accepted.Load()-c0, h.requests.Load()-q0
	// Two connect checks, then one negotiate: a third of the checks
	// are HTTP requests (give or take the edges of the window).
	if q < c/3-1 || q > c/3+1 {
		t.Errorf("%d connections, %d HTTP requests: want every third check to negotiate", c, q)
	}
}

func TestReaddQuiescent(t *testing.T) {
	for _, readd := range []string{"no", "yes"} {
		t.Run("readdquiescent="+readd, func(t *testing.T) {
			n := 19
			if readd == "yes" {
				n = 20
			}
			rs, port := farm(t, n, 2)
			vip := ap(fmt.Sprintf("10.255.0.%d", 2+n), port)
			r := startRig(t, cfgHead+"quiescent = yes\nreaddquiescent = "+readd+"\nvirtual = "+vip+"\n"+realLines(rs, "")+"\tchecktype = connect\n")
			r.waitDests(vip, map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1})
			// An operator drops the server by hand, then it fails.
			k := r.d.Status()[0].Service
			if err := r.table.DelDest(context.Background(), k, rs[0].addr); err != nil {
				t.Fatal(err)
			}
			rs[0].Close()
			r.waitFor("the failure", func() bool {
				for _, rl := range r.d.Status()[0].Reals {
					if rl.Addr == rs[0].addr {
						return !rl.Healthy
					}
				}
				return false
			})
			time.Sleep(300 * time.Millisecond)
			want := map[string]int{rs[1].addr.String(): 1}
			if readd == "yes" {
				want[rs[0].addr.String()] = 0
			}
			r.waitDests(vip, want)
		})
	}
}

func TestRealByHostName(t *testing.T) {
	port := freePort(t, "127.0.0.1")
	s := startReal(t, ap("127.0.0.1", port))
	vip := ap("10.255.0.23", port)
	r := startRig(t, cfgHead+"virtual = "+vip+"\n\treal = localhost gate 3\n\tchecktype = connect\n")
	r.waitDests(vip, map[string]int{s.addr.String(): 3})
}

func TestMonitorFileErrorIsRateLimited(t *testing.T) {
	rs, port := farm(t, 21, 1)
	vip := ap("10.255.0.24", port)
	mon := filepath.Join(t.TempDir(), "missing-dir", "monitor.log")
	r := startRig(t, "checkinterval = 100ms\nvirtual = "+vip+"\n"+realLines(rs, "")+"\tchecktype = connect\n\tmonitorfile = "+mon+"\n")
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1})
	time.Sleep(time.Second)
	n := strings.Count(r.log.String(), "Error writing to monitorfile '"+mon+"'")
	if n != 1 {
		t.Errorf("%d monitorfile error lines in a second of checks every 100ms, want 1 (rate-limited)", n)
	}
}

func TestReloadNewServiceTakesSharedCheck(t *testing.T) {
	rs, port := farm(t, 22, 1)
	vip, vip2 := ap("10.255.0.25", port), ap("10.255.0.26", port)
	// A long interval: the new service must not wait for a check.
	head := "checkinterval = 30s\nchecktimeout = 1s\nfallback = 127.0.0.3\n"
	one := "virtual = " + vip + "\n" + realLines(rs, "") + "\tchecktype = connect\n"
	r := startRig(t, head+one)
	r.waitDests(vip, map[string]int{rs[0].addr.String(): 1})
	n := len(r.table.Ops())
	if err := r.d.Reload(parseCfg(t, r.file, head+one+"virtual = "+vip2+"\n"+realLines(rs, "")+"\tchecktype = connect\n")); err != nil {
		t.Fatal(err)
	}
	r.waitDests(vip2, map[string]int{rs[0].addr.String(): 1})
	got := r.table.Ops()[n:]
	want := []string{"-A -t " + vip2 + " -s wrr", "-a -t " + vip2 + " -r " + rs[0].addr.String() + " -g -w 1"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("reload wrote\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestExternalPerl runs checkcommand with perl, as ldirectord's
// external-perl does: the file needs neither a #! line nor the execute
// bit. The script passes only for the server it is told about.
func TestExternalPerl(t *testing.T) {
	port := uint16(8080)
	vip := ap("10.255.0.30", port)
	script := filepath.Join(t.TempDir(), "check.pl")
	// ARGV: virtual IP, virtual port, real IP, real port.
	if err := os.WriteFile(script, []byte("exit($ARGV[2] eq '127.77.30.1' ? 0 : 1);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRig(t, cfgHead+"virtual = "+vip+"\n\treal = 127.77.30.1 gate\n\treal = 127.77.30.2 gate\n\tchecktype = external-perl\n\tcheckcommand = "+script+"\n")
	r.waitDests(vip, map[string]int{ap("127.77.30.1", port): 1})
}
