package conf

import (
	"net/netip"
	"time"
)

// Defaults of ha.cf, as Heartbeat documents them, plus hbgo's additions.
const (
	DefaultUDPPort    = 694
	DefaultBaud       = 19200
	DefaultRaftPort   = 695 // hbgo: raft transport, on each node's heartbeat address
	DefaultGossipPort = 696 // hbgo: memberlist gossip
	DefaultKeepalive  = 2 * time.Second
	DefaultDeadtime   = 30 * time.Second
)

// MediumKind names a heartbeat medium.
type MediumKind string

const (
	MediumBcast  MediumKind = "bcast"
	MediumMcast  MediumKind = "mcast"
	MediumUcast  MediumKind = "ucast"
	MediumSerial MediumKind = "serial"
)

// Medium is one heartbeat link as ha.cf declares it. A "bcast eth0 eth1"
// line gives two media, one per interface; "serial /dev/ttyS0 /dev/ttyS1"
// likewise. Port is the udpport in force where the line stood.
type Medium struct {
	Kind  MediumKind
	Line  int
	Iface string // bcast, mcast, ucast
	Port  int    // UDP media: udpport in force at this line, or mcast's own port

	Group netip.Addr // mcast group
	TTL   int        // mcast
	Loop  bool       // mcast

	Peer string // ucast: peer address or host name, as written

	Device string // serial
	Baud   int    // serial: baud in force at this line
}

// Name is how logs and cl_status name the link: the interface for UDP
// media ("eth0"), the device for serial ("/dev/ttyS0").
func (m Medium) Name() string {
	if m.Kind == MediumSerial {
		return m.Device
	}
	return m.Iface
}

// PingGroup is a ping_group line: the group counts as up when any member answers.
type PingGroup struct {
	Name  string
	Hosts []string
	Line  int
}

// HAConfig is ha.cf, typed. Time values are already converted; zero values
// of optional settings mean "not set".
type HAConfig struct {
	File string

	Keepalive time.Duration
	Deadtime  time.Duration
	Warntime  time.Duration // 0: not set
	Initdead  time.Duration // 0: not set (then equal to Deadtime)
	UDPPort   int
	Baud      int

	Media     []Medium
	Nodes     []string
	Witnesses []string // hbgo: voters that never own a group

	AutoFailback string // "on", "off", "legacy"
	Ping         []string
	PingGroups   []PingGroup
	Deadping     time.Duration

	Autojoin               string // "none", "other", "any"
	Watchdog               string
	LogFile                string
	DebugFile              string
	LogFacility            string // "" or "none" disables syslog
	Debug                  int
	UseLogd                bool
	Realtime               bool
	Coredumps              bool
	UUIDFrom               string
	Hopfudge               int
	MsgFmt                 string
	Compression            string
	CompressionThreshold   int
	TraditionalCompression bool

	RaftPort   int    // hbgo
	GossipPort int    // hbgo
	Metrics    string // hbgo: ADDR:PORT of the Prometheus endpoint, "" = off

	// Lines records where each directive was last set, for cross-file
	// messages ("node" -> 12).
	Lines map[string]int
}

// EffectiveInitdead is initdead, or deadtime when initdead is not set.
func (c *HAConfig) EffectiveInitdead() time.Duration {
	if c.Initdead > 0 {
		return c.Initdead
	}
	return c.Deadtime
}

// EffectiveWarntime is warntime, or half-way between keepalive and deadtime
// when not set.
func (c *HAConfig) EffectiveWarntime() time.Duration {
	if c.Warntime > 0 {
		return c.Warntime
	}
	return c.Keepalive + (c.Deadtime-c.Keepalive)/2
}

// IsNode reports whether name is a director of ha.cf.
func (c *HAConfig) IsNode(name string) bool {
	for _, n := range c.Nodes {
		if n == name {
			return true
		}
	}
	return false
}

// IsWitness reports whether name is a witness of ha.cf.
func (c *HAConfig) IsWitness(name string) bool {
	for _, n := range c.Witnesses {
		if n == name {
			return true
		}
	}
	return false
}
