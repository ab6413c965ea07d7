package lvs

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
)

// TestKernelEncoding encodes services and servers as requests and
// decodes them as the kernel's replies would carry them: what goes out
// comes back, the IPv4 netmask travels in network byte order and the
// IPv6 one as a prefix length.
func TestKernelEncoding(t *testing.T) {
	for _, s := range []Service{
		{ServiceKey: ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("10.0.0.100:80")}, Scheduler: "wrr"},
		{ServiceKey: ServiceKey{Protocol: UDP, Addr: netip.MustParseAddrPort("10.0.0.53:53")}, Scheduler: "sh", SchedFlags: []string{"sh-port"}, OnePacket: true},
		{ServiceKey: ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("10.0.0.100:443")}, Scheduler: "rr", Persistent: 300 * time.Second, Netmask: 24},
		{ServiceKey: ServiceKey{Protocol: SCTP, Addr: netip.MustParseAddrPort("[2001:db8::1]:3868")}, Scheduler: "mh", SchedFlags: []string{"mh-fallback", "mh-port"}, Persistent: time.Hour, Netmask: 64},
		{ServiceKey: ServiceKey{Protocol: FWM, FWMark: 7, IPv6: true}, Scheduler: "lc"},
	} {
		ae := netlink.NewAttributeEncoder()
		ae.Nested(attrService, func(n *netlink.AttributeEncoder) error { encodeService(n, s); return nil })
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeService(b)
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		if got.Service.String() != s.String() {
			t.Errorf("round trip of %v gave %v", s, got.Service)
		}
		if s.ServiceKey.Protocol == TCP && s.Netmask == 24 {
			var raw []byte
			nested(b, attrService, func(ad *netlink.AttributeDecoder) error {
				for ad.Next() {
					if ad.Type() == svcNetmask {
						raw = ad.Bytes()
					}
				}
				return nil
			})
			if want := []byte{255, 255, 255, 0}; string(raw) != string(want) {
				t.Errorf("IPv4 /24 netmask sent as % x, want % x", raw, want)
			}
		}
	}
	d := Dest{Addr: netip.MustParseAddrPort("10.0.0.11:8080"), Method: Ipip, Weight: 7, UpperThreshold: 100, LowerThreshold: 10}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrDest, func(n *netlink.AttributeEncoder) error { encodeDest(n, d, true); return nil })
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeDest(b, ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("[2001:db8::1]:80")})
	if err != nil {
		t.Fatal(err)
	}
	if got.dest != d {
		t.Errorf("round trip of %v gave %v", d, got.dest)
	}
	if p := binary.BigEndian.Uint16(portBytes(8080)); p != 8080 {
		t.Errorf("port bytes %d", p)
	}
}
