// Command demo shows hbgo on this machine: the site of examples/demo (two
// LVS directors and a witness, two real servers, a client) in network
// namespaces, what an operator sees and what a client sees through a
// failover, a stopped real server and a switchover, narrated and
// checked. It exits 0 only if every step did what it said.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"hbgo/test/e2e"
	"hbgo/test/netns"
)

// narrator is the demo's stand-in for a test: it prints, and remembers
// failures; a fatal step ends the demo (cleanups still run).
type narrator struct {
	mu       sync.Mutex
	start    time.Time
	failed   bool
	cleanups []func()
	dirs     []string

	finishOnce sync.Once
	prefix     string // the lab's namespaces start with it
	pids       []int  // daemons started
}

// demoBound is how long the demo may take, build excluded.
const demoBound = 2 * time.Minute

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
	n.finishOnce.Do(n.cleanup)
}

func (n *narrator) cleanup() {
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
	watchdog := time.AfterFunc(demoBound, func() {
		n.Errorf("the demo took longer than %v; stopping", demoBound)
		n.finish()
		n.say("demo FAILED; namespaces and daemons cleaned up")
		os.Exit(1)
	})
	code := func() (code int) {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(fatal); !ok {
					panic(r)
				}
				code = 1
			}
		}()
		if len(os.Args) > 1 && os.Args[1] == "scale" {
			runScale(n)
		} else {
			run(n)
		}
		if n.failed {
			return 1
		}
		return 0
	}()
	watchdog.Stop()
	n.finish()
	if left := leftovers(n); left != "" {
		n.Errorf("left behind: %s", left)
		code = 1
	}
	if code == 0 {
		n.say("demo passed; namespaces and daemons cleaned up")
	} else {
		n.say("demo FAILED; namespaces and daemons cleaned up")
	}
	os.Exit(code)
}

// Say and Check make the narrator the story's Teller.
func (n *narrator) Say(format string, args ...any) { n.say(format, args...) }
func (n *narrator) Check(ok bool, format string, args ...any) {
	n.check(ok, format, args...)
}

func run(n *narrator) {
	n.say("hbgo demo: an LVS director pair with a witness, two real servers and a client, each a network namespace on bridges in a namespace of their own")
	if swept, err := netns.SweepStale(); err == nil && len(swept) > 0 {
		n.say("removed namespaces an earlier, interrupted run left: %s", strings.Join(swept, " "))
	}
	s := e2e.New(n, e2e.Options{})
	n.prefix = s.C.Lab.Prefix()
	res := e2e.Story(n, s)
	for _, d := range append(append([]string(nil), e2e.Directors...), e2e.Witness) {
		if pid := s.C.PID(d); pid > 0 {
			n.pids = append(n.pids, pid)
		}
	}
	if n.failed {
		return
	}
	n.say("the client's longest waits without a page: failover %v, failback %v, hb_standby %v, hb_takeover %v; rs1 taken out %v after it stopped",
		res.FailoverGap.Round(time.Millisecond), res.FailbackGap.Round(time.Millisecond), res.StandbyGap.Round(time.Millisecond),
		res.TakeoverGap.Round(time.Millisecond), res.RealDetect.Round(time.Millisecond))
	n.say("stopping every daemon and removing the namespaces")
}

// leftovers names what the demo left: namespaces of its lab, daemons
// still alive.
func leftovers(n *narrator) string {
	var left []string
	if n.prefix != "" {
		out, _ := exec.Command("ip", "netns", "list").Output()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, n.prefix) {
				left = append(left, "namespace "+strings.Fields(l)[0])
			}
		}
	}
	for _, pid := range n.pids {
		if syscall.Kill(pid, 0) == nil {
			left = append(left, fmt.Sprintf("process %d", pid))
		}
	}
	return strings.Join(left, ", ")
}
