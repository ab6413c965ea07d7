//go:build linux

package cluster

import (
	"testing"
	"time"

	"hbgo/test/peers"
)

// killHold is how long, after the survivor first answered, a killed
// daemon's machine is left as the kill left it (its links up, whatever
// addresses it kept) before its daemon is started again: the ARP watcher
// counts in that time whether it still answers for the VIP beside the
// survivor.
const killHold = time.Second

// hbgoKill9: kill -9 of n1's daemon alone, the machine and its links up
// (KillDaemon); the figure is the client's gap until n2 answers for g1's
// VIP. n1's VIP must go dark on its own (the lease in the kernel), so
// the two never answer together. Then n1's daemon is started again: it
// stops what it no longer owns and g1 fails back.
func hbgoKill9(b *testing.B, mode hbgoMode, tm hbgoTiming, runs int) row {
	return hbgoN1Fault(b, mode, tm, runs,
		func(l *hbgoLab) time.Time { return l.KillDaemon("n1") },
		func(l *hbgoLab) { time.Sleep(killHold); l.Start("n1") })
}

// keepalivedKill9: kill -9 of every keepalived process on n1, the
// machine and its link up. keepalived leaves its VIP on n1's interface,
// so n1's kernel goes on answering ARP for it beside n2 until n1 is
// repaired (the VIP removed, keepalived started), killHold after n2's
// first answer.
func keepalivedKill9(b *testing.B, t *table, kc keepalivedCase, runs int) row {
	return keepalivedRuns(b, t, kc, runs, keepalivedMove{kill: func(p *peers.Pair) { p.KillDaemon("n1") }, hold: killHold})
}

// BenchmarkFailoverKill9 kills the owner's daemon alone with -9 on a live
// machine: hbgo in witness and two-node mode beside keepalived at the
// same rhythm.
func BenchmarkFailoverKill9(b *testing.B) {
	t := table{title: "failover: kill -9 of the holder's daemon, machine up", took: "client gap",
		what: "longest time a client asking the VIP every 10 ms got no answer, until the survivor answered; START: hbgo's resource started on the survivor"}
	runs := benchRuns(false)
	runPairs(b, &t, func(b *testing.B, mode hbgoMode, tm hbgoTiming) row { return hbgoKill9(b, mode, tm, runs) },
		func(b *testing.B, kc keepalivedCase) row { return keepalivedKill9(b, &t, kc, runs) })
	t.print()
}
