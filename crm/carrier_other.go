//go:build !linux

package crm

import "context"

// start reads nothing: carrier needs Linux's netlink, and every watched
// interface stays without one.
func (w *carrierWatch) start(ctx context.Context, notify func()) {
	w.mu.Lock()
	w.notify = notify
	w.mu.Unlock()
}
