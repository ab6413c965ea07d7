package conf

import (
	"strings"
	"testing"
)

// TestHACFSlowLeaderFailover: without a witness, a crash of the director
// that leads costs an election and a lease wait on top of deadtime.
func TestHACFSlowLeaderFailover(t *testing.T) {
	var ds Diags
	ParseHACF("ha.cf", []byte("keepalive 100ms\ndeadtime 300ms\nbcast eth0\nnode a b\nnode c\nauto_failback on\n"), &ds)
	want := "ha.cf:4: warning: no witness: a crash of the director that leads the placement log moves its groups after up to 900ms (an election, then the wait for the leases it granted), not deadtime 300ms; add a witness line (a small machine running hbgo as a witness, which then leads)"
	if got := strings.TrimSpace(ds.String()); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for _, text := range []string{
		"keepalive 100ms\ndeadtime 300ms\nbcast eth0\nnode a b c\nwitness w\nauto_failback on\n",
		"keepalive 100ms\ndeadtime 300ms\nbcast eth0\nnode a b\nauto_failback on\n",
	} {
		var ds Diags
		ParseHACF("ha.cf", []byte(text), &ds)
		if got := strings.TrimSpace(ds.String()); got != "" {
			t.Errorf("%q: %s", text, got)
		}
	}
}

// TestHACFTwoNodeLeaseSpare: two-node leases need room to be renewed.
func TestHACFTwoNodeLeaseSpare(t *testing.T) {
	for _, c := range []struct{ text, warn string }{
		{"keepalive 30ms\ndeadtime 90ms\nbcast eth0\nnode a b\nauto_failback on\n", ""},
		{"keepalive 100ms\ndeadtime 300ms\nbcast eth0\nnode a b\nauto_failback on\n", ""},
		// With a witness the raft lease applies.
		{"keepalive 20ms\ndeadtime 60ms\nbcast eth0\nnode a b\nwitness w\nauto_failback on\n", ""},
		{"keepalive 20ms\ndeadtime 60ms\nbcast eth0\nnode a b\nauto_failback on\n",
			"ha.cf:2: warning: two-node mode at keepalive 20ms and deadtime 60ms: a director's lease (the ack lease 40ms) is renewed with 10ms to spare, a keepalive and a half after the heartbeat it counts from: on a busy machine the VIP will go dark now and then; raise deadtime to 70ms or more"},
		{"keepalive 200ms\ndeadtime 350ms\nbcast eth0\nnode a b\nauto_failback on\n",
			"ha.cf:2: warning: two-node mode at keepalive 200ms and deadtime 350ms: a director's lease (the ack lease 315ms) is renewed with 15ms to spare, a keepalive and a half after the heartbeat it counts from: on a busy machine the VIP will go dark now and then; raise deadtime to 360ms or more"},
	} {
		var ds Diags
		ParseHACF("ha.cf", []byte(c.text), &ds)
		if got := strings.TrimSpace(ds.String()); got != c.warn {
			t.Errorf("%q:\ngot  %q\nwant %q", c.text, got, c.warn)
		}
	}
}

func TestHACFSerialBudget(t *testing.T) {
	cases := []struct {
		text string
		warn string
	}{
		{"keepalive 100ms\ndeadtime 1\nbaud 19200\nserial /dev/ttyS0\nnode a b\nauto_failback on\n", ""},
		{"keepalive 100ms\ndeadtime 1\nbaud 9600\nserial /dev/ttyS0\nnode a b\nauto_failback on\n",
			"ha.cf:4: warning: serial /dev/ttyS0 at 9600 baud carries 960 bytes/s; heartbeats every 100ms need about 1070: raise baud or keepalive"},
		{"keepalive 200ms\ndeadtime 2\nbaud 9600\nserial /dev/ttyS0\nnode a b\nauto_failback on\n", ""},
		// Two-node mode: the ack lease must outlast a round trip over the
		// cable alone.
		{"keepalive 100ms\ndeadtime 500ms\nbaud 19200\nserial /dev/ttyS0\nnode a b\nauto_failback on\n",
			"ha.cf:4: warning: serial /dev/ttyS0 at 19200 baud: with only the cable left, a heartbeat's acknowledgement takes up to about 523ms, longer than the ack lease 450ms (deadtime 500ms less a tenth): both directors would stop their groups; raise deadtime to 700ms or more"},
		// With a witness the cable only carries liveness.
		{"keepalive 100ms\ndeadtime 500ms\nbaud 19200\nserial /dev/ttyS0\nnode a b\nwitness w\nauto_failback on\n", ""},
	}
	for _, c := range cases {
		var ds Diags
		ParseHACF("ha.cf", []byte(c.text), &ds)
		got := strings.TrimSpace(ds.String())
		if got != c.warn {
			t.Errorf("%q:\ngot  %q\nwant %q", c.text, got, c.warn)
		}
	}
}
