package crm

import "time"

// Joined reports whether this node has found its cluster: in quorum mode
// its lease is valid (it heard from a quorum), in two-node mode it heard
// its peer; in both, initdead has passed otherwise, so that a node whose
// peers are down still gets on with it. A node alone has joined at once.
func (n *Node) Joined() bool {
	switch n.mode {
	case ModeSingle:
		return true
	case ModeQuorum:
		if _, ok := n.Lease(); ok {
			return true
		}
		return time.Since(n.start) >= n.ha.EffectiveInitdead()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.heardPeer || time.Since(n.start) >= n.ha.EffectiveInitdead()
}

// Settled reports whether the node has joined and none of its groups is
// on the way: each runs here if the node wants it, and is stopped (or
// failed) here if not. The daemon tells systemd it is ready then.
func (n *Node) Settled() bool {
	if !n.Joined() {
		return false
	}
	for _, r := range n.runners {
		r.mu.Lock()
		want, state, swept := r.want, r.claim.State, r.swept
		r.mu.Unlock()
		switch {
		case !swept:
			return false
		case state == ClaimStarting || state == ClaimStopping:
			return false
		case want && state != ClaimRunning && state != ClaimFailed:
			return false
		case !want && state == ClaimRunning:
			return false
		}
	}
	return true
}

// LastPass is the time the node's decision loop is known live at: now
// while it waits for its next event (a loop that waits answers at once),
// else the start of the pass under way. A time much older than a deadtime
// means a pass hangs; the systemd watchdog and the kernel watchdog are
// fed only while it is recent. Before the loop's first pass it is zero.
func (n *Node) LastPass() time.Time {
	if ns := n.passStart.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	if n.lastPass.Load() == 0 {
		return time.Time{}
	}
	return time.Now()
}
