package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"hbgo/kaimport"
)

// Exit codes of hbgo import keepalived.
const (
	importDone   exitStatus = 0 // imported
	importFailed exitStatus = 1 // errors in the input, or the files could not be written
	importUsage  exitStatus = 2 // bad arguments
)

// importOptions are hbgo import keepalived's flags.
type importOptions struct {
	out, names string
	force      bool
}

// importFlags is hbgo import keepalived's flag set.
func importFlags(stderr io.Writer) (*flag.FlagSet, *importOptions) {
	o := &importOptions{}
	fs := flag.NewFlagSet("import keepalived", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "o", "", "write the files into `DIR` instead of printing them")
	fs.BoolVar(&o.force, "force", false, "overwrite existing files in DIR")
	fs.StringVar(&o.names, "node-names", "", "names of the nodes of CONF and CONF2 (`A,B`), as uname -n prints them")
	return fs, o
}

// importMain implements `hbgo import keepalived [-o DIR] [--force]
// [--node-names A,B] CONF [CONF2]`: exit 0 when imported, 1 on errors in
// the input (or when the files cannot be written), 2 on usage.
func importMain(args []string, stdout, stderr io.Writer) int {
	const usage = "usage: hbgo import keepalived [-o DIR] [--force] [--node-names A,B] CONF [CONF2]"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(stdout, usage)
		return importDone
	}
	if len(args) == 0 || args[0] != "keepalived" {
		fmt.Fprintln(stderr, usage)
		return importUsage
	}
	fs, o := importFlags(stderr)
	// Flags may come before or after the files.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
			return importDone
		} else if err != nil {
			return importUsage
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) < 1 || len(files) > 2 {
		fmt.Fprintln(stderr, "import keepalived: want one keepalived.conf, or the two of a pair")
		return importUsage
	}
	opt := kaimport.Options{}
	if o.names != "" {
		opt.NodeNames = strings.Split(o.names, ",")
		if len(opt.NodeNames) != 2 || opt.NodeNames[0] == "" || opt.NodeNames[1] == "" || opt.NodeNames[0] == opt.NodeNames[1] {
			fmt.Fprintf(stderr, "import keepalived: --node-names %q: want two different names A,B\n", o.names)
			return importUsage
		}
	}
	r := kaimport.Import(files, opt)
	for _, d := range r.Diags {
		fmt.Fprintln(stderr, d.String())
	}
	if r.Diags.HasErrors() {
		fmt.Fprintln(stderr, "import keepalived: nothing written: fix the errors above")
		return importFailed
	}
	for _, it := range r.NotCarried {
		fmt.Fprintf(stderr, "not carried (%s): %s\n", it.Target, it)
	}
	if o.out == "" {
		for i, f := range r.Files {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "==> %s (mode %04o) <==\n%s", f.Name, f.Mode, f.Data)
		}
		return importDone
	}
	if err := writeImport(o.out, r.Files, o.force); err != nil {
		fmt.Fprintf(stderr, "import keepalived: %v\n", err)
		return importFailed
	}
	for _, f := range r.Files {
		fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(o.out, f.Name))
	}
	return importDone
}

// writeImport writes the files into dir, refusing to replace any unless
// force is set; it checks every file before writing the first.
func writeImport(dir string, files []kaimport.File, force bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if !force {
		var exist []string
		for _, f := range files {
			if _, err := os.Lstat(filepath.Join(dir, f.Name)); err == nil {
				exist = append(exist, f.Name)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if len(exist) > 0 {
			return fmt.Errorf("%s already has %s; give --force to replace", dir, strings.Join(exist, ", "))
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return err
		}
		// WriteFile keeps the mode of a file it replaces.
		if err := os.Chmod(p, f.Mode); err != nil {
			return err
		}
	}
	return nil
}
