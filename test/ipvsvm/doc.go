// Package ipvsvm tests hbgo's IPVS table against a kernel with IPVS: its
// tests boot the qemu machine of test/vm and run their inner halves
// there, in network namespaces made from Go (a client, directors, real
// servers on bridges).
package ipvsvm
