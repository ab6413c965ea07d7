package ipvsvm

import (
	"testing"

	"hbgo/test/vm"
)

// ipvsadmEnv names the path of ipvsadm in the machine, when the host
// shipped it there.
const ipvsadmEnv = "HBGO_IPVSADM"

// vmOptions are the machine's options: the namespace harness's modules,
// and ipvsadm with its libraries, the oracle some inner tests compare
// with. Without ipvsadm on the host those tests skip, except under CI.
func vmOptions(tb testing.TB) vm.GoTestOptions {
	tb.Helper()
	o := vm.GoTestOptions{Modules: vm.NetnsModules}
	files, err := vm.HostProgram("ipvsadm")
	if err != nil {
		if vm.CI() {
			tb.Fatalf("ipvsadm for the VM: %v (install Debian's ipvsadm)", err)
		}
		tb.Logf("ipvsadm not shipped into the VM, the comparisons with it skip: %v", err)
		return o
	}
	o.Files = files
	for p := range files {
		if len(p) > 8 && p[len(p)-8:] == "/ipvsadm" {
			o.Env = []string{ipvsadmEnv + "=" + p}
		}
	}
	return o
}

// TestVMIPVS boots the machine once and runs every inner test there
// (TestInVM*): the kernel table against the kernel's own view and
// against ipvsadm, traffic through NAT and direct routing, reloads, the
// sync daemon and LVSSyncDaemonSwap.
func TestVMIPVS(t *testing.T) {
	vm.RunGoTestsWith(t, ".", "^TestInVM", vmOptions(t))
}
