package ipvsvm

import (
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"hbgo/lvs"
	"hbgo/test/netns"
	"hbgo/test/vm"
)

// BenchmarkVMIPVSApply boots the machine and runs BenchmarkInVMApply
// there, reporting its metrics as this benchmark's.
func BenchmarkVMIPVSApply(b *testing.B) {
	o := vmOptions(b)
	o.Bench = "^BenchmarkInVMApply$"
	res := vm.RunGoTestsWith(b, ".", "XXX", o)
	for _, f := range vm.BenchLines(res.Output) {
		for i := 2; i+1 < len(f); i += 2 {
			if f[i+1] == "ns/op" || f[i+1] == "B/op" || f[i+1] == "allocs/op" {
				continue
			}
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				b.Fatalf("benchmark line %q: %v", f, err)
			}
			b.ReportMetric(v, f[i+1])
		}
	}
}

// bigConfig is services virtual services of servers real servers each.
func bigConfig(services, servers int) []lvs.Entry {
	es := make([]lvs.Entry, 0, services)
	for i := 0; i < services; i++ {
		e := lvs.Entry{Service: lvs.Service{
			ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 100, byte(i / 250), byte(i%250 + 1)}), 80)},
			Scheduler:  "wrr",
		}}
		for j := 0; j < servers; j++ {
			e.Dests = append(e.Dests, lvs.Dest{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 200, byte(j), byte(i%250 + 1)}), uint16(8000+i/250)), Method: lvs.Masq, Weight: j + 1})
		}
		es = append(es, e)
	}
	return es
}

// BenchmarkInVMApply programs 1000 services of 10 real servers each into
// an empty kernel table through Diff and Apply, then times a reload that
// changes nothing (List and Diff).
func BenchmarkInVMApply(b *testing.B) {
	if !vm.InVM() {
		b.Skip("inner half of BenchmarkVMIPVSApply: runs only inside the VM")
	}
	lab := netns.NewT(b)
	dir, err := lab.AddHost("dir")
	if err != nil {
		b.Fatal(err)
	}
	k := openTable(b, dir)
	want := bigConfig(1000, 10)
	var apply, noop, read time.Duration
	var changes int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		have, err := k.List(bg)
		if err != nil {
			b.Fatal(err)
		}
		if err := lvs.Apply(bg, k, lvs.Diff(have, nil, ownAll)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		start := time.Now()
		cs := lvs.Diff(nil, want, ownAll)
		if err := lvs.Apply(bg, k, cs); err != nil {
			b.Fatal(err)
		}
		apply += time.Since(start)
		changes = len(cs)

		start = time.Now()
		have, err = k.List(bg)
		if err != nil {
			b.Fatal(err)
		}
		read += time.Since(start)
		cs = lvs.Diff(have, want, ownAll)
		noop += time.Since(start)
		if len(cs) != 0 {
			b.Fatalf("a reload of the same table made %d changes, first %s", len(cs), cs[0].Ipvsadm())
		}
	}
	// The peer: ipvsadm -R with the same lines into an empty table of
	// another namespace, and ipvsadm -L -n reading it back.
	if bin := os.Getenv(ipvsadmEnv); bin != "" {
		peer, err := lab.AddHost("peer")
		if err != nil {
			b.Fatal(err)
		}
		var restoreT, listT time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			pk := openTable(b, peer)
			have, err := pk.List(bg)
			if err != nil {
				b.Fatal(err)
			}
			if err := lvs.Apply(bg, pk, lvs.Diff(have, nil, ownAll)); err != nil {
				b.Fatal(err)
			}
			pk.Close()
			b.StartTimer()
			restoreT += restore(b, bin, peer, lvs.Diff(nil, want, ownAll))
			start := time.Now()
			err = peer.Do(func() error { return exec.Command(bin, "-L", "-n").Run() })
			if err != nil {
				b.Fatal(err)
			}
			listT += time.Since(start)
		}
		b.ReportMetric(restoreT.Seconds()/float64(b.N), "ipvsadm-R-s")
		b.ReportMetric(listT.Seconds()*1000/float64(b.N), "ipvsadm-L-ms")
	}
	if changes != 11000 {
		b.Fatalf("programming from empty took %d changes, want 11000", changes)
	}
	b.ReportMetric(apply.Seconds()/float64(b.N), "apply-s")
	b.ReportMetric(float64(changes)/(apply.Seconds()/float64(b.N)), "changes/s")
	b.ReportMetric(noop.Seconds()*1000/float64(b.N), "noop-ms")
	b.ReportMetric(read.Seconds()*1000/float64(b.N), "list-ms")
}
