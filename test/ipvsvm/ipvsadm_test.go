package ipvsvm

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"hbgo/lvs"
	"hbgo/test/netns"
)

// ipvsadm returns the path of ipvsadm in the machine, or skips.
func ipvsadm(tb testing.TB) string {
	tb.Helper()
	p := os.Getenv(ipvsadmEnv)
	if p == "" {
		tb.Skip("ipvsadm was not shipped into the VM")
	}
	return p
}

// each runs ipvsadm once for each change in host h, so that a refusal
// names its line.
func each(tb testing.TB, bin string, h *netns.Host, changes []lvs.Change) {
	tb.Helper()
	for _, c := range changes {
		var out []byte
		err := h.Do(func() (err error) {
			out, err = exec.Command(bin, strings.Fields(c.Ipvsadm())...).CombinedOutput()
			return err
		})
		if err != nil {
			tb.Errorf("ipvsadm %s: %v: %s", c.Ipvsadm(), err, out)
		}
	}
}

// replay makes the changes with ipvsadm -R in host h; when ipvsadm
// refuses, it names the line by making them one by one instead (the
// lines before the refused one are made again and fail as existing).
func replay(t *testing.T, bin string, h *netns.Host, changes []lvs.Change) {
	t.Helper()
	var in strings.Builder
	for _, c := range changes {
		in.WriteString(c.Ipvsadm() + "\n")
	}
	var out []byte
	err := h.Do(func() (err error) {
		cmd := exec.Command(bin, "-R")
		cmd.Stdin = strings.NewReader(in.String())
		out, err = cmd.CombinedOutput()
		return err
	})
	if err != nil {
		t.Errorf("ipvsadm -R: %v: %s; the lines one by one:", err, out)
		each(t, bin, h, changes)
	}
}

// restore runs ipvsadm -R in host h with the changes as its input.
func restore(tb testing.TB, bin string, h *netns.Host, changes []lvs.Change) time.Duration {
	tb.Helper()
	var in strings.Builder
	for _, c := range changes {
		in.WriteString(c.Ipvsadm() + "\n")
	}
	var out []byte
	start := time.Now()
	err := h.Do(func() (err error) {
		// The child is forked from this thread, so it runs in h's namespace.
		cmd := exec.Command(bin, "-R")
		cmd.Stdin = strings.NewReader(in.String())
		out, err = cmd.CombinedOutput()
		return err
	})
	took := time.Since(start)
	if err != nil {
		tb.Fatalf("ipvsadm -R in %s: %v: %s\ninput:\n%s", h.Name(), err, out, in.String())
	}
	return took
}

// TestInVMIpvsadm feeds the ipvsadm lines of the changes to the real
// ipvsadm in one namespace and applies the same changes through the
// kernel table in another: both kernels must end with the same table,
// from empty and after a difference that edits, adds and deletes.
func TestInVMIpvsadm(t *testing.T) {
	inVM(t)
	bin := ipvsadm(t)
	lab := netns.NewT(t)
	ours, err := lab.AddHost("ours")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := lab.AddHost("theirs")
	if err != nil {
		t.Fatal(err)
	}
	k, ref := openTable(t, ours), openTable(t, theirs)
	_, err = os.Stat("/sys/module/ip_vs_twos")
	want := bigTable(err == nil)

	same := func(what string) {
		t.Helper()
		a, err := k.List(bg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ref.List(bg)
		if err != nil {
			t.Fatal(err)
		}
		if ga, gb := lvs.FormatEntries(a), lvs.FormatEntries(b); ga != gb {
			t.Errorf("%s: the kernel table made\n%s\nipvsadm made\n%s", what, ga, gb)
		}
	}
	changes := lvs.Diff(nil, want, nil)
	if err := lvs.Apply(bg, k, changes); err != nil {
		t.Fatal(err)
	}
	replay(t, bin, theirs, changes)
	same("from empty")

	have, err := k.List(bg)
	if err != nil {
		t.Fatal(err)
	}
	want2 := slices.Clone(want)
	for i := range want2 {
		want2[i].Dests = slices.Clone(want2[i].Dests)
	}
	want2[0].Scheduler, want2[0].Persistent, want2[0].Netmask = "sh", 120*time.Second, 16
	want2[0].SchedFlags = []string{"sh-port"}
	want2[0].Dests[0].Weight, want2[0].Dests[0].Method = 9, lvs.Masq
	want2[0].Dests[1].UpperThreshold, want2[0].Dests[1].LowerThreshold = 40, 20
	want2[1].Dests = want2[1].Dests[1:]
	want2[2].Dests = append(want2[2].Dests, dst("10.3.0.1:8080", lvs.Ipip, 2))
	want2 = slices.Delete(want2, 3, 5)
	changes = lvs.Diff(have, want2, ownAll)
	if len(changes) < 6 {
		t.Fatalf("the difference has only %d changes", len(changes))
	}
	if err := lvs.Apply(bg, k, changes); err != nil {
		t.Fatal(err)
	}
	replay(t, bin, theirs, changes)
	same("after a difference")
}
