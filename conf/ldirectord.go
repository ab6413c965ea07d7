package conf

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ldirectord's built-in defaults, as set_defaults and ld_setup of
// ldirectord 4.12 apply them.
const (
	// DefaultLdirectordCheckTimeout is the check timeout when neither checktimeout
	// nor negotiatetimeout is set anywhere.
	DefaultLdirectordCheckTimeout = 5 * time.Second
	// DefaultLdirectordNegotiateTimeout is the negotiate timeout when neither
	// negotiatetimeout nor checktimeout is set anywhere.
	DefaultLdirectordNegotiateTimeout = 30 * time.Second
	// DefaultLdirectordCheckInterval is the pause between two rounds of checks.
	DefaultLdirectordCheckInterval = 10 * time.Second
	// DefaultLdirectordLogFile is where ldirectord logs without a logfile line.
	DefaultLdirectordLogFile = "/var/log/ldirectord.log"
	// DefaultLdirectordCheckCommand is what checktype external runs without a
	// checkcommand line: every real server passes.
	DefaultLdirectordCheckCommand = "/bin/true"
)

// LdirectordConfig is one ldirectord.cf: its global settings and its virtual
// services, with ldirectord's defaults filled in. A Virtual's Effective*
// methods combine its own settings with these.
type LdirectordConfig struct {
	File string

	// CheckTimeout and NegotiateTimeout are 0 when the file does not set
	// them; each then defaults to the other (see Virtual.EffectiveCheckTimeout).
	CheckTimeout     time.Duration
	NegotiateTimeout time.Duration
	CheckInterval    time.Duration // default 10s
	CheckCount       int           // deprecated in favour of FailureCount; default 1
	FailureCount     int           // default 1
	// Fallback serves IPv4 virtual services whose section names none, and
	// Fallback6 IPv6 ones; a port of 0 takes the virtual service's port.
	Fallback         *Real
	Fallback6        *Real
	FallbackCommand  string
	AutoReload       bool
	Callback         string
	LogFile          string // an absolute path, or a syslog facility; default /var/log/ldirectord.log
	LogFileLine      int    // its line, 0 when not set
	EmailAlert       []string
	EmailAlertFreq   time.Duration // 0: no repeated alerts
	EmailAlertStatus AlertStatus   // default AlertAll
	EmailAlertFrom   string
	SMTP             string
	Execute          []LdirectordInstance
	Supervised       bool
	Fork             bool
	// Quiescent defaults to no: the manual of 4.12 says yes, but its code
	// (set_defaults) sets "no", and that is what users run.
	Quiescent      bool
	ReaddQuiescent bool
	CleanStop      bool // default yes
	MaintenanceDir string

	Virtuals []*Virtual

	// Lines maps each global directive the file sets to the line that set
	// it last.
	Lines map[string]int
}

// LdirectordInstance is an execute line: another configuration that
// ldirectord starts alongside this one.
type LdirectordInstance struct {
	Line   int
	Config string
}

// Virtual is one virtual service: a virtual (IPv4) or virtual6 section.
// Zero durations and counts, nil pointers and empty strings of the
// overridable settings mean "the global value"; the Effective* methods
// resolve them.
type Virtual struct {
	Line int
	IPv6 bool // declared with virtual6
	// Host is the host name as written when the service is not given by
	// address; it is resolved when the service starts. Addr then holds only
	// the port.
	Host string
	// Addr is the service's address and port; the zero value for a
	// firewall-mark service.
	Addr       netip.AddrPort
	FWMark     uint32
	Protocol   string        // tcp, udp or fwm; tcp unless the port is 53
	Scheduler  string        // default wrr
	SchedFlags []string      // ipvsadm -b flags
	Persistent time.Duration // 0: not persistent; whole seconds
	// Netmask is the persistence granularity as a prefix length: 32 for
	// IPv4 and 128 for IPv6 unless set, as ipvsadm defaults.
	Netmask   int
	OnePacket bool // ops = yes

	Reals           []Real
	Fallback        *Real // nil: the global fallback; port 0 takes the service's port
	FallbackCommand string

	// CheckType is connect, negotiate, ping, external, external-perl, on,
	// off, or combined when written as a number N: N connect checks, then
	// one negotiate check (CheckConnects holds N).
	CheckType     string
	CheckConnects int
	CheckCommand  string // default /bin/true
	// Service is the protocol a negotiate check speaks; when not set it
	// follows from the port as ldirectord derives it (80 is http, ...).
	Service   string
	CheckPort uint16 // 0: the real server's port
	// Request and Receive are as written. ldirectord prefixes a "/" to a
	// request internally and its checkers strip it again where the
	// protocol has no paths; an empty Request means "/".
	Request     string
	Receive     string
	HTTPMethod  string // GET or HEAD
	VirtualHost string
	Login       string // see EffectiveLogin
	Passwd      string // see EffectivePasswd
	Database    string
	Secret      string
	Load        string

	CheckTimeout     time.Duration
	NegotiateTimeout time.Duration
	CheckInterval    time.Duration
	CheckCount       int
	FailureCount     int
	Quiescent        *bool
	CleanStop        *bool
	EmailAlert       []string
	EmailAlertFreq   *time.Duration
	EmailAlertStatus *AlertStatus
	SMTP             string
	// MonitorFile is where check results of this service are logged;
	// ldirectord opens it while parsing, hbgo when the service starts.
	MonitorFile string
	ServiceName string // for email alerts
	Comment     string // for email alerts

	// Lines maps each directive of the section to the line that set it
	// last (real lines are in Reals).
	Lines map[string]int

	cfg *LdirectordConfig
}

// Real is a real server of a virtual service, or a fallback server.
type Real struct {
	Line int
	// Host is the host name as written when the server is not given by
	// address; Addr then holds only the port.
	Host string
	// HostRangeEnd, when set, makes the line a range given by names
	// ("sql01->sql03"): every IPv4 address from Host's to HostRangeEnd's,
	// expanded when both resolve. A range of addresses is expanded by the
	// parser instead, one Real each.
	HostRangeEnd string
	// Addr is the server's address and port as written; port 0 means the
	// virtual service's port (see Virtual.RealPort).
	Addr   netip.AddrPort
	Method string // gate, masq or ipip
	Weight int    // 0..65535, default 1
	// Request and Receive override the section's check strings for this
	// server; both are set or neither.
	Request string
	Receive string
	// LowerThreshold and UpperThreshold are ipvsadm's -y and -x connection
	// thresholds; 0 is none.
	LowerThreshold int
	UpperThreshold int
}

// String renders the server as host:port, or the host alone for port 0.
func (r *Real) String() string {
	host := r.Host
	if r.HostRangeEnd != "" {
		host += "->" + r.HostRangeEnd
	}
	return ldHostPort(host, r.Addr.Addr(), r.Addr.Port())
}

// AlertStatus is a set of daemon states in which email alerts are sent.
type AlertStatus uint8

// The states of emailalertstatus.
const (
	AlertStarting AlertStatus = 1 << iota
	AlertRunning
	AlertStopping
	AlertReloading

	AlertNone AlertStatus = 0
	AlertAll              = AlertStarting | AlertRunning | AlertStopping | AlertReloading
)

var alertStatusNames = []struct {
	s    AlertStatus
	name string
}{{AlertStarting, "starting"}, {AlertRunning, "running"}, {AlertStopping, "stopping"}, {AlertReloading, "reloading"}}

// String renders the set as emailalertstatus accepts it.
func (s AlertStatus) String() string {
	switch s {
	case AlertNone:
		return "none"
	case AlertAll:
		return "all"
	}
	var names []string
	for _, n := range alertStatusNames {
		if s&n.s != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

func (v *Virtual) global() *LdirectordConfig {
	if v.cfg == nil {
		return NewLdirectordConfig("")
	}
	return v.cfg
}

// NewLdirectordConfig returns a configuration holding ldirectord's defaults
// and no virtual service.
func NewLdirectordConfig(file string) *LdirectordConfig {
	return &LdirectordConfig{
		File:             file,
		CheckInterval:    DefaultLdirectordCheckInterval,
		CheckCount:       1,
		FailureCount:     1,
		LogFile:          DefaultLdirectordLogFile,
		EmailAlertStatus: AlertAll,
		CleanStop:        true,
		Lines:            map[string]int{},
	}
}

// ID names the service as ldirectord does in its logs and as its IPVS key:
// "tcp:192.0.2.1:80", "udp:[2001:db8::1]:53", "fwm:1", "fwm6:1".
func (v *Virtual) ID() string {
	if v.Protocol == "fwm" || v.FWMark != 0 {
		if v.IPv6 {
			return "fwm6:" + strconv.FormatUint(uint64(v.FWMark), 10)
		}
		return "fwm:" + strconv.FormatUint(uint64(v.FWMark), 10)
	}
	return v.Protocol + ":" + ldHostPort(v.Host, v.Addr.Addr(), 0) + ":" + strconv.Itoa(int(v.Addr.Port()))
}

// EffectiveCheckTimeout is the timeout of connect, ping and external
// checks: the section's checktimeout, else its negotiatetimeout, else the
// global checktimeout, else the global negotiatetimeout, else 5s (the order
// of ld_setup).
func (v *Virtual) EffectiveCheckTimeout() time.Duration {
	g := v.global()
	return ldFirst(DefaultLdirectordCheckTimeout, v.CheckTimeout, v.NegotiateTimeout, g.CheckTimeout, g.NegotiateTimeout)
}

// EffectiveNegotiateTimeout is the timeout of negotiate checks: the
// section's negotiatetimeout, else its checktimeout, else the global
// negotiatetimeout, else the global checktimeout, else 30s.
func (v *Virtual) EffectiveNegotiateTimeout() time.Duration {
	g := v.global()
	return ldFirst(DefaultLdirectordNegotiateTimeout, v.NegotiateTimeout, v.CheckTimeout, g.NegotiateTimeout, g.CheckTimeout)
}

func ldFirst(def time.Duration, ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return def
}

// EffectiveCheckInterval is the pause between two checks of a real server.
// ldirectord honours a section's checkinterval only with fork = yes; hbgo
// schedules every server on its own and honours it always.
func (v *Virtual) EffectiveCheckInterval() time.Duration {
	if v.CheckInterval > 0 {
		return v.CheckInterval
	}
	return v.global().CheckInterval
}

// EffectiveCheckCount is the deprecated checkcount.
func (v *Virtual) EffectiveCheckCount() int {
	if v.CheckCount > 0 {
		return v.CheckCount
	}
	return v.global().CheckCount
}

// EffectiveFailureCount is how many failed checks in a row take a real
// server out.
func (v *Virtual) EffectiveFailureCount() int {
	if v.FailureCount > 0 {
		return v.FailureCount
	}
	return v.global().FailureCount
}

// EffectiveQuiescent tells whether a failed server is kept with weight 0
// rather than removed.
func (v *Virtual) EffectiveQuiescent() bool {
	if v.Quiescent != nil {
		return *v.Quiescent
	}
	return v.global().Quiescent
}

// EffectiveCleanStop tells whether stopping removes the service from IPVS.
func (v *Virtual) EffectiveCleanStop() bool {
	if v.CleanStop != nil {
		return *v.CleanStop
	}
	return v.global().CleanStop
}

// EffectiveFallback is the server added when no real server is up: the
// section's fallback, else the global one of the service's address family,
// with a port of 0 replaced by the service's port. Nil when there is none.
// A global fallback serves firewall-mark services too, which ldirectord
// 4.12 means to do but fails at (it looks the fallback up under protocol
// "fwm", which it never stores).
func (v *Virtual) EffectiveFallback() *Real {
	f := v.Fallback
	if f == nil {
		if v.IPv6 {
			f = v.global().Fallback6
		} else {
			f = v.global().Fallback
		}
	}
	if f == nil {
		return nil
	}
	r := *f
	if r.Addr.Port() == 0 && v.FWMark == 0 {
		r.Addr = netip.AddrPortFrom(r.Addr.Addr(), v.Addr.Port())
	}
	return &r
}

// EffectiveFallbackCommand is the script run with start and stop when the
// last real server goes and the first returns.
func (v *Virtual) EffectiveFallbackCommand() string {
	if v.FallbackCommand != "" {
		return v.FallbackCommand
	}
	return v.global().FallbackCommand
}

// EffectiveEmailAlert lists the addresses alerts about this service go to.
func (v *Virtual) EffectiveEmailAlert() []string {
	if len(v.EmailAlert) > 0 {
		return v.EmailAlert
	}
	return v.global().EmailAlert
}

// EffectiveEmailAlertFreq is how often an alert repeats while a server
// stays down; 0 sends it once.
func (v *Virtual) EffectiveEmailAlertFreq() time.Duration {
	if v.EmailAlertFreq != nil {
		return *v.EmailAlertFreq
	}
	return v.global().EmailAlertFreq
}

// EffectiveEmailAlertStatus is the set of daemon states that send alerts.
func (v *Virtual) EffectiveEmailAlertStatus() AlertStatus {
	if v.EmailAlertStatus != nil {
		return *v.EmailAlertStatus
	}
	return v.global().EmailAlertStatus
}

// EffectiveSMTP is the mail server alerts go through; "" means the local
// mailer.
func (v *Virtual) EffectiveSMTP() string {
	if v.SMTP != "" {
		return v.SMTP
	}
	return v.global().SMTP
}

// EffectiveLogin is the user a negotiate check logs in as: the login line,
// else "anonymous" for ftp and "ldirectord@HOSTNAME" for sip.
func (v *Virtual) EffectiveLogin(hostname string) string {
	switch {
	case v.Login != "":
		return v.Login
	case v.Service == "ftp":
		return "anonymous"
	case v.Service == "sip":
		return "ldirectord@" + hostname
	}
	return ""
}

// EffectivePasswd is the password a negotiate check logs in with: the
// passwd line, else "ldirectord@HOSTNAME" for ftp.
func (v *Virtual) EffectivePasswd(hostname string) string {
	if v.Passwd == "" && v.Service == "ftp" {
		return "ldirectord@" + hostname
	}
	return v.Passwd
}

// RealPort is the port IPVS forwards to for r. For address services, gate
// and ipip always keep the service's port (ipvsadm overrides what the line
// says), and a masq server without a port takes it too; for firewall-mark
// services it is the port as written.
func (v *Virtual) RealPort(r *Real) uint16 {
	p := r.Addr.Port()
	if v.FWMark != 0 {
		return p
	}
	if r.Method != "masq" || p == 0 {
		return v.Addr.Port()
	}
	return p
}

// CheckPortFor is the port a check of r connects to: checkport, else the
// port written on the real line, else the service's port, else the
// well-known port of Service. ldirectord skips the third step and checks a
// port-less real server on the well-known port even when the service
// listens elsewhere; hbgo checks where IPVS sends the traffic.
func (v *Virtual) CheckPortFor(r *Real) uint16 {
	switch {
	case v.CheckPort != 0:
		return v.CheckPort
	case r.Addr.Port() != 0:
		return r.Addr.Port()
	case v.FWMark == 0 && v.Addr.Port() != 0:
		return v.Addr.Port()
	}
	return ldServiceDefaultPort[v.Service]
}
