// Package bgptest runs a router in a network namespace of a test lab: FRR's
// zebra and bgpd, started by hand with their files in a temporary directory,
// so that tests can watch which next hops the router installs for a VIP.
package bgptest
