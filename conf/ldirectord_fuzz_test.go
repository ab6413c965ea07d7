package conf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode"
)

// FuzzParseLdirectord feeds arbitrary text to ParseLdirectord. Whatever the
// input, the parser must not panic, must return a configuration, and must
// place every diagnostic on a line of the file; what it returns must hold
// the invariants the ldirector relies on, errors or not, since it may run
// the valid part of a file while an operator fixes the rest.
func FuzzParseLdirectord(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "ldirectord", "*.cf"))
	for _, in := range inputs {
		if data, err := os.ReadFile(in); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		"virtual=192.0.2.1:80\n\treal=10.0.0.1 gate\n",
		"virtual = 1\n    real = 10.0.0.1 masq 3\n    protocol = fwm\n    persistent = 60\n",
		"virtual6=[2001:db8::1]:443\n\treal6=[2001:db8::2]:443 masq 2 \"/\", \"ok\" l:1 u:9\n\tfallback6=[::1]\n",
		"virtual=192.0.2.1:80\n\treal=10.0.0.1->10.0.0.9:80 gate\n\n\treal=10.0.0.1 ipip\n",
		"virtual=h.example:http\n\treal=a->b gate\n\tchecktype=7\n\tservice=sip\n",
		"virtual=192.0.2.1:0\n\treal=10.0.0.1 gate \"a\n\treceive=\"x\\\"#y\"\n",
		"checktimeout=0.5\nnegotiatetimeout=500ms\nemailalertstatus=none,all\nsupervised\n",
		"\tvirtual=1\nvirtual=\nvirtual=[\nvirtual=[::1\nvirtual6=[::1]:\nreal=\n=\n",
		"virtual=192.0.2.1:80\n\treal=10.0.0.255->10.0.1.3 gate 65535\n\tnetmask=255.255.255.128\n",
		"virtual=192.0.2.1:53\n  \t real=10.0.0.1 gate\r\n\tops=yes\n\tschedflags=sh-port,\n\x00\xff\n",
		"fallback=127.0.0.1:80 masq\nvirtual=192.0.2.1:80\n\treal=127.0.0.1 masq\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ds Diags
		c := ParseLdirectord("ldirectord.cf", data, &ds)
		if c == nil {
			t.Fatal("nil configuration")
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		inFile := func(l int) bool { return l >= 1 && l <= lines }
		for _, d := range ds {
			if d.File != "ldirectord.cf" || !inFile(d.Line) || d.Msg == "" {
				t.Fatalf("misplaced diagnostic %q (file has %d lines)", d, lines)
			}
			for _, r := range d.Msg {
				if !unicode.IsPrint(r) {
					t.Fatalf("unprintable diagnostic %q", d)
				}
			}
		}
		for k, l := range c.Lines {
			if d, ok := ldDirectives[k]; !ok || d.scope&ldGlobal == 0 || !inFile(l) {
				t.Fatalf("Lines[%q] = %d", k, l)
			}
		}
		for _, x := range c.Execute {
			if !inFile(x.Line) || x.Config == "" {
				t.Fatalf("execute %+v", x)
			}
		}
		if c.CheckInterval <= 0 || c.FailureCount < 1 || c.CheckCount < 1 || c.CheckTimeout < 0 || c.NegotiateTimeout < 0 {
			t.Fatalf("global timing %v %v %v %d %d", c.CheckTimeout, c.NegotiateTimeout, c.CheckInterval, c.FailureCount, c.CheckCount)
		}
		ids := map[string]bool{}
		for _, v := range c.Virtuals {
			checkLdVirtual(t, v, inFile)
			if ids[v.ID()] {
				t.Fatalf("virtual service %s twice", v.ID())
			}
			ids[v.ID()] = true
		}
		for _, fb := range []*Real{c.Fallback, c.Fallback6} {
			if fb != nil {
				checkLdReal(t, fb, inFile)
			}
		}
	})
}

func checkLdVirtual(t *testing.T, v *Virtual, inFile func(int) bool) {
	t.Helper()
	if !inFile(v.Line) {
		t.Fatalf("virtual line %d", v.Line)
	}
	switch {
	case v.Protocol == "fwm":
		if v.FWMark == 0 || v.Addr.IsValid() || v.Host != "" {
			t.Fatalf("fwm service %+v", v)
		}
	case v.Protocol == "tcp" || v.Protocol == "udp":
		if v.FWMark != 0 || (v.Host == "") != v.Addr.Addr().IsValid() || v.Addr.Addr().Is6() != v.IPv6 && v.Host == "" {
			t.Fatalf("address service %s: %+v", v.ID(), v)
		}
	default:
		t.Fatalf("protocol %q", v.Protocol)
	}
	if v.CheckType == "combined" {
		if v.CheckConnects < 0 {
			t.Fatalf("checktype combined %d", v.CheckConnects)
		}
	} else if !ldIn(v.CheckType, ldCheckTypes) {
		t.Fatalf("checktype %q", v.CheckType)
	}
	if !ldIn(v.Service, ldServices) || (v.HTTPMethod != "GET" && v.HTTPMethod != "HEAD") || v.Scheduler == "" {
		t.Fatalf("service %q, httpmethod %q, scheduler %q", v.Service, v.HTTPMethod, v.Scheduler)
	}
	if max := map[bool]int{false: 32, true: 128}[v.IPv6]; v.Netmask < 0 || v.Netmask > max {
		t.Fatalf("netmask %d", v.Netmask)
	}
	if v.EffectiveCheckTimeout() <= 0 || v.EffectiveNegotiateTimeout() <= 0 || v.EffectiveCheckInterval() <= 0 ||
		v.EffectiveFailureCount() < 1 || v.Persistent < 0 || v.Persistent > ldMaxPersistent {
		t.Fatalf("timing of %s", v.ID())
	}
	for k, l := range v.Lines {
		if d, ok := ldDirectives[k]; !ok || d.scope&ldSection == 0 || !inFile(l) {
			t.Fatalf("%s: Lines[%q] = %d", v.ID(), k, l)
		}
	}
	seen := map[string]bool{}
	for i := range v.Reals {
		r := &v.Reals[i]
		checkLdReal(t, r, inFile)
		if r.Host == "" && r.Addr.Addr().Is6() != v.IPv6 {
			t.Fatalf("real %s in %s", r, v.ID())
		}
		if k := ldServerKey(v, r); seen[k] {
			t.Fatalf("real %s twice in %s", r, v.ID())
		} else {
			seen[k] = true
		}
	}
	if v.Fallback != nil {
		checkLdReal(t, v.Fallback, inFile)
	}
}

func checkLdReal(t *testing.T, r *Real, inFile func(int) bool) {
	t.Helper()
	if !inFile(r.Line) || !ldIn(r.Method, ldMethods) || r.Weight < 0 || r.Weight > 65535 ||
		(r.Host == "") != r.Addr.Addr().IsValid() || (r.HostRangeEnd != "" && r.Host == "") ||
		r.LowerThreshold < 0 || r.UpperThreshold < 0 {
		t.Fatalf("real %+v", r)
	}
}
