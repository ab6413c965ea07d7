// Command packaging builds hbgo's Debian package with nfpm: the binary,
// the operator links, the systemd unit, the docs and examples, and an
// empty /etc/ha.d that never overwrites an operator's files. `make deb`
// runs it; it is a module of its own so that the packager's dependencies
// stay out of hbgo's.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// The links `make install` makes, as link -> target.
var links = map[string]string{
	"/usr/sbin/heartbeat":    "hbgo",
	"/usr/sbin/ldirectord":   "hbgo",
	"/usr/bin/hb_standby":    "../sbin/hbgo",
	"/usr/bin/hb_takeover":   "../sbin/hbgo",
	"/usr/bin/cl_status":     "../sbin/hbgo",
	"/usr/bin/hb_serialtest": "../sbin/hbgo",
}

const docDir = "/usr/share/doc/hbgo"

func main() {
	root := flag.String("root", "..", "the repository")
	bin := flag.String("bin", "", "the hbgo binary (default ROOT/bin/hbgo)")
	version := flag.String("version", "", "the version (git describe style: v1.2.3, 1.2.3-4-gabcdef, abcdef-dirty)")
	out := flag.String("out", "", "the directory the .deb goes to (default ROOT/dist)")
	arch := flag.String("arch", "amd64", "Debian architecture of the binary")
	flag.Parse()
	if *bin == "" {
		*bin = filepath.Join(*root, "bin", "hbgo")
	}
	if *out == "" {
		*out = filepath.Join(*root, "dist")
	}
	path, err := build(*root, *bin, *version, *arch, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "deb: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

// DebVersion turns a git-describe version into a Debian one: a leading v
// goes, a version that does not start with a digit (a bare commit) becomes
// 0~COMMIT so any release sorts above it, and '-' becomes '+' (Debian
// reads the last '-' as the package revision).
func DebVersion(v string) (string, error) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if v == "" {
		return "", fmt.Errorf("no version")
	}
	if v[0] < '0' || v[0] > '9' {
		v = "0~" + v
	}
	v = strings.ReplaceAll(v, "-", "+")
	for _, r := range v {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(".+~", r)) {
			return "", fmt.Errorf("version %q: %q is not allowed in a Debian version", v, r)
		}
	}
	return v, nil
}

func build(root, bin, version, arch, outDir string) (string, error) {
	dv, err := DebVersion(version)
	if err != nil {
		return "", err
	}
	contents, err := contents(root, bin)
	if err != nil {
		return "", err
	}
	mtime := time.Now().UTC().Truncate(time.Second)
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			mtime = t
		}
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "hbgo",
		Arch:          arch,
		Platform:      "linux",
		Version:       dv,
		VersionSchema: "none",
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    "hbgo maintainers <hbgo@localhost>",
		Description: "High availability for LVS directors, Heartbeat and ldirectord in one\n" +
			"hbgo keeps a pair of LVS directors highly available: it reads Heartbeat's\n" +
			"ha.cf, authkeys and haresources and ldirectord.cf, moves the virtual IP\n" +
			"with gratuitous ARP, programs the IPVS table and checks the real servers.\n" +
			"Commands keep their names: heartbeat, ldirectord, hb_standby, hb_takeover,\n" +
			"cl_status, hb_serialtest. `hbgo realserver` sets up an LVS-DR real server.",
		License: "see /usr/share/doc/hbgo",
		MTime:   mtime,
		Overridables: nfpm.Overridables{
			// Both ship files of the same names (cl_status, ldirectord).
			Conflicts: []string{"heartbeat", "ldirectord"},
			Contents:  contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(root, "packaging", "postinst"),
				PreRemove:   filepath.Join(root, "packaging", "prerm"),
				PostRemove:  filepath.Join(root, "packaging", "postrm"),
			},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(outDir, fmt.Sprintf("hbgo_%s_%s.deb", dv, arch))
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return "", err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(f.Name(), path)
}

// contents lists what the package holds. No file goes under /etc: the
// directories are created (and left alone when they exist), so nothing
// an operator wrote there is replaced or removed.
func contents(root, bin string) (files.Contents, error) {
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, Type: files.TypeFile, FileInfo: &files.ContentFileInfo{Mode: mode}}
	}
	dir := func(dst string) *files.Content {
		return &files.Content{Destination: dst, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755}}
	}
	// The BGP speaker hbgo starts beside itself (make build puts it next
	// to the binary).
	for _, b := range []string{bin, bin + "-bgp"} {
		if fi, err := os.Stat(b); err != nil || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("binary %s: not an executable (%v); run make build", b, err)
		}
	}
	c := files.Contents{
		file(bin, "/usr/sbin/hbgo", 0o755),
		file(bin+"-bgp", "/usr/sbin/hbgo-bgp", 0o755),
		file(filepath.Join(root, "packaging", "hbgo.service"), "/lib/systemd/system/hbgo.service", 0o644),
		file(filepath.Join(root, "README.md"), docDir+"/README.md", 0o644),
		dir("/etc/ha.d"),
		dir("/etc/ha.d/resource.d"),
	}
	for l, target := range links {
		c = append(c, &files.Content{Source: target, Destination: l, Type: files.TypeSymlink})
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		c = append(c, file(d, docDir+"/"+filepath.Base(d), 0o644))
	}
	// Examples, each a configuration directory that check-config accepts
	// as it is: authkeys private, as hbgo demands.
	ex := filepath.Join(root, "examples")
	err = filepath.WalkDir(ex, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(ex, p)
		mode := os.FileMode(0o644)
		if d.Name() == "authkeys" {
			mode = 0o600
		} else if fi, err := d.Info(); err == nil && fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		c = append(c, file(p, docDir+"/examples/"+filepath.ToSlash(rel), mode))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("examples: %w", err)
	}
	return c, nil
}
