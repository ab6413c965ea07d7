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

	"hbgo/heartbeat"
)

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
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	baud := fs.Int("baud", heartbeat.DefaultSerialBaud, "line speed: "+strings.Trim(fmt.Sprint(heartbeat.SerialBauds()), "[]"))
	count := fs.Int("count", 0, "ping: probes to send (default 10); recv: stop after this many frames")
	size := fs.Int("size", 64, fmt.Sprintf("ping: probe size in bytes, %d..%d", heartbeat.MinProbeSize, heartbeat.MaxPacket))
	timeout := fs.Duration("timeout", 0, "ping: wait per reply (default from the line time); recv, echo: stop after this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s recv|send|echo|ping DEVICE [TEXT] [--baud N] [--count N] [--size B] [--timeout D]\n", name)
		fs.PrintDefaults()
	}
	// Flags may come before, between or after the arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < 2 {
		fs.Usage()
		return 2
	}
	mode, device, rest := pos[0], pos[1], pos[2:]
	if mode != "send" && len(rest) > 0 {
		fmt.Fprintf(stderr, "%s: %s takes no argument after the device (%q)\n", name, mode, rest[0])
		return 2
	}
	if *count < 0 || *timeout < 0 {
		fmt.Fprintf(stderr, "%s: --count and --timeout must not be negative\n", name)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t := &heartbeat.SerialTest{Device: device, Baud: *baud, Count: *count, Size: *size, Timeout: *timeout, Out: stdout}
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
			return 1
		}
	default:
		fmt.Fprintf(stderr, "%s: unknown mode %q (recv, send, echo, ping)\n", name, mode)
		return 2
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%s: interrupted", device)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
