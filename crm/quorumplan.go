package crm

// Quorum mode's placement rules as a pure function. The node's loop takes
// one QuorumView a pass (claims decoded once, one clock reading) and
// PlanQuorum returns what to run here, what the leader proposes and what
// to tell the operator; the loop applies it. Being pure, the rules are
// tested from tables and driven by the deterministic simulation without
// raft, sockets or real time, and a pass cannot see a value change
// halfway through (a runner moving on, a lease running out).

import (
	"fmt"
	"time"
)

// QuorumView is what one node knows when it decides, frozen for one pass.
type QuorumView struct {
	Me string
	// Voters in ha.cf order (nodes, then witnesses); Directors are the
	// nodes, the only ones that run groups.
	Voters, Directors []string
	// Groups and Homes give each haresources group's name and home node,
	// in file order (the order of every claim's group list).
	Groups, Homes []string
	// Layout is this node's hash of groups and voters: claims carrying
	// another one index their groups differently and are not comparable.
	Layout uint32

	// State is the committed placement as this node has applied it, up to
	// index Applied.
	State   *State
	Applied uint64
	// CaughtUp: this node has applied everything raft committed. A node
	// behind may be acting on a stale assignment: it keeps what it runs
	// but starts nothing.
	CaughtUp bool

	Nodes map[string]QuorumNode

	Now time.Time
	// IsLeader and LeaderSince: this node leads raft, since then.
	IsLeader    bool
	LeaderSince time.Time
	// RevokedAt is when this leader revoked each group it revoked.
	RevokedAt map[string]time.Time
	// LeaseValid: this node heard from a quorum within the lease.
	LeaseValid bool
	// Stopping: the node is shutting down, its groups must stop.
	Stopping bool

	PingConfigured bool
	AutoFailback   string // on, off or legacy (legacy behaves as on)
	Timing         Timing
}

// QuorumNode is what one voter is known to be and to say.
type QuorumNode struct {
	// Alive is the heartbeat layer's word; this node is always alive.
	Alive bool
	// Claims is the node's latest claims (this node's own as they stand);
	// nil when never heard or undecodable. Claims with another Layout are
	// kept so that the reason a node cannot run a group can name it.
	Claims *Claims
	// LastHeard is when the heartbeat layer last heard the node; UpAt
	// when it last saw it come up.
	LastHeard, UpAt time.Time
	// Generation is the node's heartbeat generation (0: not heard);
	// UpQueued says a node-up event arrived since the leader last recorded
	// one, so a restart with the same generation is recorded too.
	Generation uint64
	UpQueued   bool
	// AckedMine is the send time of this node's newest heartbeat that
	// the node's claims acknowledge (zero when none or unknown): its
	// claims were made after it.
	AckedMine time.Time
}

// QuorumPlan is what one pass decides.
type QuorumPlan struct {
	// Groups says, per local group (a director only), what its runner
	// should do.
	Groups []GroupPlan
	// Request is the outcome of this node's pending standby or takeover.
	Request RequestOutcome
	// Led is true when this node placed groups as the leader (it leads,
	// its lease is valid and it has caught up); a leader that could not
	// says so in the log.
	Led bool
	// Proposals are the leader's commands, node-ups first.
	Proposals []Proposal
	// Unplaced lists the groups the leader leaves without an owner on
	// purpose, and why.
	Unplaced []Unplaced
	// Wake is the earliest time at which a rule that held this pass back
	// (a wait for leases to lapse, a home given time to come) is due: the
	// node's loop runs a pass then even if nothing else happens. Zero
	// when no rule waits on the clock.
	Wake time.Time
}

// GroupPlan is one runner's instruction.
type GroupPlan struct {
	Want  bool
	Epoch uint64 // the newest assignment seen for the group
	// ClearFailed forgets a failed start here: the operator asked this
	// node to take the group, or another node runs it now.
	ClearFailed bool
}

// RequestOutcome ends a standby or takeover: Done when every covered
// group is where it was asked to be, Impossible when it cannot get there.
type RequestOutcome struct{ Done, Impossible bool }

// Proposal is one command the leader proposes, keyed so that one per key
// is in flight, with the reason for it.
type Proposal struct {
	Key     string
	Command Command
	// From is the owner a revocation takes the group from.
	From   string
	Reason string
}

// String is the log line for an accepted proposal ("" for node-ups, which
// are bookkeeping).
func (p Proposal) String() string {
	c := p.Command
	switch {
	case c.Op != "assign":
		return ""
	case c.Owner == "":
		return fmt.Sprintf("Revoking group %s from %s (epoch %d): %s", c.Group, p.From, c.Epoch, p.Reason)
	}
	return fmt.Sprintf("Assigning group %s to %s (epoch %d): %s", c.Group, c.Owner, c.Epoch, p.Reason)
}

// Unplaced says why the leader leaves a group without an owner: What in
// short, and Why each director cannot run it ("n1: not heard").
type Unplaced struct {
	Group string
	// Owner is set when the group has an owner but stays away from its
	// home (auto_failback waits for the home): then What says why.
	Owner string
	What  string
	Why   []string
}

// PlanQuorum applies quorum mode's rules to one view.
func PlanQuorum(v *QuorumView) QuorumPlan {
	p := newPlanner(v)
	var out QuorumPlan
	if p.isDirector(v.Me) {
		out.Groups = p.runners()
		out.Request = p.request()
	}
	if v.IsLeader && v.LeaseValid && v.CaughtUp {
		out.Led = true
		out.Proposals, out.Unplaced = p.lead()
	}
	out.Wake = p.wake
	return out
}

// reached reports whether the view's clock has reached t; when it has
// not, t becomes a candidate for the plan's Wake.
func (p *planner) reached(t time.Time) bool {
	if !p.v.Now.Before(t) {
		return true
	}
	if p.wake.IsZero() || t.Before(p.wake) {
		p.wake = t
	}
	return false
}

// planner answers the rules' questions from a view.
type planner struct {
	v *QuorumView
	// claims holds the comparable claims by node. This node's own are a
	// copy that the runner step updates as the runners will see it: a
	// cleared failure, the newest epoch.
	claims map[string]*Claims
	best   int // highest ping score among live directors
	wake   time.Time
}

func newPlanner(v *QuorumView) *planner {
	p := &planner{v: v, claims: map[string]*Claims{}}
	for name, nv := range v.Nodes {
		if c := nv.Claims; c != nil && c.Layout == v.Layout {
			if name == v.Me {
				cp := *c
				cp.Groups = append([]Claim(nil), c.Groups...)
				c = &cp
			}
			p.claims[name] = c
		}
	}
	p.best = p.bestPing()
	return p
}

func (p *planner) isDirector(node string) bool {
	for _, d := range p.v.Directors {
		if d == node {
			return true
		}
	}
	return false
}

func (p *planner) alive(node string) bool {
	return node == p.v.Me || p.v.Nodes[node].Alive
}

func (p *planner) assignment(i int) Assignment {
	if p.v.State == nil {
		return Assignment{}
	}
	return p.v.State.Groups[p.v.Groups[i]]
}

func (p *planner) holds(node string, i int) bool {
	c := p.claims[node]
	return c != nil && i < len(c.Groups) && c.Groups[i].State.Holds()
}

func (p *planner) running(node string, i int) bool {
	c := p.claims[node]
	return c != nil && i < len(c.Groups) && c.Groups[i].State == ClaimRunning
}

func (p *planner) runningElsewhere(i int) bool {
	for _, d := range p.v.Directors {
		if d != p.v.Me && p.alive(d) && p.running(d, i) {
			return true
		}
	}
	return false
}

func (p *planner) requestCovers(node string, i int, kind RequestKind) bool {
	c := p.claims[node]
	return c != nil && c.Request == kind && Covers(c.Scope, node, p.v.Homes[i])
}

func (p *planner) bestPing() int {
	best := 0
	for _, d := range p.v.Directors {
		if c := p.claims[d]; c != nil && p.alive(d) && int(c.Ping) > best {
			best = int(c.Ping)
		}
	}
	return best
}

// runners decides, per local group, whether it runs here: only while the
// committed state names this node, its lease is valid and it is not
// stopping; a node behind the log keeps what it holds but starts nothing.
// The claims this pass goes on to judge are updated as the runners will
// have them.
func (p *planner) runners() []GroupPlan {
	v := p.v
	mine := p.claims[v.Me]
	out := make([]GroupPlan, len(v.Groups))
	for i := range v.Groups {
		a := p.assignment(i)
		var cl Claim
		if mine != nil && i < len(mine.Groups) {
			cl = mine.Groups[i]
		}
		g := GroupPlan{Epoch: a.Epoch}
		g.Want = v.LeaseValid && !v.Stopping && a.Owner == v.Me && (v.CaughtUp || cl.State.Holds())
		g.ClearFailed = cl.State == ClaimFailed && (p.requestCovers(v.Me, i, RequestTakeover) || p.runningElsewhere(i))
		out[i] = g
		if mine != nil && i < len(mine.Groups) {
			if g.ClearFailed {
				mine.Groups[i].State = ClaimStopped
			}
			mine.Groups[i].Epoch = max(mine.Groups[i].Epoch, a.Epoch)
		}
	}
	return out
}

// ineligible says why node cannot run group i now ("" when it can).
func (p *planner) ineligible(node string, i int) string {
	v := p.v
	if !p.isDirector(node) {
		return "not a director"
	}
	if !p.alive(node) {
		return "not heard"
	}
	c := p.claims[node]
	switch {
	case c == nil && v.Nodes[node].Claims != nil:
		return "its haresources or voters differ"
	case c == nil:
		return "its state is unknown"
	case i >= len(c.Groups):
		return "its group list is short"
	case c.Groups[i].State == ClaimFailed:
		return "the group failed to start there"
	}
	if node != v.Me && c.Flags&FlagLease == 0 {
		return "it has no lease (it cannot hear a quorum)"
	}
	if c.Flags&FlagLeaving != 0 {
		return "it is shutting down"
	}
	if p.requestCovers(node, i, RequestStandby) {
		return "it asked to give the group away"
	}
	if v.PingConfigured && int(c.Ping) < p.best {
		return fmt.Sprintf("its ping score %d is below the best %d", c.Ping, p.best)
	}
	return ""
}

func (p *planner) eligible(node string, i int) bool { return p.ineligible(node, i) == "" }

// standbyOnly: the one reason node cannot keep group i is its own
// standby request (not a shutdown, a failure or a lost lease).
func (p *planner) standbyOnly(node string, i int) bool {
	if !p.requestCovers(node, i, RequestStandby) {
		return false
	}
	c := p.claims[node]
	c0 := *c
	c0.Request = RequestNone
	p.claims[node] = &c0
	free := p.ineligible(node, i) == ""
	p.claims[node] = c
	return free
}

// elsewhere: a director other than node could run group i now.
func (p *planner) elsewhere(node string, i int) bool {
	for _, d := range p.v.Directors {
		if d != node && p.eligible(d, i) {
			return true
		}
	}
	return false
}

// homeComing: the home was heard recently and lacks only its lease (it
// has not heard from the leader yet); placing the group elsewhere now
// would move it twice.
func (p *planner) homeComing(home string, i int) bool {
	v := p.v
	if home == v.Me || !p.alive(home) {
		return false
	}
	c := p.claims[home]
	if c == nil || c.Flags&FlagLease != 0 || i >= len(c.Groups) || c.Groups[i].State == ClaimFailed || p.requestCovers(home, i, RequestStandby) {
		return false
	}
	up := v.Nodes[home].UpAt
	if v.LeaderSince.After(up) {
		up = v.LeaderSince
	}
	return !p.reached(up.Add(v.Timing.Deadtime + v.Timing.Lease))
}

// choose picks where an unassigned group should go, and why there: a
// director that asked for it, else its home, else the first director
// (in ha.cf order) that can run it.
func (p *planner) choose(i int) (string, string) {
	for _, d := range p.v.Directors {
		if p.requestCovers(d, i, RequestTakeover) && p.eligible(d, i) {
			return d, "it asked to take the group over"
		}
	}
	if h := p.v.Homes[i]; p.eligible(h, i) {
		return h, "its home"
	}
	for _, d := range p.v.Directors {
		if p.eligible(d, i) {
			return d, "its home " + p.v.Homes[i] + " cannot run it"
		}
	}
	return "", ""
}

// lead is the leader's placement pass: record nodes that came up (for
// auto_failback), revoke groups from owners that cannot keep them, and
// give unassigned groups an owner once nobody else can still run them.
func (p *planner) lead() ([]Proposal, []Unplaced) {
	v := p.v
	var props []Proposal
	var unplaced []Unplaced
	for _, name := range v.Voters {
		nv := v.Nodes[name]
		if !p.alive(name) || nv.Generation == 0 {
			continue
		}
		var rec NodeRecord
		if v.State != nil {
			rec = v.State.Nodes[name]
		}
		if rec.Generation != nv.Generation || nv.UpQueued {
			props = append(props, Proposal{Key: "nodeup:" + name, Command: Command{Op: "nodeup", Node: name, Gen: nv.Generation},
				Reason: fmt.Sprintf("generation %d came up", nv.Generation)})
		}
	}
	fb := v.AutoFailback == "on" || v.AutoFailback == "legacy"
	unplace := func(i int, what string) {
		u := Unplaced{Group: v.Groups[i], What: what}
		for _, d := range v.Directors {
			r := p.ineligible(d, i)
			if r == "" {
				r = "eligible"
			}
			u.Why = append(u.Why, d+": "+r)
		}
		unplaced = append(unplaced, u)
	}
	for i, name := range v.Groups {
		home := v.Homes[i]
		a := p.assignment(i)
		if a.Owner != "" {
			why := p.ineligible(a.Owner, i)
			keep := why == ""
			if !keep && p.standbyOnly(a.Owner, i) && !p.elsewhere(a.Owner, i) {
				// An operator's standby with nowhere to go: the request
				// is refused (impossible), the group stays.
				keep = true
			}
			if keep && fb && a.Owner != home && a.Failback && !p.requestCovers(a.Owner, i, RequestTakeover) {
				if r := p.ineligible(home, i); r == "" {
					keep, why = false, "its home "+home+" can run it again"
				} else {
					unplaced = append(unplaced, Unplaced{Group: name, Owner: a.Owner,
						What: "auto_failback waits for its home " + home, Why: []string{home + ": " + r}})
				}
			}
			for _, d := range v.Directors {
				// Two takeovers of one group: the owner keeps it (else
				// the two requests would pass it back and forth).
				if d != a.Owner && p.requestCovers(d, i, RequestTakeover) && p.eligible(d, i) &&
					!p.requestCovers(a.Owner, i, RequestTakeover) {
					keep, why = false, d+" takes it over"
				}
			}
			if !keep {
				props = append(props, Proposal{Key: name, Command: Command{Op: "assign", Group: name, Owner: "", Epoch: a.Epoch + 1},
					From: a.Owner, Reason: why})
			}
			continue
		}
		target, because := p.choose(i)
		if target == "" {
			unplace(i, "no director can run it")
			continue
		}
		if target != home && p.homeComing(home, i) {
			continue // the home just came up: give it a deadtime to be ready
		}
		if !p.safeToAssign(i, a, target) {
			unplace(i, "waiting until it is safe to give it to "+target)
			continue
		}
		homeLeaving := false
		if c := p.claims[home]; c != nil && c.Flags&FlagLeaving != 0 {
			homeLeaving = true // a shutdown, not an operator's standby
		}
		away := target != home && (homeLeaving || !p.requestCovers(home, i, RequestStandby)) && !p.requestCovers(target, i, RequestTakeover)
		props = append(props, Proposal{Key: name, Command: Command{Op: "assign", Group: name, Owner: target, Epoch: a.Epoch + 1, Failback: away},
			Reason: because})
	}
	return props, unplaced
}

// safeToAssign: no node other than target may still run group i. A node
// we hear must say it stopped (at the current epoch or later); one we
// cannot hear must have been revoked at least SafeWait ago, so its lease
// has surely lapsed.
func (p *planner) safeToAssign(i int, a Assignment, target string) bool {
	v := p.v
	revoked, ok := v.RevokedAt[v.Groups[i]]
	if !ok || revoked.Before(v.LeaderSince) {
		// Revoked before this node led (or never seen): count from the
		// start of this leadership.
		revoked = v.LeaderSince
	}
	waited := p.reached(revoked.Add(v.Timing.SafeWait))
	// A node we heard last at T renewed its lease last from an ack of a
	// heartbeat it sent before T: its lease is over by T + Lease. Before
	// this node led, another leader may have renewed it: count
	// NewLeaderWait from the start of this leadership for that.
	sinceLead := p.reached(v.LeaderSince.Add(v.Timing.NewLeaderWait))
	// Other voters may have vouched for d after we last heard it
	// (crm/vouch.go): their claims must show they did not.
	lapsed := func(d string) bool {
		return p.reached(v.Nodes[d].LastHeard.Add(v.Timing.Lease+v.Timing.Margin)) && sinceLead && v.VouchProof(d, revoked)
	}
	for _, d := range v.Directors {
		if d == target {
			continue
		}
		c := p.claims[d]
		heard := p.alive(d) && c != nil && i < len(c.Groups)
		switch {
		case heard && c.Groups[i].State.Holds():
			return false // still running or stopping there
		case heard && c.Groups[i].Epoch >= a.Epoch:
			// It has seen the revocation and does not hold the group.
		case d == a.LastOwner || a.Epoch > 0:
			// Not heard, or not yet acting on the newest epoch.
			if !waited && !lapsed(d) {
				return false
			}
		}
	}
	return true
}

// request judges this node's pending standby or takeover against the
// committed state and the claims.
func (p *planner) request() RequestOutcome {
	v := p.v
	me := v.Me
	mine := p.claims[me]
	if mine == nil {
		return RequestOutcome{}
	}
	scope := mine.Scope
	switch mine.Request {
	case RequestStandby:
		for i := range v.Groups {
			if !Covers(scope, me, v.Homes[i]) {
				continue
			}
			owner := p.assignment(i).Owner
			if p.holds(me, i) || owner == me {
				// Still here: impossible if nobody else could take it.
				for _, d := range v.Directors {
					if d != me && p.eligible(d, i) {
						return RequestOutcome{}
					}
				}
				return RequestOutcome{Impossible: true}
			}
			if owner == "" || !p.running(owner, i) {
				// Not yet running elsewhere; done only if nobody could.
				for _, d := range v.Directors {
					if d != me && p.eligible(d, i) {
						return RequestOutcome{}
					}
				}
			}
		}
		return RequestOutcome{Done: true}
	case RequestTakeover:
		for i := range v.Groups {
			if !Covers(scope, me, v.Homes[i]) {
				continue
			}
			var cl Claim
			if i < len(mine.Groups) {
				cl = mine.Groups[i]
			}
			if cl.State == ClaimFailed {
				return RequestOutcome{Impossible: true}
			}
			if cl.State != ClaimRunning || p.assignment(i).Owner != me {
				return RequestOutcome{}
			}
		}
		return RequestOutcome{Done: true}
	}
	return RequestOutcome{}
}
