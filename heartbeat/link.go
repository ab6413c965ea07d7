// Package heartbeat owns the heartbeat media (UDP broadcast, multicast,
// unicast and serial), the packet format, its authentication and replay
// protection, and the liveness of every node and link.
package heartbeat

import (
	"errors"
	"time"
)

// ErrClosed is returned by a Link's Recv after Close.
var ErrClosed = errors.New("heartbeat: link closed")

// Link is one opened heartbeat medium. Send transmits one encoded packet to
// every peer the medium reaches; Recv blocks for the next packet. A link
// never interprets packets: authentication and liveness live above it.
type Link interface {
	// Name is the link's name in logs and cl_status: "eth0", "/dev/ttyS0".
	Name() string
	// Send transmits one packet. It may drop it (a full serial line) but
	// must not block longer than one keepalive.
	Send(pkt []byte) error
	// Recv copies the next packet into buf and returns its length and a
	// description of where it came from (an address, or the device).
	Recv(buf []byte) (n int, from string, err error)
	// Close releases the medium; a blocked Recv returns ErrClosed.
	Close() error
}

// StampedLink is a Link that also tells how long ago the kernel received
// each packet, so that a packet that waited in a queue while the daemon
// was frozen or starved is dated from its arrival.
type StampedLink interface {
	Link
	RecvStamped(buf []byte) (n int, from string, age time.Duration, err error)
}

// MaxPacket bounds one heartbeat packet on every medium.
const MaxPacket = 1400
