package conf

import (
	"fmt"
	"net/netip"
	"time"
)

// Defaults of ha.cf, as Heartbeat documents them, plus hbgo's additions.
const (
	DefaultUDPPort    = 694
	DefaultBaud       = 19200
	DefaultRaftPort   = 695         // hbgo: raft transport, on each node's heartbeat address
	DefaultGossipPort = 696         // hbgo: memberlist gossip
	DefaultKeepalive  = time.Second // Heartbeat's init_config: 1000 ms
	DefaultDeadtime   = 30 * time.Second

	DefaultAutoFailback         = "legacy" // Heartbeat's default, with a warning
	DefaultAutojoin             = "none"
	DefaultHopfudge             = 1
	DefaultMsgFmt               = "classic"
	DefaultUUIDFrom             = "file"
	DefaultHBGenMethod          = "file"
	DefaultCompressionThreshold = 2 // KB
	DefaultConnLogdTime         = 60 * time.Second
	DefaultClusterName          = "linux-ha"
)

// ValidBauds are the serial speeds ha.cf accepts.
var ValidBauds = []int{9600, 19200, 38400, 57600, 115200, 230400, 460800}

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

// String renders a medium as its ha.cf line would read, with what was in
// force: "bcast eth0 (port 694)".
func (m Medium) String() string {
	switch m.Kind {
	case MediumMcast:
		return fmt.Sprintf("mcast %s %s %d %d %d", m.Iface, m.Group, m.Port, m.TTL, hacfBoolInt(m.Loop))
	case MediumSerial:
		return fmt.Sprintf("serial %s (baud %d)", m.Device, m.Baud)
	case MediumUcast:
		return fmt.Sprintf("ucast %s %s (port %d)", m.Iface, m.Peer, m.Port)
	}
	return fmt.Sprintf("%s %s (port %d)", m.Kind, m.Iface, m.Port)
}

func hacfBoolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PingGroup is a ping_group line: the group counts as up when any member answers.
type PingGroup struct {
	Name  string
	Hosts []string
	Line  int
}

// HAConfig is ha.cf, typed. Time values are already converted; zero values
// of optional settings mean "not set".
//
// ParseHACF reads every directive Heartbeat 3 knows. Those hbgo implements
// keep their meaning; those it replaces (crm/pacemaker, respawn, apiauth,
// use_logd, stonith, stonith_host, msgfmt, compression, ...) are accepted
// with a warning that names what takes their place; the rest is an error.
//
// hbgo adds four directives:
//
//	witness NAME...     voters that never own a resource group: a third box
//	                    that breaks ties between two directors. A name may
//	                    not be both a node and a witness.
//	raft_port PORT      TCP port of the raft transport (default 695).
//	gossip_port PORT    TCP and UDP port of membership gossip (default 696);
//	                    it must differ from every heartbeat UDP port.
//	metrics ADDR:PORT   serve Prometheus metrics there ("off" by default;
//	                    ADDR may be empty for every address: ":9695").
//
// udpport and baud are positional, as in Heartbeat: each applies to the
// media lines after it, and Medium.Port and Medium.Baud record the value in
// force on the medium's line.
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

	ClusterName    string        // cluster: name in logs, "linux-ha" by default
	Rtprio         int           // 0: not set (halfway between min and max)
	HBGenMethod    string        // "file" or "time": how generation numbers persist
	CoreRoot       string        // coreroot: where core dumps go
	LogBadPack     bool          // log_badpack
	SyslogMsgFmt   bool          // syslogmsgfmt
	ConnLogdTime   time.Duration // accepted for compatibility; logd is not used
	MaxRexmitDelay time.Duration // accepted for compatibility; 0: not set
	Memreserve     int           // accepted for compatibility; 0: not set
	Crm            string        // crm/pacemaker value as written, "" if unset
	CrmLine        int           // its line; haresources groups are refused when it is not off

	RaftPort   int    // hbgo
	GossipPort int    // hbgo
	Metrics    string // hbgo: ADDR:PORT of the Prometheus endpoint, "" = off

	ArpCount    int           // hbgo: arp_count, announcement rounds after a VIP comes up
	ArpInterval time.Duration // hbgo: arp_interval, between those rounds
	ArpRefresh  time.Duration // hbgo: arp_refresh, re-announcement period; 0 = off
	MailServer  string        // hbgo: mail_server, MailTo's SMTP server; "" = localhost:25
	MailFrom    string        // hbgo: mail_from, MailTo's sender; "" = root@NODE
	// LVSSyncInterface and LVSSyncID are hbgo's lvs_sync_interface and
	// lvs_syncid: where LVSSyncDaemonSwap runs the IPVS sync daemons ("" = eth0).
	LVSSyncInterface string
	LVSSyncID        int

	// BGP is hbgo's BGP speaker for anycast groups (BGPaddr), from the
	// bgp_* directives; nil when ha.cf has none.
	BGP *BGPConfig

	// Lines records where each directive was last set, for cross-file
	// messages ("node" -> 12).
	Lines map[string]int
}

// NewHAConfig returns the configuration an empty ha.cf describes: every
// default filled in, no media and no nodes.
func NewHAConfig(file string) *HAConfig {
	return &HAConfig{
		File:                 file,
		Keepalive:            DefaultKeepalive,
		Deadtime:             DefaultDeadtime,
		UDPPort:              DefaultUDPPort,
		Baud:                 DefaultBaud,
		AutoFailback:         DefaultAutoFailback,
		Autojoin:             DefaultAutojoin,
		Realtime:             true,
		Hopfudge:             DefaultHopfudge,
		MsgFmt:               DefaultMsgFmt,
		UUIDFrom:             DefaultUUIDFrom,
		CompressionThreshold: DefaultCompressionThreshold,
		HBGenMethod:          DefaultHBGenMethod,
		ConnLogdTime:         DefaultConnLogdTime,
		ClusterName:          DefaultClusterName,
		RaftPort:             DefaultRaftPort,
		GossipPort:           DefaultGossipPort,
		ArpCount:             DefaultArpCount,
		ArpInterval:          DefaultArpInterval,
		Lines:                map[string]int{},
	}
}

// EffectiveDeadping is deadping, or deadtime when deadping is not set.
func (c *HAConfig) EffectiveDeadping() time.Duration {
	if c.Deadping > 0 {
		return c.Deadping
	}
	return c.Deadtime
}

// EffectiveInitdead is initdead; unset, it is Heartbeat's default: deadtime when deadtime is over 10 s,
// 12 s when deadtime is under 6 s, twice deadtime between.
func (c *HAConfig) EffectiveInitdead() time.Duration {
	if c.Initdead > 0 {
		return c.Initdead
	}
	switch {
	case c.Deadtime > 10*time.Second:
		return c.Deadtime
	case c.Deadtime < 6*time.Second:
		return 12 * time.Second
	}
	return 2 * c.Deadtime
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

// BGPConfig is what the bgp_* directives of ha.cf say: the director's BGP
// speaker, which announces the VIPs of anycast groups (BGPaddr) to the
// site's routers while this director serves them.
type BGPConfig struct {
	AS          uint32        // bgp_as: this director's AS (every director's)
	Neighbors   []BGPNeighbor // bgp_neighbor lines
	Communities []string      // bgp_community values, ASN:VALUE or well-known names
	Line        int           // the bgp_as line (0: none)
}

// BGPNeighbor is one bgp_neighbor line: ADDR AS [hold SECONDS]
// [password SECRET] [port PORT] [source ADDR] [passive] [bfd]
// [bfd_interval DURATION] [bfd_multiplier N].
type BGPNeighbor struct {
	Addr     netip.Addr
	AS       uint32
	Hold     time.Duration // 0: the speaker's default (3 s)
	Password string
	Port     int // 0: 179
	Source   netip.Addr
	Passive  bool
	// BFD runs a BFD session with the router beside the BGP session, so
	// that either side drops the other within BFDInterval x BFDMultiplier
	// of losing it instead of the hold time.
	BFD           bool
	BFDInterval   time.Duration // 0: DefaultBFDInterval (100 ms)
	BFDMultiplier int           // 0: DefaultBFDMultiplier (3)
	Line          int
}

// BFDDetectTime is how long BFD waits without a packet before it declares
// the other side dead: the interval times the multiplier, defaults filled
// in (0 without BFD).
func (n BGPNeighbor) BFDDetectTime() time.Duration {
	if !n.BFD {
		return 0
	}
	every, mult := n.BFDInterval, n.BFDMultiplier
	if every == 0 {
		every = DefaultBFDInterval
	}
	if mult == 0 {
		mult = DefaultBFDMultiplier
	}
	return every * time.Duration(mult)
}
