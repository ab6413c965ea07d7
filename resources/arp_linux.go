//go:build linux

package resources

import (
	"fmt"
	"net"

	"github.com/mdlayher/packet"
)

// packetWriter sends frames over a raw packet socket bound to one
// interface. The socket lives in the network namespace of the thread
// that opened it, whichever thread writes later.
type packetWriter struct {
	c   *packet.Conn
	dst *packet.Addr
}

// openFrameWriter opens a raw packet socket on the interface of that
// index, in the calling thread's network namespace, and returns it with
// the interface's hardware address.
func openFrameWriter(ifindex int) (frameWriter, net.HardwareAddr, error) {
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return nil, nil, fmt.Errorf("interface %d: %w", ifindex, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, nil, fmt.Errorf("interface %s has no Ethernet address (%v)", ifi.Name, ifi.HardwareAddr)
	}
	// Protocol 0: the socket sends and receives nothing until asked, so
	// it queues no traffic of the interface.
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("packet socket on %s: %w", ifi.Name, err)
	}
	return &packetWriter{c: c, dst: &packet.Addr{HardwareAddr: ethBroadcast}}, ifi.HardwareAddr, nil
}

func (w *packetWriter) WriteFrame(frame []byte) error {
	_, err := w.c.WriteTo(frame, w.dst)
	return err
}

func (w *packetWriter) Close() error { return w.c.Close() }
