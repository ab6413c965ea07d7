package e2e

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Teller is who the story is told to: the demo prints it, a test logs it
// and fails on a check that did not hold.
type Teller interface {
	Say(format string, args ...any)
	// Check reports a step's outcome; ok false fails the story.
	Check(ok bool, format string, args ...any)
}

// Bounds a step may take at most; the story fails beyond them. They are
// generous: the figures themselves are printed, and benchmarked.
const (
	StartBound      = 30 * time.Second
	FailoverBound   = 10 * time.Second
	SwitchoverBound = 5 * time.Second
	DetectBound     = 10 * time.Second
)

// Result is what the story measured.
type Result struct {
	FailoverGap, FailbackGap, StandbyGap, TakeoverGap time.Duration
	RealDetect                                        time.Duration
	Fetches, Failed                                   int
	Samples, ARPAsked                                 int
	ARPReplies                                        map[string]int
	Overlaps                                          []Overlap
}

// AnsweredBy accepts an answer that went through director d. With IPVS
// the answer names only the real server, so any answer counts.
func (s *Site) AnsweredBy(d string) func(Fetch) bool {
	if s.IPVS {
		return func(Fetch) bool { return true }
	}
	return func(x Fetch) bool { return Via(x) == d }
}

// PowerOff is a director losing power: its links go down first (so no
// FIN or RST leaves it), then every process of its namespace dies.
func (s *Site) PowerOff(d string) {
	h := s.C.Members[d].Host
	for _, l := range h.Interfaces() {
		if err := h.LinkDown(l); err != nil {
			s.T.Fatal(err)
		}
	}
	s.C.Crash(d)
}

// PowerOn brings a director that PowerOff stopped back as a rebooted
// machine: no VIP on its interfaces (a reboot clears them), links up,
// daemon started.
func (s *Site) PowerOn(d string) {
	h := s.C.Members[d].Host
	if out, err := h.Run("ip", "-o", "addr", "show", "to", VIP.String()); err == nil && strings.TrimSpace(out) != "" {
		// The kernel may remove it first, its lifetime run out.
		if out, err := h.Run("ip", "addr", "del", VIP.String()+"/24", "dev", "eth0"); err != nil && !strings.Contains(out+err.Error(), "Address not found") {
			s.T.Fatalf("%s: removing the VIP as a reboot would: %v\n%s", d, err, out)
		}
	}
	s.C.Revive(d)
	s.C.Start(d)
}

// Story runs the demo's steps on a built site whose daemons are not
// started yet, tells them, checks each, and returns the figures.
func Story(tell Teller, s *Site) Result {
	var res Result
	c := s.C
	fail := func(format string, args ...any) {
		tell.Check(false, format, args...)
		panic(storyStop{})
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(storyStop); !ok {
				panic(r)
			}
		}
	}()

	tell.Say("the site: directors lvs1 and lvs2, witness w1 (eth0 on the service LAN 10.81.0.0/24, eth1 on the heartbeat LAN 10.82.0.0/24), real servers rs1 %s and rs2 %s with a tiny web service, a client %s; VIP %s", Reals[0].Addr, Reals[1].Addr, ClientAddr, VIP)
	tell.Say("configuration from examples/demo (only the addresses changed):\nha.cf:\n%s\nharesources:\n%s\nldirectord.cf:\n%s", indent(s.Files["ha.cf"]), indent(s.Files["haresources"]), indent(s.Files["ldirectord.cf"]))
	if s.IPVS {
		tell.Say("this kernel has IPVS: the directors program it, and the client's requests go through IPVS (direct routing) to the real servers")
	} else {
		tell.Say("this kernel has no IPVS: the directors run the ldirector in dry-run mode (it checks the real servers and keeps an in-memory table, logging each change as the ipvsadm command it would run). Standing in for IPVS, a small forwarder on each director answers on port 80 by fetching the page from a real server of that table, and says \"REAL via DIRECTOR\"; on a kernel with IPVS the requests would go through IPVS straight to the real servers")
	}

	sampler := s.StartSampler()
	arp, err := s.StartARPWatch()
	if err != nil {
		fail("%v", err)
	}
	stopWatches := func() {
		if sampler != nil {
			res.Samples, res.Overlaps = sampler.Stop()
			var ov []Overlap
			res.ARPAsked, res.ARPReplies, ov = arp.Stop()
			res.Overlaps = append(res.Overlaps, ov...)
			sampler = nil
		}
	}
	defer stopWatches()

	t0 := time.Now()
	s.Start()
	tell.Say("started the hbgo daemon on lvs1, lvs2 and w1")
	took, err := s.WaitHolder("lvs1", StartBound)
	if err != nil {
		fail("%v", err)
	}
	tell.Check(true, "the VIP %s is up on its home lvs1, %v after start (and announced with gratuitous ARP)", VIP, took.Round(time.Millisecond))

	for _, d := range Directors {
		for _, r := range Reals {
			if _, err := s.WaitLog(d, 0, StartBound, "-a -t "+VIP.String()+":80 -r "+r.Addr.String()+":80"); err != nil {
				fail("%v", err)
			}
		}
	}
	if !s.IPVS {
		tell.Check(true, "both directors' ldirectors found rs1 and rs2 healthy (warm standby); lvs2's table:\n%s", indent(dryRunLines(s.DaemonLog("lvs2"))))
	}

	out, code := c.Command("lvs2", "cl_status", "hbstatus")
	tell.Check(code == 0, "cl_status hbstatus on lvs2: %s", strings.TrimSpace(out))
	out, code = c.Command("lvs2", "cl_status", "rscstatus")
	tell.Check(code == 0, "cl_status rscstatus on lvs2: %s", strings.TrimSpace(out))
	out, code = c.Command("lvs1", "status")
	tell.Check(code == 0, "hbgo status on lvs1:\n%s", indent(out))

	fe := StartFetcher(s.Client, URL())
	defer fe.Close()
	if err := fe.WaitSteady(time.Second, StartBound, s.AnsweredBy("lvs1")); err != nil {
		fail("the client: %v", err)
	}
	seen := map[string]int{}
	for _, x := range fe.Fetches(time.Now().Add(-time.Second), time.Now()) {
		seen[x.Body]++
	}
	tell.Check(len(seen) >= 2, "the client fetches %s every %v on a new connection; the last second's answers: %s", URL(), FetchEvery, counts(seen))

	// Failover: the active director loses power.
	tell.Say("pulling the plug on lvs1: links down, every process of its namespace killed with -9")
	t0 = time.Now()
	s.PowerOff("lvs1")
	first, err := fe.WaitAnswer(t0, FailoverBound, s.AnsweredBy("lvs2"))
	if err != nil {
		fail("after lvs1 died: %v", err)
	}
	res.FailoverGap = fe.Gap(t0, first)
	tell.Check(res.FailoverGap < FailoverBound, "the client got pages again from %q %v after the crash; its longest wait without a page: %v (deadtime 500ms, the lease's safe wait, the VIP and its gratuitous ARP)", first.Body, first.At.Sub(t0).Round(time.Millisecond), res.FailoverGap.Round(time.Millisecond))

	tell.Say("powering lvs1 on again: links up, daemon started")
	t0 = time.Now()
	s.PowerOn("lvs1")
	first, err = fe.WaitAnswer(t0, StartBound, s.AnsweredBy("lvs1"))
	if err != nil {
		fail("after lvs1 came back: %v", err)
	}
	res.FailbackGap = fe.Gap(first.Sent.Add(-time.Millisecond), first)
	if _, err := s.WaitHolder("lvs1", SwitchoverBound); err != nil {
		fail("%v", err)
	}
	tell.Check(true, "auto_failback on: the VIP went home to lvs1 %v after its daemon started; the client's longest wait at the move: %v", first.At.Sub(t0).Round(time.Millisecond), res.FailbackGap.Round(time.Millisecond))
	if err := fe.WaitSteady(500*time.Millisecond, StartBound, s.AnsweredBy("lvs1")); err != nil {
		fail("the client after failback: %v", err)
	}

	// A real server stops.
	rs1 := s.Reals["rs1"]
	mark := len(s.DaemonLog("lvs1"))
	tell.Say("stopping rs1's web service")
	t0 = time.Now()
	rs1.Stop()
	line, err := s.WaitLog("lvs1", mark, DetectBound, "-d -t "+VIP.String()+":80 -r "+rs1.Addr.String()+":80")
	if err != nil {
		fail("%v", err)
	}
	res.RealDetect = time.Since(t0)
	tell.Check(true, "lvs1's ldirector took rs1 out %v after it stopped (checkinterval 1, checktimeout 1): %s", res.RealDetect.Round(time.Millisecond), dryRunOf(line))
	detected := time.Now()
	if out, code := c.Command("lvs1", "status"); code == 0 {
		if i := strings.Index(out, "IPVS table"); i >= 0 {
			table := out[i:]
			up := false
			for _, l := range strings.Split(table, "\n") {
				up = up || strings.Contains(l, rs1.Addr.String()+":80") && strings.Contains(l, " up ")
			}
			tell.Check(!up, "hbgo status on lvs1 no longer counts rs1 as up:\n%s", indent(table))
		}
	}
	time.Sleep(time.Second)
	var fromRS1, failed int
	errs := map[string]int{}
	for _, x := range fe.Fetches(detected.Add(200*time.Millisecond), time.Now()) {
		if !x.OK() {
			failed++
			errs[x.Err]++
		} else if Real(x) == "rs1" {
			fromRS1++
		}
	}
	tell.Check(fromRS1 == 0, "in the second after detection the client got no page from rs1 (%d from rs1, %d errors%s); rs2 serves alone", fromRS1, failed, errText(errs))
	if failed > 0 {
		tell.Say("note: errors with no fault at hand are the lease gate: a director starved of CPU misses its lease renewal and its VIP goes dark for a moment (safety first); the client's dropped SYN is retried after 1 s")
	}

	mark = len(s.DaemonLog("lvs1"))
	tell.Say("starting rs1's web service again")
	t0 = time.Now()
	if err := rs1.Start(); err != nil {
		fail("%v", err)
	}
	line, err = s.WaitLog("lvs1", mark, DetectBound, "-a -t "+VIP.String()+":80 -r "+rs1.Addr.String()+":80")
	if err != nil {
		fail("%v", err)
	}
	if _, err := fe.WaitAnswer(time.Now(), DetectBound, func(x Fetch) bool { return Real(x) == "rs1" }); err != nil {
		fail("rs1 back: %v", err)
	}
	tell.Check(true, "rs1 is back in lvs1's table %v after it started (%s) and the client gets its pages again", time.Since(t0).Round(time.Millisecond), dryRunOf(line))

	// Switchover both ways.
	t0 = time.Now()
	out, code = c.Command("lvs1", "hb_standby")
	ret := time.Since(t0)
	if code != 0 {
		fail("hb_standby on lvs1: exit %d\n%s", code, out)
	}
	first, err = fe.WaitAnswer(t0, SwitchoverBound, s.AnsweredBy("lvs2"))
	if err != nil {
		fail("after hb_standby: %v", err)
	}
	res.StandbyGap = fe.Gap(t0, first)
	_, herr := s.WaitHolder("lvs2", SwitchoverBound)
	tell.Check(herr == nil, "hb_standby on lvs1 returned in %v and moved the VIP to lvs2; the client's longest wait: %v\n%s", ret.Round(time.Millisecond), res.StandbyGap.Round(time.Millisecond), indent(out))
	if err := fe.WaitSteady(500*time.Millisecond, SwitchoverBound, s.AnsweredBy("lvs2")); err != nil {
		fail("the client after hb_standby: %v", err)
	}
	t0 = time.Now()
	out, code = c.Command("lvs1", "hb_takeover")
	ret = time.Since(t0)
	if code != 0 {
		fail("hb_takeover on lvs1: exit %d\n%s", code, out)
	}
	first, err = fe.WaitAnswer(t0, SwitchoverBound, s.AnsweredBy("lvs1"))
	if err != nil {
		fail("after hb_takeover: %v", err)
	}
	res.TakeoverGap = fe.Gap(t0, first)
	_, herr = s.WaitHolder("lvs1", SwitchoverBound)
	tell.Check(herr == nil, "hb_takeover on lvs1 returned in %v and took the VIP back; the client's longest wait: %v\n%s", ret.Round(time.Millisecond), res.TakeoverGap.Round(time.Millisecond), indent(out))
	if err := fe.WaitSteady(500*time.Millisecond, SwitchoverBound, s.AnsweredBy("lvs1")); err != nil {
		fail("the client after hb_takeover: %v", err)
	}

	fe.Close()
	res.Fetches, res.Failed = fe.Counts()
	stopWatches()
	tell.Check(len(res.Overlaps) == 0, "no two directors held the VIP at once: %d samples of both namespaces every 10 ms, and %d ARP questions of the client answered by %s%s",
		res.Samples, res.ARPAsked, counts(res.ARPReplies), overlapText(res.Overlaps))
	tell.Say("the client made %d requests; %d failed (the crash, the stopped real server before detection, moves)", res.Fetches, res.Failed)
	return res
}

type storyStop struct{}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

func counts(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%q %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "nobody"
	}
	return strings.Join(parts, ", ")
}

func overlapText(os []Overlap) string {
	if len(os) == 0 {
		return ""
	}
	var parts []string
	for i, o := range os {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("... %d more", len(os)-5))
			break
		}
		parts = append(parts, o.String())
	}
	return "; OVERLAPS: " + strings.Join(parts, "; ")
}

// dryRunOf is the ipvsadm command in a daemon log line.
func dryRunOf(line string) string {
	cmd, ok := dryRunCommand(line)
	if !ok {
		return line
	}
	return "ipvsadm " + cmd
}

// dryRunLines are the ipvsadm commands a daemon log holds.
func dryRunLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, dryRunMark) {
			out = append(out, dryRunOf(l))
		}
	}
	return strings.Join(out, "\n")
}

func errText(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	return ": " + counts(m)
}
