// Command hbgo-bgp is the director's BGP speaker in a process of its own:
// the hbgo daemon starts it when ha.cf has bgp_as and drives it over its
// standard input and output (package hbgo/bgp/pipe). It runs GoBGP (package
// hbgo/bgp), which the daemon does not link. It stops, withdrawing what it
// announced and closing its sessions, on a stop request, at the end of its
// input, or on SIGTERM (which it gets when the daemon dies).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"hbgo/bgp"
	"hbgo/bgp/pipe"
)

func main() {
	os.Exit(run(os.Stdin, os.Stdout, os.Stderr))
}

func run(stdin io.Reader, stdout, stderr io.Writer) int {
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	var wmu sync.Mutex
	reply := func(r pipe.Reply) {
		b, _ := json.Marshal(r)
		wmu.Lock()
		defer wmu.Unlock()
		stdout.Write(append(b, '\n'))
	}
	if !in.Scan() {
		fmt.Fprintln(stderr, "hbgo-bgp: no configuration on standard input (the hbgo daemon starts this program)")
		return 2
	}
	var pc pipe.Config
	if err := json.Unmarshal(in.Bytes(), &pc); err != nil {
		reply(pipe.Reply{Error: fmt.Sprintf("hbgo-bgp: configuration: %v", err)})
		return 2
	}
	level := slog.LevelInfo
	if pc.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("program", "hbgo-bgp")
	cfg := bgp.Config{Node: pc.Node, LocalAS: pc.LocalAS, RouterID: pc.RouterID, ListenPort: pc.ListenPort, Logger: log}
	for _, n := range pc.Neighbors {
		cfg.Neighbors = append(cfg.Neighbors, bgp.Neighbor{Addr: n.Addr, PeerAS: n.PeerAS, HoldTime: n.HoldTime,
			Password: n.Password, Port: n.Port, LocalAddr: n.LocalAddr, Passive: n.Passive,
			BFD: n.BFD, BFDInterval: n.BFDInterval, BFDMultiplier: n.BFDMultiplier})
	}
	for _, c := range pc.Communities {
		v, err := bgp.ParseCommunity(c)
		if err != nil {
			reply(pipe.Reply{Error: fmt.Sprintf("hbgo-bgp: %v", err)})
			return 2
		}
		cfg.Communities = append(cfg.Communities, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	sp, err := bgp.Start(ctx, cfg)
	cancel()
	if err != nil {
		reply(pipe.Reply{Error: fmt.Sprintf("hbgo-bgp: %v", err)})
		return 1
	}
	reply(pipe.Reply{ID: 0})

	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sp.Stop(ctx); err != nil {
			log.Warn(fmt.Sprintf("stop: %v", err))
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	reqs := make(chan pipe.Request)
	go func() {
		defer close(reqs)
		for in.Scan() {
			var r pipe.Request
			if err := json.Unmarshal(in.Bytes(), &r); err != nil {
				log.Warn(fmt.Sprintf("unreadable request: %v", err))
				continue
			}
			reqs <- r
		}
	}()
	var wg sync.WaitGroup
	for {
		select {
		case <-sigs:
			wg.Wait()
			stop()
			return 0
		case r, ok := <-reqs:
			if !ok {
				wg.Wait()
				stop()
				return 0
			}
			if r.Op == "stop" {
				wg.Wait()
				stop()
				reply(pipe.Reply{ID: r.ID})
				return 0
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				reply(handle(sp, r))
			}()
		}
	}
}

// handle runs one request within its timeout.
func handle(sp *bgp.Speaker, r pipe.Request) pipe.Reply {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := pipe.Reply{ID: r.ID}
	var err error
	switch r.Op {
	case "announce":
		err = sp.Announce(ctx, r.Prefix)
	case "withdraw":
		err = sp.Withdraw(ctx, r.Prefix)
	case "sessions":
		var ss []bgp.SessionStatus
		ss, err = sp.Sessions(ctx)
		for _, s := range ss {
			out.Sessions = append(out.Sessions, pipe.Session{Neighbor: s.Neighbor, PeerAS: s.PeerAS, State: string(s.State),
				Uptime: s.Uptime, HoldTime: s.HoldTime, Sent: s.Sent, Received: s.Received, LastError: s.LastError, BFD: string(s.BFD)})
		}
	default:
		err = fmt.Errorf("unknown request %q", r.Op)
	}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}
