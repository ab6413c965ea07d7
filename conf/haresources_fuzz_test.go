package conf

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseHaresources feeds arbitrary text to ParseHaresources and
// ResolveResources. Whatever the input, they must not panic and must place
// every diagnostic on a line of the file; a file accepted without error
// must have unique group names, unique addresses, and arguments every
// built-in agent can parse.
func FuzzParseHaresources(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "haresources", "*.haresources"))
	for _, in := range inputs {
		if data, err := os.ReadFile(in); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		"lvs1 IPaddr::10.0.0.100/24/eth0 ldirectord::ldirectord.cf LVSSyncDaemonSwap::master\n",
		"n1 10.0.0.1 httpd\nn2 10.0.0.1\n",
		"n1 \\\n  IPaddr2::10.0.0.1/255.255.255.0/eth0:x/10.0.0.255 \\\n",
		"n1 IPv6addr::fe80::1%eth0/64 IPv6addr::::1 2001:db8::1 ::1\n",
		"n1 MailTo::a@b,c::subj SendArp::1.2.3.4/eth0 IPsrcaddr::1.2.3.4/32\n",
		"n1 ::x ../x x:: x::::y 1.2.3.4.5 1.2.3.4/33/a/b/c\n",
		"IPaddr::1.2.3.4 n1\nldirectord\nn1 'a b' \"c\n",
		"n1 \x00 \xff\xfe IPaddr::\r1.2.3.4\n",
		"\"\" 0\nn1 '' x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ds Diags
		h := ParseHaresources("haresources", data, &ds)
		if h == nil {
			t.Fatal("nil result")
		}
		ResolveResources(h, func(string) (string, bool) { return "", false }, &ds)
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, d := range ds {
			if d.File != "haresources" || d.Line < 0 || d.Line > lines || d.Msg == "" {
				t.Fatalf("misplaced diagnostic %q (file has %d lines)", d, lines)
			}
			if strings.ContainsAny(d.Msg, "\n\r") {
				t.Fatalf("diagnostic spans lines: %q", d)
			}
		}
		for _, g := range h.Groups {
			if g.Line < 1 || g.Line > lines || g.Home == "" {
				t.Fatalf("group %+v", g)
			}
			for _, r := range g.Resources {
				if r.Line < g.Line || r.Line > lines || r.Name == "" || strings.Contains(r.Name, "/") {
					t.Fatalf("resource %+v of group at line %d", r, g.Line)
				}
			}
		}
		vips := h.VIPs()
		if ds.HasErrors() {
			return
		}
		names := map[string]bool{}
		for _, g := range h.Groups {
			if names[g.Name] || len(g.Resources) == 0 {
				t.Fatalf("accepted group %+v", g)
			}
			names[g.Name] = true
			for _, r := range g.Resources {
				if !IsBuiltinAgent(r.Name) {
					t.Fatalf("accepted %s with no agent", r.Name)
				}
				if err := builtinAgentArgs[r.Name](r.Args); err != nil {
					t.Fatalf("accepted %s: %v", r.Raw, err)
				}
			}
		}
		seen := map[netip.Addr]bool{}
		for _, p := range vips {
			if !p.IsValid() || seen[p.Addr()] {
				t.Fatalf("VIPs() = %v", vips)
			}
			seen[p.Addr()] = true
		}
	})
}
