// Package stats has the few statistics the benchmarks report.
package stats

import (
	"math"
	"slices"
	"time"
)

// Percentile is the nearest-rank q-quantile (q in 0..1) of ds; 0 when ds
// is empty. ds is not changed.
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}
