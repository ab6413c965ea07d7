package heartbeat

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"net/netip"
)

// Wire format of a heartbeat packet (version 1), big-endian:
//
//	magic     2  "hB"
//	version   1  1
//	kind      1  1 = heartbeat
//	cluster   4  cluster identity (see ClusterID)
//	keynum    1  authkeys key number that signed it
//	status    1  Status of the sender
//	gen       8  sender's generation, raised at every start
//	seq       8  per (sender, sender link) sequence number
//	name      1+n sender's node name
//	link      1+n sender's link name (so each link has its own sequence)
//	nsvc      1  count of service addresses, then per service:
//	  kind 1, addrlen 1 (4 or 16), addr, port 2
//	app       2+n opaque state of the cluster layer (at most MaxApp bytes)
//	mac       4 (crc), 16 (md5) or 20 (sha1)
//
// With a node name of 8 bytes, a link name of 4 and two IPv4 services the
// packet is 59 bytes plus its MAC: 79 bytes with sha1, with no
// cluster-layer state.
const (
	magic0, magic1 = 'h', 'B'
	wireVersion    = 1
	kindHeartbeat  = 1
	headerLen      = 2 + 1 + 1 + 4 + 1 + 1 + 8 + 8
	maxNameLen     = 64
	maxServices    = 8
	// MaxApp bounds the cluster layer's state carried in each heartbeat.
	MaxApp = 256
)

// Status is what a node says of itself in its heartbeats.
type Status uint8

const (
	// StatusUp is a running node.
	StatusUp Status = 1
	// StatusLeaving is a node shutting down on purpose: peers mark it dead
	// at once instead of waiting for deadtime.
	StatusLeaving Status = 2
)

func (s Status) String() string {
	switch s {
	case StatusUp:
		return "up"
	case StatusLeaving:
		return "leaving"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ServiceKind names a cluster service whose address travels in heartbeats.
type ServiceKind uint8

const (
	ServiceRaft   ServiceKind = 1
	ServiceGossip ServiceKind = 2
	ServiceCtl    ServiceKind = 3
)

func (k ServiceKind) String() string {
	switch k {
	case ServiceRaft:
		return "raft"
	case ServiceGossip:
		return "gossip"
	case ServiceCtl:
		return "control"
	}
	return fmt.Sprintf("service(%d)", uint8(k))
}

// Service is one address a peer needs to reach a cluster service.
type Service struct {
	Kind ServiceKind
	Addr netip.AddrPort
}

// Packet is one decoded heartbeat.
type Packet struct {
	Cluster    uint32
	KeyNum     uint8
	Status     Status
	Generation uint64
	Seq        uint64
	Node       string
	Link       string
	Services   []Service
	// App is the cluster layer's state, carried on every medium (serial
	// included) so that two-node mode sees its peer's claims wherever the
	// peer is heard.
	App []byte
}

// Reasons a received packet is dropped; each is counted and logged, rate-limited.
const (
	DropMalformed     = "malformed"
	DropOversize      = "oversize"
	DropVersion       = "version"
	DropCluster       = "wrong-cluster"
	DropKey           = "unknown-key"
	DropAuth          = "bad-auth"
	DropReplay        = "replay"
	DropGeneration    = "stale-generation"
	DropFutureGen     = "future-generation"
	DropUnknownNode   = "unknown-node"
	DropDuplicateName = "duplicate-name"
	// DropHeartbeat3: a Heartbeat 3 message where none is heard (quorum
	// mode, or the node speaks hbgo at the same time).
	DropHeartbeat3 = "heartbeat3"
)

// DropError says why a packet was refused; Reason is one of the Drop constants.
type DropError struct {
	Reason string
	Detail string
}

func (e *DropError) Error() string {
	if e.Detail == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Detail
}

func drop(reason, format string, args ...any) error {
	return &DropError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// DropReason extracts the reason of a decode error ("" when err is nil).
func DropReason(err error) string {
	var de *DropError
	if errors.As(err, &de) {
		return de.Reason
	}
	if err != nil {
		return DropMalformed
	}
	return ""
}

// Signer authenticates packets with one authkeys key: HMAC-SHA1 or HMAC-MD5
// keyed with the secret, or a plain CRC-32 for "crc", which protects against
// corruption only.
type Signer struct {
	KeyNum uint8
	Method string // "sha1", "md5", "crc"
	Secret []byte
	// Accept are the other keys of authkeys: a packet signed with any of
	// them is taken too, as Heartbeat takes any defined key, so that a
	// key is rotated node by node.
	Accept []Signer
}

// verifier is the signer of key number k: s itself or one it accepts.
func (s Signer) verifier(k uint8) (Signer, bool) {
	if k == s.KeyNum {
		return s, true
	}
	for _, a := range s.Accept {
		if a.KeyNum == k {
			return a, true
		}
	}
	return Signer{}, false
}

// macLen is the length of the MAC the signer appends.
func (s Signer) macLen() int {
	switch s.Method {
	case "sha1":
		return sha1.Size
	case "md5":
		return md5.Size
	default:
		return 4
	}
}

func (s Signer) mac(body []byte) []byte {
	var h hash.Hash
	switch s.Method {
	case "sha1":
		h = hmac.New(sha1.New, s.Secret)
	case "md5":
		h = hmac.New(md5.New, s.Secret)
	default:
		return binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(body))
	}
	h.Write(body)
	return h.Sum(nil)
}

// Encode appends the signed wire form of p to dst.
func (s Signer) Encode(dst []byte, p *Packet) ([]byte, error) {
	if len(p.Node) == 0 || len(p.Node) > maxNameLen || len(p.Link) > maxNameLen {
		return dst, fmt.Errorf("heartbeat: node or link name length out of range")
	}
	if len(p.Services) > maxServices {
		return dst, fmt.Errorf("heartbeat: too many services (%d)", len(p.Services))
	}
	start := len(dst)
	dst = append(dst, magic0, magic1, wireVersion, kindHeartbeat)
	dst = binary.BigEndian.AppendUint32(dst, p.Cluster)
	dst = append(dst, s.KeyNum, byte(p.Status))
	dst = binary.BigEndian.AppendUint64(dst, p.Generation)
	dst = binary.BigEndian.AppendUint64(dst, p.Seq)
	dst = append(dst, byte(len(p.Node)))
	dst = append(dst, p.Node...)
	dst = append(dst, byte(len(p.Link)))
	dst = append(dst, p.Link...)
	dst = append(dst, byte(len(p.Services)))
	for _, sv := range p.Services {
		a := sv.Addr.Addr().Unmap()
		b := a.AsSlice()
		dst = append(dst, byte(sv.Kind), byte(len(b)))
		dst = append(dst, b...)
		dst = binary.BigEndian.AppendUint16(dst, sv.Addr.Port())
	}
	if len(p.App) > MaxApp {
		return dst[:start], fmt.Errorf("heartbeat: cluster state of %d bytes exceeds %d", len(p.App), MaxApp)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(p.App)))
	dst = append(dst, p.App...)
	dst = append(dst, s.mac(dst[start:])...)
	if len(dst)-start > MaxPacket {
		return dst[:start], fmt.Errorf("heartbeat: packet of %d bytes exceeds %d", len(dst)-start, MaxPacket)
	}
	return dst, nil
}

// Decode parses and authenticates one packet. It checks only what the
// packet itself shows (form, cluster, key, MAC); sequence and generation are
// checked against the sender's history by the receiver.
func (s Signer) Decode(b []byte, cluster uint32) (*Packet, error) {
	if len(b) > MaxPacket {
		return nil, drop(DropOversize, "%d bytes", len(b))
	}
	if len(b) < headerLen+3 {
		return nil, drop(DropMalformed, "short packet of %d bytes", len(b))
	}
	if b[0] != magic0 || b[1] != magic1 {
		return nil, drop(DropMalformed, "bad magic")
	}
	if b[2] != wireVersion || b[3] != kindHeartbeat {
		return nil, drop(DropVersion, "version %d kind %d", b[2], b[3])
	}
	p := &Packet{
		Cluster:    binary.BigEndian.Uint32(b[4:]),
		KeyNum:     b[8],
		Status:     Status(b[9]),
		Generation: binary.BigEndian.Uint64(b[10:]),
		Seq:        binary.BigEndian.Uint64(b[18:]),
	}
	if p.Cluster != cluster {
		return nil, drop(DropCluster, "cluster %08x", p.Cluster)
	}
	v, ok := s.verifier(p.KeyNum)
	if !ok {
		return nil, drop(DropKey, "key %d, not defined here (signing with %d)", p.KeyNum, s.KeyNum)
	}
	if len(b) < headerLen+3+v.macLen() {
		return nil, drop(DropMalformed, "short packet of %d bytes", len(b))
	}
	body, mac := b[:len(b)-v.macLen()], b[len(b)-v.macLen():]
	if !hmac.Equal(mac, v.mac(body)) {
		return nil, drop(DropAuth, "signature does not match")
	}
	r := reader{b: body, off: headerLen}
	p.Node = r.str()
	p.Link = r.str()
	n := int(r.byte())
	if n > maxServices {
		return nil, drop(DropMalformed, "%d services", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		kind := ServiceKind(r.byte())
		l := int(r.byte())
		if l != 4 && l != 16 {
			return nil, drop(DropMalformed, "address length %d", l)
		}
		a, _ := netip.AddrFromSlice(r.bytes(l))
		port := r.uint16()
		p.Services = append(p.Services, Service{Kind: kind, Addr: netip.AddrPortFrom(a, port)})
	}
	if n := int(r.uint16()); n > MaxApp {
		return nil, drop(DropMalformed, "cluster state of %d bytes", n)
	} else if n > 0 {
		p.App = append([]byte(nil), r.bytes(n)...)
	}
	if r.err != nil {
		return nil, drop(DropMalformed, "%v", r.err)
	}
	if r.off != len(body) {
		return nil, drop(DropMalformed, "%d trailing bytes", len(body)-r.off)
	}
	if p.Node == "" || (p.Status != StatusUp && p.Status != StatusLeaving) {
		return nil, drop(DropMalformed, "empty node name or unknown status")
	}
	return p, nil
}

// reader walks a byte slice and remembers the first overrun.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		r.err = errors.New("truncated")
		return make([]byte, max(n, 0))
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) byte() byte { return r.bytes(1)[0] }

func (r *reader) uint16() uint16 { return binary.BigEndian.Uint16(r.bytes(2)) }

func (r *reader) str() string {
	n := int(r.byte())
	if n > maxNameLen {
		r.err = errors.New("name too long")
		return ""
	}
	return string(r.bytes(n))
}
