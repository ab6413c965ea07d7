//go:build linux

package cluster

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"hbgo/crm"
	"hbgo/crm/control"
)

// statusOf asks node's daemon for its status.
func statusOf(c *Cluster, node string) (*crm.Status, error) {
	cl, err := control.Dial(control.SocketPath(c.Members[node].RunDir))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return cl.Status(ctx)
}

// TestClusterKeyRotation rotates the authkeys secret the way an operator
// does, one node at a time, each step applied with a reload (SIGHUP): a
// second key defined everywhere, then selected node by node, then the old
// one removed. Throughout, every node keeps hearing every other (gossip
// and raft too, in witness mode), no group moves, and n1's VIP, sampled
// every 10 ms, is served by n1 alone.
func TestClusterKeyRotation(t *testing.T) {
	for _, mode := range []string{"two-node", "witness"} {
		t.Run(mode, func(t *testing.T) {
			vip := netip.MustParseAddr("10.81.0.100")
			spec := Spec{Directors: []string{"n1", "n2"},
				Haresources: "n1 IPaddr::" + vip.String() + "/24/eth0\nn2 testres::g2\n"}
			if mode == "witness" {
				spec.Witnesses = []string{"w"}
			}
			c := New(t, spec)
			c.StartAll()
			c.WaitOwner("g2", "n2", bound)
			waitServed(t, c, "n1", vip, true, bound)
			time.Sleep(time.Second)
			before := len(c.Records())
			finish := sampleVIP(t, c, vip, []string{"n1", "n2"})

			apply := func(node, authkeys string) {
				t.Helper()
				if err := os.WriteFile(filepath.Join(c.Members[node].ConfDir, "authkeys"), []byte(authkeys), 0o600); err != nil {
					t.Fatal(err)
				}
				c.Signal(node, syscall.SIGHUP)
			}
			// waitKeys waits until every node hears every other, signing
			// with the keys want gives.
			waitKeys := func(want map[string]int) {
				t.Helper()
				deadline := time.Now().Add(bound)
				for {
					ok := true
					var last string
					for _, n := range c.order {
						st, err := statusOf(c, n)
						if err != nil {
							ok, last = false, err.Error()
							break
						}
						for _, ns := range st.Nodes {
							if ns.Type == "ping" {
								continue
							}
							if ns.Key != want[ns.Name] || (ns.Name != n && ns.Status == "dead") {
								ok = false
								last = n + " sees " + ns.Name + " " + ns.Status + " with key " + strconv.Itoa(ns.Key)
							}
						}
					}
					if ok {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("keys %v not seen after %v: %s", want, bound, last)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			all := func(k int) map[string]int {
				m := map[string]int{}
				for _, n := range c.order {
					m[n] = k
				}
				return m
			}
			both1 := "auth 1\n1 sha1 cluster-test-secret\n2 sha1 the-new-cluster-secret\n"
			both2 := "auth 2\n1 sha1 cluster-test-secret\n2 sha1 the-new-cluster-secret\n"
			only2 := "auth 2\n2 sha1 the-new-cluster-secret\n"
			for _, n := range c.order {
				apply(n, both1)
			}
			waitKeys(all(1))
			want := all(1)
			for _, n := range c.order {
				apply(n, both2)
				want[n] = 2
				waitKeys(want)
			}
			for _, n := range c.order {
				apply(n, only2)
			}
			waitKeys(all(2))
			time.Sleep(2 * time.Second) // a few deadtimes on the new key alone
			waitKeys(all(2))
			samples := finish()
			dark, dual := 0, 0
			for _, sm := range samples {
				if !sm.served["n1"] {
					dark++
				}
				if sm.served["n2"] {
					dual++
				}
			}
			t.Logf("%d samples of the VIP over the rotation: %d dark on n1, %d served by n2", len(samples), dark, dual)
			if dark > 0 || dual > 0 {
				t.Errorf("the VIP was dark on its owner in %d samples and served by n2 in %d", dark, dual)
			}
			if recs := c.Records(); len(recs) != before {
				t.Errorf("groups moved during the rotation: %v", recs[before:])
			}
			if c.Owner("g2") != "n2" {
				t.Errorf("after the rotation g2 on %q", c.Owner("g2"))
			}
			if mode == "witness" {
				if _, _, err := agreedLeader(c, bound); err != nil {
					t.Errorf("raft after the rotation: %v", err)
				}
			}
			c.CheckInvariant()
		})
	}
}
