// Package conf owns parsing and validating ha.cf, authkeys, haresources and
// ldirectord.cf into typed values, and the cross-file checks of check-config.
package conf

import (
	"fmt"
	"sort"
	"strings"
)

// Severity tells whether a problem stops the daemon (Error) or is only
// reported (Warning).
type Severity int

const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diag is one problem found in a configuration file. Line is 0 when the
// problem belongs to the file as a whole (its permissions, a missing file).
type Diag struct {
	File     string
	Line     int
	Severity Severity
	Msg      string
}

// String renders the diagnostic as check-config prints it:
// "FILE:LINE: error: msg", or "FILE: error: msg" without a line.
func (d Diag) String() string {
	if d.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", d.File, d.Line, d.Severity, d.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", d.File, d.Severity, d.Msg)
}

// Diags collects every problem of a run; parsers never stop at the first.
type Diags []Diag

// Errorf records an error at file:line.
func (ds *Diags) Errorf(file string, line int, format string, args ...any) {
	*ds = append(*ds, Diag{File: file, Line: line, Severity: Error, Msg: fmt.Sprintf(format, args...)})
}

// Warnf records a warning at file:line.
func (ds *Diags) Warnf(file string, line int, format string, args ...any) {
	*ds = append(*ds, Diag{File: file, Line: line, Severity: Warning, Msg: fmt.Sprintf(format, args...)})
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diags) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns only the errors.
func (ds Diags) Errors() Diags {
	var out Diags
	for _, d := range ds {
		if d.Severity == Error {
			out = append(out, d)
		}
	}
	return out
}

// Sort orders diagnostics by file, then line, keeping the order in which
// problems of one line were found.
func (ds Diags) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].File != ds[j].File {
			return ds[i].File < ds[j].File
		}
		return ds[i].Line < ds[j].Line
	})
}

// String renders every diagnostic, one a line.
func (ds Diags) String() string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Err returns the diagnostics as an error when any of them is an error, so
// callers that only need pass/fail can use the usual idiom.
func (ds Diags) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return &DiagError{Diags: ds}
}

// DiagError wraps a list of diagnostics that contains at least one error.
type DiagError struct{ Diags Diags }

func (e *DiagError) Error() string { return strings.TrimRight(e.Diags.Errors().String(), "\n") }
