package crm

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Anycast groups: a group with a BGPaddr resource runs on every director
// that is healthy, at once. Its VIP sits on lo and is announced by BGP, and
// the routers spread flows over every director that announces it (ECMP);
// a consistent hash (IPVS mh) makes them all send a flow to the same real
// server. They are outside placement: no claims, no handshake, no lease
// of the one-holder rule. A director runs them while:
//
//   - it is a director (a witness runs no group), not stopping;
//   - no operator's hb_standby (all or local) took them down since the
//     last hb_takeover (all or local) or start;
//
// Nothing else: a director that hears no peer, or has no quorum, still
// serves correctly behind ECMP (every director picks the same real server
// for a flow), so losing two directors of three leaves the third
// announcing; its routers, not the cluster, judge whether it is alive.
//
// A director that dies stops announcing when its BGP sessions end (the
// routers' hold time).

// anycastWanted says whether the anycast groups should run here now.
func (n *Node) anycastWanted() bool {
	if n.role != "director" || n.anycastOff.Load() {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.stopping
}

// decideAnycast sets every anycast runner to what anycastWanted says.
func (n *Node) decideAnycast() {
	if len(n.anycast) == 0 {
		return
	}
	want := n.anycastWanted()
	for _, r := range n.anycast {
		r.set(want, 0)
	}
}

// anycastRequest applies an operator's request to the anycast groups:
// hb_standby (all or local) takes them down here, hb_takeover (all or
// local) brings them back.
func (n *Node) anycastRequest(kind RequestKind, scope Scope) {
	if len(n.anycast) == 0 || !(scope == ScopeAll || scope == ScopeLocal || scope == "") {
		return
	}
	switch kind {
	case RequestStandby:
		if !n.anycastOff.Swap(true) {
			n.log.Info("hb_standby: anycast VIPs withdrawn here", "node", n.cfg.Name)
		}
	case RequestTakeover:
		if n.anycastOff.Swap(false) {
			n.log.Info("hb_takeover: anycast VIPs announced here again", "node", n.cfg.Name)
		}
	}
	n.decideAnycast()
}

// waitAnycastStopped waits until no anycast group holds anything here.
func (n *Node) waitAnycastStopped(ctx context.Context) error {
	var errs []error
	for _, r := range n.anycast {
		if err := r.waitStopped(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopAnycast stops the anycast groups before anything else of a stop,
// within timeout.
func (n *Node) stopAnycast(timeout time.Duration) error {
	if len(n.anycast) == 0 {
		return nil
	}
	n.anycastOff.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := n.waitAnycastStopped(ctx); err != nil {
		return fmt.Errorf("anycast groups: %w", err)
	}
	return nil
}

// anycastStatus is each anycast group as it runs here.
func (n *Node) anycastStatus() []GroupStatus {
	var out []GroupStatus
	for i, g := range n.anycastGroups {
		gs := GroupStatus{Name: g.Name, Home: g.Home, State: "stopped", Anycast: true}
		for _, r := range g.Resources {
			gs.Resources = append(gs.Resources, r.Raw)
		}
		if i < len(n.anycast) {
			c, _, e := n.anycast[i].get()
			gs.State = c.State.String()
			if c.State.Holds() {
				gs.Owner = n.cfg.Name
				gs.Holders = []string{n.cfg.Name}
			}
			if c.State == ClaimFailed {
				gs.Failed = map[string]string{n.cfg.Name: e}
			}
		}
		out = append(out, gs)
	}
	return out
}
