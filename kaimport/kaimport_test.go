package kaimport

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hbgo/conf"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

// cases are the realistic configurations of testdata, each imported alone
// or as a pair.
var cases = []struct {
	name  string
	files []string
	names []string
}{
	{"dr-pair", []string{"testdata/dr-master.conf", "testdata/dr-backup.conf"}, nil},
	{"dr-master", []string{"testdata/dr-master.conf"}, []string{"lvs1", "lvs2"}},
	{"web-sorry", []string{"testdata/web-sorry.conf"}, nil},
	{"multi", []string{"testdata/multi.conf"}, []string{"dir-a", "dir-b"}},
	{"include", []string{"testdata/include/keepalived.conf"}, nil},
}

// fixedRand makes the random secret of a config without auth_pass the
// same on every run, for the golden files.
type fixedRand struct{}

func (fixedRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return len(p), nil
}

// render joins the outputs and the not-carried list as the command prints
// them, for the golden files.
func render(r *Result) string {
	var b strings.Builder
	for _, it := range r.NotCarried {
		fmt.Fprintf(&b, "not carried (%s): %s\n", it.Target, it)
	}
	for _, f := range r.Files {
		fmt.Fprintf(&b, "==> %s (mode %04o) <==\n%s\n", f.Name, f.Mode, f.Data)
	}
	return b.String()
}

func TestImportGolden(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Import(tc.files, Options{NodeNames: tc.names, Rand: fixedRand{}})
			if r.Diags.HasErrors() {
				t.Fatalf("errors:\n%s", r.Diags)
			}
			golden := filepath.Join("testdata", "golden", tc.name+".txt")
			got := render(r)
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./kaimport -run TestImportGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs; got:\n%s", golden, got)
			}
		})
	}
}

// TestImportPassesCheckConfig writes each import to a directory and runs
// check-config's logic on it: no errors.
func TestImportPassesCheckConfig(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Import(tc.files, Options{NodeNames: tc.names, Rand: fixedRand{}})
			if r.Diags.HasErrors() {
				t.Fatalf("errors:\n%s", r.Diags)
			}
			if len(r.Files) != 4 {
				t.Fatalf("got %d files, want 4", len(r.Files))
			}
			dir := t.TempDir()
			for _, f := range r.Files {
				if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, f.Mode); err != nil {
					t.Fatal(err)
				}
			}
			c, ds, err := conf.Load(dir, conf.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.HasErrors() {
				t.Fatalf("check-config errors:\n%s", ds)
			}
			for _, d := range ds {
				t.Logf("check-config: %s", d)
			}
			if c.Resources == nil || len(c.Ldirectord) != 1 || len(c.Ldirectord[0].Virtuals) == 0 {
				t.Fatalf("haresources or ldirectord.cf missing from the load")
			}
		})
	}
}

// TestNothingDroppedSilently: every statement of every test config ends
// in an output directive or in the not-carried list, and none of them by
// the catch-all. Of a pair, the first config is converted; the second is
// compared with it.
func TestNothingDroppedSilently(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Import(tc.files, Options{NodeNames: tc.names, Rand: fixedRand{}})
			listed := map[*Node]bool{}
			for _, it := range r.NotCarried {
				if strings.Contains(it.Why, "hbgo has no equivalent") || strings.Contains(it.Why, "unknown keyword") {
					t.Errorf("caught only by the catch-all: %s", it)
				}
				for _, n := range r.Nodes {
					if n.File == it.File && n.Line == it.Line {
						listed[n] = true
						walk(n.Block, func(c *Node) { listed[c] = true })
					}
				}
			}
			carried := map[*Node]bool{}
			for _, n := range r.Carried {
				carried[n] = true
			}
			for _, n := range r.Nodes {
				if !n.used {
					t.Errorf("%s: %s neither carried nor listed", n.Pos(), n.Text())
				}
				second := len(tc.files) == 2 && n.File == tc.files[1]
				if !second && !carried[n] && !listed[n] && !syncMember(n, r) {
					t.Errorf("%s: %s marked used but neither carried nor listed", n.Pos(), n.Text())
				}
			}
		})
	}
}

// syncMember reports whether n names an instance of a vrrp_sync_group,
// whose instances share one haresources line.
func syncMember(n *Node, r *Result) bool {
	for _, g := range r.Nodes {
		if g.Key == "group" && slices.Contains(g.Block, n) {
			return true
		}
	}
	return false
}

func TestUnknownKeywordWithoutSuggestionIsListed(t *testing.T) {
	p := writeConf(t, t.TempDir(), "keepalived.conf", strings.Replace(okInstance, "    priority 150\n", "    priority 150\n    frobnicate 1\n", 1))
	r := Import([]string{p}, Options{})
	if r.Diags.HasErrors() {
		t.Fatal(r.Diags)
	}
	want := Item{File: p, Line: 6, Target: conf.HACFName, What: "frobnicate 1", Why: "unknown keyword in vrrp_instance, not carried"}
	if !slices.Contains(r.NotCarried, want) {
		t.Errorf("not listed as %v: %v", want, r.NotCarried)
	}
}

func TestPairUnicastMismatch(t *testing.T) {
	dir := t.TempDir()
	a := strings.Replace(okInstance, "    priority 150\n", "    priority 150\n    unicast_src_ip 10.0.0.2\n    unicast_peer {\n        10.0.0.3\n    }\n", 1)
	b := strings.Replace(okInstance, "    priority 150\n", "    priority 100\n    unicast_src_ip 10.0.0.4\n    unicast_peer {\n        10.0.0.2\n    }\n", 1)
	pa := writeConf(t, dir, "a.conf", a)
	pb := writeConf(t, dir, "b.conf", b)
	r := Import([]string{pa, pb}, Options{})
	want := pb + ":6: error: pair: unicast_src_ip 10.0.0.4 of vrrp_instance VI_1 is not a unicast_peer in " + pa + " (10.0.0.3)\n"
	if got := r.Diags.String(); got != want {
		t.Errorf("got:\n%swant:\n%s", got, want)
	}
}

// writeConf writes a config into a temporary directory and returns its
// path.
func writeConf(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const okInstance = `vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 1
    priority 150
    authentication {
        auth_type PASS
        auth_pass pw
    }
    virtual_ipaddress {
        10.0.0.100/24
    }
}
`

func TestImportErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // diagnostics, FILE replaced by the file's path
	}{
		{"missing close", okInstance + "virtual_server 10.0.0.100 80 {\n    lb_algo rr\n    real_server 10.1.0.1 80 {\n        weight 1\n}\n",
			[]string{"FILE:14: error: unbalanced '{': the block of virtual_server is never closed (missing '}')"}},
		{"extra close", okInstance + "}\n",
			[]string{"FILE:14: error: unbalanced '}': no block is open here"}},
		{"unknown keyword", okInstance + "virtual_server 10.0.0.100 80 {\n    lb_alog rr\n    real_server 10.1.0.1 80 {\n        wieght 1\n    }\n}\n",
			[]string{
				"FILE:15: error: unknown keyword lb_alog in virtual_server (did you mean lb_algo?)",
				"FILE:17: error: unknown keyword wieght in real_server (did you mean weight?)",
			}},
		{"vip not brought up", okInstance + "virtual_server 10.0.0.101 80 {\n    lb_algo rr\n}\n",
			[]string{"FILE:14: error: virtual_server 10.0.0.101 80: no vrrp_instance brings up 10.0.0.101 (add it to a virtual_ipaddress block)"}},
		{"bad address", okInstance + "virtual_server 10.0.0.x 80 {\n    lb_algo rr\n}\n",
			[]string{"FILE:14: error: virtual_server \"10.0.0.x\" is not an address"}},
		{"include missing", okInstance + "include conf.d/*.conf\n",
			[]string{"FILE:14: error: include conf.d/*.conf: no file matches"}},
		{"bad priority", strings.Replace(okInstance, "priority 150", "priority high", 1),
			[]string{"FILE:5: error: priority \"high\": want a number 1..255"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConf(t, t.TempDir(), "keepalived.conf", tc.text)
			r := Import([]string{p}, Options{})
			var want strings.Builder
			for _, w := range tc.want {
				want.WriteString(strings.ReplaceAll(w, "FILE", p) + "\n")
			}
			if got := r.Diags.String(); got != want.String() {
				t.Errorf("got:\n%swant:\n%s", got, want.String())
			}
			if r.Files != nil {
				t.Errorf("files written despite errors")
			}
		})
	}
}

// TestImportErrorInInclude: a problem in an included file names that file.
func TestImportErrorInInclude(t *testing.T) {
	dir := t.TempDir()
	main := writeConf(t, dir, "keepalived.conf", okInstance+"include services.conf\n")
	inc := writeConf(t, dir, "services.conf", "virtual_server 10.0.0.100 80 {\n    lb_algo rr\n    delay_lop 5\n}\n")
	r := Import([]string{main}, Options{})
	want := inc + ":3: error: unknown keyword delay_lop in virtual_server (did you mean delay_loop?)\n"
	if got := r.Diags.String(); got != want {
		t.Errorf("got:\n%swant:\n%s", got, want)
	}
}

func TestPairDifferences(t *testing.T) {
	dir := t.TempDir()
	a, err := os.ReadFile("testdata/dr-master.conf")
	if err != nil {
		t.Fatal(err)
	}
	bText, err := os.ReadFile("testdata/dr-backup.conf")
	if err != nil {
		t.Fatal(err)
	}
	// The backup schedules with rr, lacks a real server, and has another
	// VIP prefix.
	bs := strings.Replace(string(bText), "lb_algo wlc", "lb_algo rr", 1)
	bs = strings.Replace(bs, "10.0.0.100/24 dev eth0", "10.0.0.100/23 dev eth0", 1)
	i := strings.Index(bs, "    real_server 192.168.10.12 80 {")
	j := strings.Index(bs[i:], "    }\n    }\n") + i + len("    }\n    }\n")
	bs = bs[:i] + bs[j:]
	pa := writeConf(t, dir, "master.conf", string(a))
	pb := writeConf(t, dir, "backup.conf", bs)
	r := Import([]string{pa, pb}, Options{})
	want := []string{
		pb + ":27: error: pair: vrrp_instance VI_WEB > virtual_ipaddress > 10.0.0.100/23 is not in " + pa,
		pb + ":33: error: pair: virtual_server 10.0.0.100 80 > lb_algo is \"rr\" here but \"wlc\" at " + pa + ":33",
		pa + ":27: error: pair: vrrp_instance VI_WEB > virtual_ipaddress > 10.0.0.100/24 is not in " + pb,
		pa + ":47: error: pair: virtual_server 10.0.0.100 80 > real_server 192.168.10.12 80 is not in " + pb,
	}
	var ds conf.Diags = r.Diags
	got := map[string]bool{}
	for _, d := range ds {
		got[d.String()] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing %q", w)
		}
	}
	if len(ds) != len(want) {
		t.Errorf("got %d diagnostics, want %d:\n%s", len(ds), len(want), ds)
	}
	if t.Failed() {
		t.Logf("got:\n%s", ds)
	}
}

// TestNodeNamesFromPair: two configs name both nodes by their router_id,
// and the higher priority side is home.
func TestNodeNamesFromPair(t *testing.T) {
	r := Import([]string{"testdata/dr-backup.conf", "testdata/dr-master.conf"}, Options{})
	if r.Diags.HasErrors() {
		t.Fatal(r.Diags)
	}
	for _, f := range r.Files {
		switch f.Name {
		case conf.HACFName:
			if !bytes.Contains(f.Data, []byte("node\t\tlvs2\nnode\t\tlvs1\n")) {
				t.Errorf("ha.cf nodes:\n%s", f.Data)
			}
		case conf.HaresourcesName:
			if !bytes.Contains(f.Data, []byte("\nlvs1 IPaddr2::10.0.0.100/24/eth0 ")) {
				t.Errorf("haresources home is not lvs1:\n%s", f.Data)
			}
		}
	}
}

func TestMasterDown(t *testing.T) {
	for _, tc := range []struct {
		advert string
		prio   int
		want   string
	}{{"1s", 100, "3.61s"}, {"1s", 255, "3.004s"}, {"2s", 200, "6.438s"}, {"500ms", 90, "1.825s"}} {
		a, _ := conf.ParseDuration(tc.advert)
		if got := MasterDown(a, tc.prio).String(); got != tc.want {
			t.Errorf("MasterDown(%s, %d) = %s, want %s", tc.advert, tc.prio, got, tc.want)
		}
	}
}

// TestTestdataIsValidKeepalived runs keepalived's own config test on the
// test configurations, so that they are what keepalived accepts.
func TestTestdataIsValidKeepalived(t *testing.T) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("keepalived not installed (Debian package keepalived)")
		}
		t.Skip("keepalived not installed")
	}
	for _, f := range []string{"dr-master.conf", "dr-backup.conf", "web-sorry.conf", "multi.conf", "include/keepalived.conf"} {
		abs, _ := filepath.Abs(filepath.Join("testdata", f))
		// keepalived exits non-zero on any warning, and the interfaces
		// of the configs do not exist here: judge by what it says.
		out, _ := exec.Command(bin, "--config-test", "-f", abs, "-l").CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			low := strings.ToLower(l)
			for _, bad := range []string{"unknown", "invalid", "expect", "error", "missing", "unexpected"} {
				if strings.Contains(low, bad) {
					t.Errorf("keepalived --config-test %s: %s", f, l)
				}
			}
		}
	}
}

// BenchmarkImportLarge imports a config of 1000 virtual servers with two
// real servers each.
func BenchmarkImportLarge(b *testing.B) {
	var t strings.Builder
	t.WriteString("vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    priority 150\n    virtual_ipaddress {\n        10.0.0.100/24\n    }\n}\n")
	for i := range 1000 {
		fmt.Fprintf(&t, "virtual_server 10.0.0.100 %d {\n    delay_loop 5\n    lb_algo wrr\n    lb_kind DR\n    protocol TCP\n", 1000+i)
		for j := range 2 {
			fmt.Fprintf(&t, "    real_server 10.1.%d.%d %d {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n", i/200, j+1, 1000+i)
		}
		t.WriteString("}\n")
	}
	data := []byte(t.String())
	read := func(string) ([]byte, error) { return data, nil }
	b.ResetTimer()
	for b.Loop() {
		r := Import([]string{"k.conf"}, Options{ReadFile: read, Rand: fixedRand{}})
		if r.Diags.HasErrors() || len(r.Files) != 4 {
			b.Fatal(r.Diags)
		}
	}
	b.ReportMetric(float64(len(data)), "input-bytes")
}

// TestImportIPv6: an IPv6 instance and service become IPv6addr and a
// virtual6 section that check-config accepts.
func TestImportIPv6(t *testing.T) {
	text := `vrrp_instance VI_6 {
    state MASTER
    interface eth0
    priority 150
    virtual_ipaddress {
        2001:db8::100/64
    }
}
virtual_server 2001:db8::100 80 {
    lb_algo rr
    lb_kind DR
    persistence_timeout 60
    persistence_granularity 64
    sorry_server 2001:db8::1 80
    real_server 2001:db8:1::11 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
`
	dir := t.TempDir()
	p := writeConf(t, dir, "keepalived.conf", text)
	r := Import([]string{p}, Options{Rand: fixedRand{}})
	if r.Diags.HasErrors() {
		t.Fatal(r.Diags)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, f := range r.Files {
		all.Write(f.Data)
		if err := os.WriteFile(filepath.Join(out, f.Name), f.Data, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"IPv6addr::2001:db8::100/64/eth0 ", "virtual6=[2001:db8::100]:80\n", "\treal6=[2001:db8:1::11]:80 gate 1\n", "\tfallback6=[2001:db8::1]:80 gate\n", "\tnetmask=64\n"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, all.String())
		}
	}
	_, ds, err := conf.Load(out, conf.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.HasErrors() {
		t.Errorf("check-config errors:\n%s", ds)
	}
}
