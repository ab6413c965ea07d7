package conf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads a time value as Heartbeat does: a bare number is
// seconds ("2", "0.5"), and a unit may follow: "ms" or "msec", "us" or
// "usec" (as Heartbeat), and "s", "m" (which Heartbeat refuses; "500ms",
// "2s"). Negative values and values past a day are refused.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return 0, fmt.Errorf("empty time value")
	}
	unit := time.Second
	switch {
	case strings.HasSuffix(s, "msec"): // Heartbeat's cl_get_msec reads "ms..." and "us..."
		unit, s = time.Millisecond, strings.TrimSuffix(s, "msec")
	case strings.HasSuffix(s, "usec"):
		unit, s = time.Microsecond, strings.TrimSuffix(s, "usec")
	case strings.HasSuffix(s, "ms"):
		unit, s = time.Millisecond, strings.TrimSuffix(s, "ms")
	case strings.HasSuffix(s, "us"):
		unit, s = time.Microsecond, strings.TrimSuffix(s, "us")
	case strings.HasSuffix(s, "s"):
		s = strings.TrimSuffix(s, "s")
	case strings.HasSuffix(s, "m"):
		unit, s = time.Minute, strings.TrimSuffix(s, "m")
	}
	if s == "" || strings.ContainsAny(s, "+-eExX_") {
		return 0, fmt.Errorf("bad time value %q (want seconds like 2 or 0.5, or 500ms)", orig)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("bad time value %q (want seconds like 2 or 0.5, or 500ms)", orig)
	}
	d := v * float64(unit)
	if d > float64(24*time.Hour) {
		return 0, fmt.Errorf("time value %q is longer than a day", orig)
	}
	return time.Duration(math.Round(d)), nil
}

// FormatDuration prints a duration in the shortest form ParseDuration reads
// back: whole seconds bare, otherwise milliseconds.
func FormatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	if d%time.Millisecond == 0 {
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return strconv.FormatInt(int64(d/time.Microsecond), 10) + "us"
}
