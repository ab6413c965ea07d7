//go:build linux

// Command ipvsadm is a stand-in for ipvsadm(8) on machines whose kernel has
// no IPVS: it keeps the table in a file and logs every call with a
// nanosecond timestamp, so a benchmark can see when a checker changed the
// table. It takes the commands ldirectord runs (-A -E -D -a -e -d -C and
// -L -n [--thresholds]) and prints the listings in ipvsadm's own layout,
// which ldirectord parses.
//
// The state lives in the directory named by HBGO_IPVSADM_DIR, or
// /run/ipvsadm-standin: "table" (one line a service or real server) and
// "calls.log", one line a call:
//
//	UNIXNANO EXITCODE ARGS...
//
// The time is taken when the call has changed the table (or failed), under
// the lock that orders the calls.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const defaultDir = "/run/ipvsadm-standin"

// service is a virtual service of the table.
type service struct {
	proto, addr string // proto: TCP, UDP or FWM; addr: ip:port or the mark
	sched       string
	persistent  int // seconds; 0: none
	netmask     string
	reals       []*real
}

type real struct {
	addr         string
	fwd          string // Route, Masq or Tunnel
	weight       int
	upper, lower int
}

type table struct{ svcs []*service }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	dir := os.Getenv("HBGO_IPVSADM_DIR")
	if dir == "" {
		dir = defaultDir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "ipvsadm (stand-in): %v\n", err)
		return 2
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		fmt.Fprintf(stderr, "ipvsadm (stand-in): %v\n", err)
		return 2
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		fmt.Fprintf(stderr, "ipvsadm (stand-in): lock: %v\n", err)
		return 2
	}
	code := apply(dir, args, stdout, stderr)
	logCall(dir, time.Now(), code, args)
	return code
}

func logCall(dir string, at time.Time, code int, args []string) {
	f, err := os.OpenFile(filepath.Join(dir, "calls.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%d %d %s\n", at.UnixNano(), code, strings.Join(args, " "))
}

// opts is a parsed command line.
type opts struct {
	cmd          byte // A E D a e d C L
	proto, addr  string
	sched        string
	persistent   int
	netmask      string
	real         string
	fwd          string
	weight       int
	upper, lower int
	set          map[string]bool
	numeric      bool
	thresholds   bool
}

func parse(args []string) (*opts, error) {
	o := &opts{set: map[string]bool{}}
	need := func(i int, flag string) (string, error) {
		if i+1 >= len(args) {
			return "", fmt.Errorf("option %s requires an argument", flag)
		}
		return args[i+1], nil
	}
	setCmd := func(c byte) error {
		if o.cmd != 0 && o.cmd != c {
			return errors.New("more than one command given")
		}
		o.cmd = c
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var err error
		switch a {
		case "-A", "--add-service":
			err = setCmd('A')
		case "-E", "--edit-service":
			err = setCmd('E')
		case "-D", "--delete-service":
			err = setCmd('D')
		case "-a", "--add-server":
			err = setCmd('a')
		case "-e", "--edit-server":
			err = setCmd('e')
		case "-d", "--delete-server":
			err = setCmd('d')
		case "-C", "--clear":
			err = setCmd('C')
		case "-L", "-l", "--list":
			err = setCmd('L')
		case "-n", "--numeric":
			o.numeric = true
		case "--thresholds":
			o.thresholds = true
		case "-t", "--tcp-service", "-u", "--udp-service", "-f", "--fwmark-service":
			var v string
			if v, err = need(i, a); err == nil {
				o.proto = map[string]string{"-t": "TCP", "--tcp-service": "TCP", "-u": "UDP", "--udp-service": "UDP", "-f": "FWM", "--fwmark-service": "FWM"}[a]
				o.addr = v
				i++
			}
		case "-s", "--scheduler":
			if o.sched, err = need(i, a); err == nil {
				i++
			}
		case "-p", "--persistent":
			o.persistent = 300
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				if o.persistent, err = strconv.Atoi(args[i+1]); err != nil {
					err = fmt.Errorf("illegal timeout %q", args[i+1])
				}
				i++
			}
		case "-M", "--netmask":
			if o.netmask, err = need(i, a); err == nil {
				i++
			}
		case "-b", "--sched-flags":
			if _, err = need(i, a); err == nil {
				i++
			}
		case "-o", "--ops":
		case "-r", "--real-server":
			if o.real, err = need(i, a); err == nil {
				i++
			}
		case "-g", "--gatewaying":
			o.fwd = "Route"
		case "-m", "--masquerading":
			o.fwd = "Masq"
		case "-i", "--ipip":
			o.fwd = "Tunnel"
		case "-w", "--weight", "-x", "--u-threshold", "-y", "--l-threshold":
			var v string
			if v, err = need(i, a); err == nil {
				var n int
				if n, err = strconv.Atoi(v); err != nil || n < 0 || n > 65535 {
					err = fmt.Errorf("illegal value %q for %s", v, a)
				}
				switch a {
				case "-w", "--weight":
					o.weight = n
				case "-x", "--u-threshold":
					o.upper = n
				default:
					o.lower = n
				}
				o.set[a[:2]] = true
				i++
			}
		default:
			err = fmt.Errorf("unknown option %q", a)
		}
		if err != nil {
			return nil, err
		}
	}
	if o.cmd == 0 {
		return nil, errors.New("no command given")
	}
	if strings.ContainsRune("AEDaed", rune(o.cmd)) && o.proto == "" {
		return nil, errors.New("a service (-t, -u or -f) is required")
	}
	if strings.ContainsRune("aed", rune(o.cmd)) && o.real == "" {
		return nil, errors.New("a real server (-r) is required")
	}
	return o, nil
}

func apply(dir string, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "ipvsadm (stand-in): %v\n", err)
		return 2
	}
	path := filepath.Join(dir, "table")
	t, err := load(path)
	if err != nil {
		fmt.Fprintf(stderr, "ipvsadm (stand-in): %v\n", err)
		return 2
	}
	if o.cmd == 'L' {
		t.list(stdout, o.thresholds)
		return 0
	}
	if err := t.change(o); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := t.save(path); err != nil {
		fmt.Fprintf(stderr, "ipvsadm (stand-in): %v\n", err)
		return 2
	}
	return 0
}

// realAddr is the real server's address with the service's port when the
// command gave none, as ipvsadm fills it in.
func realAddr(r, svcAddr string) string {
	if strings.HasPrefix(r, "[") {
		if strings.Contains(r, "]:") {
			return r
		}
	} else if strings.Contains(r, ":") {
		return r
	}
	port := "0"
	if i := strings.LastIndexByte(svcAddr, ':'); i >= 0 {
		port = svcAddr[i+1:]
	}
	return r + ":" + port
}

func (t *table) find(proto, addr string) (int, *service) {
	for i, s := range t.svcs {
		if s.proto == proto && s.addr == addr {
			return i, s
		}
	}
	return -1, nil
}

func (t *table) change(o *opts) error {
	i, s := t.find(o.proto, o.addr)
	switch o.cmd {
	case 'C':
		t.svcs = nil
		return nil
	case 'A':
		if s != nil {
			return errors.New("Service already exists")
		}
		t.svcs = append(t.svcs, &service{proto: o.proto, addr: o.addr, sched: orDefault(o.sched, "wlc"), persistent: o.persistent, netmask: o.netmask})
		return nil
	}
	if s == nil {
		return errors.New("No such service")
	}
	switch o.cmd {
	case 'E':
		s.sched, s.persistent, s.netmask = orDefault(o.sched, "wlc"), o.persistent, o.netmask
		return nil
	case 'D':
		t.svcs = append(t.svcs[:i], t.svcs[i+1:]...)
		return nil
	}
	addr := realAddr(o.real, s.addr)
	j := -1
	for k, r := range s.reals {
		if r.addr == addr {
			j = k
		}
	}
	switch o.cmd {
	case 'a':
		if j >= 0 {
			return errors.New("Destination already exists")
		}
		r := &real{addr: addr, fwd: orDefault(o.fwd, "Route"), weight: 1, upper: o.upper, lower: o.lower}
		if o.set["-w"] {
			r.weight = o.weight
		}
		s.reals = append(s.reals, r)
	case 'e':
		if j < 0 {
			return errors.New("No such destination")
		}
		r := s.reals[j]
		r.fwd = orDefault(o.fwd, "Route")
		if o.set["-w"] {
			r.weight = o.weight
		}
		if o.set["-x"] {
			r.upper = o.upper
		}
		if o.set["-y"] {
			r.lower = o.lower
		}
	case 'd':
		if j < 0 {
			return errors.New("No such destination")
		}
		s.reals = append(s.reals[:j], s.reals[j+1:]...)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (t *table) list(w io.Writer, thresholds bool) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintln(bw, "IP Virtual Server version 1.2.1 (size=4096)")
	fmt.Fprintln(bw, "Prot LocalAddress:Port Scheduler Flags")
	if thresholds {
		fmt.Fprintln(bw, "  -> RemoteAddress:Port           Uthreshold Lthreshold ActiveConn InActConn")
	} else {
		fmt.Fprintln(bw, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn")
	}
	for _, s := range t.svcs {
		line := fmt.Sprintf("%-4s %s %s", s.proto, s.addr, s.sched)
		if s.persistent > 0 {
			line += fmt.Sprintf(" persistent %d", s.persistent)
			if s.netmask != "" {
				line += " mask " + s.netmask
			}
		}
		fmt.Fprintln(bw, line)
		for _, r := range s.reals {
			if thresholds {
				fmt.Fprintf(bw, "  -> %-28s %-10d %-10d %-10d %d\n", r.addr, r.upper, r.lower, 0, 0)
			} else {
				fmt.Fprintf(bw, "  -> %-28s %-7s %-6d %-10d %d\n", r.addr, r.fwd, r.weight, 0, 0)
			}
		}
	}
}

// The table file: "S proto addr sched persistent netmask" and
// "R addr fwd weight upper lower" lines, reals after their service.
func load(path string) (*table, error) {
	t := &table{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) == 6 && fs[0] == "S":
			p, _ := strconv.Atoi(fs[4])
			mask := fs[5]
			if mask == "-" {
				mask = ""
			}
			t.svcs = append(t.svcs, &service{proto: fs[1], addr: fs[2], sched: fs[3], persistent: p, netmask: mask})
		case len(fs) == 6 && fs[0] == "R" && len(t.svcs) > 0:
			w, _ := strconv.Atoi(fs[3])
			u, _ := strconv.Atoi(fs[4])
			l, _ := strconv.Atoi(fs[5])
			s := t.svcs[len(t.svcs)-1]
			s.reals = append(s.reals, &real{addr: fs[1], fwd: fs[2], weight: w, upper: u, lower: l})
		default:
			return nil, fmt.Errorf("%s:%d: bad line %q", path, n, sc.Text())
		}
	}
	return t, sc.Err()
}

func (t *table) save(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	for _, s := range t.svcs {
		fmt.Fprintf(bw, "S %s %s %s %d %s\n", s.proto, s.addr, s.sched, s.persistent, orDefault(s.netmask, "-"))
		for _, r := range s.reals {
			fmt.Fprintf(bw, "R %s %s %d %d %d\n", r.addr, r.fwd, r.weight, r.upper, r.lower)
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
