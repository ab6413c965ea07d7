package main

import (
	"context"
	"fmt"
	"log/slog"

	"hbgo/bgp"
	"hbgo/conf"
	"hbgo/heartbeat"
)

// startBGP starts the director's BGP speaker from ha.cf's bgp_* lines: its
// router id is the node's cluster address (the first IPv4 address of the
// first UDP medium's interface), so that every director of one ha.cf has
// its own.
func startBGP(ha *conf.HAConfig, node string, logger *slog.Logger) (*bgp.Speaker, error) {
	b := ha.BGP
	id := heartbeat.ClusterAddr(ha)
	if !id.Is4() {
		return nil, fmt.Errorf("bgp: no IPv4 cluster address to take the router id from (the first UDP medium's interface)")
	}
	cfg := bgp.Config{Node: node, LocalAS: b.AS, RouterID: id, Logger: logger}
	for _, n := range b.Neighbors {
		cfg.Neighbors = append(cfg.Neighbors, bgp.Neighbor{Addr: n.Addr, PeerAS: n.AS, HoldTime: n.Hold,
			Password: n.Password, Port: uint16(n.Port), LocalAddr: n.Source, Passive: n.Passive})
		if n.Passive {
			cfg.ListenPort = 179
		}
	}
	for _, c := range b.Communities {
		v, err := bgp.ParseCommunity(c)
		if err != nil {
			return nil, fmt.Errorf("bgp: %w", err)
		}
		cfg.Communities = append(cfg.Communities, v)
	}
	return bgp.Start(context.Background(), cfg)
}
