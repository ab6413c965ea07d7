package peers

import (
	"fmt"
	"net/netip"

	"hbgo/test/netns"
)

// Client is what a client on the directors' segment sees of their
// virtual IPs: every director runs an echo server that answers with its
// name, a client host asks each virtual IP every ProbeEvery (one Probe
// per address), and an ARP watcher on a host of its own asks who has
// each of them every ARPEvery. Benchmarks of hbgo and of its peers build
// the same Client, so their figures are measured the same way.
type Client struct {
	Host   *netns.Host
	Probes map[netip.Addr]*Probe
	ARP    *ARPWatch
}

// StartClient starts an echo server in each director (answering with its
// lab name), then adds host "client" at addr on seg with a probe for every
// one of vips, and host "arpwatch" (no address) on seg with an ARP
// watcher. ifname is the directors' interface on seg, and the new hosts'.
// Everything stops when the lab closes, or at Close.
func StartClient(lab *netns.Lab, seg *netns.Segment, addr netip.Prefix, ifname string, directors []*netns.Host, vips ...netip.Addr) (*Client, error) {
	names := map[string]string{}
	for _, d := range directors {
		if err := StartEcho(d, d.Name()); err != nil {
			return nil, err
		}
		mac := d.MAC(ifname)
		if mac == nil {
			return nil, fmt.Errorf("peers: director %s has no interface %s", d.Name(), ifname)
		}
		names[mac.String()] = d.Name()
	}
	c := &Client{Probes: map[netip.Addr]*Probe{}}
	var err error
	if c.Host, err = lab.AddHost("client"); err != nil {
		return nil, err
	}
	if err := c.Host.Attach(seg, ifname, addr); err != nil {
		return nil, err
	}
	for _, v := range vips {
		if c.Probes[v], err = StartProbe(c.Host, v); err != nil {
			c.Close()
			return nil, err
		}
	}
	w, err := lab.AddHost("arpwatch")
	if err == nil {
		err = w.Attach(seg, ifname)
	}
	if err == nil {
		c.ARP, err = StartARPWatch(w, ifname, names, vips...)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Probe is the probe of vip.
func (c *Client) Probe(vip netip.Addr) *Probe { return c.Probes[vip] }

// Close stops the probes and the watcher.
func (c *Client) Close() {
	for _, p := range c.Probes {
		p.Close()
	}
	if c.ARP != nil {
		c.ARP.Close()
	}
}
