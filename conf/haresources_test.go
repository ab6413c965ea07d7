package conf

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var updateHaresources = flag.Bool("update-haresources", false, "rewrite testdata/haresources/*.golden")

func TestHaresourcesParse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		groups []ResourceGroup
		diags  []string
	}{
		{
			name: "lvs director",
			in:   "lvs1 IPaddr::10.0.0.100/24/eth0 ldirectord::ldirectord.cf LVSSyncDaemonSwap::master\n",
			groups: []ResourceGroup{{Name: "IPaddr::10.0.0.100/24/eth0", Home: "lvs1", Line: 1, Resources: []Resource{
				{Name: "IPaddr", Args: []string{"10.0.0.100/24/eth0"}, Raw: "IPaddr::10.0.0.100/24/eth0", Line: 1},
				{Name: "ldirectord", Args: []string{"ldirectord.cf"}, Raw: "ldirectord::ldirectord.cf", Line: 1},
				{Name: "LVSSyncDaemonSwap", Args: []string{"master"}, Raw: "LVSSyncDaemonSwap::master", Line: 1},
			}}},
		},
		{
			name: "bare address means IPaddr",
			in:   "# comment\nweb1 192.168.1.10 httpd\n",
			groups: []ResourceGroup{{Name: "192.168.1.10", Home: "web1", Line: 2, Resources: []Resource{
				{Name: "IPaddr", Args: []string{"192.168.1.10"}, Raw: "192.168.1.10", Line: 2},
				{Name: "httpd", Raw: "httpd", Line: 2},
			}}},
		},
		{
			name: "script arguments",
			in:   "node1 10.0.0.170 Filesystem::/dev/sda1::/data1::ext2\n",
			groups: []ResourceGroup{{Name: "10.0.0.170", Home: "node1", Line: 1, Resources: []Resource{
				{Name: "IPaddr", Args: []string{"10.0.0.170"}, Raw: "10.0.0.170", Line: 1},
				{Name: "Filesystem", Args: []string{"/dev/sda1", "/data1", "ext2"}, Raw: "Filesystem::/dev/sda1::/data1::ext2", Line: 1},
			}}},
		},
		{
			name: "continuation lines keep each resource's line",
			in:   "# head\nlvs1 \\\n  IPaddr2::10.0.0.1/24/eth0 \\\n  # a comment ends the group\n",
			groups: []ResourceGroup{{Name: "IPaddr2::10.0.0.1/24/eth0", Home: "lvs1", Line: 2, Resources: []Resource{
				{Name: "IPaddr2", Args: []string{"10.0.0.1/24/eth0"}, Raw: "IPaddr2::10.0.0.1/24/eth0", Line: 3},
			}}},
		},
		{
			name: "IPv6addr keeps the address whole",
			in:   "n1 IPv6addr::2001:db8::10/64/eth0\n",
			groups: []ResourceGroup{{Name: "IPv6addr::2001:db8::10/64/eth0", Home: "n1", Line: 1, Resources: []Resource{
				{Name: "IPv6addr", Args: []string{"2001:db8::10/64/eth0"}, Raw: "IPv6addr::2001:db8::10/64/eth0", Line: 1},
			}}},
		},
		{
			name:  "empty group",
			in:    "lvs1\n",
			diags: []string{"haresources:1: error: node lvs1 lists no resources"},
		},
		{
			name: "duplicate group name",
			in:   "n1 10.0.0.1 httpd\nn2 10.0.0.1 squid\n",
			groups: []ResourceGroup{
				{Name: "10.0.0.1", Home: "n1", Line: 1, Resources: []Resource{
					{Name: "IPaddr", Args: []string{"10.0.0.1"}, Raw: "10.0.0.1", Line: 1},
					{Name: "httpd", Raw: "httpd", Line: 1},
				}},
				{Name: "10.0.0.1", Home: "n2", Line: 2, Resources: []Resource{
					{Name: "IPaddr", Args: []string{"10.0.0.1"}, Raw: "10.0.0.1", Line: 2},
					{Name: "squid", Raw: "squid", Line: 2},
				}},
			},
			diags: []string{
				"haresources:2: error: group 10.0.0.1 repeats line 1; the first resource names a group and must be unique",
				"haresources:2: error: address 10.0.0.1 is already brought up on line 1 by group 10.0.0.1",
			},
		},
		{
			name: "same VIP in two groups, different spelling",
			in:   "n1 IPaddr::10.0.0.5/24\nn2 httpd IPaddr2::10.0.0.5/24/eth1\n",
			groups: []ResourceGroup{
				{Name: "IPaddr::10.0.0.5/24", Home: "n1", Line: 1, Resources: []Resource{
					{Name: "IPaddr", Args: []string{"10.0.0.5/24"}, Raw: "IPaddr::10.0.0.5/24", Line: 1},
				}},
				{Name: "httpd", Home: "n2", Line: 2, Resources: []Resource{
					{Name: "httpd", Raw: "httpd", Line: 2},
					{Name: "IPaddr2", Args: []string{"10.0.0.5/24/eth1"}, Raw: "IPaddr2::10.0.0.5/24/eth1", Line: 2},
				}},
			},
			diags: []string{"haresources:2: error: address 10.0.0.5 is already brought up on line 1 by group IPaddr::10.0.0.5/24"},
		},
		{
			name: "same VIP twice in one group",
			in:   "n1 10.0.0.5 \\\n IPaddr2::10.0.0.5\n",
			groups: []ResourceGroup{{Name: "10.0.0.5", Home: "n1", Line: 1, Resources: []Resource{
				{Name: "IPaddr", Args: []string{"10.0.0.5"}, Raw: "10.0.0.5", Line: 1},
				{Name: "IPaddr2", Args: []string{"10.0.0.5"}, Raw: "IPaddr2::10.0.0.5", Line: 2},
			}}},
			diags: []string{"haresources:2: error: address 10.0.0.5 is already brought up on line 1 of this group"},
		},
		{
			name: "bad built-in arguments",
			in: "n1 IPaddr::10.0.0.300/24 \\\n" +
				"  IPaddr2::10.0.0.1/33 \\\n" +
				"  IPv6addr::10.0.0.1/64 \\\n" +
				"  LVSSyncDaemonSwap::mastr \\\n" +
				"  MailTo::root@::subject \\\n" +
				"  SendArp::10.0.0.1 \\\n" +
				"  ldirectord::a.cf::b.cf \\\n" +
				"  IPsrcaddr \\\n" +
				"  10.1.2.3.4\n",
			groups: []ResourceGroup{{Name: "IPaddr::10.0.0.300/24", Home: "n1", Line: 1, Resources: []Resource{
				{Name: "IPaddr", Args: []string{"10.0.0.300/24"}, Raw: "IPaddr::10.0.0.300/24", Line: 1},
				{Name: "IPaddr2", Args: []string{"10.0.0.1/33"}, Raw: "IPaddr2::10.0.0.1/33", Line: 2},
				{Name: "IPv6addr", Args: []string{"10.0.0.1/64"}, Raw: "IPv6addr::10.0.0.1/64", Line: 3},
				{Name: "LVSSyncDaemonSwap", Args: []string{"mastr"}, Raw: "LVSSyncDaemonSwap::mastr", Line: 4},
				{Name: "MailTo", Args: []string{"root@", "subject"}, Raw: "MailTo::root@::subject", Line: 5},
				{Name: "SendArp", Args: []string{"10.0.0.1"}, Raw: "SendArp::10.0.0.1", Line: 6},
				{Name: "ldirectord", Args: []string{"a.cf", "b.cf"}, Raw: "ldirectord::a.cf::b.cf", Line: 7},
				{Name: "IPsrcaddr", Raw: "IPsrcaddr", Line: 8},
				{Name: "IPaddr", Args: []string{"10.1.2.3.4"}, Raw: "10.1.2.3.4", Line: 9},
			}}},
			diags: []string{
				`haresources:1: error: IPaddr::10.0.0.300/24: "10.0.0.300" is not an IPv4 address`,
				`haresources:2: error: IPaddr2::10.0.0.1/33: prefix length "33" is not 0-32`,
				`haresources:3: error: IPv6addr::10.0.0.1/64: "10.0.0.1" is not an IPv6 address`,
				`haresources:4: error: LVSSyncDaemonSwap::mastr: "mastr" is not master, backup or both (did you mean master?)`,
				`haresources:5: error: MailTo::root@::subject: "root@" is not a mail address`,
				`haresources:6: error: SendArp::10.0.0.1: no interface; want ADDR/IFACE`,
				`haresources:7: error: ldirectord::a.cf::b.cf: want at most one argument, the configuration file; got 2`,
				`haresources:8: error: IPsrcaddr: want one argument ADDR[/PREFIX], got 0`,
				`haresources:9: error: 10.1.2.3.4: "10.1.2.3.4" is not an IPv4 address`,
			},
		},
		{
			name: "resource names that cannot be scripts",
			in:   "n1 ::foo ../bin/sh::x fe80::1 httpd::::x\n",
			groups: []ResourceGroup{{Name: "::foo", Home: "n1", Line: 1, Resources: []Resource{
				{Name: "httpd", Args: []string{"", "x"}, Raw: "httpd::::x", Line: 1},
			}}},
			diags: []string{
				"haresources:1: error: resource ::foo has no name before ::",
				"haresources:1: error: resource name ../bin/sh is not a script name; put the script in resource.d",
				"haresources:1: error: bare IPv6 address fe80::1: only an IPv4 address implies IPaddr; write IPv6addr::fe80::1",
				"haresources:1: error: httpd::::x: empty argument between ::",
			},
		},
		{
			name: "empty names",
			in:   "\"\" httpd\nn1 '' httpd\n",
			groups: []ResourceGroup{{Name: "", Home: "n1", Line: 2, Resources: []Resource{
				{Name: "httpd", Raw: "httpd", Line: 2},
			}}},
			diags: []string{
				"haresources:1: error: empty node name",
				"haresources:2: error: empty resource name",
			},
		},
		{
			name:  "line starting with a resource",
			in:    "IPaddr::10.0.0.1 httpd\n",
			diags: []string{"haresources:1: error: line starts with resource IPaddr::10.0.0.1; a group starts with the node that prefers it"},
		},
		{
			name: "node that looks like an address",
			in:   "10.0.0.1 httpd\n",
			groups: []ResourceGroup{{Name: "httpd", Home: "10.0.0.1", Line: 1, Resources: []Resource{
				{Name: "httpd", Raw: "httpd", Line: 1},
			}}},
			diags: []string{"haresources:1: warning: node 10.0.0.1 looks like an address; a group starts with the node that prefers it"},
		},
		{
			name: "IPsrcaddr and broadcast checks",
			in:   "n1 IPaddr::10.0.0.1/24/eth0/10.0.1.255 IPsrcaddr::10.0.0.1 IPsrcaddr::10.0.0.2/24\n",
			groups: []ResourceGroup{{Name: "IPaddr::10.0.0.1/24/eth0/10.0.1.255", Home: "n1", Line: 1, Resources: []Resource{
				{Name: "IPaddr", Args: []string{"10.0.0.1/24/eth0/10.0.1.255"}, Raw: "IPaddr::10.0.0.1/24/eth0/10.0.1.255", Line: 1},
				{Name: "IPsrcaddr", Args: []string{"10.0.0.1"}, Raw: "IPsrcaddr::10.0.0.1", Line: 1},
				{Name: "IPsrcaddr", Args: []string{"10.0.0.2/24"}, Raw: "IPsrcaddr::10.0.0.2/24", Line: 1},
			}}},
			diags: []string{
				"haresources:1: warning: IPaddr::10.0.0.1/24/eth0/10.0.1.255: broadcast 10.0.1.255 is outside 10.0.0.0/24",
				"haresources:1: warning: IPsrcaddr::10.0.0.2/24: 10.0.0.2 is not brought up earlier in this group; IPsrcaddr needs the address on the host first",
			},
		},
		{
			name: "unterminated quote",
			in:   "n1 \"httpd\n",
			diags: []string{
				"haresources:1: error: unterminated quote \"",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ds Diags
			h := ParseHaresources("haresources", []byte(tt.in), &ds)
			if !reflect.DeepEqual(h.Groups, tt.groups) {
				t.Errorf("groups:\n%+v\nwant:\n%+v", h.Groups, tt.groups)
			}
			if got, want := ds.String(), joinLines(tt.diags); got != want {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestHaresourcesIPaddrArgs(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		arg     string
		want    IPaddrSpec
		wantErr string
	}{
		{arg: "10.0.0.1", want: IPaddrSpec{Addr: a("10.0.0.1"), Prefix: -1}},
		{arg: "10.0.0.1/24", want: IPaddrSpec{Addr: a("10.0.0.1"), Prefix: 24}},
		{arg: "10.0.0.1/24/eth0", want: IPaddrSpec{Addr: a("10.0.0.1"), Prefix: 24, Iface: "eth0"}},
		{arg: "10.0.0.1/24/eth0:vip", want: IPaddrSpec{Addr: a("10.0.0.1"), Prefix: 24, Iface: "eth0:vip"}},
		{arg: "10.0.0.1/24/eth0/10.0.0.255", want: IPaddrSpec{Addr: a("10.0.0.1"), Prefix: 24, Iface: "eth0", Broadcast: a("10.0.0.255")}},
		{arg: "135.9.8.7/24/135.9.8.210", want: IPaddrSpec{Addr: a("135.9.8.7"), Prefix: 24, Broadcast: a("135.9.8.210")}},
		{arg: "10.0.0.1/255.255.255.0/eth0", want: IPaddrSpec{Addr: a("10.0.0.1"), Prefix: 24, Iface: "eth0"}},
		{arg: "10.0.0.1//eth0", want: IPaddrSpec{Addr: a("10.0.0.1"), Prefix: -1, Iface: "eth0"}},
		{arg: "10.0.0.1/0", want: IPaddrSpec{Addr: a("10.0.0.1"), Prefix: 0}},
		{arg: "10.0.0.1/32", want: IPaddrSpec{Addr: a("10.0.0.1"), Prefix: 32}},
		{arg: "10.0.0.1/24//10.0.0.255", want: IPaddrSpec{Addr: a("10.0.0.1"), Prefix: 24, Broadcast: a("10.0.0.255")}},
		{arg: "10.0.0.256", wantErr: `"10.0.0.256" is not an IPv4 address`},
		{arg: "010.0.0.1", wantErr: `"010.0.0.1" is not an IPv4 address`},
		{arg: "2001:db8::1", wantErr: `"2001:db8::1" is not an IPv4 address`},
		{arg: "10.0.0.1/-1", wantErr: `prefix length "-1" is not 0-32`},
		{arg: "10.0.0.1/+8", wantErr: `prefix length "+8" is not 0-32`},
		{arg: "10.0.0.1/x", wantErr: `prefix length "x" is not 0-32`},
		{arg: "10.0.0.1/255.0.255.0", wantErr: `netmask "255.0.255.0" is not contiguous ones then zeros`},
		{arg: "10.0.0.1/24/eth0/10.0.0.x", wantErr: `broadcast: "10.0.0.x" is not an IPv4 address`},
		{arg: "10.0.0.1/24/10.0.0.255/eth0", wantErr: `"eth0" follows broadcast 10.0.0.255; want ADDR[/PREFIX[/IFACE[/BROADCAST]]]`},
		{arg: "10.0.0.1/24/eth0/10.0.0.255/x", wantErr: `"10.0.0.1/24/eth0/10.0.0.255/x" has too many parts; want ADDR[/PREFIX[/IFACE[/BROADCAST]]]`},
		{arg: "10.0.0.1/24/averyveryverylongname", wantErr: `interface "averyveryverylongname" is longer than 15 bytes`},
		{arg: "10.0.0.1/24/:vip", wantErr: `":vip" is not an interface name`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			got, err := ParseIPaddrArgs([]string{tt.arg})
			checkSpec(t, got, tt.want, err, tt.wantErr)
		})
	}
	if _, err := ParseIPaddrArgs([]string{"10.0.0.1", "x"}); err == nil || err.Error() != "want one argument ADDR[/PREFIX[/IFACE[/BROADCAST]]], got 2" {
		t.Errorf("two arguments: %v", err)
	}
}

func checkSpec[T any](t *testing.T, got, want T, err error, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || err.Error() != wantErr {
			t.Errorf("error = %v, want %s", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestHaresourcesIPv6addrArgs(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		arg     string
		want    IPv6addrSpec
		wantErr string
	}{
		{arg: "2001:db8::10/64", want: IPv6addrSpec{Addr: a("2001:db8::10"), Prefix: 64}},
		{arg: "2001:db8::10/64/eth0", want: IPv6addrSpec{Addr: a("2001:db8::10"), Prefix: 64, Iface: "eth0"}},
		{arg: "2001:db8::10", want: IPv6addrSpec{Addr: a("2001:db8::10"), Prefix: -1}},
		{arg: "2001:db8::10/129", wantErr: `prefix length "129" is not 0-128`},
		{arg: "::ffff:10.0.0.1/96", wantErr: `"::ffff:10.0.0.1" is not an IPv6 address`},
		{arg: "fe80::1%eth0/64", wantErr: `"fe80::1%eth0": give the interface after the prefix (ADDR/PREFIX/IFACE), not as a zone`},
		{arg: "2001:db8::10/64/eth0/x", wantErr: `"2001:db8::10/64/eth0/x" has too many parts; want ADDR[/PREFIX[/IFACE]]`},
		{arg: "2001:db8::10/64/eth0:1", wantErr: `"eth0:1" is not an interface name`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			got, err := ParseIPv6addrArgs([]string{tt.arg})
			checkSpec(t, got, tt.want, err, tt.wantErr)
		})
	}
}

func TestHaresourcesOtherArgs(t *testing.T) {
	a := netip.MustParseAddr
	t.Run("IPsrcaddr", func(t *testing.T) {
		got, err := ParseIPsrcaddrArgs([]string{"10.0.0.1/24"})
		checkSpec(t, got, IPsrcaddrSpec{Addr: a("10.0.0.1"), Prefix: 24}, err, "")
		got, err = ParseIPsrcaddrArgs([]string{"10.0.0.1"})
		checkSpec(t, got, IPsrcaddrSpec{Addr: a("10.0.0.1"), Prefix: -1}, err, "")
		_, err = ParseIPsrcaddrArgs([]string{"10.0.0.1/"})
		checkSpec(t, IPsrcaddrSpec{}, IPsrcaddrSpec{}, err, `prefix length "" is not 0-32`)
	})
	t.Run("SendArp", func(t *testing.T) {
		got, err := ParseSendArpArgs([]string{"10.0.0.1/eth1"})
		checkSpec(t, got, SendArpSpec{Addr: a("10.0.0.1"), Iface: "eth1"}, err, "")
		_, err = ParseSendArpArgs([]string{"10.0.0.1/24/eth1"})
		checkSpec(t, SendArpSpec{}, SendArpSpec{}, err, `"24/eth1" is not an interface name`)
	})
	t.Run("MailTo", func(t *testing.T) {
		got, err := ParseMailToArgs([]string{"alanr@unix.sh,root", "Big Web Server"})
		checkSpec(t, got, MailToSpec{To: []string{"alanr@unix.sh", "root"}, Subject: "Big Web Server"}, err, "")
		got, err = ParseMailToArgs([]string{"ops@example.com"})
		checkSpec(t, got, MailToSpec{To: []string{"ops@example.com"}}, err, "")
		_, err = ParseMailToArgs([]string{"a@b,,c@d"})
		checkSpec(t, MailToSpec{}, MailToSpec{}, err, "empty mail address")
		_, err = ParseMailToArgs([]string{"a@b", "s", "x"})
		checkSpec(t, MailToSpec{}, MailToSpec{}, err, "want ADDR[,ADDR...][::SUBJECT], got 3 arguments")
		_, err = ParseMailToArgs([]string{"a@b@c"})
		checkSpec(t, MailToSpec{}, MailToSpec{}, err, `"a@b@c" is not a mail address`)
	})
	t.Run("LVSSyncDaemonSwap", func(t *testing.T) {
		for _, role := range []string{"master", "backup"} {
			got, err := ParseLVSSyncDaemonSwapArgs([]string{role})
			checkSpec(t, got, role, err, "")
		}
		_, err := ParseLVSSyncDaemonSwapArgs(nil)
		checkSpec(t, "", "", err, "want one argument master, backup or both, got 0")
	})
	t.Run("ldirectord", func(t *testing.T) {
		got, err := ParseLdirectordResourceArgs(nil)
		checkSpec(t, got, "ldirectord.cf", err, "")
		got, err = ParseLdirectordResourceArgs([]string{"/etc/ha.d/web.cf"})
		checkSpec(t, got, "/etc/ha.d/web.cf", err, "")
		_, err = ParseLdirectordResourceArgs([]string{""})
		checkSpec(t, "", "", err, "empty configuration file name")
	})
}

func TestHaresourcesResolve(t *testing.T) {
	in := "lvs1 IPaddr::10.0.0.100/24/eth0 ldirectord httpd\n" +
		"lvs2 IPadr::10.0.0.101 \\\n  mysqld ipaddr2::10.0.0.102\n"
	var ds Diags
	h := ParseHaresources("haresources", []byte(in), &ds)
	scripts := map[string]string{"httpd": "/etc/init.d/httpd"}
	ResolveResources(h, func(name string) (string, bool) {
		p, ok := scripts[name]
		return p, ok
	}, &ds)
	var agents []string
	for _, g := range h.Groups {
		for _, r := range g.Resources {
			agents = append(agents, r.Name+"="+r.Agent)
		}
	}
	wantAgents := []string{
		"IPaddr=builtin:IPaddr", "ldirectord=builtin:ldirectord", "httpd=/etc/init.d/httpd",
		"IPadr=", "mysqld=", "ipaddr2=",
	}
	if !reflect.DeepEqual(agents, wantAgents) {
		t.Errorf("agents = %q\nwant %q", agents, wantAgents)
	}
	want := joinLines([]string{
		"haresources:2: error: resource IPadr has no agent: no built-in, no resource.d/IPadr, no /etc/init.d/IPadr (did you mean IPaddr?)",
		"haresources:3: error: resource mysqld has no agent: no built-in, no resource.d/mysqld, no /etc/init.d/mysqld",
		"haresources:3: error: resource ipaddr2 has no agent: no built-in, no resource.d/ipaddr2, no /etc/init.d/ipaddr2 (did you mean IPaddr2?)",
	})
	if got := ds.String(); got != want {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", got, want)
	}
	ResolveResources(nil, nil, &ds) // must not panic
}

func TestHaresourcesScriptLookup(t *testing.T) {
	confDir := t.TempDir()
	initd := t.TempDir()
	rd := filepath.Join(confDir, "resource.d")
	if err := os.Mkdir(rd, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(rd, "both"), 0o755)
	write(filepath.Join(initd, "both"), 0o755)
	write(filepath.Join(initd, "initonly"), 0o755)
	write(filepath.Join(rd, "notexec"), 0o644)
	write(filepath.Join(initd, "notexec"), 0o755)
	write(filepath.Join(rd, "plain"), 0o644)
	if err := os.Mkdir(filepath.Join(rd, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(initd, "initonly"), filepath.Join(rd, "link")); err != nil {
		t.Fatal(err)
	}
	lookup := ScriptLookup(confDir, initd)
	tests := []struct {
		name string
		want string // "" for not found
	}{
		{"both", filepath.Join(rd, "both")},
		{"initonly", filepath.Join(initd, "initonly")},
		{"notexec", filepath.Join(initd, "notexec")},
		{"link", filepath.Join(rd, "link")},
		{"plain", ""},
		{"adir", ""},
		{"missing", ""},
		{"../resource.d/both", ""},
		{"..", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := lookup(tt.name)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("lookup(%q) = %q, %v; want %q", tt.name, got, ok, tt.want)
		}
	}
}

func TestHaresourcesVIPs(t *testing.T) {
	in := "lvs1 10.0.0.1 IPaddr2::10.0.0.2/24/eth0 IPv6addr::2001:db8::5/64 SendArp::10.0.0.9/eth1 IPsrcaddr::10.0.0.1\n" +
		"lvs2 IPaddr::10.0.1.1/255.255.255.128 IPaddr::bad httpd\n"
	var ds Diags
	h := ParseHaresources("haresources", []byte(in), &ds)
	got := fmt.Sprint(h.VIPs())
	want := "[10.0.0.1/32 10.0.0.2/24 2001:db8::5/64 10.0.1.1/25]"
	if got != want {
		t.Errorf("VIPs() = %s, want %s", got, want)
	}
	var none *Haresources
	if v := none.VIPs(); v != nil {
		t.Errorf("nil VIPs() = %v", v)
	}
}

// TestHaresourcesGolden parses complete haresources files, resolves them
// against a fixed set of scripts, and compares a dump of the groups, the
// VIPs and the diagnostics with testdata/haresources/NAME.golden.
func TestHaresourcesGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "haresources", "*.haresources"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d golden inputs, want at least 4", len(files))
	}
	scripts := map[string]bool{"apache": true, "httpd": true, "Filesystem": true, "drbddisk": true, "postgresql": true}
	lookup := func(name string) (string, bool) {
		if scripts[name] {
			return "resource.d/" + name, true
		}
		return "", false
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".haresources")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var ds Diags
			h := ParseHaresources("haresources", data, &ds)
			ResolveResources(h, lookup, &ds)
			ds.Sort()
			got := dumpHaresources(h) + "--- diagnostics\n" + ds.String()
			golden := strings.TrimSuffix(in, ".haresources") + ".golden"
			checkGolden(t, golden, got, *updateHaresources, "go test ./conf -run TestHaresourcesGolden -update-haresources")
		})
	}
}

func dumpHaresources(h *Haresources) string {
	var b strings.Builder
	for _, g := range h.Groups {
		fmt.Fprintf(&b, "group %q home %s line %d\n", g.Name, g.Home, g.Line)
		for _, r := range g.Resources {
			fmt.Fprintf(&b, "  line %d: %s %q agent %q", r.Line, r.Name, r.Args, r.Agent)
			if r.Raw != r.Name+"::"+strings.Join(r.Args, "::") && r.Raw != r.Name {
				fmt.Fprintf(&b, " (written %s)", r.Raw)
			}
			b.WriteByte('\n')
		}
	}
	fmt.Fprintf(&b, "vips: %v\n", h.VIPs())
	return b.String()
}
