// Package ldirector owns the real-server checker: scheduling, check types,
// quiescent, fallback, failurecount and autoreload; it writes desired
// weights and the IPVS layer applies the differences.
package ldirector
