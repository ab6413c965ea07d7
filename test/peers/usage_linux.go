package peers

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hbgo/test/netns"
)

// Usage is what the processes of one namespace use at one instant, read
// from /proc: a daemon is measured with every process it runs (keepalived's
// VRRP child, Heartbeat's helpers, the scripts hbgo calls), whatever it is.
type Usage struct {
	At time.Time
	// CPU is each process's user and system time, its reaped children's
	// included, by "PID/start time" (a reused PID is another process).
	CPU map[string]time.Duration
	// RSS and PSS are summed over the processes: RSS counts a page shared
	// by two of them twice, PSS splits it between them.
	RSS, PSS int64
	Procs    int
	// Switches is each process's context switches, summed over its
	// threads, by the same key as CPU: how often it woke, which on a
	// virtual machine costs more than most of what a daemon does at rest
	// and varies less from run to run than its CPU time.
	Switches map[string]int64
}

// userHZ is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const userHZ = 100

// NSUsage reads the usage of every process in host h's network namespace.
func NSUsage(h *netns.Host) (Usage, error) {
	u := Usage{At: time.Now(), CPU: map[string]time.Duration{}, Switches: map[string]int64{}}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/run/netns", h.NS()), &st); err != nil {
		return u, fmt.Errorf("peers: namespace of %s: %w", h.Name(), err)
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return u, err
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil || link != want {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone meanwhile
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		// Fields after the command name: the state is f[0] (proc(5)'s
		// field 3), utime f[11], stime f[12], cutime f[13], cstime f[14],
		// starttime f[19], rss f[21] (pages).
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 22 || f[0] == "Z" {
			continue
		}
		var ticks int64
		for _, k := range []int{11, 12, 13, 14} {
			n, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += n
		}
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		key := strconv.Itoa(pid) + "/" + f[19]
		u.CPU[key] = time.Duration(ticks) * time.Second / userHZ
		u.Switches[key] = switches(pid)
		u.RSS += rss * int64(os.Getpagesize())
		u.PSS += pss(pid)
		u.Procs++
	}
	return u, nil
}

// switches is a process's voluntary and involuntary context switches,
// summed over its threads.
func switches(pid int) int64 {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
				v, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
				n += v
			} else if rest, ok := strings.CutPrefix(l, "nonvoluntary_ctxt_switches:"); ok {
				v, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
				n += v
			}
		}
	}
	return n
}

// WakeRate is the context switches a second of the processes from u to
// v, counted as CPUShare counts time.
func WakeRate(u, v Usage) float64 {
	var n int64
	for k, s := range v.Switches {
		n += s - u.Switches[k]
	}
	span := v.At.Sub(u.At)
	if span <= 0 {
		return 0
	}
	return float64(n) / span.Seconds()
}

// pss is a process's proportional set size in bytes, 0 when unknown.
func pss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// CPUShare is the share of one core the processes used from u to v: each
// process's CPU time in v less its time in u (all of it for a process
// that started after u), over the time between them. A process that
// ended between the two is not counted unless a process of the set
// reaped it.
func CPUShare(u, v Usage) float64 {
	var used time.Duration
	for k, t := range v.CPU {
		used += t - u.CPU[k]
	}
	span := v.At.Sub(u.At)
	if span <= 0 {
		return 0
	}
	return float64(used) / float64(span)
}
