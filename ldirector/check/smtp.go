package check

import (
	"context"
	"fmt"
	"net/smtp"
)

// checkSMTP reads the banner and greets the server with EHLO (HELO when
// EHLO is refused), then quits, as Net::SMTP->new does for ldirectord.
// net/smtp speaks the protocol.
func checkSMTP(ctx context.Context, s Spec) error {
	target := s.Service + " " + s.Addr.String()
	c, release, err := dial(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer c.Close()
	defer release()
	sc, err := smtp.NewClient(c, s.Addr.Addr().String())
	if err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "banner", err))
	}
	defer sc.Close()
	if err := sc.Hello(hostname()); err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "EHLO/HELO", err))
	}
	_ = sc.Quit()
	return nil
}
