// Package ldbench measures real-server checkers at scale: hbgo's ldirector
// beside Debian's ldirectord, against a farm of many real servers in a
// network namespace, with a stand-in ipvsadm (command ipvsadm here) where
// the kernel has no IPVS.
package ldbench
