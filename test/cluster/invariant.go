// Package cluster runs hbgo clusters of real daemons in network namespaces
// and checks what they did: the harness, the fault schedule, and the
// invariant that no group ever runs on two nodes at once.
package cluster

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Record is one line of the resource log a test resource script writes:
// "START|STOP node group unix-nanoseconds".
type Record struct {
	Op    string
	Node  string
	Group string
	At    time.Time
}

// ParseLog reads the resource log.
func ParseLog(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || (f[0] != "START" && f[0] != "STOP") {
			return nil, fmt.Errorf("resource log line %d: %q", n, sc.Text())
		}
		ns, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("resource log line %d: %v", n, err)
		}
		out = append(out, Record{Op: f[0], Node: f[1], Group: f[2], At: time.Unix(0, ns)})
	}
	return out, sc.Err()
}

// Interval is a span during which a node ran a group. An open interval
// (still running at the end of the log) has a zero End.
type Interval struct {
	Node, Group string
	Start, End  time.Time
}

// Intervals pairs each START with the next STOP of the same node and group.
func Intervals(recs []Record) ([]Interval, error) {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].At.Before(recs[j].At) })
	open := map[[2]string]*Interval{}
	var out []Interval
	for _, r := range recs {
		k := [2]string{r.Node, r.Group}
		switch r.Op {
		case "START":
			if open[k] != nil {
				return nil, fmt.Errorf("%s started %s twice without a stop (at %s)", r.Node, r.Group, r.At.Format(time.StampMicro))
			}
			open[k] = &Interval{Node: r.Node, Group: r.Group, Start: r.At}
		case "STOP":
			iv := open[k]
			if iv == nil {
				continue // a stop of something not running: idempotent
			}
			iv.End = r.At
			out = append(out, *iv)
			delete(open, k)
		}
	}
	for _, iv := range open {
		out = append(out, *iv)
	}
	return out, nil
}

// CheckNoOverlap fails when, at any instant, two nodes ran the same group.
// A STOP written at the same nanosecond as another node's START counts as
// an overlap: the new owner must start strictly after the old one stopped.
func CheckNoOverlap(recs []Record) error {
	ivs, err := Intervals(recs)
	if err != nil {
		return err
	}
	byGroup := map[string][]Interval{}
	for _, iv := range ivs {
		byGroup[iv.Group] = append(byGroup[iv.Group], iv)
	}
	for g, list := range byGroup {
		for i := range list {
			for j := i + 1; j < len(list); j++ {
				a, b := list[i], list[j]
				if a.Node == b.Node {
					continue
				}
				if overlaps(a, b) {
					return fmt.Errorf("group %s ran on %s (%s) and %s (%s) at once", g, a.Node, span(a), b.Node, span(b))
				}
			}
		}
	}
	return nil
}

func overlaps(a, b Interval) bool {
	aEnd, bEnd := a.End, b.End
	if aEnd.IsZero() {
		aEnd = time.Unix(1<<40, 0)
	}
	if bEnd.IsZero() {
		bEnd = time.Unix(1<<40, 0)
	}
	return !a.Start.After(bEnd) && !b.Start.After(aEnd)
}

func span(iv Interval) string {
	end := "running"
	if !iv.End.IsZero() {
		end = iv.End.Format("15:04:05.000000")
	}
	return iv.Start.Format("15:04:05.000000") + " to " + end
}

// Running returns who runs each group at the end of the log.
func Running(recs []Record) map[string][]string {
	ivs, _ := Intervals(recs)
	out := map[string][]string{}
	for _, iv := range ivs {
		if iv.End.IsZero() {
			out[iv.Group] = append(out[iv.Group], iv.Node)
		}
	}
	return out
}

// Window is a span during which a node's daemon was frozen (SIGSTOP), or
// killed alone with its resources left running until it was started again:
// no software on it could stop what it ran, so its groups may overlap with
// a new owner's until it notices, after thawing (or at its restart), that
// it no longer owns them.
type Window struct {
	Node     string
	From, To time.Time
}

// CheckNoOverlapExcept is CheckNoOverlap where an overlap is excused only
// if it lies wholly inside a frozen window of one of the two nodes, grace
// included after the thaw.
func CheckNoOverlapExcept(recs []Record, frozen []Window, grace time.Duration) error {
	ivs, err := Intervals(recs)
	if err != nil {
		return err
	}
	for i := range ivs {
		for j := range ivs {
			a, b := ivs[i], ivs[j]
			if i >= j || a.Group != b.Group || a.Node == b.Node || !overlaps(a, b) {
				continue
			}
			from := later(a.Start, b.Start)
			to := earlier(a.End, b.End)
			excused := false
			for _, w := range frozen {
				if (w.Node == a.Node || w.Node == b.Node) && !to.IsZero() && !from.Before(w.From) && !to.After(w.To.Add(grace)) {
					excused = true
				}
			}
			if !excused {
				return fmt.Errorf("group %s ran on %s (%s) and %s (%s) at once", a.Group, a.Node, span(a), b.Node, span(b))
			}
		}
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// earlier of two ends; a zero end means still running.
func earlier(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case a.Before(b):
		return a
	}
	return b
}
