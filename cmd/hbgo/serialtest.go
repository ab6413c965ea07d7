package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"hbgo/heartbeat"
)

// Exit codes of hb_serialtest.
const (
	serialOK     exitStatus = 0 // done; ping: every probe came back intact
	serialFailed exitStatus = 1 // the device failed, a probe was lost or damaged, interrupted
	serialUsage  exitStatus = 2 // bad arguments
)

// serialtestOptions are hb_serialtest's flags.
type serialtestOptions struct {
	baud, count, size int
	timeout           time.Duration
}

// serialtestFlags is hb_serialtest's flag set.
func serialtestFlags(stderr io.Writer) (*flag.FlagSet, *serialtestOptions) {
	const name = "hb_serialtest"
	o := &serialtestOptions{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.baud, "baud", heartbeat.DefaultSerialBaud, "line speed: "+strings.Trim(fmt.Sprint(heartbeat.SerialBauds()), "[]"))
	fs.IntVar(&o.count, "count", 0, "ping: probes to send (default 10); recv: stop after this many frames")
	fs.IntVar(&o.size, "size", 64, fmt.Sprintf("ping: probe size in bytes, %d..%d", heartbeat.MinProbeSize, heartbeat.MaxPacket))
	fs.DurationVar(&o.timeout, "timeout", 0, "ping: wait per reply (default from the line time); recv, echo: stop after this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s recv|send|echo|ping DEVICE [TEXT] [--baud N] [--count N] [--size B] [--timeout D]\n", name)
		fs.PrintDefaults()
	}
	return fs, o
}

// serialtestMain implements hb_serialtest (`hbgo serialtest`):
//
//	recv DEVICE          print each frame that arrives
//	send DEVICE [TEXT]   send TEXT, or each line of stdin, as frames
//	echo DEVICE          answer the probes of a ping at the other end
//	ping DEVICE          send probes to an echo; 0 only if all come back intact
//
// with --baud N (19200), --count N, --size B and --timeout D, before or
// after the arguments. Exit 0 on success, 1 on failure, 2 on bad usage.
func serialtestMain(args []string, stdout, stderr io.Writer) int {
	const name = "hb_serialtest"
	fs, o := serialtestFlags(stderr)
	// Flags may come before, between or after the arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return serialOK
			}
			return serialUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < 2 {
		fs.Usage()
		return serialUsage
	}
	mode, device, rest := pos[0], pos[1], pos[2:]
	if mode != "send" && len(rest) > 0 {
		fmt.Fprintf(stderr, "%s: %s takes no argument after the device (%q)\n", name, mode, rest[0])
		return serialUsage
	}
	if o.count < 0 || o.timeout < 0 {
		fmt.Fprintf(stderr, "%s: --count and --timeout must not be negative\n", name)
		return serialUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t := &heartbeat.SerialTest{Device: device, Baud: o.baud, Count: o.count, Size: o.size, Timeout: o.timeout, Out: stdout}
	var err error
	switch mode {
	case "recv":
		err = t.Recv(ctx)
	case "send":
		in := io.Reader(os.Stdin)
		if len(rest) > 0 {
			in = strings.NewReader(strings.Join(rest, " "))
		}
		err = t.Send(ctx, in)
	case "echo":
		err = t.Echo(ctx)
	case "ping":
		var r heartbeat.PingResult
		r, err = t.Ping(ctx)
		if err == nil && !r.OK() {
			return serialFailed
		}
	default:
		fmt.Fprintf(stderr, "%s: unknown mode %q (recv, send, echo, ping)\n", name, mode)
		return serialUsage
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%s: interrupted", device)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return serialFailed
	}
	return serialOK
}
