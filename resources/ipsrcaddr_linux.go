//go:build linux

package resources

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// defaultRoutes are the IPv4 default routes of the main table.
func defaultRoutes(nl *netlink.Handle) ([]netlink.Route, error) {
	routes, err := nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	var out []netlink.Route
	for _, r := range routes {
		if r.Dst == nil {
			out = append(out, r)
			continue
		}
		if ones, _ := r.Dst.Mask.Size(); ones == 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

func routeKey(r netlink.Route) srcRouteKey {
	gw, _ := netip.AddrFromSlice(r.Gw)
	return srcRouteKey{gw: gw.Unmap(), link: r.LinkIndex, priority: r.Priority}
}

func routeSrc(r netlink.Route) netip.Addr {
	a, _ := netip.AddrFromSlice(r.Src)
	return a.Unmap()
}

// Start sets ADDR as the source of every default route that has another
// one, remembering what it had.
func (a *IPsrcaddrAgent) Start(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.opErr("start", a.start(ctx))
}

func (a *IPsrcaddrAgent) start(ctx context.Context) error {
	nl, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	cur, err := findAddr(nl, a.addr)
	if err != nil {
		return err
	}
	if cur == nil {
		return fmt.Errorf("%s is not on this host; bring it up earlier in the group (IPaddr::%s)", a.addr, a.addr)
	}
	routes, err := defaultRoutes(nl)
	if err != nil {
		return err
	}
	if len(routes) == 0 {
		return errors.New("no default route in the main table")
	}
	if a.prev == nil {
		a.prev = map[srcRouteKey]netip.Addr{}
	}
	for _, r := range routes {
		if err := ctxErr(ctx); err != nil {
			return err
		}
		old := routeSrc(r)
		if old == a.addr {
			continue
		}
		r.Src = a.addr.AsSlice()
		if err := nl.RouteReplace(&r); err != nil {
			return fmt.Errorf("set source of %s: %w", describeRoute(r), err)
		}
		a.prev[routeKey(r)] = old
		a.log.Info("default route source set", "route", describeRoute(r), "was", old)
	}
	return nil
}

// Stop gives every default route whose source is ADDR the source it had
// before Start (none, when this process did not see it).
func (a *IPsrcaddrAgent) Stop(ctx context.Context) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.opErr("stop", a.stop(ctx))
}

func (a *IPsrcaddrAgent) stop(ctx context.Context) error {
	nl, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	routes, err := defaultRoutes(nl)
	if err != nil {
		return err
	}
	for _, r := range routes {
		if err := ctxErr(ctx); err != nil {
			return err
		}
		if routeSrc(r) != a.addr {
			continue
		}
		k := routeKey(r)
		prev := a.prev[k]
		r.Src = nil
		if prev.IsValid() {
			r.Src = prev.AsSlice()
		}
		if err := nl.RouteReplace(&r); err != nil {
			return fmt.Errorf("restore source of %s: %w", describeRoute(r), err)
		}
		delete(a.prev, k)
		a.log.Info("default route source restored", "route", describeRoute(r), "src", prev)
	}
	return nil
}

// Status is Running while a default route has ADDR as its source.
func (a *IPsrcaddrAgent) Status(ctx context.Context) (State, error) {
	nl, err := netlink.NewHandle()
	if err != nil {
		return Unknown, a.opErr("status", fmt.Errorf("netlink: %w", err))
	}
	defer nl.Close()
	routes, err := defaultRoutes(nl)
	if err != nil {
		return Unknown, a.opErr("status", err)
	}
	for _, r := range routes {
		if routeSrc(r) == a.addr {
			return Running, nil
		}
	}
	return Stopped, a.opErr("status", ctx.Err())
}

func describeRoute(r netlink.Route) string {
	s := "default"
	if r.Gw != nil {
		s += " via " + r.Gw.String()
	}
	if r.LinkIndex > 0 {
		if ifi, err := net.InterfaceByIndex(r.LinkIndex); err == nil {
			s += " dev " + ifi.Name
		}
	}
	return s
}
