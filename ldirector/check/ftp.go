package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"regexp"
	"sync"

	"github.com/jlaffaye/ftp"
)

// checkFTP logs in with login and passwd (the parser's defaults:
// anonymous, ldirectord@HOSTNAME), changes to "/", and fetches the
// request file in binary passive mode when a request names one; receive
// must match the file's content. ldirectord ignores the errors of each
// step and judges the content alone; here a failed login or transfer is
// the error the operator reads, and the verdicts agree: no content, no
// match.
func checkFTP(ctx context.Context, s Spec) error {
	target := "ftp " + s.Addr.String()
	var (
		mu       sync.Mutex
		releases []func()
		conns    []net.Conn
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for i, c := range conns {
			releases[i]()
			c.Close()
		}
	}()
	dialFn := func(network, address string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		conns = append(conns, c)
		releases = append(releases, guard(ctx, c))
		mu.Unlock()
		return c, nil
	}
	var re *regexp.Regexp
	if s.Receive != "" {
		r, err := receiveRE(s.Receive)
		if err != nil {
			return err
		}
		re = r
	}
	c, err := ftp.Dial(s.Addr.String(), ftp.DialWithDialFunc(dialFn), ftp.DialWithDisabledMLSD(true))
	if err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "connect", ftpErr(err)))
	}
	defer c.Quit()
	if err := c.Login(s.Login, s.Passwd); err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "login as "+s.Login, ftpErr(err)))
	}
	if err := c.ChangeDir("/"); err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "CWD /", ftpErr(err)))
	}
	file := s.Request
	if file == "" || file == "/" {
		if re != nil && !perlMatch(re, "") {
			return fmt.Errorf("%s: %w", target, notFound(s.Receive, "the empty content of no request file"))
		}
		return nil
	}
	if file[0] != '/' {
		file = "/" + file
	}
	r, err := c.Retr(file)
	if err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "RETR "+file, ftpErr(err)))
	}
	data, err := io.ReadAll(io.LimitReader(r, maxRead))
	cerr := r.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "RETR "+file, ftpErr(err)))
	}
	if cerr != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "RETR "+file, ftpErr(cerr)))
	}
	if re != nil && !perlMatch(re, string(data)) {
		return fmt.Errorf("%s: %w", target, notFound(s.Receive, file))
	}
	return nil
}

// ftpErr shows a server's refusal with its reply code, as an operator
// reads it in the server's log.
func ftpErr(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return fmt.Errorf("server said %d %s", te.Code, te.Msg)
	}
	return err
}
