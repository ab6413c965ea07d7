package vm

import (
	"bytes"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestModuleOrder(t *testing.T) {
	idx := &moduleIndex{path: map[string]string{}, deps: map[string][]string{}, pre: map[string][]string{}, builtin: map[string]bool{}}
	dep := `kernel/net/netfilter/ipvs/ip_vs_wrr.ko: kernel/net/netfilter/ipvs/ip_vs.ko kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko
kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko
kernel/net/netfilter/nf_conntrack.ko: kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko
kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko:
kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko:
kernel/lib/libcrc32c.ko:
kernel/crypto/crc32c_generic.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/drivers/net/veth.ko:
`
	if err := idx.parseDep(strings.NewReader(dep)); err != nil {
		t.Fatal(err)
	}
	if err := idx.parseSoftdep(strings.NewReader("# comment\nsoftdep libcrc32c pre: crc32c post: foo\nsoftdep ext4 pre: crypto-crc32c\n")); err != nil {
		t.Fatal(err)
	}
	idx.builtin["bridge"] = true
	got, err := idx.order([]string{"ip_vs_wrr", "ip_vs", "bridge", "veth.ko"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kernel/crypto/crc32c_generic.ko", // soft "pre" of libcrc32c, alias crc32c, not the SSE4.2 one
		"kernel/lib/libcrc32c.ko",
		"kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko",
		"kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko",
		"kernel/net/netfilter/nf_conntrack.ko",
		"kernel/net/netfilter/ipvs/ip_vs.ko",
		"kernel/net/netfilter/ipvs/ip_vs_wrr.ko",
		"kernel/drivers/net/veth.ko",
	}
	// Every module comes after everything it needs, each once.
	pos := map[string]int{}
	for i, p := range got {
		pos[p] = i
	}
	if len(got) != len(want) {
		t.Fatalf("order = %q, want the %d modules of %q", got, len(want), want)
	}
	for _, before := range [][2]string{{want[0], want[1]}, {want[1], want[4]}, {want[2], want[4]}, {want[3], want[4]}, {want[4], want[5]}, {want[5], want[6]}} {
		if pos[before[0]] >= pos[before[1]] {
			t.Errorf("order = %q: %s must come before %s", got, before[0], before[1])
		}
	}
	if _, err := idx.order([]string{"ip_vs_twos"}); err == nil || !strings.Contains(err.Error(), "ip_vs_twos") {
		t.Errorf("unknown module: err = %v, want one naming it", err)
	}
}

func TestShellQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	args := []string{"plain", "two words", "it's", `"double" $HOME \n`, "", "-test.run=^A$|B"}
	var q []string
	for _, a := range args {
		q = append(q, shellQuote(a))
	}
	// /init is a shell script: the quoted words must come back unchanged.
	out, err := exec.Command(sh, "-c", `eval "set -- $1"; for a in "$@"; do printf '%s\0' "$a"; done`, "sh", strings.Join(q, " ")).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !reflect.DeepEqual(got, args) {
		t.Errorf("round trip through sh: %q, want %q", got, args)
	}
}

func TestInitScript(t *testing.T) {
	s, err := initScript(initSpec{nonce: "n1", release: "6.1.0-x", modules: []string{"kernel/lib/libcrc32c.ko"}, args: []string{"-test.run", "^X$"}, env: []string{"A=b c"}, dir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"#!/bin/sh\n",
		"insmod '/lib/modules/6.1.0-x/kernel/lib/libcrc32c.ko' || { echo 'hbgo-vm-marker n1 insmod-failed libcrc32c';",
		"export A='b c'\n",
		"export " + InVMEnv + "=1\n",
		"cd '/w'",
		guestBinary + " '-test.run' '^X$'\n",
		"echo \"hbgo-vm-marker n1 exit $1\"",
		"poweroff -f",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("init script lacks %q:\n%s", want, s)
		}
	}
	if _, err := initScript(initSpec{nonce: "n", env: []string{"BAD NAME=1"}}); err == nil {
		t.Error("env name with a space accepted")
	}
}

func TestParseConsoleLine(t *testing.T) {
	for _, c := range []struct {
		line string
		want consoleLine
	}{
		{"hbgo-vm-marker abc init", consoleLine{marker: true, init: true, exit: -1}},
		{"[    1.2] random: crng init done hbgo-vm-marker abc exit 3", consoleLine{marker: true, exit: 3}},
		{"hbgo-vm-marker abc insmod-failed ip_vs", consoleLine{marker: true, exit: -1, insmod: "ip_vs"}},
		{"hbgo-vm-marker other exit 0", consoleLine{exit: -1}}, // another nonce: test output
		{"--- PASS: TestX (0.01s)", consoleLine{exit: -1}},
		{"hbgo-vm-marker abc exit x", consoleLine{exit: -1}},
	} {
		if got := parseConsoleLine(c.line, "abc"); got != c.want {
			t.Errorf("parseConsoleLine(%q) = %+v, want %+v", c.line, got, c.want)
		}
	}
	if got := ansiRE.ReplaceAllString("\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16)", ""); got != "SeaBIOS (version 1.16)" {
		t.Errorf("escape sequences left: %q", got)
	}
}

// TestCpioLayout checks the byte layout of newc records: 110-byte header,
// name with NUL padded to 4, data padded to 4, inode 0 trailer.
func TestCpioLayout(t *testing.T) {
	var b bytes.Buffer
	c := newCpioWriter(&b)
	c.Bytes("/etc/hosts", 0o644, []byte("abcde"))
	c.Symlink("bin/sh", "/bin/busybox")
	c.CharDev("dev/console", 0o600, 5, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	type rec struct {
		name, data      string
		mode, maj, min  uint64
		nlink, namesize uint64
	}
	var recs []rec
	data := b.Bytes()
	for len(data) > 0 {
		if len(data) < 110 || string(data[:6]) != "070701" {
			t.Fatalf("bad header at %d bytes from the end: %q", len(data), data[:min(len(data), 16)])
		}
		field := func(i int) uint64 {
			var v uint64
			for _, ch := range data[6+8*i : 14+8*i] {
				v = v*16 + uint64(strings.IndexByte("0123456789abcdef", ch))
			}
			return v
		}
		r := rec{mode: field(1), nlink: field(4), maj: field(9), min: field(10), namesize: field(11)}
		size := field(6)
		off := 110 + int(r.namesize)
		r.name = string(data[110 : off-1])
		off = (off + 3) &^ 3
		r.data = string(data[off : off+int(size)])
		off = (off + int(size) + 3) &^ 3
		recs = append(recs, r)
		data = data[off:]
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.name)
	}
	if want := []string{"etc", "etc/hosts", "bin", "bin/sh", "dev", "dev/console", "TRAILER!!!"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	if r := recs[1]; r.mode != modeFile|0o644 || r.data != "abcde" {
		t.Errorf("file record %+v", r)
	}
	if r := recs[3]; r.mode != modeLink|0o777 || r.data != "/bin/busybox" {
		t.Errorf("symlink record %+v", r)
	}
	if r := recs[5]; r.mode != modeChar|0o600 || r.maj != 5 || r.min != 1 {
		t.Errorf("device record %+v", r)
	}
	if r := recs[0]; r.mode != modeDir|0o755 {
		t.Errorf("implicit parent record %+v", r)
	}
}
