package vm_test

import (
	"testing"

	"hbgo/test/vm"
)

// TestVMIPVS is the host half of the smoke test: it boots the machine and
// runs TestInVMIPVS there, failing when the inner half fails or skips.
func TestVMIPVS(t *testing.T) {
	res := vm.RunGoTests(t, "hbgo/test/vm", "^TestInVMIPVS$")
	if res != nil {
		t.Logf("boot %v, total %v", res.Boot, res.Total)
	}
}
