// Command demo shows hbgo on this machine: a cluster of real daemons (two
// directors and a witness) in network namespaces, what an operator sees,
// and a failover, narrated and checked. It grows with the project.
package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"hbgo/test/cluster"
)

// narrator is the demo's stand-in for a test: it prints, and remembers
// failures; a fatal step ends the demo (cleanups still run).
type narrator struct {
	mu       sync.Mutex
	start    time.Time
	failed   bool
	cleanups []func()
	dirs     []string
}

type fatal struct{ msg string }

func (n *narrator) say(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fmt.Printf("%7.3fs  %s\n", time.Since(n.start).Seconds(), fmt.Sprintf(format, args...))
}

func (n *narrator) Helper()                         {}
func (n *narrator) Logf(format string, args ...any) { n.say(format, args...) }
func (n *narrator) Errorf(format string, args ...any) {
	n.failed = true
	n.say("FAILED: "+format, args...)
}
func (n *narrator) Fatal(args ...any) { n.Fatalf("%s", fmt.Sprint(args...)) }
func (n *narrator) Fatalf(format string, args ...any) {
	n.Errorf(format, args...)
	panic(fatal{fmt.Sprintf(format, args...)})
}
func (n *narrator) Failed() bool      { return n.failed }
func (n *narrator) Cleanup(fn func()) { n.cleanups = append(n.cleanups, fn) }
func (n *narrator) TempDir() string {
	d, err := os.MkdirTemp("", "hbgo-demo-")
	if err != nil {
		n.Fatal(err)
	}
	n.dirs = append(n.dirs, d)
	return d
}

func (n *narrator) finish() {
	for i := len(n.cleanups) - 1; i >= 0; i-- {
		n.cleanups[i]()
	}
	for _, d := range n.dirs {
		os.RemoveAll(d)
	}
}

func (n *narrator) check(ok bool, format string, args ...any) {
	if ok {
		n.say("ok: "+format, args...)
	} else {
		n.Errorf(format, args...)
	}
}

func main() {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: needs root (it makes network namespaces)")
		os.Exit(2)
	}
	n := &narrator{start: time.Now()}
	code := func() (code int) {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(fatal); !ok {
					panic(r)
				}
				code = 1
			}
		}()
		run(n)
		if n.failed {
			return 1
		}
		return 0
	}()
	n.finish()
	if code == 0 {
		n.say("demo passed; namespaces and daemons cleaned up")
	} else {
		n.say("demo FAILED; namespaces and daemons cleaned up")
	}
	os.Exit(code)
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

func run(n *narrator) {
	n.say("hbgo demo: two directors (lvs1, lvs2) and a witness (w1), each a network namespace with two heartbeat links")
	c := cluster.New(n, cluster.Spec{
		Directors: []string{"lvs1", "lvs2"}, Witnesses: []string{"w1"},
		Groups: []string{"lvs1 web"},
	})
	b, _ := os.ReadFile(c.Members["lvs1"].ConfDir + "/ha.cf")
	n.say("ha.cf (the same on every node):\n%s", indent(string(b)))
	b, _ = os.ReadFile(c.Members["lvs1"].ConfDir + "/haresources")
	n.say("haresources: %s(the group's resource is a script that records where it runs; the VIP agent comes later)", b)

	c.StartAll()
	n.say("started hbgo daemon on lvs1, lvs2 and w1")
	took := c.WaitOwner("web", "lvs1", 20*time.Second)
	n.check(true, "group web runs on its home lvs1, %v after start", took.Round(time.Millisecond))

	out, code := c.Command("lvs2", "cl_status", "hbstatus")
	n.check(code == 0, "cl_status hbstatus on lvs2: %s", strings.TrimSpace(out))
	out, _ = c.Command("lvs2", "status")
	n.say("hbgo status on lvs2:\n%s", indent(out))

	n.say("crashing lvs1: every process in its namespace killed with -9, its links down")
	c.Crash("lvs1")
	took = c.WaitOwner("web", "lvs2", 20*time.Second)
	n.check(true, "web runs on lvs2 %v after lvs1 crashed (deadtime 500ms + safe wait 580ms + start)", took.Round(time.Millisecond))

	n.say("bringing lvs1 back")
	c.Revive("lvs1")
	c.Start("lvs1")
	took = c.WaitOwner("web", "lvs1", 20*time.Second)
	n.check(true, "auto_failback on: web back on lvs1 %v after lvs1 restarted", took.Round(time.Millisecond))

	t0 := time.Now()
	out, code = c.Command("lvs1", "hb_standby")
	n.check(code == 0 && c.Owner("web") == "lvs2", "hb_standby on lvs1 moved web to lvs2 in %v:\n%s", time.Since(t0).Round(time.Millisecond), indent(out))
	t0 = time.Now()
	out, code = c.Command("lvs1", "hb_takeover")
	n.check(code == 0 && c.Owner("web") == "lvs1", "hb_takeover on lvs1 took web back in %v:\n%s", time.Since(t0).Round(time.Millisecond), indent(out))

	n.say("stopping lvs1 gracefully (SIGTERM gives its groups away first)")
	c.Signal("lvs1", syscall.SIGTERM)
	n.check(c.WaitExit("lvs1", 20*time.Second) == nil && c.Owner("web") == "lvs2", "lvs1 stopped; web runs on lvs2")

	err := cluster.CheckNoOverlap(c.Records())
	n.check(err == nil, "the resource log shows web never ran on two nodes at once (%d records)", len(c.Records()))
	n.say("not in this build yet: the VIP with gratuitous ARP, IPVS and the ldirector; the demo grows with them")
}
