// Package kaimport owns the import of keepalived configurations: reading
// keepalived.conf with its include files, turning it into ha.cf, authkeys,
// haresources and ldirectord.cf, and comparing the two configs of a pair.
package kaimport

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"hbgo/conf"
)

// Node is one statement of keepalived.conf: a keyword, its arguments, and
// the statements of its block when it opens one.
type Node struct {
	Key      string
	Args     []string
	File     string
	Line     int
	HasBlock bool
	Block    []*Node

	// used is set when the converter carries the statement over or lists it
	// as not carried; whatever is left unused is listed at the end, so that
	// nothing is dropped silently.
	used bool
}

// Pos renders the statement's position as FILE:LINE.
func (n *Node) Pos() string { return fmt.Sprintf("%s:%d", n.File, n.Line) }

// Text renders the statement as written, without its block.
func (n *Node) Text() string {
	return strings.TrimSpace(n.Key + " " + strings.Join(n.Args, " "))
}

// Find returns the first statement of the block with the keyword, or nil.
func (n *Node) Find(key string) *Node {
	for _, c := range n.Block {
		if c.Key == key {
			return c
		}
	}
	return nil
}

// maxIncludeDepth bounds nested include files, so that a file including
// itself ends with an error instead of a loop.
const maxIncludeDepth = 8

var includeKeys = map[string]bool{
	"include": true, "includer": true, "includem": true, "includew": true, "includeb": true, "includea": true,
}

// Parse reads a keepalived.conf and the files it includes. It returns the
// top-level statements; every problem (an unbalanced brace, an include that
// matches nothing, an unreadable file) goes to ds with its file and line.
func Parse(path string, readFile func(string) ([]byte, error), ds *conf.Diags) []*Node {
	if readFile == nil {
		readFile = os.ReadFile
	}
	p := &parser{read: readFile, ds: ds}
	root := &Node{}
	data, err := readFile(path)
	if err != nil {
		ds.Errorf(path, 0, "cannot read: %v", err)
		return nil
	}
	p.parseFile(path, data, root, 0)
	return root.Block
}

type parser struct {
	read func(string) ([]byte, error)
	ds   *conf.Diags
}

// parseFile parses one file into parent's block. Braces must balance within
// each file, as they do in any sane keepalived configuration.
func (p *parser) parseFile(file string, data []byte, parent *Node, depth int) {
	stack := []*Node{parent}
	var last *Node // the last statement made, for a '{' on a line of its own
	for i, raw := range strings.Split(string(data), "\n") {
		num := i + 1
		toks, err := tokenize(strings.TrimRight(raw, "\r"))
		if err != nil {
			p.ds.Errorf(file, num, "%v", err)
			continue
		}
		var words []string
		flush := func(opens bool) {
			cur := stack[len(stack)-1]
			if len(words) == 0 {
				return
			}
			n := &Node{Key: words[0], Args: words[1:], File: file, Line: num, HasBlock: opens}
			words = nil
			last = n
			if includeKeys[n.Key] && !opens {
				p.include(n, cur, depth)
				return
			}
			cur.Block = append(cur.Block, n)
		}
		for _, t := range toks {
			switch t {
			case "{":
				if len(words) == 0 {
					cur := stack[len(stack)-1]
					if last == nil || len(cur.Block) == 0 || cur.Block[len(cur.Block)-1] != last || last.HasBlock {
						p.ds.Errorf(file, num, "'{' opens a block for no keyword")
						stack = append(stack, &Node{Key: "{", File: file, Line: num, HasBlock: true})
						continue
					}
					last.HasBlock = true
					stack = append(stack, last)
					continue
				}
				flush(true)
				cur := stack[len(stack)-1]
				stack = append(stack, cur.Block[len(cur.Block)-1])
			case "}":
				flush(false)
				if len(stack) == 1 {
					p.ds.Errorf(file, num, "unbalanced '}': no block is open here")
					continue
				}
				stack = stack[:len(stack)-1]
				last = nil
			default:
				words = append(words, t)
			}
		}
		flush(false)
	}
	for _, n := range stack[1:] {
		p.ds.Errorf(n.File, n.Line, "unbalanced '{': the block of %s is never closed (missing '}')", n.Key)
	}
}

// include reads the files an include statement names, relative to the
// directory of the including file, in sorted order.
func (p *parser) include(n *Node, parent *Node, depth int) {
	if len(n.Args) != 1 {
		p.ds.Errorf(n.File, n.Line, "%s wants one file name or pattern", n.Key)
		return
	}
	if depth >= maxIncludeDepth {
		p.ds.Errorf(n.File, n.Line, "%s %s: includes nested deeper than %d (a file including itself?)", n.Key, n.Args[0], maxIncludeDepth)
		return
	}
	pat := n.Args[0]
	if !filepath.IsAbs(pat) {
		pat = filepath.Join(filepath.Dir(n.File), pat)
	}
	matches, err := filepath.Glob(pat)
	if err != nil {
		p.ds.Errorf(n.File, n.Line, "%s %s: %v", n.Key, n.Args[0], err)
		return
	}
	if len(matches) == 0 {
		p.ds.Errorf(n.File, n.Line, "%s %s: no file matches", n.Key, n.Args[0])
		return
	}
	sort.Strings(matches)
	for _, m := range matches {
		data, err := p.read(m)
		if err != nil {
			p.ds.Errorf(n.File, n.Line, "%s: cannot read %s: %v", n.Key, m, err)
			continue
		}
		p.parseFile(m, data, parent, depth+1)
	}
}

// tokenize splits a line into words and braces. '!' and '#' start a comment
// outside double quotes; a quoted string is one word.
func tokenize(s string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	in, quoted := false, false
	end := func() {
		if cur.Len() > 0 || quoted {
			toks = append(toks, cur.String())
		}
		cur.Reset()
		quoted = false
	}
	for _, r := range s {
		switch {
		case in:
			if r == '"' {
				in = false
				continue
			}
			cur.WriteRune(r)
		case r == '"':
			in, quoted = true, true
		case r == '!' || r == '#':
			end()
			return toks, nil
		case r == '{' || r == '}':
			end()
			toks = append(toks, string(r))
		case r == ' ' || r == '\t':
			end()
		default:
			cur.WriteRune(r)
		}
	}
	if in {
		return nil, fmt.Errorf("unterminated quote")
	}
	end()
	return toks, nil
}
