package peers

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The rolling migration from Heartbeat to hbgo, node by node, on a pair
// built by Heartbeat: each node keeps its /etc/ha.d (ha.cf, authkeys,
// haresources) and its /var/lib/heartbeat, and swaps the daemon.

// StopHeartbeat stops Heartbeat on a node as its init script does
// (`heartbeat -k`: it releases its resources and tells its peer), and
// waits until the process has exited.
func (p *Pair) StopHeartbeat(name string, bound time.Duration) error {
	n := p.Node(name)
	b, err := os.ReadFile(filepath.Join(n.Dir, "run", "heartbeat.pid"))
	if err != nil {
		return fmt.Errorf("heartbeat on %s: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("heartbeat on %s: pid file: %w", name, err)
	}
	if out, code, _ := p.Exec(name, bound, HeartbeatBin, "-k"); code != 0 {
		return fmt.Errorf("heartbeat -k on %s: exit %d: %s", name, code, out)
	}
	deadline := time.Now().Add(bound)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("heartbeat on %s (pid %d) still runs %v after heartbeat -k", name, pid, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// StartHbgo starts hbgo's daemon (the binary bin) on a node in place of
// Heartbeat, with the node's own /etc/ha.d and /var/lib/heartbeat, as an
// operator does in the migration. Its output goes to the node's
// hbgo.log.
func (p *Pair) StartHbgo(name, bin string) error {
	n := p.Node(name)
	log := filepath.Join(n.Dir, "hbgo.log")
	script := fmt.Sprintf("setsid %s daemon -c /etc/ha.d --node %s --state-dir /var/lib/heartbeat/hbgo --run-dir /run/heartbeat >>%s 2>&1 </dev/null &",
		shq(bin), shq(name), shq(log))
	if out, code, _ := p.Exec(name, 10*time.Second, "sh", "-c", script); code != 0 {
		return fmt.Errorf("starting hbgo on %s: exit %d: %s", name, code, out)
	}
	return nil
}

// HbgoLog is what hbgo logged on a node: ha.cf's logfile (which it
// shares with the node's Heartbeat of before) and its output.
func (p *Pair) HbgoLog(name string) string {
	var out strings.Builder
	for _, f := range []string{"ha-log", "hbgo.log"} {
		b, _ := os.ReadFile(filepath.Join(p.Node(name).Dir, f))
		out.Write(b)
	}
	return out.String()
}

// HbgoStatus runs `hbgo status` on a node.
func (p *Pair) HbgoStatus(name, bin string) (string, int) {
	out, code, _ := p.Exec(name, 10*time.Second, bin, "status", "--run-dir", "/run/heartbeat")
	return out, code
}
