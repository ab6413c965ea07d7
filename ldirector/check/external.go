//go:build unix

package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hbgo/internal/normalprio"
)

// externalWaitDelay bounds the wait for a command's output after it
// exited or was killed, when a child it left behind holds the pipe.
const externalWaitDelay = 500 * time.Millisecond

// externalArgs are ldirectord's four arguments: the virtual service's
// address (its firewall mark for a fwm service), its port, the real
// server's address and its port; IPv6 addresses in brackets, as
// ldirectord writes them.
func externalArgs(s Spec) []string {
	v, vport := strconv.FormatUint(uint64(s.FWMark), 10), ""
	if s.FWMark == 0 {
		v, vport = serverHost(s.Virtual.Addr()), strconv.Itoa(int(s.Virtual.Port()))
	}
	return []string{v, vport, serverHost(s.Addr.Addr()), strconv.Itoa(int(s.RealPort))}
}

// external runs the checkcommand with ldirectord's arguments; exit
// status 0 means healthy. The command runs in a process group of its
// own, and the whole group is killed when ctx ends (ldirectord sends
// TERM to the command alone and leaves its children). ExternalPerl runs
// the command file with perl.
func external(ctx context.Context, s Spec) error {
	if s.Command == "" {
		return errors.New("external check without a checkcommand")
	}
	args := externalArgs(s)
	name := s.Command
	if s.Type == ExternalPerl {
		args = append([]string{s.Command}, args...)
		name = "perl"
	}
	var out bytes.Buffer
	what := s.Command + " " + strings.Join(externalArgs(s), " ")
	cmd, err := normalprio.Start(ctx, func() *exec.Cmd {
		cmd := normalprio.Command(ctx, name, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error {
			return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		cmd.WaitDelay = externalWaitDelay
		out.Reset()
		cmd.Stdout = &limitedBuffer{b: &out, n: 4096}
		cmd.Stderr = cmd.Stdout
		return cmd
	})
	if err != nil {
		return fmt.Errorf("checkcommand %s: %w", what, err)
	}
	err = cmd.Wait()
	// Children the command left in its group go with it.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("checkcommand %s: killed at the timeout", what)
	}
	msg := strings.TrimSpace(out.String())
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:] // the last line says most
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if msg != "" {
			return fmt.Errorf("checkcommand %s: %s: %s", what, ee.ProcessState, clip(msg))
		}
		return fmt.Errorf("checkcommand %s: %s", what, ee.ProcessState)
	}
	return fmt.Errorf("checkcommand %s: %w", what, err)
}

// limitedBuffer keeps the first n bytes written and drops the rest.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		l.b.Write(p[:room])
	}
	return len(p), nil
}
