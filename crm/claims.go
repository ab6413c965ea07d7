package crm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// ClaimState is what a node says it does with one group.
type ClaimState uint8

const (
	ClaimStopped ClaimState = iota
	ClaimStarting
	ClaimRunning
	ClaimStopping
	ClaimFailed // a start failed here; the group is stopped here
	// ClaimIntent: stopped here, and this node means to start it as soon
	// as its peer acknowledges (two-node mode's handshake).
	ClaimIntent
)

func (s ClaimState) String() string {
	switch s {
	case ClaimStopped:
		return "stopped"
	case ClaimStarting:
		return "starting"
	case ClaimRunning:
		return "running"
	case ClaimStopping:
		return "stopping"
	case ClaimFailed:
		return "failed"
	case ClaimIntent:
		return "intent"
	}
	return fmt.Sprintf("claim(%d)", uint8(s))
}

// Holds reports whether a node in this state may be serving the group:
// anything but stopped or failed counts, so that nobody starts a group
// another node has not finished stopping.
func (s ClaimState) Holds() bool {
	return s == ClaimStarting || s == ClaimRunning || s == ClaimStopping
}

// Claim is one group's state on a node, with the epoch it acts on.
type Claim struct {
	State ClaimState
	Epoch uint64
}

// RequestKind is a pending hb_standby or hb_takeover of a node.
type RequestKind uint8

const (
	RequestNone RequestKind = iota
	RequestStandby
	RequestTakeover
)

// Claims is what a node says of itself in every heartbeat (the heartbeat
// packet's cluster state): its ping score, its pending request and, for each
// haresources group in file order, what it does with it. It travels on every
// medium, serial included, so in two-node mode each side knows the other's
// claims wherever it hears it.
type Claims struct {
	// Layout identifies the haresources groups by a hash of their names:
	// claims of a node with another group list are not comparable.
	Layout uint32
	// Flags: FlagRaftState when this node has a placement log on disk.
	Flags   uint8
	Ping    uint8
	Request RequestKind
	Scope   Scope
	ReqID   uint32
	// Commit is, from the raft leader, its commit index when it sent this
	// (0 from others). A follower renews its lease only from a leader
	// claim whose commit it has applied: raft's own heartbeats carry no
	// log position, so they cannot prove the follower is not acting on a
	// stale assignment.
	Commit uint64
	// Nonce numbers this claim (it rises with every heartbeat sent); Acks
	// give, per voter in ha.cf order (nodes, then witnesses), the newest
	// nonce heard from it. A follower renews its lease from the leader's
	// ack of one of its own nonces, anchored at the time it sent that
	// nonce: proof that the leader heard it then, so the leader can bound
	// the follower's lease by the last time it heard it.
	Nonce uint32
	// Uptime is how long the sender's run has lasted (ms, saturating):
	// a peer that has not heard this node in its run yet may declare it
	// dead no sooner than initdead after its start.
	Uptime uint32
	Acks   []uint32
	// Index and LogTerm are, in quorum mode, the index and term of the
	// last entry of the sender's placement log when it has applied all of
	// it (0 otherwise): two nodes with the same pair have the same state.
	Index, LogTerm uint64
	// Vouch has bit i set when the sender vouches for voter i (ha.cf
	// order): it hears it, and has heard it without a break for the
	// vouching probation. A node renews its lease from a quorum of
	// vouchers at its own log position, leader or not (crm/vouch.go).
	Vouch  uint32
	Groups []Claim
}

// claimsVersion 3: nonces start at a random number each run, ClaimIntent
// and FlagPingUnknown exist (2); log position and vouches (3). A peer
// speaking another version is alien: its claims cannot be compared.
const claimsVersion = 3

// FlagRaftState says the node already belongs to a placement log, so a
// new node must wait to be added instead of bootstrapping one.
const FlagRaftState = 1

// FlagLease says the node's lease is fresh: it hears a quorum. A node
// without it cannot run a group, so the leader places groups elsewhere.
const FlagLease = 2

// FlagLeaving says the node's standby request comes from its shutdown, not
// from an operator: auto_failback brings the groups back when it returns.
const FlagLeaving = 4

// FlagPingUnknown says the node's first ping round has not ended: its
// ping score means nothing yet.
const FlagPingUnknown = 8

// LayoutOf hashes group names in order.
func LayoutOf(groups []string) uint32 {
	return crc32.ChecksumIEEE([]byte(strings.Join(groups, "\x00")))
}

var scopeCodes = []Scope{"", ScopeAll, ScopeLocal, ScopeForeign, ScopeFailback}

// Encode appends the wire form of c.
// sameState reports whether two claims say the same apart from their
// numbering: nonce, acks, uptime, commit index and log position.
func (c *Claims) sameState(o *Claims) bool {
	if c.Layout != o.Layout || c.Flags != o.Flags || c.Ping != o.Ping || c.Request != o.Request ||
		c.Scope != o.Scope || c.ReqID != o.ReqID || c.Vouch != o.Vouch || len(c.Groups) != len(o.Groups) {
		return false
	}
	for i := range c.Groups {
		if c.Groups[i] != o.Groups[i] {
			return false
		}
	}
	return true
}

func (c *Claims) Encode(dst []byte) []byte {
	dst = append(dst, claimsVersion)
	dst = binary.BigEndian.AppendUint32(dst, c.Layout)
	sc := byte(0)
	for i, s := range scopeCodes {
		if s == c.Scope {
			sc = byte(i)
		}
	}
	dst = append(dst, c.Flags, c.Ping, byte(c.Request), sc)
	dst = binary.AppendUvarint(dst, uint64(c.ReqID))
	dst = binary.AppendUvarint(dst, c.Commit)
	dst = binary.AppendUvarint(dst, uint64(c.Nonce))
	dst = binary.AppendUvarint(dst, uint64(c.Uptime))
	dst = binary.AppendUvarint(dst, uint64(len(c.Acks)))
	for _, a := range c.Acks {
		dst = binary.AppendUvarint(dst, uint64(a))
	}
	dst = binary.AppendUvarint(dst, c.Index)
	dst = binary.AppendUvarint(dst, c.LogTerm)
	dst = binary.AppendUvarint(dst, uint64(c.Vouch))
	dst = binary.AppendUvarint(dst, uint64(len(c.Groups)))
	for _, g := range c.Groups {
		dst = append(dst, byte(g.State))
		dst = binary.AppendUvarint(dst, g.Epoch)
	}
	return dst
}

// maxClaimGroups bounds the groups a claim may list, maxClaimVoters its acks.
const (
	maxClaimGroups = 64
	maxClaimVoters = 16
)

// DecodeClaims parses a claim; it never panics on bad input.
func DecodeClaims(b []byte) (*Claims, error) {
	if len(b) < 9 || b[0] != claimsVersion {
		return nil, errors.New("claims: bad header")
	}
	c := &Claims{Layout: binary.BigEndian.Uint32(b[1:]), Flags: b[5], Ping: b[6], Request: RequestKind(b[7])}
	if int(b[8]) >= len(scopeCodes) || c.Request > RequestTakeover {
		return nil, errors.New("claims: bad request")
	}
	c.Scope = scopeCodes[b[8]]
	rest := b[9:]
	id, n := binary.Uvarint(rest)
	if n <= 0 || id > 1<<32-1 {
		return nil, errors.New("claims: bad request id")
	}
	c.ReqID = uint32(id)
	rest = rest[n:]
	commit, n := binary.Uvarint(rest)
	if n <= 0 {
		return nil, errors.New("claims: bad commit index")
	}
	c.Commit = commit
	rest = rest[n:]
	nonce, n := binary.Uvarint(rest)
	if n <= 0 || nonce > 1<<32-1 {
		return nil, errors.New("claims: bad nonce")
	}
	c.Nonce = uint32(nonce)
	rest = rest[n:]
	up, n := binary.Uvarint(rest)
	if n <= 0 || up > 1<<32-1 {
		return nil, errors.New("claims: bad uptime")
	}
	c.Uptime = uint32(up)
	rest = rest[n:]
	na, n := binary.Uvarint(rest)
	if n <= 0 || na > maxClaimVoters {
		return nil, errors.New("claims: bad ack count")
	}
	rest = rest[n:]
	for i := uint64(0); i < na; i++ {
		a, n := binary.Uvarint(rest)
		if n <= 0 || a > 1<<32-1 {
			return nil, errors.New("claims: bad ack")
		}
		c.Acks = append(c.Acks, uint32(a))
		rest = rest[n:]
	}
	for _, f := range []*uint64{&c.Index, &c.LogTerm} {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return nil, errors.New("claims: bad log position")
		}
		*f = v
		rest = rest[n:]
	}
	vouch, n := binary.Uvarint(rest)
	if n <= 0 || vouch >= 1<<maxClaimVoters {
		return nil, errors.New("claims: bad vouches")
	}
	c.Vouch = uint32(vouch)
	rest = rest[n:]
	cnt, n := binary.Uvarint(rest)
	if n <= 0 || cnt > maxClaimGroups {
		return nil, errors.New("claims: bad group count")
	}
	rest = rest[n:]
	for i := uint64(0); i < cnt; i++ {
		if len(rest) < 2 {
			return nil, errors.New("claims: truncated")
		}
		st := ClaimState(rest[0])
		if st > ClaimIntent {
			return nil, errors.New("claims: bad state")
		}
		ep, n := binary.Uvarint(rest[1:])
		if n <= 0 {
			return nil, errors.New("claims: bad epoch")
		}
		c.Groups = append(c.Groups, Claim{State: st, Epoch: ep})
		rest = rest[1+n:]
	}
	if len(rest) != 0 {
		return nil, errors.New("claims: trailing bytes")
	}
	return c, nil
}
