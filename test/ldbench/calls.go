package ldbench

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Call is one ipvsadm command a checker ran (the stand-in's log) or
// printed (hbgo's --dry-run), and when.
type Call struct {
	At   time.Time
	Code int // exit code; 0 for a printed line
	// Op is the command: 'A' 'E' 'D' (services), 'a' 'e' 'd' (real
	// servers), 'C' (clear), 'L' (list); 0 when none was recognised.
	Op      byte
	Service string         // "tcp 10.93.0.1:80", "fwm 5"
	Real    netip.AddrPort // for a, e, d
	Weight  int            // -w; -1 when not given
	Line    string         // the arguments as written
}

// Changes reports whether the call changed the table (or would have).
func (c Call) Changes() bool {
	return c.Code == 0 && strings.IndexByte("AEDaedC", c.Op) >= 0 && c.Op != 0
}

// ParseCommand reads an ipvsadm command line, with or without the
// program's name in front ("ipvsadm -a -t 10.93.0.1:80 -r 10.91.0.1:80
// -g -w 1", "-d -t ... -r ..."). Words before the first option are
// skipped. It never fails: what it does not know stays zero.
func ParseCommand(at time.Time, line string) Call {
	c := Call{At: at, Weight: -1, Line: line}
	fs := strings.Fields(line)
	for len(fs) > 0 && !strings.HasPrefix(fs[0], "-") {
		fs = fs[1:]
	}
	for i := 0; i < len(fs); i++ {
		arg := func() string {
			if i+1 < len(fs) {
				i++
				return fs[i]
			}
			return ""
		}
		switch f := fs[i]; f {
		case "-A", "-E", "-D", "-a", "-e", "-d", "-C", "-L", "-l":
			c.Op = f[1]
			if c.Op == 'l' {
				c.Op = 'L'
			}
		case "--add-service", "--edit-service", "--delete-service", "--add-server", "--edit-server", "--delete-server", "--clear", "--list":
			c.Op = map[string]byte{"--add-service": 'A', "--edit-service": 'E', "--delete-service": 'D', "--add-server": 'a', "--edit-server": 'e', "--delete-server": 'd', "--clear": 'C', "--list": 'L'}[f]
		case "-t", "--tcp-service":
			c.Service = "tcp " + arg()
		case "-u", "--udp-service":
			c.Service = "udp " + arg()
		case "-f", "--fwmark-service":
			c.Service = "fwm " + arg()
		case "-r", "--real-server":
			c.Real, _ = netip.ParseAddrPort(arg())
		case "-w", "--weight":
			if w, err := strconv.Atoi(arg()); err == nil {
				c.Weight = w
			}
		case "-s", "-M", "-b", "-x", "-y", "--scheduler", "--netmask", "--sched-flags", "--u-threshold", "--l-threshold":
			arg()
		}
	}
	return c
}

// ParseCall reads one line of the stand-in's calls.log:
// "UNIXNANO EXITCODE ARGS...".
func ParseCall(line string) (Call, error) {
	ts, rest, ok := strings.Cut(line, " ")
	code, args, ok2 := strings.Cut(rest, " ")
	if !ok {
		return Call{}, fmt.Errorf("want UNIXNANO EXITCODE ARGS, got %q", line)
	}
	if !ok2 {
		code, args = rest, ""
	}
	ns, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Call{}, fmt.Errorf("time %q: %w", ts, err)
	}
	n, err := strconv.Atoi(code)
	if err != nil {
		return Call{}, fmt.Errorf("exit code %q: %w", code, err)
	}
	c := ParseCommand(time.Unix(0, ns), args)
	c.Code = n
	return c, nil
}

// ReadCalls reads a calls.log; a line it cannot read is an error naming
// the file and line. A missing file is no call yet.
func ReadCalls(path string) ([]Call, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if sc.Text() == "" {
			continue
		}
		c, err := ParseCall(sc.Text())
		if err != nil {
			return out, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

// Replay is a table rebuilt from calls: which real servers serve which
// service with a weight above zero.
type Replay struct {
	weight map[string]int // "service|real" → weight
	Live   int            // entries with weight > 0
}

// NewReplay returns an empty table.
func NewReplay() *Replay { return &Replay{weight: map[string]int{}} }

// Apply applies one call; calls that failed or list change nothing.
func (r *Replay) Apply(c Call) {
	if !c.Changes() {
		return
	}
	key := c.Service + "|" + c.Real.String()
	set := func(w int, present bool) {
		old, had := r.weight[key]
		if had && old > 0 {
			r.Live--
		}
		if present {
			r.weight[key] = w
			if w > 0 {
				r.Live++
			}
		} else {
			delete(r.weight, key)
		}
	}
	switch c.Op {
	case 'a':
		w := c.Weight
		if w < 0 {
			w = 1
		}
		set(w, true)
	case 'e':
		if _, ok := r.weight[key]; ok && c.Weight >= 0 {
			set(c.Weight, true)
		}
	case 'd':
		set(0, false)
	case 'D':
		for k, w := range r.weight {
			if strings.HasPrefix(k, c.Service+"|") {
				if w > 0 {
					r.Live--
				}
				delete(r.weight, k)
			}
		}
	case 'C':
		r.weight, r.Live = map[string]int{}, 0
	}
}

// Serving reports whether real serves service with a weight above zero.
func (r *Replay) Serving(service string, real netip.AddrPort) bool {
	return r.weight[service+"|"+real.String()] > 0
}

// Removes reports whether c takes real out of service: a delete, or a
// weight of 0 (quiescent).
func Removes(c Call, real netip.AddrPort) bool {
	return c.Code == 0 && c.Real == real && (c.Op == 'd' || (c.Op == 'e' || c.Op == 'a') && c.Weight == 0)
}

// Adds reports whether c puts real into service with a weight above zero.
func Adds(c Call, real netip.AddrPort) bool {
	return c.Code == 0 && c.Real == real && (c.Op == 'a' && c.Weight != 0 || c.Op == 'e' && c.Weight > 0)
}
