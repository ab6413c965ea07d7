package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"hbgo/bgp/pipe"
	"hbgo/conf"
	"hbgo/heartbeat"
)

// startBGP starts the director's BGP speaker (the hbgo-bgp program beside
// this one) from ha.cf's bgp_* lines: its router id is the node's cluster
// address (the first IPv4 address of the first UDP medium's interface), so
// that every director of one ha.cf has its own. The speaker runs in a
// process of its own so that a daemon without bgp_as carries none of its
// engine's weight (see package bgp/pipe).
func startBGP(ha *conf.HAConfig, node string, debug bool, logger *slog.Logger) (*pipe.Speaker, error) {
	b := ha.BGP
	id := heartbeat.ClusterAddr(ha)
	if !id.Is4() {
		return nil, fmt.Errorf("bgp: no IPv4 cluster address to take the router id from (the first UDP medium's interface)")
	}
	cfg := pipe.Config{Node: node, LocalAS: b.AS, RouterID: id, Communities: b.Communities, Debug: debug}
	for _, n := range b.Neighbors {
		cfg.Neighbors = append(cfg.Neighbors, pipe.Neighbor{Addr: n.Addr, PeerAS: n.AS, HoldTime: n.Hold,
			Password: n.Password, Port: uint16(n.Port), LocalAddr: n.Source, Passive: n.Passive,
			BFD: n.BFD, BFDInterval: n.BFDInterval, BFDMultiplier: n.BFDMultiplier})
		if n.Passive {
			cfg.ListenPort = 179
		}
	}
	bin, err := pipe.Find()
	if err != nil {
		return nil, fmt.Errorf("bgp: the speaker program %s is not installed beside hbgo nor in PATH: %w", pipe.Program, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	return pipe.Start(ctx, bin, cfg, logger)
}
