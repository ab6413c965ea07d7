//go:build !linux

package netns

import (
	"net/netip"
	"os"
	"os/exec"
	"time"
)

const supported = false

type (
	labSys  struct{}
	segSys  struct{}
	hostSys struct{}
)

// New returns ErrUnsupported: labs need Linux network namespaces.
func New(name string) (*Lab, error) { return nil, ErrUnsupported }

// SweepStale has nothing to sweep off Linux.
func SweepStale() ([]string, error) { return nil, nil }

func catchSignals(...os.Signal) {}

func (l *Lab) Close() error                                         { return nil }
func (l *Lab) CleanupOnSignal(...os.Signal)                         {}
func (l *Lab) AddSegment(string, ...netip.Prefix) (*Segment, error) { return nil, ErrUnsupported }
func (l *Lab) AddHost(string) (*Host, error)                        { return nil, ErrUnsupported }

func (h *Host) Attach(*Segment, string, ...netip.Prefix) error { return ErrUnsupported }
func (h *Host) liveAddrs(string) ([]netip.Prefix, error)       { return nil, ErrUnsupported }
func (h *Host) Command(name string, args ...string) *exec.Cmd  { return exec.Command(name, args...) }
func (h *Host) Start(*exec.Cmd) (*Proc, error)                 { return nil, ErrUnsupported }
func (h *Host) Do(func() error) error                          { return ErrUnsupported }
func (h *Host) LinkDown(string) error                          { return ErrUnsupported }
func (h *Host) LinkUp(string) error                            { return ErrUnsupported }
func (h *Host) Unplug(string) error                            { return ErrUnsupported }
func (h *Host) Plug(string) error                              { return ErrUnsupported }
func (h *Host) Block(string) error                             { return ErrUnsupported }
func (h *Host) Unblock(string) error                           { return ErrUnsupported }
func (h *Host) Isolate() error                                 { return ErrUnsupported }
func (h *Host) Heal() error                                    { return ErrUnsupported }
func (h *Host) Freeze(int) error                               { return ErrUnsupported }
func (h *Host) Thaw(int) error                                 { return ErrUnsupported }
func (h *Host) KillAll() error                                 { return ErrUnsupported }
func (h *Host) Ping(netip.Addr, time.Duration) error           { return ErrUnsupported }
func (p *Proc) Signal(os.Signal) error                         { return ErrUnsupported }
func (p *Proc) Kill() error                                    { return ErrUnsupported }

// Go reports ErrUnsupported on the channel.
func (h *Host) Go(func() error) <-chan error {
	ch := make(chan error, 1)
	ch <- ErrUnsupported
	return ch
}
