//go:build !linux

package resources

import (
	"errors"
	"net"
)

var errAnnounceUnsupported = errors.New("gratuitous ARP and neighbour advertisements need Linux")

func openFrameWriter(int) (frameWriter, net.HardwareAddr, error) {
	return nil, nil, errAnnounceUnsupported
}
