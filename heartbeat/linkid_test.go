package heartbeat

import (
	"strings"
	"testing"
)

func TestLinkID(t *testing.T) {
	long := "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0-and-then-some-more"
	cases := []struct {
		i    int
		name string
		want string
	}{
		{0, "eth0", "eth0"},
		{2, "/dev/ttyS0", "/dev/ttyS0"},
		{3, long, "3~" + long[len(long)-24:]},
	}
	for _, c := range cases {
		got := linkID(c.i, c.name)
		if got != c.want || len(got) > maxNameLen {
			t.Errorf("linkID(%d, %q) = %q, want %q", c.i, c.name, got, c.want)
		}
	}
	// A packet naming such a link encodes.
	s := Signer{KeyNum: 1, Method: "sha1", Secret: []byte("k")}
	if _, err := s.Encode(nil, &Packet{Node: "n1", Link: linkID(3, long), Status: StatusUp}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Encode(nil, &Packet{Node: strings.Repeat("n", 65), Status: StatusUp}); err == nil {
		t.Fatal("a 65-byte node name encoded")
	}
}
