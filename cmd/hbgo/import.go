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

// importMain implements `hbgo import keepalived [-o DIR] [--force]
// [--node-names A,B] CONF [CONF2]`: exit 0 when imported, 1 on errors in
// the input (or when the files cannot be written), 2 on usage.
func importMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "keepalived" {
		fmt.Fprintln(stderr, "usage: hbgo import keepalived [-o DIR] [--force] [--node-names A,B] CONF [CONF2]")
		return 2
	}
	fs := flag.NewFlagSet("import keepalived", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the files into `DIR` instead of printing them")
	force := fs.Bool("force", false, "overwrite existing files in DIR")
	names := fs.String("node-names", "", "names of the nodes of CONF and CONF2 (`A,B`), as uname -n prints them")
	// Flags may come before or after the files.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) < 1 || len(files) > 2 {
		fmt.Fprintln(stderr, "import keepalived: want one keepalived.conf, or the two of a pair")
		return 2
	}
	opt := kaimport.Options{}
	if *names != "" {
		opt.NodeNames = strings.Split(*names, ",")
		if len(opt.NodeNames) != 2 || opt.NodeNames[0] == "" || opt.NodeNames[1] == "" || opt.NodeNames[0] == opt.NodeNames[1] {
			fmt.Fprintf(stderr, "import keepalived: --node-names %q: want two different names A,B\n", *names)
			return 2
		}
	}
	r := kaimport.Import(files, opt)
	for _, d := range r.Diags {
		fmt.Fprintln(stderr, d.String())
	}
	if r.Diags.HasErrors() {
		fmt.Fprintln(stderr, "import keepalived: nothing written: fix the errors above")
		return 1
	}
	for _, it := range r.NotCarried {
		fmt.Fprintf(stderr, "not carried (%s): %s\n", it.Target, it)
	}
	if *out == "" {
		for i, f := range r.Files {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "==> %s (mode %04o) <==\n%s", f.Name, f.Mode, f.Data)
		}
		return 0
	}
	if err := writeImport(*out, r.Files, *force); err != nil {
		fmt.Fprintf(stderr, "import keepalived: %v\n", err)
		return 1
	}
	for _, f := range r.Files {
		fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, f.Name))
	}
	return 0
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
