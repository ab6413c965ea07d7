package ipvsvm

import (
	"testing"

	"hbgo/test/vm"
)

// TestVMIPVS boots the machine once and runs every inner test there
// (TestInVM*): the kernel table against the kernel's own view, traffic
// through NAT and direct routing, reloads, the sync daemon and
// LVSSyncDaemonSwap.
func TestVMIPVS(t *testing.T) {
	vm.RunGoTestsWith(t, ".", "^TestInVM", vm.GoTestOptions{Modules: vm.NetnsModules})
}
