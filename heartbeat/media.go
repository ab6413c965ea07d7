package heartbeat

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"hbgo/conf"
)

// OpenMedia opens every medium ha.cf declares. All ucast lines of one
// interface make one link (it sends to each peer), so that a link is what an
// operator calls it: the interface, or the serial device. On any error the
// links already opened are closed.
func OpenMedia(ha *conf.HAConfig) ([]Link, error) {
	var links []Link
	fail := func(err error) ([]Link, error) {
		for _, l := range links {
			l.Close()
		}
		return nil, err
	}
	names := map[string]bool{}
	add := func(l Link) {
		names[l.Name()] = true
		links = append(links, l)
	}
	ucast := map[string][]netip.Addr{}
	ucastPort := map[string]int{}
	var ucastOrder []string
	for _, m := range ha.Media {
		switch m.Kind {
		case conf.MediumUcast:
			addr, err := resolvePeer(m.Peer)
			if err != nil {
				return fail(fmt.Errorf("%s:%d: ucast %s %s: %w", ha.File, m.Line, m.Iface, m.Peer, err))
			}
			if _, ok := ucast[m.Iface]; !ok {
				ucastOrder = append(ucastOrder, m.Iface)
				ucastPort[m.Iface] = m.Port
			}
			ucast[m.Iface] = append(ucast[m.Iface], addr)
		}
	}
	for _, m := range ha.Media {
		var l Link
		var err error
		switch m.Kind {
		case conf.MediumBcast:
			l, err = OpenBcast(m.Iface, m.Port)
		case conf.MediumMcast:
			l, err = OpenMcast(m.Iface, m.Group, m.Port, m.TTL, m.Loop)
		case conf.MediumSerial:
			var sl *SerialLink
			if sl, err = OpenSerial(m.Device, m.Baud); err == nil {
				sl.KeepLatest()
				l = sl
			}
		default:
			continue
		}
		if err != nil {
			return fail(fmt.Errorf("%s:%d: %w", ha.File, m.Line, err))
		}
		if names[l.Name()] {
			l = renamed{l, l.Name() + "/" + string(m.Kind)}
		}
		add(l)
	}
	for _, iface := range ucastOrder {
		l, err := OpenUcast(iface, ucastPort[iface], ucast[iface])
		if err != nil {
			return fail(err)
		}
		if names[l.Name()] {
			l = renamed{l, l.Name() + "/ucast"}
		}
		add(l)
	}
	if len(links) == 0 {
		return nil, errors.New("no heartbeat media in " + ha.File)
	}
	return links, nil
}

// resolvePeer reads an address, or resolves a host name once at start.
func resolvePeer(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	ips, err := net.LookupIP(s)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			a, _ := netip.AddrFromSlice(v4)
			return a, nil
		}
	}
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip); ok {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no address for %s", s)
}

// renamed gives a link another name when two media share an interface.
type renamed struct {
	Link
	name string
}

func (r renamed) Name() string { return r.name }
