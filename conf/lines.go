package conf

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Line is one logical line of a Heartbeat-style file: its first physical
// line number and its whitespace-separated fields, comments removed.
type Line struct {
	Num    int
	Fields []string
}

// maxLineBytes bounds one physical line; longer input is refused rather
// than buffered without limit.
const maxLineBytes = 64 * 1024

// SplitLines reads Heartbeat-style text: '#' starts a comment (outside
// quotes), fields are separated by blanks, double or single quotes group a
// field, and a backslash at the end of a line continues it on the next.
// Problems (an unterminated quote, an overlong line) go to ds under file.
func SplitLines(file string, data []byte, ds *Diags) []Line {
	var out []Line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	num, start := 0, 0
	var pending strings.Builder
	for sc.Scan() {
		num++
		text := strings.TrimRight(sc.Text(), "\r")
		if pending.Len() == 0 {
			start = num
		}
		if cont, ok := strings.CutSuffix(text, "\\"); ok && !inComment(cont) {
			pending.WriteString(cont)
			pending.WriteByte(' ')
			continue
		}
		pending.WriteString(text)
		if fields, err := splitFields(pending.String()); err != nil {
			ds.Errorf(file, start, "%v", err)
		} else if len(fields) > 0 {
			out = append(out, Line{Num: start, Fields: fields})
		}
		pending.Reset()
	}
	if err := sc.Err(); err != nil {
		ds.Errorf(file, num+1, "cannot read line: %v", err)
		return out
	}
	if pending.Len() > 0 {
		ds.Errorf(file, start, "backslash continuation runs past the end of the file")
		if fields, err := splitFields(pending.String()); err == nil && len(fields) > 0 {
			out = append(out, Line{Num: start, Fields: fields})
		}
	}
	return out
}

// inComment reports whether s ends inside a comment, where a trailing
// backslash is only text.
func inComment(s string) bool {
	var q rune
	for _, r := range s {
		switch {
		case q != 0:
			if r == q {
				q = 0
			}
		case r == '"' || r == '\'':
			q = r
		case r == '#':
			return true
		}
	}
	return false
}

// splitFields splits one logical line into fields.
func splitFields(s string) ([]string, error) {
	var fields []string
	var cur strings.Builder
	inField := false
	var q rune
	for _, r := range s {
		switch {
		case q != 0:
			if r == q {
				q = 0
				continue
			}
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			q = r
			inField = true
		case r == '#':
			goto done
		case r == ' ' || r == '\t' || r == '\v' || r == '\f':
			if inField {
				fields = append(fields, cur.String())
				cur.Reset()
				inField = false
			}
		default:
			cur.WriteRune(r)
			inField = true
		}
	}
	if q != 0 {
		return nil, fmt.Errorf("unterminated quote %c", q)
	}
done:
	if inField {
		fields = append(fields, cur.String())
	}
	return fields, nil
}
