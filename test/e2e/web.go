package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"hbgo/test/netns"
)

// RealServer is a tiny web service in a real server's namespace: the
// ldirector's check page and a page that names the server.
type RealServer struct {
	Name string
	Addr netip.Addr
	Host *netns.Host

	mu  sync.Mutex
	srv *http.Server
}

// CheckPage and CheckText are what ldirectord.cf's request and receive
// name.
const (
	CheckPage = "/ldirector.html"
	CheckText = "Test Page"
)

// Start starts (or restarts) the web service on port 80.
func (r *RealServer) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return nil
	}
	var ln net.Listener
	if err := r.Host.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", ":80")
		return err
	}); err != nil {
		return fmt.Errorf("e2e: %s: web service: %w", r.Name, err)
	}
	name := r.Name
	r.srv = &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
			if q.URL.Path == CheckPage {
				fmt.Fprintln(w, CheckText)
				return
			}
			fmt.Fprintln(w, name)
		}),
	}
	go r.srv.Serve(ln)
	return nil
}

// Stop stops the web service: new connections are refused.
func (r *RealServer) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

// Running says whether the web service runs.
func (r *RealServer) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv != nil
}

// dialIn returns a DialContext that opens its sockets in h's namespace.
func dialIn(h *netns.Host, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := h.Do(func() error {
			var err error
			d := net.Dialer{Timeout: timeout}
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// Forwarder stands in for IPVS on a director whose kernel has none: it
// answers HTTP on port 80 of the director's namespace (so on the VIP when
// the director holds it) by fetching the page from a real server of the
// table the director's ldirector keeps, round robin, and answering
// "REAL via DIRECTOR". It learns the table from the "ipvsadm (dry run)"
// lines of the daemon's log, as an operator would read them.
type Forwarder struct {
	Director string
	host     *netns.Host
	srv      *http.Server
	client   *http.Client
	stop     chan struct{}
	done     chan struct{}

	mu    sync.Mutex
	table map[netip.AddrPort]int // real server -> weight
	next  int
	lines int // dry-run lines read
}

// StartForwarder starts a forwarder in h that follows the daemon log at
// logPath.
func StartForwarder(h *netns.Host, director, logPath string) (*Forwarder, error) {
	f := &Forwarder{Director: director, host: h, table: map[netip.AddrPort]int{},
		stop: make(chan struct{}), done: make(chan struct{})}
	var ln net.Listener
	if err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", ":80")
		return err
	}); err != nil {
		return nil, fmt.Errorf("e2e: forwarder on %s: %w", director, err)
	}
	f.client = &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: dialIn(h, 500*time.Millisecond), DisableKeepAlives: true}}
	f.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(f.serve)}
	go f.srv.Serve(ln)
	go f.follow(logPath)
	return f, nil
}

// Close stops the forwarder.
func (f *Forwarder) Close() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	f.srv.Close()
	<-f.done
}

// Table is the forwarder's view of the IPVS table: real servers with
// weight above 0, sorted.
func (f *Forwarder) Table() []netip.AddrPort {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.liveLocked()
}

func (f *Forwarder) liveLocked() []netip.AddrPort {
	var out []netip.AddrPort
	for r, w := range f.table {
		if w > 0 {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Compare(out[j]) < 0 })
	return out
}

func (f *Forwarder) serve(w http.ResponseWriter, q *http.Request) {
	f.mu.Lock()
	live := f.liveLocked()
	var to netip.AddrPort
	if len(live) > 0 {
		to = live[f.next%len(live)]
		f.next++
	}
	f.mu.Unlock()
	if !to.IsValid() {
		http.Error(w, "no real server in "+f.Director+"'s table", http.StatusServiceUnavailable)
		return
	}
	resp, err := f.client.Get("http://" + to.String() + q.URL.Path)
	if err != nil {
		http.Error(w, fmt.Sprintf("%s: %v", to, err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil || resp.StatusCode != http.StatusOK {
		http.Error(w, fmt.Sprintf("%s: status %d %v", to, resp.StatusCode, err), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "%s via %s\n", strings.TrimSpace(string(b)), f.Director)
}

// dryRunMark starts the daemon's log lines of table changes.
const dryRunMark = "ipvsadm (dry run) "

// follow reads the daemon log as it grows and applies its table changes.
func (f *Forwarder) follow(path string) {
	defer close(f.done)
	var off int64
	var partial string
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		fh, err := os.Open(path)
		if err != nil {
			continue
		}
		if st, err := fh.Stat(); err == nil && st.Size() < off {
			off, partial = 0, ""
		}
		if _, err := fh.Seek(off, io.SeekStart); err != nil {
			fh.Close()
			continue
		}
		b, _ := io.ReadAll(fh)
		fh.Close()
		off += int64(len(b))
		text := partial + string(b)
		lines := strings.Split(text, "\n")
		partial = lines[len(lines)-1]
		lines = lines[:len(lines)-1]
		for _, l := range lines {
			f.apply(l)
		}
	}
}

// dryRunCommand is the ipvsadm command in a daemon log line, if it holds
// one: "... ipvsadm (dry run) 2026-11-29 14:35:20.054 -a -t ..." holds
// "-a -t ...".
func dryRunCommand(line string) (string, bool) {
	i := strings.Index(line, dryRunMark)
	if i < 0 {
		return "", false
	}
	cmd := line[i+len(dryRunMark):]
	if j := strings.IndexAny(cmd, "\"\x1b"); j >= 0 {
		cmd = cmd[:j]
	}
	if !strings.HasPrefix(cmd, "-") {
		j := strings.Index(cmd, " -")
		if j < 0 {
			return "", false
		}
		cmd = cmd[j+1:]
	}
	return strings.TrimSpace(cmd), true
}

// apply applies one log line's table change, if it holds one.
func (f *Forwarder) apply(line string) {
	cmd, ok := dryRunCommand(line)
	if !ok {
		return
	}
	op, real, weight, err := ParseIpvsadm(cmd)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines++
	switch op {
	case "-A", "-D", "-C":
		// A service (re)made or gone: its servers come with -a lines.
		clear(f.table)
	case "-a", "-e":
		f.table[real] = weight
	case "-d":
		delete(f.table, real)
	}
}

// ParseIpvsadm reads the ipvsadm command of one dry-run line: its
// operation, and for a real server its address and weight (1 when not
// given).
func ParseIpvsadm(cmd string) (op string, real netip.AddrPort, weight int, err error) {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return "", real, 0, errors.New("empty ipvsadm command")
	}
	op, weight = f[0], 1
	for i := 1; i+1 < len(f); i++ {
		switch f[i] {
		case "-r":
			if real, err = netip.ParseAddrPort(f[i+1]); err != nil {
				return "", real, 0, err
			}
		case "-w":
			if weight, err = strconv.Atoi(f[i+1]); err != nil {
				return "", real, 0, err
			}
		}
	}
	switch op {
	case "-a", "-e", "-d":
		if !real.IsValid() {
			return "", real, 0, fmt.Errorf("%q: %s without -r", cmd, op)
		}
	case "-A", "-E", "-D", "-C":
	default:
		return "", real, 0, fmt.Errorf("%q: unknown operation", cmd)
	}
	return op, real, weight, nil
}
