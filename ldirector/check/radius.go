package check

import (
	"context"
	"fmt"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// checkRADIUS sends an Access-Request for login and passwd signed with
// the secret, once, and takes any authentic answer (Accept, Reject or
// Challenge) as alive, as Authen::Radius's check_pwd does for ldirectord:
// it fails only when no answer comes. An answer signed with another
// secret does not count. layeh.com/radius builds and verifies the
// packets; the exchange itself is a plain UDP socket here so that it
// ends with the check.
func checkRADIUS(ctx context.Context, s Spec) error {
	target := "radius " + s.Addr.String()
	p := radius.New(radius.CodeAccessRequest, []byte(s.Secret))
	if err := rfc2865.UserName_SetString(p, s.Login); err != nil {
		return fmt.Errorf("%s: login: %w", target, err)
	}
	if err := rfc2865.UserPassword_SetString(p, s.Passwd); err != nil {
		return fmt.Errorf("%s: passwd: %w", target, err)
	}
	wire, err := p.Encode()
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	c, release, err := dial(ctx, "udp", s.Addr)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer c.Close()
	defer release()
	if _, err := c.Write(wire); err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "send Access-Request", err))
	}
	buf := make([]byte, radius.MaxPacketLength)
	forged := 0
	for {
		n, err := c.Read(buf)
		if err != nil {
			if forged > 0 {
				return fmt.Errorf("%s: %d answers not signed with the secret (wrong secret?), then %w", target, forged, stageErr(ctx, "", err))
			}
			return fmt.Errorf("%s: %w", target, stageErr(ctx, "answer to Access-Request", err))
		}
		answer, err := radius.Parse(buf[:n], []byte(s.Secret))
		if err != nil || answer.Identifier != p.Identifier {
			continue
		}
		if !radius.IsAuthenticResponse(buf[:n], wire, []byte(s.Secret)) {
			forged++
			continue
		}
		return nil
	}
}
