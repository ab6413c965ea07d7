package check

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// checkSIP sends an OPTIONS request for sip:LOGIN (the parser's default
// login is ldirectord@HOSTNAME) over the service's protocol and wants
// "SIP/2.0 200 OK" as the status line, as ldirectord's check_sip.
// Written by hand: one request and one status line need no SIP stack.
func checkSIP(ctx context.Context, s Spec) error {
	netw := "udp"
	if s.Protocol == "tcp" {
		netw = "tcp"
	}
	target := "sip " + netw + " " + s.Addr.String()
	if strings.ContainsAny(s.Login, "\r\n") {
		return fmt.Errorf("%s: login holds a line break", target)
	}
	c, release, err := dial(ctx, netw, s.Addr)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer c.Close()
	defer release()
	callID := make([]byte, 8)
	_, _ = rand.Read(callID)
	branch := make([]byte, 6)
	_, _ = rand.Read(branch)
	local := c.LocalAddr().String()
	req := "OPTIONS sip:" + s.Login + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + strings.ToUpper(netw) + " " + local + ";branch=z9hG4bK" + hex.EncodeToString(branch) + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: <sip:" + s.Login + ">\r\n" +
		"From: <sip:" + s.Login + ">;tag=" + hex.EncodeToString(branch[:4]) + "\r\n" +
		"Call-ID: " + hex.EncodeToString(callID) + "\r\n" +
		"CSeq: 63104 OPTIONS\r\n" +
		"Contact: <sip:" + s.Login + ">\r\n" +
		"Accept: application/sdp\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "send OPTIONS", err))
	}
	var status string
	if netw == "udp" {
		buf := make([]byte, 65536)
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("%s: %w", target, stageErr(ctx, "answer to OPTIONS", err))
		}
		status, _, _ = strings.Cut(string(buf[:n]), "\n")
	} else {
		status, err = bufio.NewReader(io.LimitReader(c, maxRead)).ReadString('\n')
		if err != nil && status == "" {
			return fmt.Errorf("%s: %w", target, stageErr(ctx, "answer to OPTIONS", err))
		}
	}
	status = strings.TrimRight(status, "\r\n")
	if !strings.HasPrefix(status, "SIP/2.0 200 OK") {
		return fmt.Errorf("%s: OPTIONS answered %s, want SIP/2.0 200 OK", target, clip(status))
	}
	return nil
}
