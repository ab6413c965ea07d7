package heartbeat

import (
	"net/netip"
	"testing"
)

func testPacket() *Packet {
	return &Packet{
		Cluster: 0xabcd0123, Status: StatusUp, Generation: 7, Seq: 42,
		Node: "lvs1", Link: "eth0",
		Services: []Service{
			{ServiceRaft, netip.MustParseAddrPort("10.0.0.1:695")},
			{ServiceGossip, netip.MustParseAddrPort("[2001:db8::1]:696")},
		},
		App: []byte("owner-state"),
	}
}

func TestPacketRoundTrip(t *testing.T) {
	for _, method := range []string{"sha1", "md5", "crc"} {
		s := Signer{KeyNum: 1, Method: method, Secret: []byte("s3cret")}
		b, err := s.Encode(nil, testPacket())
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Decode(b, 0xabcd0123)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		want := testPacket()
		want.KeyNum = 1
		if p.Node != want.Node || p.Link != want.Link || p.Seq != want.Seq || p.Generation != want.Generation ||
			p.Status != want.Status || string(p.App) != string(want.App) || len(p.Services) != 2 || p.Services[1] != want.Services[1] || p.Services[0] != want.Services[0] {
			t.Fatalf("%s: got %+v", method, p)
		}
	}
}

func TestPacketSize(t *testing.T) {
	s := Signer{KeyNum: 1, Method: "sha1", Secret: []byte("k")}
	p := testPacket()
	p.Node = "director"
	p.Services = p.Services[:1]
	p.Services = append(p.Services, Service{ServiceGossip, netip.MustParseAddrPort("10.0.0.1:696")})
	p.App = nil
	b, _ := s.Encode(nil, p)
	if len(b) != 79 {
		t.Fatalf("heartbeat with an 8-byte name, 4-byte link and two IPv4 services is %d bytes; the doc says 79", len(b))
	}
}

func TestPacketRejects(t *testing.T) {
	good := Signer{KeyNum: 1, Method: "sha1", Secret: []byte("s3cret")}
	b, _ := good.Encode(nil, testPacket())
	flip := func(i int) []byte { c := append([]byte(nil), b...); c[i] ^= 0x40; return c }
	cases := []struct {
		name   string
		signer Signer
		data   []byte
		reason string
	}{
		{"wrong secret", Signer{KeyNum: 1, Method: "sha1", Secret: []byte("other")}, b, DropAuth},
		{"wrong key number", Signer{KeyNum: 2, Method: "sha1", Secret: []byte("s3cret")}, b, DropKey},
		{"flipped seq", good, flip(20), DropAuth},
		{"flipped name", good, flip(27), DropAuth},
		{"bad magic", good, flip(0), DropMalformed},
		{"version", good, flip(2), DropVersion},
		{"cluster", good, flip(5), DropCluster},
		{"short", good, b[:10], DropMalformed},
		{"oversize", good, make([]byte, MaxPacket+1), DropOversize},
		{"md5 signer on sha1 packet", Signer{KeyNum: 1, Method: "md5", Secret: []byte("s3cret")}, b, DropAuth},
	}
	for _, c := range cases {
		_, err := c.signer.Decode(c.data, 0xabcd0123)
		if got := DropReason(err); got != c.reason {
			t.Errorf("%s: reason %q (%v), want %q", c.name, got, err, c.reason)
		}
	}
}

func TestHistory(t *testing.T) {
	h := newHistory()
	p := func(gen, seq uint64, link string) *Packet {
		return &Packet{Node: "n2", Generation: gen, Seq: seq, Link: link}
	}
	steps := []struct {
		p         *Packet
		reason    string
		restarted bool
	}{
		{p(5, 1, "eth0"), "", false},
		{p(5, 1, "eth1"), "", false}, // each sender link has its own sequence
		{p(5, 2, "eth0"), "", false},
		{p(5, 2, "eth0"), DropReplay, false},
		{p(5, 1, "eth0"), DropReplay, false},
		{p(4, 9, "eth0"), DropGeneration, false},
		{p(6, 1, "eth0"), "", true},
		{p(6, 1, "eth1"), "", false},
		{p(5, 3, "eth0"), DropGeneration, false},
	}
	for i, s := range steps {
		restarted, err := h.accept(s.p)
		if DropReason(err) != s.reason || restarted != s.restarted {
			t.Fatalf("step %d: reason %q restarted %v, want %q %v", i, DropReason(err), restarted, s.reason, s.restarted)
		}
	}
}

func FuzzDecode(f *testing.F) {
	s := Signer{KeyNum: 1, Method: "crc", Secret: nil}
	b, _ := s.Encode(nil, testPacket())
	f.Add(b)
	f.Add([]byte("hB\x01\x01"))
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := s.Decode(data, 0xabcd0123)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes.
		out, err := s.Encode(nil, p)
		if err != nil {
			t.Fatalf("decoded packet does not encode: %v", err)
		}
		if string(out) != string(data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", out, data)
		}
	})
}
