package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// killWait bounds how long killing waits for processes to go.
const killWait = 5 * time.Second

// spawner forks every process Start runs from one thread that never ends,
// because Pdeathsig fires when the forking thread ends, not the process:
// a fork from a thread that Go later discards (Host.Go) would lose its child.
var spawner struct {
	once sync.Once
	reqs chan func()
}

func spawn(f func() error) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan func())
		go func() {
			runtime.LockOSThread()
			if origNS.IsOpen() {
				// Children start in the root namespace; `ip netns exec`
				// moves them.
				_ = netns.Set(origNS)
			}
			for req := range spawner.reqs {
				req()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- func() { done <- f() }
	return <-done
}

// Start starts a long-running command (usually from Command) and tracks it:
// Close and KillAll kill its process group with SIGKILL and reap it. The lab
// waits for it, so use the Proc's Wait or Done rather than Cmd.Wait.
func (h *Host) Start(cmd *exec.Cmd) (*Proc, error) {
	l := h.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if !cmd.SysProcAttr.Setsid {
		cmd.SysProcAttr.Setpgid = true
		cmd.SysProcAttr.Pgid = 0
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := spawn(cmd.Start); err != nil {
		return nil, fmt.Errorf("netns: %s: start %s: %w", h.name, strings.Join(cmd.Args, " "), err)
	}
	p := &Proc{Cmd: cmd, host: h, done: make(chan struct{})}
	h.procs[p] = struct{}{}
	go func() {
		p.err = cmd.Wait()
		l.mu.Lock()
		delete(h.procs, p)
		l.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Signal sends sig to the process alone.
func (p *Proc) Signal(sig os.Signal) error {
	if p.Exited() {
		return os.ErrProcessDone
	}
	return p.Cmd.Process.Signal(sig)
}

// Kill kills the process's group with SIGKILL and waits until it is reaped.
func (p *Proc) Kill() error {
	p.killGroup()
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("netns: %s: pid %d still running %v after SIGKILL", p.host.name, p.PID(), killWait)
	}
}

// killGroup sends SIGKILL to the process group while its leader is ours and
// unreaped, so the id cannot have been reused.
func (p *Proc) killGroup() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	_ = syscall.Kill(p.PID(), syscall.SIGKILL)
}

// signalTracked sends sig to pid's whole group when pid leads a group the
// lab started in this host, else to pid alone.
func (h *Host) signalTracked(pid int, sig syscall.Signal) error {
	h.lab.mu.RLock()
	target := pid
	for p := range h.procs {
		if p.PID() == pid && !p.Exited() {
			target = -pid
		}
	}
	h.lab.mu.RUnlock()
	if err := syscall.Kill(target, sig); err != nil {
		return fmt.Errorf("netns: %s: %v pid %d: %w", h.name, sig, pid, err)
	}
	return nil
}

// Freeze stops a process with SIGSTOP (its whole group when the lab
// started it), as a hung daemon would be: alive but silent.
func (h *Host) Freeze(pid int) error { return h.signalTracked(pid, syscall.SIGSTOP) }

// Thaw resumes a frozen process with SIGCONT.
func (h *Host) Thaw(pid int) error { return h.signalTracked(pid, syscall.SIGCONT) }

// KillAll kills with SIGKILL every process the lab started in the host,
// with their process groups and any process still inside the host's
// namespace (a daemon that left its group), and waits for them to go.
func (h *Host) KillAll() error {
	if h.lab.closedNow() {
		return ErrClosed
	}
	return h.killAll()
}

func (l *Lab) closedNow() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

func (h *Host) killAll() error {
	h.lab.mu.RLock()
	procs := make([]*Proc, 0, len(h.procs))
	for p := range h.procs {
		procs = append(procs, p)
	}
	ino := h.ino
	h.lab.mu.RUnlock()

	for _, p := range procs {
		p.killGroup()
	}
	var errs []error
	if ino != 0 {
		if err := killInNS(ino); err != nil {
			errs = append(errs, fmt.Errorf("netns: %s: %w", h.name, err))
		}
	}
	deadline := time.After(killWait)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
			errs = append(errs, fmt.Errorf("netns: %s: pid %d still running %v after SIGKILL", h.name, p.PID(), killWait))
		}
	}
	return errors.Join(errs...)
}

// killInNS kills every process whose network namespace is the one with
// inode ino, other than this one, and waits until each is gone or a zombie.
// Only processes the lab started can be inside a namespace the lab made.
func killInNS(ino uint64) error {
	pids, err := pidsInNS(ino)
	if err != nil || len(pids) == 0 {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(killWait)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pid %d still running %v after SIGKILL", pid, killWait)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// pidsInNS lists the processes, this one excepted, whose network namespace
// has inode ino.
func pidsInNS(ino uint64) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	want := fmt.Sprintf("net:[%d]", ino)
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if link, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && link == want {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := procStatFields(string(stat))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// procStatFields splits /proc/PID/stat after the command name, so field 3
// of proc(5) (the state) is element 0 and field 22 (start time) element 19.
func procStatFields(stat string) []string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(stat[i+1:])
}
