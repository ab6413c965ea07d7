package conf

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var updateLdirectord = flag.Bool("update-ldirectord", false, "rewrite testdata/ldirectord/*.golden")

type ldCase struct {
	name  string
	lines []string // the file, one entry a line
	want  []string // every diagnostic, in order
	check func(t *testing.T, c *LdirectordConfig)
}

func runLdCases(t *testing.T, cases []ldCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ds Diags
			c := ParseLdirectord("ldirectord.cf", []byte(strings.Join(tc.lines, "\n")+"\n"), &ds)
			if c == nil {
				t.Fatal("ParseLdirectord returned nil")
			}
			var got []string
			for _, d := range ds {
				got = append(got, d.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("diagnostics:\n got: %q\nwant: %q", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func ldEq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// ldOnly returns the single virtual service of c.
func ldOnly(t *testing.T, c *LdirectordConfig) *Virtual {
	t.Helper()
	if len(c.Virtuals) != 1 {
		t.Fatalf("%d virtual services, want 1", len(c.Virtuals))
	}
	return c.Virtuals[0]
}

func ldReals(v *Virtual) []string {
	var out []string
	for _, r := range v.Reals {
		s := fmt.Sprintf("%d:%s %s %d", r.Line, r.String(), r.Method, r.Weight)
		if r.Request != "" || r.Receive != "" {
			s += fmt.Sprintf(" %q %q", r.Request, r.Receive)
		}
		if r.LowerThreshold != 0 || r.UpperThreshold != 0 {
			s += fmt.Sprintf(" l:%d u:%d", r.LowerThreshold, r.UpperThreshold)
		}
		out = append(out, s)
	}
	return out
}

func TestLdirectordDefaults(t *testing.T) {
	runLdCases(t, []ldCase{
		{name: "empty file", check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "CheckInterval", c.CheckInterval, 10*time.Second)
			ldEq(t, "CheckTimeout", c.CheckTimeout, time.Duration(0))
			ldEq(t, "NegotiateTimeout", c.NegotiateTimeout, time.Duration(0))
			ldEq(t, "CheckCount", c.CheckCount, 1)
			ldEq(t, "FailureCount", c.FailureCount, 1)
			ldEq(t, "Quiescent", c.Quiescent, false) // the code's default, not the manual's
			ldEq(t, "ReaddQuiescent", c.ReaddQuiescent, false)
			ldEq(t, "CleanStop", c.CleanStop, true)
			ldEq(t, "AutoReload", c.AutoReload, false)
			ldEq(t, "Fork", c.Fork, false)
			ldEq(t, "Supervised", c.Supervised, false)
			ldEq(t, "LogFile", c.LogFile, "/var/log/ldirectord.log")
			ldEq(t, "EmailAlertStatus", c.EmailAlertStatus, AlertAll)
			ldEq(t, "EmailAlertFreq", c.EmailAlertFreq, time.Duration(0))
			ldEq(t, "Virtuals", len(c.Virtuals), 0)
		}},
		{name: "virtual defaults",
			lines: []string{"virtual=192.0.2.10:80", "\treal=10.0.0.1 gate"},
			check: func(t *testing.T, c *LdirectordConfig) {
				v := ldOnly(t, c)
				ldEq(t, "ID", v.ID(), "tcp:192.0.2.10:80")
				ldEq(t, "Line", v.Line, 1)
				ldEq(t, "Protocol", v.Protocol, "tcp")
				ldEq(t, "Scheduler", v.Scheduler, "wrr")
				ldEq(t, "CheckType", v.CheckType, "negotiate")
				ldEq(t, "Service", v.Service, "http")
				ldEq(t, "HTTPMethod", v.HTTPMethod, "GET")
				ldEq(t, "CheckCommand", v.CheckCommand, "/bin/true")
				ldEq(t, "Netmask", v.Netmask, 32)
				ldEq(t, "Persistent", v.Persistent, time.Duration(0))
				ldEq(t, "Request", v.Request, "")
				ldEq(t, "EffectiveCheckTimeout", v.EffectiveCheckTimeout(), 5*time.Second)
				ldEq(t, "EffectiveNegotiateTimeout", v.EffectiveNegotiateTimeout(), 30*time.Second)
				ldEq(t, "EffectiveCheckInterval", v.EffectiveCheckInterval(), 10*time.Second)
				ldEq(t, "EffectiveFailureCount", v.EffectiveFailureCount(), 1)
				ldEq(t, "EffectiveCheckCount", v.EffectiveCheckCount(), 1)
				ldEq(t, "EffectiveQuiescent", v.EffectiveQuiescent(), false)
				ldEq(t, "EffectiveCleanStop", v.EffectiveCleanStop(), true)
				ldEq(t, "EffectiveEmailAlertStatus", v.EffectiveEmailAlertStatus(), AlertAll)
				ldEq(t, "EffectiveFallback", v.EffectiveFallback(), (*Real)(nil))
				ldEq(t, "reals", ldReals(v), []string{"2:10.0.0.1 gate 1"})
				ldEq(t, "RealPort", v.RealPort(&v.Reals[0]), uint16(80))
				ldEq(t, "CheckPortFor", v.CheckPortFor(&v.Reals[0]), uint16(80))
			}},
		{name: "service follows the port",
			lines: []string{
				"virtual=192.0.2.10:53", "\treal=10.0.0.1 gate",
				"virtual=192.0.2.10:3306", "\treal=10.0.0.1 gate",
				"virtual=192.0.2.10:8080", "\treal=10.0.0.1 gate",
				"virtual=192.0.2.10:domain", "\tprotocol=tcp", "\treal=10.0.0.1 gate",
				"virtual=7", "\treal=10.0.0.1 gate",
			},
			check: func(t *testing.T, c *LdirectordConfig) {
				var got []string
				for _, v := range c.Virtuals {
					got = append(got, v.ID()+" "+v.Service)
				}
				ldEq(t, "services", got, []string{
					"udp:192.0.2.10:53 dns", "tcp:192.0.2.10:3306 mysql", "tcp:192.0.2.10:8080 none",
					"tcp:192.0.2.10:53 dns", "fwm:7 none",
				})
			},
			want: []string{
				"ldirectord.cf:3: warning: service mysql needs a login line: its check fails without one",
				"ldirectord.cf:3: warning: service mysql needs a request line (an SQL query): its check fails without one",
			}},
		{name: "login defaults", lines: []string{
			"virtual=192.0.2.10:21", "\treal=10.0.0.1 masq",
			"virtual=192.0.2.10:5060", "\tprotocol=udp", "\treal=10.0.0.1 gate",
			"virtual=192.0.2.10:3306", "\treal=10.0.0.1 gate", `	login="probe"`, `	request="SELECT 1"`,
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ftp, sip, sql := c.Virtuals[0], c.Virtuals[1], c.Virtuals[2]
			ldEq(t, "ftp login", ftp.EffectiveLogin("d1"), "anonymous")
			ldEq(t, "ftp passwd", ftp.EffectivePasswd("d1"), "ldirectord@d1")
			ldEq(t, "sip login", sip.EffectiveLogin("d1"), "ldirectord@d1")
			ldEq(t, "sip passwd", sip.EffectivePasswd("d1"), "")
			ldEq(t, "sql login", sql.EffectiveLogin("d1"), "probe")
		}},
	})
}

func TestLdirectordTimeoutChain(t *testing.T) {
	// checktimeout and negotiatetimeout default to each other, section
	// first, then global, as ld_setup computes them.
	for _, tc := range []struct {
		global, section []string
		check, negot    time.Duration
	}{
		{nil, nil, 5 * time.Second, 30 * time.Second},
		{[]string{"checktimeout=3"}, nil, 3 * time.Second, 3 * time.Second},
		{[]string{"negotiatetimeout=20"}, nil, 20 * time.Second, 20 * time.Second},
		{[]string{"checktimeout=3", "negotiatetimeout=20"}, nil, 3 * time.Second, 20 * time.Second},
		{[]string{"checktimeout=3"}, []string{"negotiatetimeout=7"}, 7 * time.Second, 7 * time.Second},
		{[]string{"negotiatetimeout=20"}, []string{"checktimeout=2"}, 2 * time.Second, 2 * time.Second},
		{[]string{"checktimeout=3", "negotiatetimeout=20"}, []string{"checktimeout=1"}, time.Second, time.Second},
		{nil, []string{"checktimeout=500ms", "negotiatetimeout=1.5"}, 500 * time.Millisecond, 1500 * time.Millisecond},
	} {
		lines := slices.Clone(tc.global)
		lines = append(lines, "virtual=192.0.2.10:80", "\treal=10.0.0.1 gate")
		for _, l := range tc.section {
			lines = append(lines, "\t"+l)
		}
		var ds Diags
		c := ParseLdirectord("ldirectord.cf", []byte(strings.Join(lines, "\n")), &ds)
		if len(ds) > 0 {
			t.Fatalf("%q: %s", lines, ds)
		}
		v := ldOnly(t, c)
		if got := v.EffectiveCheckTimeout(); got != tc.check {
			t.Errorf("%q: EffectiveCheckTimeout = %v, want %v", lines, got, tc.check)
		}
		if got := v.EffectiveNegotiateTimeout(); got != tc.negot {
			t.Errorf("%q: EffectiveNegotiateTimeout = %v, want %v", lines, got, tc.negot)
		}
	}
}

func TestLdirectordSyntax(t *testing.T) {
	runLdCases(t, []ldCase{
		{name: "spaces around = and tabs or 4 spaces indent", lines: []string{
			"checktimeout = 3",
			"virtual = 192.0.2.10:80",
			"    real = 10.0.0.1:80 gate",
			"\treal=10.0.0.2:80 gate",
			"  \treal=10.0.0.3:80 gate",
			"checkinterval=2",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "reals", len(ldOnly(t, c).Reals), 3)
			ldEq(t, "CheckInterval", c.CheckInterval, 2*time.Second)
			ldEq(t, "Lines", c.Lines, map[string]int{"checktimeout": 1, "checkinterval": 6})
		}},
		{name: "comments", lines: []string{
			"# a comment",
			"virtual=192.0.2.10:80 # the web",
			"# a comment at column 0 does not end the section",
			"\treal=10.0.0.1:80 gate # first",
			"    # indented comment",
			`	receive="#1 in town"`,
			"quiescent=yes#no",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			v := ldOnly(t, c)
			ldEq(t, "reals", len(v.Reals), 1)
			ldEq(t, "Receive", v.Receive, "#1 in town")
			ldEq(t, "Quiescent", c.Quiescent, true)
		}},
		{name: "CRLF line ends", lines: []string{"virtual=192.0.2.10:80\r", "\treal=10.0.0.1:80 gate 3\r", "fork=yes\r"},
			check: func(t *testing.T, c *LdirectordConfig) {
				ldEq(t, "reals", ldReals(ldOnly(t, c)), []string{"2:10.0.0.1:80 gate 3"})
				ldEq(t, "Fork", c.Fork, true)
			}},
		{name: "blank line ends a section", lines: []string{
			"virtual=192.0.2.10:80",
			"\treal=10.0.0.1:80 gate",
			"",
			"\treal=10.0.0.2:80 gate",
			"\tscheduler=rr",
		}, want: []string{
			"ldirectord.cf:4: error: blank line 3 ends the virtual section of line 1; remove it or make it a comment",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			v := ldOnly(t, c)
			ldEq(t, "reals", len(v.Reals), 2) // kept, to spare follow-up errors
			ldEq(t, "Scheduler", v.Scheduler, "rr")
		}},
		{name: "blank line before the next virtual", lines: []string{
			"virtual=192.0.2.10:80", "\treal=10.0.0.1:80 gate", "", "", "virtual=192.0.2.11:80", "\treal=10.0.0.1:80 gate",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "virtuals", len(c.Virtuals), 2)
		}},
		{name: "shallow indent", lines: []string{"virtual=192.0.2.10:80", "  real=10.0.0.1:80 gate"}, want: []string{
			"ldirectord.cf:2: error: a line of a virtual section must be indented by at least 4 spaces or a tab",
		}},
		{name: "indented line outside a section", lines: []string{"\tchecktimeout=3"}, want: []string{
			"ldirectord.cf:1: error: indented line outside a virtual section (virtual lines start at column 0)",
		}},
		{name: "indented after a global line", lines: []string{
			"virtual=192.0.2.10:80", "\treal=10.0.0.1:80 gate", "fork=no", "\tscheduler=rr",
		}, want: []string{
			"ldirectord.cf:4: error: indented line outside a virtual section (virtual lines start at column 0)",
		}},
		{name: "unknown directives", lines: []string{
			"chektimeout=3", "virtual=192.0.2.10:80", "\treal=10.0.0.1:80 gate", "\tchektype=connect", "\tCheckType=connect", "\tfrobnicate=1",
		}, want: []string{
			"ldirectord.cf:1: error: unknown directive chektimeout (did you mean checktimeout?)",
			"ldirectord.cf:4: error: unknown directive chektype (did you mean checktype?)",
			"ldirectord.cf:5: error: unknown directive CheckType (did you mean checktype?)",
			"ldirectord.cf:6: error: unknown directive frobnicate",
		}},
		{name: "directives in the wrong scope", lines: []string{
			"scheduler=rr", "real=10.0.0.1:80 gate",
			"virtual=192.0.2.10:80", "\treal=10.0.0.1:80 gate", "\tautoreload=yes", "\tmaintenancedir=/x", "\tvirtual=192.0.2.11:80",
		}, want: []string{
			"ldirectord.cf:1: error: scheduler belongs inside a virtual section (indent it under a virtual line)",
			"ldirectord.cf:2: error: real belongs inside a virtual section (indent it under a virtual line)",
			"ldirectord.cf:5: error: autoreload is a global directive and cannot be inside the virtual section of line 3",
			"ldirectord.cf:6: error: maintenancedir is a global directive and cannot be inside the virtual section of line 3",
			"ldirectord.cf:7: error: virtual starts a new section and must not be indented",
		}},
		{name: "missing =", lines: []string{"checktimeout 5", "=5", "supervised"}, want: []string{
			"ldirectord.cf:1: error: checktimeout needs = before its value: checktimeout = ...",
			"ldirectord.cf:2: error: missing directive name before =",
			"ldirectord.cf:3: warning: bare supervised: write supervised = yes",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "Supervised", c.Supervised, true)
			ldEq(t, "CheckTimeout", c.CheckTimeout, time.Duration(0))
		}},
		{name: "repeated directive", lines: []string{
			"checktimeout=3", "checktimeout=4", "virtual=192.0.2.10:80", "\treal=10.0.0.1:80 gate", "\tscheduler=wlc", "\tscheduler=rr",
		}, want: []string{
			"ldirectord.cf:2: warning: checktimeout repeats line 1; the last value counts",
			"ldirectord.cf:6: warning: scheduler repeats line 5; the last value counts",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "CheckTimeout", c.CheckTimeout, 4*time.Second)
			ldEq(t, "Scheduler", ldOnly(t, c).Scheduler, "rr")
			ldEq(t, "Lines", ldOnly(t, c).Lines, map[string]int{"scheduler": 6})
		}},
		{name: "quoted values", lines: []string{
			"virtual=192.0.2.10:80",
			"\treal=10.0.0.1:80 gate",
			`	request="/health?full=1"`,
			`	receive="say \"ok\""`,
			`	login=probe`,
			`	passwd="abc`,
			`	database=""`,
			`	secret="s" extra`,
			`callback="/usr/local/bin/sync-cf"`,
			`callback=/usr/local/bin/sync-cf`,
		}, want: []string{
			`ldirectord.cf:5: error: login value must be in double quotes: login = "probe"`,
			`ldirectord.cf:6: error: passwd: unterminated quote`,
			`ldirectord.cf:7: error: database is empty`,
			`ldirectord.cf:8: error: secret: unexpected "extra" after the closing quote`,
			`ldirectord.cf:10: warning: callback repeats line 9; the last value counts`,
			`ldirectord.cf:10: error: callback value must be in double quotes: callback = "/usr/local/bin/sync-cf"`,
		}, check: func(t *testing.T, c *LdirectordConfig) {
			v := ldOnly(t, c)
			ldEq(t, "Request", v.Request, "/health?full=1")
			ldEq(t, "Receive", v.Receive, `say \"ok\"`)
			ldEq(t, "Callback", c.Callback, "/usr/local/bin/sync-cf")
		}},
		{name: "replaced directives", lines: []string{
			"timeout=5", "connecttimeout=5", "checkcount=2", "virtual=192.0.2.10:80", "\treal=10.0.0.1:80 gate", "\tconnecttimeout=2",
		}, want: []string{
			"ldirectord.cf:1: error: timeout is no longer accepted; use checktimeout and negotiatetimeout",
			"ldirectord.cf:2: error: connecttimeout is no longer accepted; use negotiatetimeout",
			"ldirectord.cf:3: warning: checkcount is deprecated; use failurecount",
			"ldirectord.cf:6: error: connecttimeout is no longer accepted; use negotiatetimeout",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "CheckCount", c.CheckCount, 2)
		}},
	})
}

func TestLdirectordGlobals(t *testing.T) {
	runLdCases(t, []ldCase{
		{name: "all set", lines: []string{
			"checktimeout=3", "negotiatetimeout=15", "checkinterval=1", "failurecount=3",
			"fallback=127.0.0.1:80 masq", "fallback6=[::1]", `fallbackcommand="/usr/local/sbin/sorry start"`,
			"autoreload=yes", `callback="/usr/local/bin/push-cf"`, `logfile="local0"`,
			`emailalert="ops@example.com, noc@example.com"`, "emailalertfreq=3600",
			"emailalertstatus=starting, stopping", `emailalertfrom="LVS" <lvs@example.com>`,
			"smtp=mail.example.com", "execute=ldirectord-mail.cf", "supervised=no", "fork=yes",
			"quiescent=yes", "readdquiescent=yes", "cleanstop=no", "maintenancedir=/etc/ha.d/maint",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "CheckTimeout", c.CheckTimeout, 3*time.Second)
			ldEq(t, "NegotiateTimeout", c.NegotiateTimeout, 15*time.Second)
			ldEq(t, "CheckInterval", c.CheckInterval, time.Second)
			ldEq(t, "FailureCount", c.FailureCount, 3)
			ldEq(t, "Fallback", c.Fallback.String()+" "+c.Fallback.Method, "127.0.0.1:80 masq")
			ldEq(t, "Fallback6", c.Fallback6.String()+" "+c.Fallback6.Method, "[::1] gate")
			ldEq(t, "FallbackCommand", c.FallbackCommand, "/usr/local/sbin/sorry start")
			ldEq(t, "AutoReload", c.AutoReload, true)
			ldEq(t, "Callback", c.Callback, "/usr/local/bin/push-cf")
			ldEq(t, "LogFile", c.LogFile, "local0")
			ldEq(t, "EmailAlert", c.EmailAlert, []string{"ops@example.com", "noc@example.com"})
			ldEq(t, "EmailAlertFreq", c.EmailAlertFreq, time.Hour)
			ldEq(t, "EmailAlertStatus", c.EmailAlertStatus, AlertStarting|AlertStopping)
			ldEq(t, "EmailAlertStatus.String", c.EmailAlertStatus.String(), "starting,stopping")
			ldEq(t, "EmailAlertFrom", c.EmailAlertFrom, `"LVS" <lvs@example.com>`)
			ldEq(t, "SMTP", c.SMTP, "mail.example.com")
			ldEq(t, "Execute", c.Execute, []LdirectordInstance{{Line: 16, Config: "ldirectord-mail.cf"}})
			ldEq(t, "Fork", c.Fork, true)
			ldEq(t, "Quiescent", c.Quiescent, true)
			ldEq(t, "ReaddQuiescent", c.ReaddQuiescent, true)
			ldEq(t, "CleanStop", c.CleanStop, false)
			ldEq(t, "MaintenanceDir", c.MaintenanceDir, "/etc/ha.d/maint")
			ldEq(t, "Lines[maintenancedir]", c.Lines["maintenancedir"], 22)
		}},
		{name: "bad values", lines: []string{
			"checktimeout=0", "negotiatetimeout=soon", "checkinterval=-1", "failurecount=0", "checkcount=x",
			"autoreload=Yes", "fork=true", `logfile="locl0"`, `logfile="ldirectord.log"`,
			"emailalertstatus=runing", "emailalertstatus=none,all", "emailalertfreq=x",
			`emailalert=""`, "emailalert=a@example.com,,b@example.com", "smtp=mail server", "fallback=",
			"fallback=10.0.0.1:80 gaet", "fallback6=10.0.0.1", "fallback=[::1]:80",
		}, want: []string{
			"ldirectord.cf:1: error: checktimeout must be more than 0",
			`ldirectord.cf:2: error: negotiatetimeout: bad time value "soon" (want seconds like 2 or 0.5, or 500ms)`,
			`ldirectord.cf:3: error: checkinterval: bad time value "-1" (want seconds like 2 or 0.5, or 500ms)`,
			`ldirectord.cf:4: error: failurecount must be a whole number of at least 1, not "0"`,
			`ldirectord.cf:5: error: checkcount must be a whole number of at least 1, not "x"`,
			`ldirectord.cf:6: error: autoreload must be yes or no, not "Yes"`,
			`ldirectord.cf:7: error: fork must be yes or no, not "true"`,
			`ldirectord.cf:8: error: logfile "locl0" is neither an absolute path nor a syslog facility (did you mean local0?)`,
			`ldirectord.cf:9: warning: logfile repeats line 8; the last value counts`,
			`ldirectord.cf:9: error: logfile "ldirectord.log" is neither an absolute path nor a syslog facility`,
			`ldirectord.cf:10: error: emailalertstatus: unknown state "runing", want all, none or a list of starting, running, stopping, reloading (did you mean running?)`,
			`ldirectord.cf:11: warning: emailalertstatus repeats line 10; the last value counts`,
			`ldirectord.cf:11: error: emailalertstatus: none cannot be combined with other states`,
			`ldirectord.cf:12: error: emailalertfreq: bad time value "x" (want seconds like 2 or 0.5, or 500ms)`,
			`ldirectord.cf:13: error: emailalert is empty`,
			`ldirectord.cf:14: warning: emailalert repeats line 13; the last value counts`,
			`ldirectord.cf:14: error: emailalert: empty address in "a@example.com,,b@example.com"`,
			`ldirectord.cf:15: error: smtp: bad server address "mail server"`,
			`ldirectord.cf:16: error: fallback wants host[:port] [gate|masq|ipip], not ""`,
			`ldirectord.cf:17: warning: fallback repeats line 16; the last value counts`,
			`ldirectord.cf:17: error: fallback: unknown forwarding method "gaet", want gate, masq or ipip (did you mean gate?)`,
			`ldirectord.cf:18: error: fallback6: 10.0.0.1 is an IPv4 address; use fallback`,
			`ldirectord.cf:19: warning: fallback repeats line 17; the last value counts`,
			`ldirectord.cf:19: error: fallback: [::1] is an IPv6 address; use fallback6`,
		}, check: func(t *testing.T, c *LdirectordConfig) {
			// Wrong values leave the defaults.
			ldEq(t, "CheckInterval", c.CheckInterval, 10*time.Second)
			ldEq(t, "LogFile", c.LogFile, "/var/log/ldirectord.log")
			ldEq(t, "EmailAlertStatus", c.EmailAlertStatus, AlertAll)
			ldEq(t, "Fallback", c.Fallback, (*Real)(nil))
		}},
		{name: "emailalertstatus none", lines: []string{"emailalertstatus=none"}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "EmailAlertStatus", c.EmailAlertStatus, AlertNone)
			ldEq(t, "String", c.EmailAlertStatus.String(), "none")
		}},
	})
}

func TestLdirectordVirtuals(t *testing.T) {
	runLdCases(t, []ldCase{
		{name: "address forms", lines: []string{
			"virtual=192.0.2.10:http", "\treal=10.0.0.1 gate",
			"virtual=www.example.com:https", "\treal=10.0.0.1 gate",
			"virtual6=[2001:db8::10]:80", "\treal6=[2001:db8:1::1]:80 masq",
			"virtual6=4", "\treal6=[2001:db8:1::1] gate",
			"virtual=4", "\treal=10.0.0.1 gate",
			"virtual=192.0.2.10:0", "\tpersistent=600", "\treal=10.0.0.1 gate",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			var got []string
			for _, v := range c.Virtuals {
				got = append(got, fmt.Sprintf("%d %s %q %v", v.Line, v.ID(), v.Host, v.Addr.Port()))
			}
			ldEq(t, "virtuals", got, []string{
				`1 tcp:192.0.2.10:80 "" 80`, `3 tcp:www.example.com:443 "www.example.com" 443`,
				`5 tcp:[2001:db8::10]:80 "" 80`, `7 fwm6:4 "" 0`, `9 fwm:4 "" 0`, `11 tcp:192.0.2.10:0 "" 0`,
			})
			ldEq(t, "Netmask6", c.Virtuals[2].Netmask, 128)
			ldEq(t, "Addr", c.Virtuals[0].Addr, netip.MustParseAddrPort("192.0.2.10:80"))
		}},
		{name: "bad addresses", lines: []string{
			"virtual=192.0.2.10", "\treal=10.0.0.1 gate",
			"virtual=192.0.2.300:80",
			"virtual=192.0.2.10:70000",
			"virtual=192.0.2.10:htp",
			"virtual=192.0.2.10:dns",
			"virtual=[2001:db8::10]:80",
			"virtual6=192.0.2.10:80",
			"virtual6=2001:db8::10:80",
			"virtual=0",
			"virtual=4294967296",
			"virtual=192.0.2.10:80 tcp",
			"virtual=under_score.example:80", "\treal=10.0.0.1 gate",
			"virtual=-bad-.example:80",
			"virtual=192.0.2.11:0", "\treal=10.0.0.1 gate",
		}, want: []string{
			"ldirectord.cf:1: error: virtual: 192.0.2.10 needs a port (host:port), or give a firewall mark (a number)",
			`ldirectord.cf:3: error: virtual: bad IPv4 address "192.0.2.300"`,
			"ldirectord.cf:4: error: virtual: port 70000 is out of range 0..65535",
			`ldirectord.cf:5: error: virtual: unknown port name "htp" (did you mean http?)`,
			`ldirectord.cf:6: error: virtual: unknown port name "dns" (the service dns is port 53)`,
			"ldirectord.cf:7: error: virtual: [2001:db8::10] is an IPv6 address; use virtual6",
			"ldirectord.cf:8: error: virtual6: 192.0.2.10 is an IPv4 address; use virtual",
			"ldirectord.cf:9: error: virtual6: IPv6 address 2001:db8::10:80 needs brackets: [2001:db8::10:80]",
			"ldirectord.cf:10: error: virtual: firewall mark 0 is out of range 1..4294967295",
			"ldirectord.cf:11: error: virtual: firewall mark 4294967296 is out of range 1..4294967295",
			`ldirectord.cf:12: error: virtual: unexpected "tcp" after the address`,
			`ldirectord.cf:15: error: virtual: bad host name "-bad-.example"`,
			"ldirectord.cf:16: error: port 0 needs persistent: IPVS refuses a non-persistent service on port 0",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			var got []string
			for _, v := range c.Virtuals {
				got = append(got, v.ID())
			}
			// Broken sections are left out; the host name with '_' passes.
			ldEq(t, "virtuals", got, []string{"tcp:under_score.example:80", "tcp:192.0.2.11:0"})
		}},
		{name: "IPv6 address needs brackets", lines: []string{"virtual6=[2001:db8::10]:80", "\treal6=2001:db8::1 gate"}, want: []string{
			"ldirectord.cf:1: warning: virtual service tcp:[2001:db8::10]:80 has no real server and no fallback",
			"ldirectord.cf:2: error: real6: IPv6 address 2001:db8::1 needs brackets: [2001:db8::1]",
		}},
		{name: "duplicate virtual", lines: []string{
			"virtual=192.0.2.10:80", "\treal=10.0.0.1 gate", "virtual=192.0.2.10:www", "\treal=10.0.0.2 gate",
			"virtual=192.0.2.10:80", "\tprotocol=udp", "\treal=10.0.0.2 gate",
			"virtual=3", "\treal=10.0.0.2 gate", "virtual6=3", "\treal6=[2001:db8::2] gate", "virtual=03", "\treal=10.0.0.2 gate",
		}, want: []string{
			"ldirectord.cf:3: error: virtual service tcp:192.0.2.10:80 is already defined at line 1",
			"ldirectord.cf:12: error: virtual service fwm:3 is already defined at line 8",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "virtuals", len(c.Virtuals), 4)
		}},
		{name: "protocol", lines: []string{
			"virtual=192.0.2.10:80", "\treal=10.0.0.1 gate", "\tprotocol=udp",
			"virtual=192.0.2.11:80", "\treal=10.0.0.1 gate", "\tprotocol=fwm",
			"virtual=5", "\treal=10.0.0.1 gate", "\tprotocol=tcp",
			"virtual=6", "\treal=10.0.0.1 gate", "\tprotocol=fwm",
			"virtual=192.0.2.12:80", "\treal=10.0.0.1 gate", "\tprotocol=ucp",
		}, want: []string{
			"ldirectord.cf:6: error: protocol fwm needs a firewall mark (virtual = a number), not an address",
			`ldirectord.cf:9: error: protocol must be fwm for a firewall-mark service, not "tcp"`,
			`ldirectord.cf:15: error: protocol must be tcp, udp or fwm, not "ucp" (did you mean tcp?)`,
		}, check: func(t *testing.T, c *LdirectordConfig) {
			var got []string
			for _, v := range c.Virtuals {
				got = append(got, v.ID())
			}
			ldEq(t, "virtuals", got, []string{"udp:192.0.2.10:80", "tcp:192.0.2.11:80", "fwm:5", "fwm:6", "tcp:192.0.2.12:80"})
		}},
		{name: "enumerations", lines: []string{
			"virtual=192.0.2.10:80", "\treal=10.0.0.1 gate",
			"\tscheduler=wrrr", "\tservice=htpp", "\tchecktype=negotiat", "\thttpmethod=POST", "\tscheduler=WRR",
			"\tscheduler=foobar", "\tschedflags=sh-port,sh-fallbak", "\tops=maybe", "\tquiescent=Yes",
		}, want: []string{
			"ldirectord.cf:3: error: unknown scheduler wrrr (did you mean wrr?)",
			`ldirectord.cf:4: error: unknown service "htpp" (did you mean http?)`,
			`ldirectord.cf:5: error: checktype must be connect, negotiate, ping, external, external-perl, on, off or a number, not "negotiat" (did you mean negotiate?)`,
			`ldirectord.cf:6: error: httpmethod must be GET or HEAD, not "POST"`,
			"ldirectord.cf:7: warning: scheduler repeats line 3; the last value counts",
			`ldirectord.cf:7: error: scheduler "WRR": a scheduler name is lowercase letters only (did you mean wrr?)`,
			"ldirectord.cf:8: warning: scheduler repeats line 7; the last value counts",
			"ldirectord.cf:8: warning: unknown scheduler foobar: the kernel must provide ip_vs_foobar",
			`ldirectord.cf:9: error: schedflags: unknown flag "sh-fallbak" (did you mean sh-fallback?)`,
			`ldirectord.cf:10: error: ops must be yes or no, not "maybe"`,
			`ldirectord.cf:11: error: quiescent must be yes or no, not "Yes"`,
		}, check: func(t *testing.T, c *LdirectordConfig) {
			v := ldOnly(t, c)
			ldEq(t, "Scheduler", v.Scheduler, "foobar")
			ldEq(t, "Service", v.Service, "http")
			ldEq(t, "CheckType", v.CheckType, "negotiate")
			ldEq(t, "Quiescent", v.Quiescent, (*bool)(nil))
		}},
		{name: "checktype", lines: []string{
			"virtual=192.0.2.10:80", "\treal=10.0.0.1 gate", "\tchecktype=5",
			"virtual=192.0.2.11:80", "\treal=10.0.0.1 gate", "\tchecktype=0",
			"virtual=192.0.2.12:80", "\treal=10.0.0.1 gate", "\tchecktype=external", `	checkcommand="/usr/local/bin/probe --fast"`,
			"virtual=192.0.2.13:80", "\treal=10.0.0.1 gate", "\tchecktype=external-perl",
			"virtual=192.0.2.14:80", "\treal=10.0.0.1 gate", "\tchecktype=connect", "\tcheckcommand=/bin/false",
			"virtual=192.0.2.15:80", "\treal=10.0.0.1 gate", "\tchecktype=99999999999",
		}, want: []string{
			"ldirectord.cf:6: warning: checktype = 0 negotiates on every check; write checktype = negotiate",
			"ldirectord.cf:13: warning: checktype external-perl without checkcommand runs /bin/true: every server passes",
			"ldirectord.cf:17: warning: checkcommand is used only with checktype external or external-perl",
			"ldirectord.cf:20: error: checktype 99999999999 is too large",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "combined", c.Virtuals[0].CheckType+fmt.Sprint(c.Virtuals[0].CheckConnects), "combined5")
			ldEq(t, "CheckCommand", c.Virtuals[2].CheckCommand, "/usr/local/bin/probe --fast")
		}},
		{name: "persistence", lines: []string{
			"virtual=192.0.2.10:443", "\treal=10.0.0.1 gate", "\tpersistent=600", "\tnetmask=255.255.255.0",
			"virtual=192.0.2.11:443", "\treal=10.0.0.1 gate", "\tnetmask=255.255.0.0",
			"virtual=192.0.2.12:443", "\treal=10.0.0.1 gate", "\tpersistent=0", "\tnetmask=255.0.255.0",
			"virtual=192.0.2.13:443", "\treal=10.0.0.1 gate", "\tpersistent=2678401", "\tnetmask=24",
			"virtual6=[2001:db8::1]:443", "\treal6=[2001:db8:1::1] gate", "\tpersistent=60m", "\tnetmask=64",
			"virtual6=[2001:db8::2]:443", "\treal6=[2001:db8:1::1] gate", "\tpersistent=1.5", "\tnetmask=129",
		}, want: []string{
			"ldirectord.cf:7: warning: netmask only matters with persistent; ignored",
			`ldirectord.cf:10: error: persistent must be a whole number of seconds, at least 1, not "0"`,
			"ldirectord.cf:11: error: netmask 255.0.255.0 is not contiguous",
			"ldirectord.cf:14: error: persistent 2678401 is longer than 31 days",
			`ldirectord.cf:15: error: netmask must be a dotted quad like 255.255.255.0, not "24"`,
			`ldirectord.cf:22: error: persistent must be a whole number of seconds, at least 1, not "1.5"`,
			`ldirectord.cf:23: error: netmask of an IPv6 service must be a prefix length 1..128, not "129"`,
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "Persistent", c.Virtuals[0].Persistent, 10*time.Minute)
			ldEq(t, "Netmask", c.Virtuals[0].Netmask, 24)
			ldEq(t, "Persistent6", c.Virtuals[4].Persistent, time.Hour)
			ldEq(t, "Netmask6", c.Virtuals[4].Netmask, 64)
		}},
		{name: "per-virtual overrides", lines: []string{
			"fallback=127.0.0.1", "quiescent=no", "emailalert=ops@example.com", "emailalertfreq=60", "smtp=192.0.2.25",
			"virtual=192.0.2.10:80", "\treal=10.0.0.1 gate",
			"\tchecktimeout=2", "\tnegotiatetimeout=4", "\tcheckinterval=3", "\tfailurecount=5", "\tcheckcount=2",
			"\tquiescent=yes", "\tcleanstop=no", `	emailalert="web@example.com"`, "\temailalertfreq=0",
			"\temailalertstatus=running", "\tsmtp=mx.example.com", "\tfallback=10.0.0.99:8080 masq",
			`	fallbackcommand="/usr/local/bin/sorry"`, "\tcheckport=8081",
			"virtual=192.0.2.11:80", "\treal=10.0.0.1 gate",
		}, want: []string{
			"ldirectord.cf:12: warning: checkcount is deprecated; use failurecount",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			v, w := c.Virtuals[0], c.Virtuals[1]
			ldEq(t, "EffectiveCheckTimeout", v.EffectiveCheckTimeout(), 2*time.Second)
			ldEq(t, "EffectiveNegotiateTimeout", v.EffectiveNegotiateTimeout(), 4*time.Second)
			ldEq(t, "EffectiveCheckInterval", v.EffectiveCheckInterval(), 3*time.Second)
			ldEq(t, "EffectiveFailureCount", v.EffectiveFailureCount(), 5)
			ldEq(t, "EffectiveCheckCount", v.EffectiveCheckCount(), 2)
			ldEq(t, "EffectiveQuiescent", v.EffectiveQuiescent(), true)
			ldEq(t, "EffectiveCleanStop", v.EffectiveCleanStop(), false)
			ldEq(t, "EffectiveEmailAlert", v.EffectiveEmailAlert(), []string{"web@example.com"})
			ldEq(t, "EffectiveEmailAlertFreq", v.EffectiveEmailAlertFreq(), time.Duration(0))
			ldEq(t, "EffectiveEmailAlertStatus", v.EffectiveEmailAlertStatus(), AlertRunning)
			ldEq(t, "EffectiveSMTP", v.EffectiveSMTP(), "mx.example.com")
			ldEq(t, "EffectiveFallback", v.EffectiveFallback().String()+" "+v.EffectiveFallback().Method, "10.0.0.99:8080 masq")
			ldEq(t, "EffectiveFallbackCommand", v.EffectiveFallbackCommand(), "/usr/local/bin/sorry")
			ldEq(t, "CheckPortFor", v.CheckPortFor(&v.Reals[0]), uint16(8081))
			// The other section takes the globals.
			ldEq(t, "w EffectiveQuiescent", w.EffectiveQuiescent(), false)
			ldEq(t, "w EffectiveEmailAlert", w.EffectiveEmailAlert(), []string{"ops@example.com"})
			ldEq(t, "w EffectiveEmailAlertFreq", w.EffectiveEmailAlertFreq(), time.Minute)
			ldEq(t, "w EffectiveSMTP", w.EffectiveSMTP(), "192.0.2.25")
			ldEq(t, "w EffectiveFallback", w.EffectiveFallback().String(), "127.0.0.1:80")
			ldEq(t, "w EffectiveFallbackCommand", w.EffectiveFallbackCommand(), "")
		}},
		{name: "no real, no fallback", lines: []string{
			"virtual=192.0.2.10:80", "\tscheduler=rr",
			"virtual6=[2001:db8::1]:80", "\tfallback6=[::1]:80",
			"virtual=192.0.2.11:80", "fallback6=[::1]:80",
			"virtual6=[2001:db8::2]:80",
		}, want: []string{
			"ldirectord.cf:1: warning: virtual service tcp:192.0.2.10:80 has no real server and no fallback",
			"ldirectord.cf:5: warning: virtual service tcp:192.0.2.11:80 has no real server and no fallback",
		}},
		{name: "section checks", lines: []string{
			"virtual=192.0.2.10:3306", "\treal=10.0.0.1 gate", "\tservice=mysql",
			"virtual=192.0.2.11:5432", "\treal=10.0.0.1 gate", `	login="probe"`, `	request="SELECT 1"`, `	database="app"`,
			"virtual=192.0.2.12:3306", "\treal=10.0.0.1 gate", "\tchecktype=connect",
			"virtual=192.0.2.13:80", "\treal=10.0.0.1 gate", "\thttpmethod=head", `	receive="OK"`,
			"virtual=192.0.2.14:80", "\treal=10.0.0.1 gate", "\tops=yes",
			"virtual=192.0.2.14:53", "\treal=10.0.0.1 gate", "\tops=yes",
		}, want: []string{
			"ldirectord.cf:1: warning: service mysql needs a login line: its check fails without one",
			"ldirectord.cf:1: warning: service mysql needs a request line (an SQL query): its check fails without one",
			"ldirectord.cf:15: warning: receive is not matched with httpmethod HEAD, which fetches no body",
			"ldirectord.cf:18: warning: ops applies only to protocol udp; ignored",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "Database", c.Virtuals[1].Database, "app")
			ldEq(t, "HTTPMethod", c.Virtuals[3].HTTPMethod, "HEAD")
			ldEq(t, "OnePacket", c.Virtuals[5].OnePacket, true)
		}},
		{name: "checkport", lines: []string{
			"virtual=192.0.2.10:80", "\treal=10.0.0.1 gate", "\tcheckport=0", "\tcheckport=65536", "\tcheckport=http",
		}, want: []string{
			`ldirectord.cf:3: error: checkport must be a port number 1..65535, not "0"`,
			"ldirectord.cf:4: warning: checkport repeats line 3; the last value counts",
			`ldirectord.cf:4: error: checkport must be a port number 1..65535, not "65536"`,
			"ldirectord.cf:5: warning: checkport repeats line 4; the last value counts",
			`ldirectord.cf:5: error: checkport must be a port number 1..65535, not "http"`,
		}},
	})
}

func TestLdirectordReals(t *testing.T) {
	runLdCases(t, []ldCase{
		{name: "forms", lines: []string{
			"virtual=192.0.2.10:80",
			"\treal=10.0.0.1 gate",
			"\treal=10.0.0.2:80 masq 5",
			"\treal=10.0.0.3:8080 masq 0",
			`	real=10.0.0.4:http ipip 2 "/check.html", "alive"`,
			`	real=10.0.0.5 gate 1 "/a" "b" l:10 u:200`,
			`	real=web6.example.com:80 gate 3 "http://www.example.com/ping","pong"`,
			"\treal=10.0.1.1->10.0.1.3:80 gate 2",
			"\treal=sql01->sql03:80 gate",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			v := ldOnly(t, c)
			ldEq(t, "reals", ldReals(v), []string{
				"2:10.0.0.1 gate 1",
				"3:10.0.0.2:80 masq 5",
				"4:10.0.0.3:8080 masq 0",
				`5:10.0.0.4:80 ipip 2 "/check.html" "alive"`,
				`6:10.0.0.5 gate 1 "/a" "b" l:10 u:200`,
				`7:web6.example.com:80 gate 3 "http://www.example.com/ping" "pong"`,
				"8:10.0.1.1:80 gate 2", "8:10.0.1.2:80 gate 2", "8:10.0.1.3:80 gate 2",
				"9:sql01->sql03:80 gate 1",
			})
			ldEq(t, "RealPort masq", v.RealPort(&v.Reals[2]), uint16(8080))
			ldEq(t, "CheckPortFor masq", v.CheckPortFor(&v.Reals[2]), uint16(8080))
			ldEq(t, "HostRangeEnd", v.Reals[9].HostRangeEnd, "sql03")
		}},
		{name: "errors", lines: []string{
			"virtual=192.0.2.10:80",
			"\treal=10.0.0.1",
			"\treal=10.0.0.1 gte",
			"\treal=10.0.0.1 gate 70000",
			"\treal=10.0.0.1 gate -1",
			`	real=10.0.0.1 gate 1 "/health"`,
			`	real=10.0.0.1 gate 1 "/health`,
			"\treal=10.0.0.1 gate 1 fast",
			"\treal=10.0.0.1:99999 gate",
			"\treal=10.0.0.9->10.0.0.1 gate",
			"\treal=10.0.0.1:80->10.0.0.9 gate",
			"\treal=10.0.0.0->10.0.255.255 gate",
			"\treal=[2001:db8::1]:80 gate",
			"\treal6=[2001:db8::1]:80 gate",
			"\treal=10.0.0.1 gate l:x",
			"\treal=10.0.0.1 gate u:1 u:2",
			"\treal=10.0.0.1 gate",
		}, want: []string{
			"ldirectord.cf:2: error: real: missing forwarding method (gate, masq or ipip)",
			`ldirectord.cf:3: error: real: unknown forwarding method "gte", want gate, masq or ipip (did you mean gate?)`,
			"ldirectord.cf:4: error: real: weight 70000 is out of range 0..65535",
			"ldirectord.cf:5: error: real: weight -1 is out of range 0..65535",
			`ldirectord.cf:6: error: real: request "/health" needs a receive string after it: "request", "receive"`,
			`ldirectord.cf:7: error: real: unterminated quote in "/health`,
			`ldirectord.cf:8: error: real: unexpected "fast" in real server line`,
			"ldirectord.cf:9: error: real: port 99999 is out of range 0..65535",
			"ldirectord.cf:10: error: real: range 10.0.0.9->10.0.0.1 runs backwards",
			"ldirectord.cf:11: error: real: the port goes after the range: first->last:port",
			"ldirectord.cf:12: error: real: range 10.0.0.0->10.0.255.255 has more than 4096 addresses",
			"ldirectord.cf:13: error: real: [2001:db8::1] is an IPv6 address; use real6",
			"ldirectord.cf:14: error: real6 in a virtual section; use real",
			`ldirectord.cf:15: error: real: connection threshold l:x: want a number 0..2147483647`,
			"ldirectord.cf:16: error: real: upper threshold given twice",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "reals", ldReals(ldOnly(t, c)), []string{"17:10.0.0.1 gate 1"})
		}},
		{name: "duplicates", lines: []string{
			"virtual=192.0.2.10:80",
			"\treal=10.0.0.1 gate",
			"\treal=10.0.0.1:80 gate",
			"\treal=10.0.0.5->10.0.0.7 gate",
			"\treal=10.0.0.6 ipip",
			"\treal=10.0.0.8:80 masq",
			"\treal=10.0.0.8:8080 masq",
			"\treal=10.0.0.8 masq",
			"\treal=Web1.example.com gate",
			"\treal=web1.example.com:80 gate",
			"\treal=10.0.0.9:81 gate",
			"\tfallback=10.0.0.7:80",
		}, want: []string{
			"ldirectord.cf:3: error: real server 10.0.0.1:80 is already listed at line 2",
			"ldirectord.cf:5: error: real server 10.0.0.6 is already listed at line 4",
			"ldirectord.cf:8: error: real server 10.0.0.8 is already listed at line 6",
			"ldirectord.cf:10: error: real server web1.example.com:80 is already listed at line 9",
			"ldirectord.cf:11: warning: real: port 81 is ignored with gate; IPVS forwards to the service's port 80 (only masq maps ports)",
			"ldirectord.cf:12: warning: fallback 10.0.0.7:80 is also a real server of tcp:192.0.2.10:80 (line 4)",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			ldEq(t, "reals", len(ldOnly(t, c).Reals), 8)
		}},
		{name: "fwmark reals keep their ports", lines: []string{
			"virtual=1", "\treal=10.0.0.1 gate", "\treal=10.0.0.1:443 gate", "\treal=10.0.0.2:80 gate", "\tservice=https",
		}, check: func(t *testing.T, c *LdirectordConfig) {
			v := ldOnly(t, c)
			ldEq(t, "reals", ldReals(v), []string{"2:10.0.0.1 gate 1", "3:10.0.0.1:443 gate 1", "4:10.0.0.2:80 gate 1"})
			ldEq(t, "CheckPortFor", v.CheckPortFor(&v.Reals[0]), uint16(443))
			ldEq(t, "CheckPortFor", v.CheckPortFor(&v.Reals[2]), uint16(80))
		}},
	})
}

// TestLdirectordEveryDirective makes sure every directive of ldirectord(8)
// of 4.12 (and the few its code reads undocumented) is handled.
func TestLdirectordEveryDirective(t *testing.T) {
	for _, name := range strings.Fields(`checktimeout negotiatetimeout checkinterval checkcount
		failurecount autoreload callback fallback fallback6 fallbackcommand logfile emailalert
		emailalertfrom emailalertfreq emailalertstatus smtp execute supervised fork quiescent
		readdquiescent cleanstop maintenancedir virtual virtual6 real real6 checktype service
		checkcommand checkport request receive httpmethod virtualhost login passwd database
		secret scheduler persistent netmask protocol monitorfile ops servicename comment
		load schedflags connecttimeout timeout`) {
		if _, ok := ldDirectives[name]; !ok {
			t.Errorf("directive %s is not handled", name)
		}
	}
	for name, d := range ldDirectives {
		if d.fn == nil && name != "virtual" && name != "virtual6" {
			t.Errorf("directive %s has no handler", name)
		}
	}
}

// TestLdirectordGolden parses complete ldirectord.cf files and compares a
// dump of the result and its diagnostics with testdata/ldirectord/NAME.golden.
func TestLdirectordGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "ldirectord", "*.cf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found %d golden inputs, want at least 6", len(files))
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".cf")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var ds Diags
			c := ParseLdirectord(filepath.Base(in), data, &ds)
			got := dumpLdirectord(c) + "--- diagnostics\n" + ds.String()
			golden := strings.TrimSuffix(in, ".cf") + ".golden"
			checkGolden(t, golden, got, *updateLdirectord, "go test ./conf -run TestLdirectordGolden -update-ldirectord")
		})
	}
}

// dumpLdirectord renders every field of c and of its virtual services, one
// a line in declaration order, so that a new field shows up in the golden
// files by itself; each virtual service ends with its effective values.
func dumpLdirectord(c *LdirectordConfig) string {
	var b strings.Builder
	ldDumpStruct(&b, "", reflect.ValueOf(c).Elem())
	for i, v := range c.Virtuals {
		fmt.Fprintf(&b, "virtual %d:\n", i)
		ldDumpStruct(&b, "  ", reflect.ValueOf(v).Elem())
		fmt.Fprintf(&b, "  = ID: %s\n", v.ID())
		fmt.Fprintf(&b, "  = timeouts: check %s, negotiate %s, interval %s, failurecount %d\n",
			ldDur(v.EffectiveCheckTimeout()), ldDur(v.EffectiveNegotiateTimeout()),
			ldDur(v.EffectiveCheckInterval()), v.EffectiveFailureCount())
		fmt.Fprintf(&b, "  = quiescent %v, cleanstop %v, alerts %v every %s (%s) via %q\n",
			v.EffectiveQuiescent(), v.EffectiveCleanStop(), v.EffectiveEmailAlert(),
			ldDur(v.EffectiveEmailAlertFreq()), v.EffectiveEmailAlertStatus(), v.EffectiveSMTP())
		if f := v.EffectiveFallback(); f != nil {
			fmt.Fprintf(&b, "  = fallback: %s %s\n", f, f.Method)
		}
		for j := range v.Reals {
			r := &v.Reals[j]
			fmt.Fprintf(&b, "  = real %s: ipvs port %d, check port %d\n", r, v.RealPort(r), v.CheckPortFor(r))
		}
	}
	return b.String()
}

func ldDumpStruct(b *strings.Builder, indent string, v reflect.Value) {
	ty := v.Type()
	for i := 0; i < ty.NumField(); i++ {
		f := ty.Field(i)
		if !f.IsExported() || f.Name == "Virtuals" {
			continue
		}
		fmt.Fprintf(b, "%s%s: %s\n", indent, f.Name, ldDumpValue(indent, v.Field(i)))
	}
}

func ldDumpValue(indent string, fv reflect.Value) string {
	switch val := fv.Interface().(type) {
	case time.Duration:
		return ldDur(val)
	case *time.Duration:
		if val == nil {
			return "<global>"
		}
		return ldDur(*val)
	case *bool:
		if val == nil {
			return "<global>"
		}
		return fmt.Sprint(*val)
	case *AlertStatus:
		if val == nil {
			return "<global>"
		}
		return val.String()
	case *Real:
		if val == nil {
			return "<none>"
		}
		return ldDumpReal(val)
	case []Real:
		var b strings.Builder
		for i := range val {
			fmt.Fprintf(&b, "\n%s  - %s", indent, ldDumpReal(&val[i]))
		}
		return b.String()
	case map[string]int:
		keys := make([]string, 0, len(val))
		for k := range val {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s@%d", k, val[k]))
		}
		return strings.Join(parts, " ")
	case string:
		return fmt.Sprintf("%q", val)
	}
	return fmt.Sprint(fv.Interface())
}

func ldDumpReal(r *Real) string {
	s := fmt.Sprintf("line %d: %s %s weight %d", r.Line, r, r.Method, r.Weight)
	if r.Request != "" || r.Receive != "" {
		s += fmt.Sprintf(" request %q receive %q", r.Request, r.Receive)
	}
	if r.LowerThreshold != 0 || r.UpperThreshold != 0 {
		s += fmt.Sprintf(" thresholds %d..%d", r.LowerThreshold, r.UpperThreshold)
	}
	return s
}

func ldDur(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return FormatDuration(d)
}
