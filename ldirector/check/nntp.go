package check

import (
	"context"
	"fmt"
	"strings"
)

// checkNNTP reads the greeting and wants it to start with 2 (200 or
// 201), as ldirectord's check_nntp reads the first 64 bytes. Written by
// hand: one line of the protocol needs no library.
func checkNNTP(ctx context.Context, s Spec) error {
	target := "nntp " + s.Addr.String()
	c, release, err := dial(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer c.Close()
	defer release()
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if n == 0 {
		if err == nil {
			err = fmt.Errorf("empty greeting")
		}
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "greeting", err))
	}
	if !strings.HasPrefix(string(buf[:n]), "2") {
		return fmt.Errorf("%s: greeting: server said %s", target, clip(string(buf[:n])))
	}
	_, _ = c.Write([]byte("QUIT\r\n"))
	return nil
}
