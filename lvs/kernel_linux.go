package lvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// CallTimeout bounds each netlink request of the kernel table when the
// caller's context allows longer: a request the kernel never answers
// (it happens when sync daemons start and stop in quick succession)
// must not hang the daemon.
const CallTimeout = 5 * time.Second

// Kernel is the IPVS table of one network namespace, programmed over
// generic netlink. It is safe for concurrent use; requests are made one
// at a time, each bounded by its context and by CallTimeout. After a
// request timed out or was cancelled the socket is replaced, so neither
// a late reply nor a dump left half read meets the next request.
type Kernel struct {
	ns string

	mu     sync.Mutex
	sock   *nlSock
	family uint16
}

var (
	_ Table       = (*Kernel)(nil)
	_ SyncDaemons = (*Kernel)(nil)
)

// OpenKernel opens the IPVS table of the network namespace whose file
// is ns (as /var/run/netns/NAME or /proc/PID/ns/net), or of the calling
// thread's namespace when ns is "". The ip_vs module must be loaded.
func OpenKernel(ns string) (*Kernel, error) {
	k := &Kernel{ns: ns}
	if err := k.dial(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Kernel) where() string {
	if k.ns == "" {
		return "lvs"
	}
	return "lvs (netns " + k.ns + ")"
}

func (k *Kernel) dial() error {
	sock, err := openNLSock(k.ns)
	if err != nil {
		return fmt.Errorf("%s: generic netlink: %w", k.where(), err)
	}
	fam, err := sock.familyID(context.Background(), "IPVS")
	if err != nil {
		sock.close()
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: the kernel has no IPVS (is the ip_vs module loaded?): %w", k.where(), err)
		}
		return fmt.Errorf("%s: IPVS netlink family: %w", k.where(), err)
	}
	k.sock, k.family = sock, fam
	return nil
}

// Close releases the netlink socket.
func (k *Kernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sock == nil {
		return nil
	}
	err := k.sock.close()
	k.sock = nil
	return err
}

// IPVS generic netlink commands and attributes (linux/ip_vs.h).
const (
	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdGetService = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	cmdSetConfig  = 12
	cmdGetConfig  = 13
	cmdZero       = 16

	attrService    = 1
	attrDest       = 2
	attrDaemon     = 3
	attrTimeoutTCP = 4
	attrTimeoutFin = 5
	attrTimeoutUDP = 6

	svcAF        = 1
	svcProtocol  = 2
	svcAddr      = 3
	svcPort      = 4
	svcFWMark    = 5
	svcSchedName = 6
	svcFlags     = 7
	svcTimeout   = 8
	svcNetmask   = 9
	svcStats     = 10
	svcStats64   = 12

	dstAddr         = 1
	dstPort         = 2
	dstFwdMethod    = 3
	dstWeight       = 4
	dstUThresh      = 5
	dstLThresh      = 6
	dstActiveConns  = 7
	dstInactConns   = 8
	dstPersistConns = 9
	dstStats        = 10
	dstAddrFamily   = 11
	dstStats64      = 12

	daemonState   = 1
	daemonMcastIf = 2
	daemonSyncID  = 3

	stateMaster = 1
	stateBackup = 2

	fwdMasq   = 0
	fwdTunnel = 2
	fwdRoute  = 3
	fwdMask   = 7
)

var protoNums = map[Protocol]uint16{TCP: unix.IPPROTO_TCP, UDP: unix.IPPROTO_UDP, SCTP: unix.IPPROTO_SCTP}

// exec sends one request and returns the attribute data of its
// replies. It bounds the request by ctx and CallTimeout.
func (k *Kernel) exec(ctx context.Context, cmd uint8, flags uint16, enc func(ae *netlink.AttributeEncoder)) ([][]byte, error) {
	var data []byte
	if enc != nil {
		ae := netlink.NewAttributeEncoder()
		enc(ae)
		var err error
		if data, err = ae.Encode(); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sock == nil {
		if err := k.dial(); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(CallTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	msgs, err := k.sock.request(ctx, deadline, k.family, cmd, flags, data)
	if errors.Is(err, ErrTimeout) || ctx.Err() != nil {
		// A dump cut short goes on in the kernel, which refuses another
		// on the socket (EBUSY) until it is read out: start afresh.
		k.sock.close()
		k.sock = nil
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
	}
	return msgs, err
}

func (k *Kernel) do(ctx context.Context, cmd uint8, enc func(ae *netlink.AttributeEncoder)) error {
	_, err := k.exec(ctx, cmd, nlmFAck, enc)
	return err
}

func (k *Kernel) dump(ctx context.Context, cmd uint8, enc func(ae *netlink.AttributeEncoder)) ([][]byte, error) {
	return k.exec(ctx, cmd, nlmFDump, enc)
}

// family is the AF_ number of an address.
func afOf(v6 bool) uint16 {
	if v6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func addrBytes(a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return b[:]
	}
	b := a.As16()
	return b[:]
}

func portBytes(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }

// encodeKey writes the attributes that name a service.
func encodeKey(ae *netlink.AttributeEncoder, k ServiceKey) {
	ae.Uint16(svcAF, afOf(k.Is6()))
	if k.Protocol == FWM {
		ae.Uint32(svcFWMark, k.FWMark)
		return
	}
	ae.Uint16(svcProtocol, protoNums[k.Protocol])
	ae.Bytes(svcAddr, addrBytes(k.Addr.Addr()))
	ae.Bytes(svcPort, portBytes(k.Addr.Port()))
}

// encodeService writes a whole service: the kernel replaces every
// setting on an update, so all are always sent.
func encodeService(ae *netlink.AttributeEncoder, s Service) {
	s = s.Normal()
	encodeKey(ae, s.ServiceKey)
	ae.String(svcSchedName, s.Scheduler)
	flags, _ := schedFlagsToBits(s.SchedFlags)
	if s.Persistent > 0 {
		flags |= flagPersistent
	}
	if s.OnePacket {
		flags |= flagOnePacket
	}
	fl := make([]byte, 8)
	binary.NativeEndian.PutUint32(fl, flags)
	binary.NativeEndian.PutUint32(fl[4:], ^uint32(flagHashed))
	ae.Bytes(svcFlags, fl)
	ae.Uint32(svcTimeout, uint32(s.Persistent/time.Second))
	if s.Is6() {
		ae.Uint32(svcNetmask, uint32(s.Netmask))
	} else {
		// The kernel keeps an IPv4 mask in network byte order.
		ae.Bytes(svcNetmask, binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-s.Netmask)))
	}
}

func encodeDest(ae *netlink.AttributeEncoder, d Dest, full bool) {
	d = d.Normal()
	ae.Bytes(dstAddr, addrBytes(d.Addr.Addr()))
	ae.Bytes(dstPort, portBytes(d.Addr.Port()))
	ae.Uint16(dstAddrFamily, afOf(d.Addr.Addr().Is6()))
	if !full {
		return
	}
	fwd := map[Method]uint32{Gate: fwdRoute, Masq: fwdMasq, Ipip: fwdTunnel}[d.Method]
	ae.Uint32(dstFwdMethod, fwd)
	ae.Uint32(dstWeight, uint32(d.Weight))
	ae.Uint32(dstUThresh, uint32(d.UpperThreshold))
	ae.Uint32(dstLThresh, uint32(d.LowerThreshold))
}

// kernelErr turns an errno into the table's errors, naming what failed.
func (k *Kernel) kernelErr(what string, err error, m map[unix.Errno]error) error {
	if err == nil {
		return nil
	}
	var en unix.Errno
	if errors.As(err, &en) {
		if s, ok := m[en]; ok {
			return fmt.Errorf("%s: %s: %w (%v)", k.where(), what, s, en)
		}
		switch en {
		case unix.EINVAL, unix.ERANGE, unix.EAFNOSUPPORT, unix.EOPNOTSUPP:
			return fmt.Errorf("%s: %s: %w (%v)", k.where(), what, ErrInvalid, en)
		}
	}
	return fmt.Errorf("%s: %s: %w", k.where(), what, err)
}

func (k *Kernel) AddService(ctx context.Context, s Service) error {
	if err := s.validate(); err != nil {
		return err
	}
	err := k.do(ctx, cmdNewService, func(ae *netlink.AttributeEncoder) {
		ae.Nested(attrService, func(n *netlink.AttributeEncoder) error { encodeService(n, s); return nil })
	})
	return k.kernelErr("add service "+s.Normal().ServiceKey.String(), err, map[unix.Errno]error{
		unix.EEXIST: ErrServiceExists,
		unix.ENOENT: fmt.Errorf("scheduler %q not in this kernel: %w", s.Normal().Scheduler, ErrInvalid),
	})
}

func (k *Kernel) UpdateService(ctx context.Context, s Service) error {
	if err := s.validate(); err != nil {
		return err
	}
	err := k.do(ctx, cmdSetService, func(ae *netlink.AttributeEncoder) {
		ae.Nested(attrService, func(n *netlink.AttributeEncoder) error { encodeService(n, s); return nil })
	})
	return k.kernelErr("update service "+s.Normal().ServiceKey.String(), err, map[unix.Errno]error{
		unix.ESRCH:  ErrNoService,
		unix.ENOENT: fmt.Errorf("scheduler %q not in this kernel: %w", s.Normal().Scheduler, ErrInvalid),
	})
}

func (k *Kernel) DelService(ctx context.Context, key ServiceKey) error {
	key = key.normal()
	if err := key.validate(); err != nil {
		return err
	}
	err := k.do(ctx, cmdDelService, func(ae *netlink.AttributeEncoder) {
		ae.Nested(attrService, func(n *netlink.AttributeEncoder) error { encodeKey(n, key); return nil })
	})
	return k.kernelErr("delete service "+key.String(), err, map[unix.Errno]error{unix.ESRCH: ErrNoService})
}

func (k *Kernel) destCmd(ctx context.Context, cmd uint8, verb string, key ServiceKey, d Dest, full bool, m map[unix.Errno]error) error {
	key = key.normal()
	if err := key.validate(); err != nil {
		return err
	}
	if full {
		if err := d.validate(key); err != nil {
			return err
		}
	}
	err := k.do(ctx, cmd, func(ae *netlink.AttributeEncoder) {
		ae.Nested(attrService, func(n *netlink.AttributeEncoder) error { encodeKey(n, key); return nil })
		ae.Nested(attrDest, func(n *netlink.AttributeEncoder) error { encodeDest(n, d, full); return nil })
	})
	m[unix.ESRCH] = ErrNoService
	return k.kernelErr(fmt.Sprintf("%s real server %s of service %s", verb, d.Normal().Addr, key), err, m)
}

func (k *Kernel) AddDest(ctx context.Context, key ServiceKey, d Dest) error {
	return k.destCmd(ctx, cmdNewDest, "add", key, d, true, map[unix.Errno]error{unix.EEXIST: ErrDestExists})
}

func (k *Kernel) UpdateDest(ctx context.Context, key ServiceKey, d Dest) error {
	return k.destCmd(ctx, cmdSetDest, "update", key, d, true, map[unix.Errno]error{unix.ENOENT: ErrNoDest})
}

func (k *Kernel) DelDest(ctx context.Context, key ServiceKey, addr netip.AddrPort) error {
	return k.destCmd(ctx, cmdDelDest, "delete", key, Dest{Addr: addr}, false, map[unix.Errno]error{unix.ENOENT: ErrNoDest})
}

// kService is a service as the kernel reports it, with its counters.
type kService struct {
	Service
	stats Counters
}

// List reads every service, then the servers of each, sorted as
// SortEntries does.
func (k *Kernel) List(ctx context.Context) ([]Entry, error) {
	svcs, err := k.listServices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(svcs))
	for _, s := range svcs {
		ds, err := k.listDests(ctx, s.ServiceKey)
		if errors.Is(err, ErrNoService) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		e := Entry{Service: s.Service}
		for _, d := range ds {
			e.Dests = append(e.Dests, d.dest)
		}
		out = append(out, e)
	}
	SortEntries(out)
	return out, nil
}

// Stats reads the 64-bit counters and rates of every service and server.
func (k *Kernel) Stats(ctx context.Context) ([]ServiceStats, error) {
	svcs, err := k.listServices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ServiceStats, 0, len(svcs))
	for _, s := range svcs {
		ds, err := k.listDests(ctx, s.ServiceKey)
		if errors.Is(err, ErrNoService) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ss := ServiceStats{ServiceKey: s.ServiceKey, Counters: s.stats}
		for _, d := range ds {
			ss.Dests = append(ss.Dests, d.stats)
		}
		out = append(out, ss)
	}
	sortStats(out)
	return out, nil
}

func (k *Kernel) listServices(ctx context.Context) ([]kService, error) {
	msgs, err := k.dump(ctx, cmdGetService, func(ae *netlink.AttributeEncoder) {
		ae.Nested(attrService, func(*netlink.AttributeEncoder) error { return nil })
	})
	if err != nil {
		return nil, k.kernelErr("list services", err, nil)
	}
	out := make([]kService, 0, len(msgs))
	for _, m := range msgs {
		s, err := decodeService(m)
		if err != nil {
			return nil, fmt.Errorf("%s: list services: %w", k.where(), err)
		}
		out = append(out, s)
	}
	return out, nil
}

type kDest struct {
	dest  Dest
	stats DestStats
}

func (k *Kernel) listDests(ctx context.Context, key ServiceKey) ([]kDest, error) {
	msgs, err := k.dump(ctx, cmdGetDest, func(ae *netlink.AttributeEncoder) {
		ae.Nested(attrService, func(n *netlink.AttributeEncoder) error { encodeKey(n, key); return nil })
	})
	if err != nil {
		return nil, k.kernelErr("list real servers of service "+key.String(), err, map[unix.Errno]error{unix.ESRCH: ErrNoService})
	}
	out := make([]kDest, 0, len(msgs))
	for _, m := range msgs {
		d, err := decodeDest(m, key)
		if err != nil {
			return nil, fmt.Errorf("%s: list real servers of service %s: %w", k.where(), key, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// nested finds the first attribute of type typ in b and decodes it.
func nested(b []byte, typ uint16, fn func(ad *netlink.AttributeDecoder) error) error {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return err
	}
	found := false
	for ad.Next() {
		if ad.Type() == typ && !found {
			found = true
			ad.Nested(fn)
		}
	}
	if err := ad.Err(); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("reply lacks attribute %d", typ)
	}
	return nil
}

func decodeService(b []byte) (kService, error) {
	var s kService
	var af, proto uint16
	var addr []byte
	var port uint16
	var flags, netmask uint32
	var netmaskRaw []byte
	var timeout uint32
	var st32, st64 *Counters
	err := nested(b, attrService, func(ad *netlink.AttributeDecoder) error {
		for ad.Next() {
			switch ad.Type() {
			case svcAF:
				af = ad.Uint16()
			case svcProtocol:
				proto = ad.Uint16()
			case svcAddr:
				addr = ad.Bytes()
			case svcPort:
				if v := ad.Bytes(); len(v) == 2 {
					port = binary.BigEndian.Uint16(v)
				}
			case svcFWMark:
				s.FWMark = ad.Uint32()
			case svcSchedName:
				s.Scheduler = ad.String()
			case svcFlags:
				if v := ad.Bytes(); len(v) >= 4 {
					flags = binary.NativeEndian.Uint32(v)
				}
			case svcTimeout:
				timeout = ad.Uint32()
			case svcNetmask:
				netmaskRaw = ad.Bytes()
			case svcStats:
				c := decodeStats(ad, false)
				st32 = &c
			case svcStats64:
				c := decodeStats(ad, true)
				st64 = &c
			}
		}
		return nil
	})
	if err != nil {
		return s, err
	}
	v6 := af == unix.AF_INET6
	if s.FWMark != 0 {
		s.Protocol, s.IPv6 = FWM, v6
	} else {
		for p, n := range protoNums {
			if n == proto {
				s.Protocol = p
			}
		}
		if s.Protocol == "" {
			s.Protocol = Protocol(fmt.Sprintf("proto%d", proto))
		}
		a, ok := ipFrom(addr, v6)
		if !ok {
			return s, fmt.Errorf("service address %x of family %d", addr, af)
		}
		s.Addr = netip.AddrPortFrom(a, port)
		s.IPv6 = v6
	}
	if len(netmaskRaw) == 4 {
		if v6 {
			netmask = binary.NativeEndian.Uint32(netmaskRaw)
			s.Netmask = int(netmask)
		} else {
			netmask = binary.BigEndian.Uint32(netmaskRaw)
			s.Netmask = 32 - trailingZeros(netmask)
		}
	}
	if flags&flagPersistent != 0 {
		s.Persistent = time.Duration(timeout) * time.Second
	}
	s.OnePacket = flags&flagOnePacket != 0
	s.SchedFlags = schedFlagNames(s.Scheduler, flags)
	switch {
	case st64 != nil:
		s.stats = *st64
	case st32 != nil:
		s.stats = *st32
	}
	s.Service = s.Service.Normal()
	return s, nil
}

func trailingZeros(v uint32) int {
	n := 0
	for n < 32 && v&(1<<n) == 0 {
		n++
	}
	return n
}

func ipFrom(b []byte, v6 bool) (netip.Addr, bool) {
	switch {
	case v6 && len(b) == 16:
		return netip.AddrFrom16([16]byte(b)), true
	case !v6 && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), true
	}
	return netip.Addr{}, false
}

func decodeStats(ad *netlink.AttributeDecoder, wide bool) Counters {
	var c Counters
	ad.Nested(func(n *netlink.AttributeDecoder) error {
		for n.Next() {
			if n.Type() < 1 || n.Type() > 10 {
				continue // padding
			}
			var v uint64
			if wide || n.Type() == 4 || n.Type() == 5 { // byte counts are 64-bit in both
				v = n.Uint64()
			} else {
				v = uint64(n.Uint32())
			}
			switch n.Type() {
			case 1:
				c.Conns = v
			case 2:
				c.InPkts = v
			case 3:
				c.OutPkts = v
			case 4:
				c.InBytes = v
			case 5:
				c.OutBytes = v
			case 6:
				c.CPS = v
			case 7:
				c.InPPS = v
			case 8:
				c.OutPPS = v
			case 9:
				c.InBPS = v
			case 10:
				c.OutBPS = v
			}
		}
		return nil
	})
	return c
}

func decodeDest(b []byte, key ServiceKey) (kDest, error) {
	var d kDest
	var addr []byte
	var port uint16
	af := afOf(key.Is6())
	var fwd, weight, ut, lt uint32
	var st32, st64 *Counters
	err := nested(b, attrDest, func(ad *netlink.AttributeDecoder) error {
		for ad.Next() {
			switch ad.Type() {
			case dstAddr:
				addr = ad.Bytes()
			case dstPort:
				if v := ad.Bytes(); len(v) == 2 {
					port = binary.BigEndian.Uint16(v)
				}
			case dstFwdMethod:
				fwd = ad.Uint32()
			case dstWeight:
				weight = ad.Uint32()
			case dstUThresh:
				ut = ad.Uint32()
			case dstLThresh:
				lt = ad.Uint32()
			case dstActiveConns:
				d.stats.ActiveConns = int(ad.Uint32())
			case dstInactConns:
				d.stats.InactConns = int(ad.Uint32())
			case dstPersistConns:
				d.stats.PersistConns = int(ad.Uint32())
			case dstAddrFamily:
				af = ad.Uint16()
			case dstStats:
				c := decodeStats(ad, false)
				st32 = &c
			case dstStats64:
				c := decodeStats(ad, true)
				st64 = &c
			}
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	a, ok := ipFrom(addr, af == unix.AF_INET6)
	if !ok {
		return d, fmt.Errorf("real server address %x of family %d", addr, af)
	}
	d.dest = Dest{Addr: netip.AddrPortFrom(a, port), Weight: int(int32(weight)), UpperThreshold: int(ut), LowerThreshold: int(lt)}
	switch fwd & fwdMask {
	case fwdMasq:
		d.dest.Method = Masq
	case fwdTunnel:
		d.dest.Method = Ipip
	case fwdRoute:
		d.dest.Method = Gate
	default:
		d.dest.Method = Method(fmt.Sprintf("fwd%d", fwd&fwdMask))
	}
	d.stats.Addr = d.dest.Addr
	switch {
	case st64 != nil:
		d.stats.Counters = *st64
	case st32 != nil:
		d.stats.Counters = *st32
	}
	return d, nil
}

// Zero clears the counters of service key, or of every service when
// key is nil (ipvsadm -Z).
func (k *Kernel) Zero(ctx context.Context, key *ServiceKey) error {
	what := "zero counters"
	err := k.do(ctx, cmdZero, func(ae *netlink.AttributeEncoder) {
		if key != nil {
			ae.Nested(attrService, func(n *netlink.AttributeEncoder) error { encodeKey(n, key.normal()); return nil })
		}
	})
	if key != nil {
		what += " of service " + key.normal().String()
	}
	return k.kernelErr(what, err, map[unix.Errno]error{unix.ESRCH: ErrNoService})
}

// Timeouts reads the connection timeouts (ipvsadm -L --timeout).
func (k *Kernel) Timeouts(ctx context.Context) (Timeouts, error) {
	msgs, err := k.exec(ctx, cmdGetConfig, 0, nil)
	if err != nil {
		return Timeouts{}, k.kernelErr("read timeouts", err, nil)
	}
	var t Timeouts
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m)
		if err != nil {
			return t, fmt.Errorf("%s: read timeouts: %w", k.where(), err)
		}
		for ad.Next() {
			v := time.Duration(ad.Uint32()) * time.Second
			switch ad.Type() {
			case attrTimeoutTCP:
				t.TCP = v
			case attrTimeoutFin:
				t.TCPFin = v
			case attrTimeoutUDP:
				t.UDP = v
			}
		}
	}
	return t, nil
}

// SetTimeouts sets the non-zero timeouts, in whole seconds (ipvsadm
// --set tcp tcpfin udp).
func (k *Kernel) SetTimeouts(ctx context.Context, t Timeouts) error {
	if t.TCP < 0 || t.TCPFin < 0 || t.UDP < 0 {
		return fmt.Errorf("%s: timeouts %v: %w", k.where(), t, ErrInvalid)
	}
	err := k.do(ctx, cmdSetConfig, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(attrTimeoutTCP, uint32(t.TCP/time.Second))
		ae.Uint32(attrTimeoutFin, uint32(t.TCPFin/time.Second))
		ae.Uint32(attrTimeoutUDP, uint32(t.UDP/time.Second))
	})
	return k.kernelErr("set timeouts", err, nil)
}

func stateNum(s SyncState) uint32 {
	if s == SyncMaster {
		return stateMaster
	}
	return stateBackup
}

// StartSyncDaemon starts a connection-sync daemon (ipvsadm
// --start-daemon STATE --mcast-interface IF --syncid ID).
func (k *Kernel) StartSyncDaemon(ctx context.Context, d SyncDaemon) error {
	if err := d.State.valid(); err != nil {
		return err
	}
	if d.Interface == "" {
		return fmt.Errorf("%s: start %s: no interface: %w", k.where(), d, ErrInvalid)
	}
	err := k.do(ctx, cmdNewDaemon, func(ae *netlink.AttributeEncoder) {
		ae.Nested(attrDaemon, func(n *netlink.AttributeEncoder) error {
			n.Uint32(daemonState, stateNum(d.State))
			n.String(daemonMcastIf, d.Interface)
			n.Uint32(daemonSyncID, uint32(d.SyncID))
			return nil
		})
	})
	if errors.Is(err, ErrTimeout) && k.syncRunning(ctx, d.State, &d) {
		return nil // done, though its answer never came (see syncRunning)
	}
	return k.kernelErr("start "+d.String(), err, map[unix.Errno]error{
		unix.EEXIST: ErrSyncRunning,
		unix.ENODEV: fmt.Errorf("no interface %q: %w", d.Interface, ErrInvalid),
		// The sync protocol cannot carry a connection whose server is
		// of another family than its service.
		unix.EINVAL: fmt.Errorf("refused, as the kernel does while a service has a real server of the other address family: %w", ErrInvalid),
	})
}

// StopSyncDaemon stops the daemon of a role (ipvsadm --stop-daemon).
func (k *Kernel) StopSyncDaemon(ctx context.Context, state SyncState) error {
	if err := state.valid(); err != nil {
		return err
	}
	err := k.do(ctx, cmdDelDaemon, func(ae *netlink.AttributeEncoder) {
		ae.Nested(attrDaemon, func(n *netlink.AttributeEncoder) error {
			n.Uint32(daemonState, stateNum(state))
			return nil
		})
	})
	if errors.Is(err, ErrTimeout) && !k.syncRunning(ctx, state, nil) {
		return nil // done, though its answer never came (see syncRunning)
	}
	return k.kernelErr("stop "+string(state)+" sync daemon", err, map[unix.Errno]error{unix.ESRCH: ErrSyncNotRunning})
}

// syncRunning looks, after a start or stop whose answer never came, at
// whether the role's daemon runs (as want, when given). Starting and
// stopping sync daemons makes the kernel join its threads, and it
// sometimes never answers such a request although it carried it out
// (seen in the VM under load): the table's state says what happened. A
// list that fails counts as "running" for a stop and "not" for a start,
// so that the original error stands.
func (k *Kernel) syncRunning(ctx context.Context, state SyncState, want *SyncDaemon) bool {
	ds, err := k.ListSyncDaemons(ctx)
	if err != nil {
		return want == nil
	}
	for _, d := range ds {
		if d.State == state {
			return want == nil || d == *want
		}
	}
	return false
}

// ListSyncDaemons returns the running daemons, master first.
func (k *Kernel) ListSyncDaemons(ctx context.Context) ([]SyncDaemon, error) {
	msgs, err := k.dump(ctx, cmdGetDaemon, nil)
	if err != nil {
		return nil, k.kernelErr("list sync daemons", err, nil)
	}
	var out []SyncDaemon
	for _, m := range msgs {
		var d SyncDaemon
		err := nested(m, attrDaemon, func(ad *netlink.AttributeDecoder) error {
			for ad.Next() {
				switch ad.Type() {
				case daemonState:
					if ad.Uint32() == stateMaster {
						d.State = SyncMaster
					} else {
						d.State = SyncBackup
					}
				case daemonMcastIf:
					d.Interface = ad.String()
				case daemonSyncID:
					d.SyncID = uint8(ad.Uint32())
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: list sync daemons: %w", k.where(), err)
		}
		out = append(out, d)
	}
	if len(out) == 2 && out[0].State == SyncBackup {
		out[0], out[1] = out[1], out[0]
	}
	return out, nil
}
