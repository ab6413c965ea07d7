package vm_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"hbgo/test/vm"
)

// netlinkTimeout bounds every IPVS netlink call: moby/ipvs waits forever
// for a reply that never comes.
const netlinkTimeout = 5 * time.Second

// call runs one IPVS request with a deadline. On expiry the handle is
// closed, which makes the library's receive loop give up.
func call[T any](t *testing.T, h *ipvs.Handle, what string, f func() (T, error)) T {
	t.Helper()
	type reply struct {
		v   T
		err error
	}
	ch := make(chan reply, 1)
	go func() {
		v, err := f()
		ch <- reply{v, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("ipvs %s: %v", what, r.err)
		}
		return r.v
	case <-time.After(netlinkTimeout):
		h.Close()
		t.Fatalf("ipvs %s: no reply within %v", what, netlinkTimeout)
	}
	panic("unreachable")
}

func do(t *testing.T, h *ipvs.Handle, what string, f func() error) {
	t.Helper()
	call(t, h, what, func() (struct{}, error) { return struct{}{}, f() })
}

// TestInVMIPVS is the inner half of TestVMIPVS; it runs only inside the
// machine, against a kernel with IPVS.
func TestInVMIPVS(t *testing.T) {
	if !vm.InVM() {
		t.Skip("inner half of TestVMIPVS: runs only inside the VM")
	}
	h, err := ipvs.New("")
	if err != nil {
		t.Fatalf("ipvs handle: %v", err)
	}
	defer h.Close()

	svc := &ipvs.Service{
		AddressFamily: syscall.AF_INET,
		Protocol:      syscall.IPPROTO_TCP,
		Address:       net.ParseIP("10.0.0.100").To4(),
		Port:          80,
		SchedName:     ipvs.WeightedRoundRobin,
		Netmask:       0xffffffff,
	}
	dsts := []*ipvs.Destination{
		{AddressFamily: syscall.AF_INET, Address: net.ParseIP("10.0.0.1").To4(), Port: 80, Weight: 1, ConnectionFlags: ipvs.ConnectionFlagDirectRoute},
		{AddressFamily: syscall.AF_INET, Address: net.ParseIP("10.0.0.2").To4(), Port: 80, Weight: 3, ConnectionFlags: ipvs.ConnectionFlagMasq},
	}
	do(t, h, "add service", func() error { return h.NewService(svc) })
	for _, d := range dsts {
		do(t, h, "add destination "+d.Address.String(), func() error { return h.NewDestination(svc, d) })
	}

	svcs := call(t, h, "list services", h.GetServices)
	if len(svcs) != 1 {
		t.Fatalf("services read back: %d, want 1", len(svcs))
	}
	got := svcs[0]
	if !got.Address.Equal(svc.Address) || got.Port != 80 || got.Protocol != syscall.IPPROTO_TCP || got.SchedName != "wrr" || got.AddressFamily != syscall.AF_INET {
		t.Errorf("service read back: %s:%d proto %d sched %q af %d, want 10.0.0.100:80 TCP wrr AF_INET",
			got.Address, got.Port, got.Protocol, got.SchedName, got.AddressFamily)
	}
	gotDsts := call(t, h, "list destinations", func() ([]*ipvs.Destination, error) { return h.GetDestinations(svc) })
	want := map[string]string{"10.0.0.1:80": "fwd 3 weight 1", "10.0.0.2:80": "fwd 0 weight 3"}
	have := map[string]string{}
	for _, d := range gotDsts {
		have[net.JoinHostPort(d.Address.String(), fmt.Sprint(d.Port))] = fmt.Sprintf("fwd %d weight %d", d.ConnectionFlags&ipvs.ConnectionFlagFwdMask, d.Weight)
	}
	if fmt.Sprint(have) != fmt.Sprint(want) {
		t.Errorf("destinations read back: %v, want %v", have, want)
	}

	// The kernel's own view, independent of the library's parsing.
	table, err := os.ReadFile("/proc/net/ip_vs")
	if err != nil {
		t.Fatalf("read /proc/net/ip_vs: %v", err)
	}
	for _, line := range [][]string{
		{"TCP", "0A000064:0050", "wrr"},
		{"->", "0A000001:0050", "Route", "1"},
		{"->", "0A000002:0050", "Masq", "3"},
	} {
		if !hasFields(string(table), line) {
			t.Errorf("/proc/net/ip_vs lacks %q:\n%s", strings.Join(line, " "), table)
		}
	}

	do(t, h, "delete service", func() error { return h.DelService(svc) })
	if left := call(t, h, "list services", h.GetServices); len(left) != 0 {
		t.Errorf("services after delete: %d, want 0", len(left))
	}
}

// hasFields reports whether some line of text starts with the given fields.
func hasFields(text string, fields []string) bool {
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) >= len(fields) && strings.Join(f[:len(fields)], " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

// TestInVMContract is the inner half of TestVMRun/contract: it checks what
// the machine was told to provide, then exits 7 for the host to see.
func TestInVMContract(t *testing.T) {
	if !vm.InVM() {
		t.Skip("inner half of TestVMRun: runs only inside the VM")
	}
	if v := os.Getenv("HBGO_VM_T"); v != "it's ok" {
		t.Errorf("HBGO_VM_T = %q", v)
	}
	if wd, _ := os.Getwd(); wd != "/work dir" {
		t.Errorf("working directory %q", wd)
	}
	for file, want := range map[string]string{"/data/x": "file x\n", "/data/tree/a/b": "file b\n", "/data/tree/l": "file b\n"} {
		if got, err := os.ReadFile(file); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", file, got, err, want)
		}
	}
	if l, err := os.Readlink("/data/tree/l"); l != "a/b" {
		t.Errorf("/data/tree/l links to %q (%v), want a/b", l, err)
	}
	if _, err := os.Stat("/sys/module/veth"); err != nil {
		t.Errorf("veth not loaded: %v", err)
	}
	if _, err := os.Stat("/sys/module/ip_vs"); err == nil {
		t.Error("ip_vs loaded though only veth was asked for")
	}
	if !t.Failed() {
		fmt.Println("contract held")
		os.Exit(7)
	}
}

// TestInVMHang never ends inside the machine, for TestVMRun/timeout.
func TestInVMHang(t *testing.T) {
	if !vm.InVM() {
		t.Skip("inner half of TestVMRun: runs only inside the VM")
	}
	time.Sleep(time.Hour)
}
