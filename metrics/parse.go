package metrics

import (
	"strconv"
	"strings"
)

// Value finds, in a scrape in Prometheus's text format, the first sample
// of name whose label set contains sel (`a="x",b="y"` as written, labels
// sorted as the endpoint writes them; "" matches any). It is for tests
// and for quick looks: a scraper should use a real parser.
func Value(text, name, sel string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		labels := ""
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue
		}
		if sel != "" && !strings.Contains(labels, sel) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		return v, true
	}
	return 0, false
}
