// Package peers runs the programs hbgo replaces, keepalived (VRRP) and
// Linux-HA Heartbeat 3 (haresources mode), in the namespaces of a
// test/netns lab, so benchmarks can put hbgo beside them in one run.
//
// Every peer daemon runs inside a lab namespace and, besides, in a mount
// and UTS namespace of its own made with unshare(1): a temp dir of the
// benchmark is bind-mounted over /run (and, for Heartbeat, over /etc/ha.d
// and /var/lib/heartbeat), and the host name is the node's name. Heartbeat
// has no option for another config dir: its paths (/etc/ha.d, the FIFO in
// /var/lib/heartbeat, /run/heartbeat.pid) are compiled in, and it takes its
// own node name from uname -n, so two nodes on one machine need these
// namespaces anyway. Nothing is written to the machine's own /etc, /run or
// /var; the mounts vanish with the last process of the node.
//
// A Pair is two directors and a client on one segment. Each director runs
// a small UDP echo server that answers with its name; the client's Probe
// asks the virtual IP every 10 ms and keeps every answer, so the failover
// gap is what a client sees: the longest time without an answer.
//
// Ensure installs the Debian packages when their programs are missing,
// with invoke-rc.d told (policy-rc.d) to start no service.
package peers
