//go:build linux

package crm

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hasCarrier: the interface is up and its lower layer is (IFF_LOWER_UP,
// what `ip link` shows as NO-CARRIER when missing).
func hasCarrier(a *netlink.LinkAttrs) bool {
	return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
}

// start reads every watched interface once (a missing one has no
// carrier), then follows netlink's link notices until ctx ends,
// subscribing again a second after a subscription fails. notify is
// called on every change that may move the score.
func (w *carrierWatch) start(ctx context.Context, notify func()) {
	w.mu.Lock()
	w.notify = notify
	devs := make([]string, 0, len(w.links))
	for d := range w.links {
		devs = append(devs, d)
	}
	w.mu.Unlock()
	readAll := func() {
		now := time.Now()
		for _, d := range devs {
			l, err := netlink.LinkByName(d)
			w.set(d, err == nil && hasCarrier(l.Attrs()), now)
		}
	}
	readAll()
	go func() {
		for ctx.Err() == nil {
			ch := make(chan netlink.LinkUpdate, 16)
			done := make(chan struct{})
			err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
				ErrorCallback: func(err error) {
					w.log.Debug(fmt.Sprintf("link notices: %v", err), "node", w.node)
				},
			})
			if err == nil {
				readAll() // what changed before the subscription
				for open := true; open; {
					select {
					case u, ok := <-ch:
						if !ok {
							open = false
							break
						}
						w.set(u.Attrs().Name, u.Header.Type != unix.RTM_DELLINK && hasCarrier(u.Attrs()), time.Now())
					case <-ctx.Done():
						close(done)
						return
					}
				}
			} else {
				w.log.Warn(fmt.Sprintf("Cannot follow the carrier of the VIP interfaces: %v", err), "node", w.node)
			}
			close(done)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			readAll()
		}
	}()
}
