package vm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// moduleIndex is what depmod wrote about a kernel's modules: where each one
// is, what it needs, and which ones are built in.
type moduleIndex struct {
	path    map[string]string   // name → path relative to the modules dir
	deps    map[string][]string // name → names it needs (modules.dep)
	pre     map[string][]string // name → names to load first (modules.softdep "pre:")
	builtin map[string]bool
}

// moduleName normalises a file name or module name the way the kernel
// does: no directory, no .ko suffix (compressed or not), '-' read as '_'.
func moduleName(s string) string {
	s = path.Base(s)
	if i := strings.Index(s, ".ko"); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "-", "_")
}

// loadModuleIndex reads modules.dep, modules.softdep and modules.builtin
// of one depmod'ed modules directory.
func loadModuleIndex(dir string) (*moduleIndex, error) {
	idx := &moduleIndex{path: map[string]string{}, deps: map[string][]string{}, pre: map[string][]string{}, builtin: map[string]bool{}}
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("vm: modules index (depmod not run?): %w", err)
	}
	defer f.Close()
	if err := idx.parseDep(f); err != nil {
		return nil, fmt.Errorf("vm: %s: %w", f.Name(), err)
	}
	if f, err := os.Open(filepath.Join(dir, "modules.softdep")); err == nil {
		defer f.Close()
		if err := idx.parseSoftdep(f); err != nil {
			return nil, fmt.Errorf("vm: %s: %w", f.Name(), err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("vm: modules.softdep: %w", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(data)) {
			idx.builtin[moduleName(l)] = true
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("vm: modules.builtin: %w", err)
	}
	return idx, nil
}

// parseDep reads lines "kernel/a/b.ko: kernel/c.ko kernel/d.ko".
func (idx *moduleIndex) parseDep(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, deps, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("line %d: no colon in %q", n, line)
		}
		name := moduleName(mod)
		idx.path[name] = strings.TrimSpace(mod)
		var names []string
		for _, d := range strings.Fields(deps) {
			names = append(names, moduleName(d))
		}
		idx.deps[name] = names
	}
	return sc.Err()
}

// parseSoftdep reads lines "softdep libcrc32c pre: crc32c post: x". A
// soft dependency names a module or an alias; an alias X is taken to mean
// the module X_generic when that exists (crc32c → crc32c_generic), since
// the accelerated variants may need CPU features the emulated CPU lacks.
func (idx *moduleIndex) parseSoftdep(r io.Reader) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != "softdep" {
			continue
		}
		name := moduleName(f[1])
		inPre := false
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				inPre = true
			case "post:":
				inPre = false
			default:
				if inPre {
					idx.pre[name] = append(idx.pre[name], moduleName(w))
				}
			}
		}
	}
	return sc.Err()
}

// order returns the module files to insmod, dependencies first, each once.
// Built-in modules are left out; unknown names are an error.
func (idx *moduleIndex) order(names []string) ([]string, error) {
	var out []string
	done := map[string]bool{}
	visiting := map[string]bool{}
	var visit func(name string, soft bool) error
	visit = func(name string, soft bool) error {
		if done[name] || idx.builtin[name] {
			return nil
		}
		if _, ok := idx.path[name]; !ok {
			if soft {
				if _, ok := idx.path[name+"_generic"]; ok {
					return visit(name+"_generic", false)
				}
				return nil // an alias nothing here provides: leave it to the kernel
			}
			return fmt.Errorf("vm: kernel module %q not found in modules.dep", name)
		}
		if visiting[name] {
			return fmt.Errorf("vm: kernel module %q depends on itself", name)
		}
		visiting[name] = true
		for _, p := range idx.pre[name] {
			if err := visit(p, true); err != nil {
				return err
			}
		}
		for _, d := range idx.deps[name] {
			if err := visit(d, false); err != nil {
				return err
			}
		}
		visiting[name] = false
		done[name] = true
		out = append(out, idx.path[name])
		return nil
	}
	for _, n := range names {
		if err := visit(moduleName(n), false); err != nil {
			return nil, err
		}
	}
	return out, nil
}
