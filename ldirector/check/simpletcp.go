package check

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
)

// checkSimpleTCP sends the request (without its leading "/", with each
// written "\n" turned into a line break), shuts the sending half, and
// reads lines until one matches receive; as ldirectord's
// check_simpletcp. A UDP service gets the request as one datagram and
// each answering datagram is read as lines.
func checkSimpleTCP(ctx context.Context, s Spec) error {
	netw := "tcp"
	if s.Protocol == "udp" {
		netw = "udp"
	}
	target := "simpletcp " + netw + " " + s.Addr.String()
	re, err := receiveRE(s.Receive)
	if err != nil {
		return err
	}
	c, release, err := dial(ctx, netw, s.Addr)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer c.Close()
	defer release()
	req := strings.ReplaceAll(trimSlash(s.Request), `\n`, "\n")
	if _, err := io.WriteString(c, req); err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "send request", err))
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	var last string
	match := func(text string) bool {
		for _, line := range strings.SplitAfter(text, "\n") {
			if line == "" {
				continue
			}
			last = line
			if perlMatch(re, line) {
				return true
			}
		}
		return false
	}
	if netw == "udp" {
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return fmt.Errorf("%s: %w", target, stageErr(ctx, "answer", err))
			}
			if match(string(buf[:n])) {
				return nil
			}
		}
	}
	r := bufio.NewReader(io.LimitReader(c, maxRead))
	for {
		line, err := r.ReadString('\n')
		if line != "" && match(line) {
			return nil
		}
		if err == io.EOF {
			if last == "" {
				return fmt.Errorf("%s: %w", target, notFound(s.Receive, "an empty answer"))
			}
			return fmt.Errorf("%s: %w", target, notFound(s.Receive, "the answer (last line "+clip(last)+")"))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", target, stageErr(ctx, "answer", err))
		}
	}
}
