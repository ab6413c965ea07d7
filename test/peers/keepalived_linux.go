package peers

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// KeepalivedSpec is a VRRP instance between two directors: n1 has priority
// 150 and n2 100, both start as BACKUP, preemption on (keepalived's
// default), so n1 holds the VIP whenever it runs.
type KeepalivedSpec struct {
	// Version is the VRRP version, 2 or 3 (VRRPv2 takes whole seconds).
	Version int
	// AdvertInt is the advertisement interval.
	AdvertInt time.Duration
}

// Priorities of the two directors.
var keepalivedPrio = map[string]int{"n1": 150, "n2": 100}

// MasterDown is RFC 5798's Master_Down_Interval for the backup (n2): three
// advertisement intervals plus its skew time, (256-priority)/256 of one.
func (s KeepalivedSpec) MasterDown() time.Duration {
	return 3*s.AdvertInt + time.Duration(256-keepalivedPrio["n2"])*s.AdvertInt/256
}

func (s KeepalivedSpec) config(node string) string {
	adv := strconv.FormatFloat(s.AdvertInt.Seconds(), 'f', -1, 64)
	return fmt.Sprintf(`global_defs {
	router_id %[1]s
	vrrp_version %[2]d
}
vrrp_instance VI_1 {
	state BACKUP
	interface %[3]s
	virtual_router_id 51
	priority %[4]d
	advert_int %[5]s
	virtual_ipaddress {
		%[6]s dev %[3]s
	}
}
`, node, s.Version, Iface, keepalivedPrio[node], adv, VIP)
}

// Keepalived builds a pair running keepalived (VRRP only) on n1 and n2 and
// waits until n1 holds the VIP. It skips the benchmark or test when
// keepalived is missing and cannot be installed.
func Keepalived(tb testing.TB, spec KeepalivedSpec) *Pair {
	tb.Helper()
	if err := Ensure(KeepalivedPackages...); err != nil {
		tb.Skipf("keepalived cannot run here: %v", err)
	}
	p := newPair(tb, "keepalived", []string{"n1", "n2"}, func(n *Node) error {
		conf := filepath.Join(n.Dir, "keepalived.conf")
		if err := os.WriteFile(conf, []byte(spec.config(n.Name)), 0o644); err != nil {
			return err
		}
		// -n: stay in the foreground, -l: log to the console (daemon.log),
		// -G: no syslog, -P: VRRP only; pid files under the bound /run.
		return launch(n, nil, fmt.Sprintf("exec %s -n -l -D -G -P -f %s -p /run/keepalived.pid -r /run/vrrp.pid\n", KeepalivedBin, shq(conf)))
	})
	p.StartAll()
	if err := p.Probe.WaitSteady("n1", 300*time.Millisecond, 20*time.Second+5*spec.MasterDown()); err != nil {
		tb.Fatalf("keepalived: %v", err)
	}
	return p
}

// KeepalivedTransitions counts the "Entering MASTER STATE" lines in a
// node's keepalived log.
func (p *Pair) KeepalivedTransitions(name string) int {
	return strings.Count(p.Log(name), "Entering MASTER STATE")
}
