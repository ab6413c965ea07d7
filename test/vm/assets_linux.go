package vm

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// Debian packages the machine is made of. The kernel and busybox are
// downloaded and unpacked into the cache, never installed on the host.
const (
	kernelMetaPackage = "linux-image-amd64"
	busyboxPackage    = "busybox-static"
)

// hostTools are installed on the host with apt-get when missing:
// command → Debian package.
var hostTools = []struct{ cmd, pkg string }{
	{"qemu-system-x86_64", "qemu-system-x86"},
	{"depmod", "kmod"},
	{"dpkg-deb", "dpkg"},
	{"xz", "xz-utils"},
}

var (
	assetsMu     sync.Mutex
	assetsCached *AssetSet
)

// Assets returns the cached machine parts, fetching what is missing: it
// installs qemu and kmod with apt-get, downloads Debian's current amd64
// kernel and busybox-static, unpacks them into the cache (HBGO_VM_CACHE, or
// hbgo-vm under XDG_CACHE_HOME or /var/cache) keyed by kernel release, and
// runs depmod there. A file lock keeps concurrent processes from fetching
// at once; later calls are cheap.
func Assets() (*AssetSet, error) {
	if runtime.GOARCH != "amd64" {
		return nil, ErrUnsupported
	}
	assetsMu.Lock()
	defer assetsMu.Unlock()
	if assetsCached != nil {
		a := *assetsCached
		return &a, nil
	}
	dir, err := cacheDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("vm: cache: %w", err)
	}
	unlock, err := lockFile(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	tools, err := ensureTools()
	if err != nil {
		return nil, err
	}
	a := &AssetSet{Qemu: tools["qemu-system-x86_64"]}
	if a.Release, err = ensureKernel(dir, tools); err != nil {
		return nil, err
	}
	kdir := filepath.Join(dir, "kernel-"+a.Release)
	a.Kernel = ensureVmlinux(filepath.Join(kdir, "boot"), a.Release, tools["xz"])
	a.ModulesDir = filepath.Join(kdir, "lib", "modules", a.Release)
	if a.Busybox, err = ensureBusybox(dir, tools); err != nil {
		return nil, err
	}
	assetsCached = a
	c := *a
	return &c, nil
}

func cacheDir() (string, error) {
	if d := os.Getenv("HBGO_VM_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "hbgo-vm"), nil
	}
	if os.Geteuid() == 0 {
		return "/var/cache/hbgo-vm", nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("vm: no cache directory: %w", err)
	}
	return filepath.Join(d, "hbgo-vm"), nil
}

// lockFile takes an exclusive flock on path, waiting for other holders.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("vm: cache lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vm: cache lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// lookTool finds a command in PATH or the sbin directories, which a
// non-root PATH may lack.
func lookTool(cmd string) (string, error) {
	if p, err := exec.LookPath(cmd); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, cmd)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("vm: %s not found", cmd)
}

// ensureTools installs missing host tools and returns command → path.
func ensureTools() (map[string]string, error) {
	paths := map[string]string{}
	var missing []string
	for _, t := range hostTools {
		if p, err := lookTool(t.cmd); err == nil {
			paths[t.cmd] = p
		} else {
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) == 0 {
		return paths, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("vm: missing host packages %s: install them or run as root", strings.Join(missing, " "))
	}
	if err := aptGet("", append([]string{"install", "-y", "--no-install-recommends"}, missing...)...); err != nil {
		return nil, err
	}
	for _, t := range hostTools {
		p, err := lookTool(t.cmd)
		if err != nil {
			return nil, fmt.Errorf("vm: %s still missing after installing %s: %w", t.cmd, t.pkg, err)
		}
		paths[t.cmd] = p
	}
	return paths, nil
}

// aptGet runs apt-get without standard input; on failure it runs
// apt-get update once and tries again, since a fresh machine may have no
// package lists or stale ones.
func aptGet(dir string, args ...string) error {
	run := func(name string, args ...string) ([]byte, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	const apt = "apt-get"
	if os.Geteuid() == 0 {
		// Downloads into a root-owned directory fail in apt's sandbox.
		args = append([]string{"-o", "APT::Sandbox::User=root"}, args...)
	}
	out, err := run(apt, args...)
	if err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("vm: %s %s: %w: %s", apt, strings.Join(args, " "), err, lastLines(out, 5))
	}
	if uout, uerr := run("apt-get", "update"); uerr != nil {
		return fmt.Errorf("vm: %s %s failed (%v: %s), and apt-get update too: %w: %s",
			apt, strings.Join(args, " "), err, lastLines(out, 3), uerr, lastLines(uout, 5))
	}
	if out, err = run(apt, args...); err != nil {
		return fmt.Errorf("vm: %s %s: %w: %s", apt, strings.Join(args, " "), err, lastLines(out, 5))
	}
	return nil
}

// kernelPackage asks apt which versioned kernel package the amd64
// metapackage stands for today.
func kernelPackage() (string, error) {
	query := func() (string, error) {
		out, err := exec.Command("apt-cache", "depends", kernelMetaPackage).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("vm: apt-cache depends %s: %w: %s", kernelMetaPackage, err, lastLines(out, 3))
		}
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
				return f[1], nil
			}
		}
		return "", fmt.Errorf("vm: apt-cache depends %s names no linux-image package", kernelMetaPackage)
	}
	pkg, err := query()
	if err != nil && os.Geteuid() == 0 {
		if out, uerr := exec.Command("apt-get", "update").CombinedOutput(); uerr != nil {
			return "", fmt.Errorf("%w; apt-get update: %v: %s", err, uerr, lastLines(out, 3))
		}
		pkg, err = query()
	}
	return pkg, err
}

// ensureKernel makes sure the kernel named by apt (or, when apt cannot
// tell, the newest one cached) is unpacked and depmod'ed; it returns the
// kernel release.
func ensureKernel(dir string, tools map[string]string) (string, error) {
	pkg, perr := kernelPackage()
	if perr != nil {
		if rel := newestCachedKernel(dir); rel != "" {
			return rel, nil
		}
		return "", perr
	}
	rel := strings.TrimPrefix(pkg, "linux-image-")
	rel = strings.TrimSuffix(rel, "-unsigned")
	kdir := filepath.Join(dir, "kernel-"+rel)
	if _, err := os.Stat(filepath.Join(kdir, ".ready")); err == nil {
		return rel, nil
	}
	tmp := kdir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	if err := unpackDeb(dir, pkg, tmp, tools); err != nil {
		return "", err
	}
	mods := filepath.Join(tmp, "lib", "modules", rel)
	for _, p := range []string{filepath.Join(tmp, "boot", "vmlinuz-"+rel), filepath.Join(mods, "kernel", "net", "netfilter", "ipvs", "ip_vs.ko")} {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("vm: package %s lacks what the machine needs: %w", pkg, err)
		}
	}
	if out, err := exec.Command(tools["depmod"], "-b", tmp, rel).CombinedOutput(); err != nil {
		return "", fmt.Errorf("vm: depmod -b %s %s: %w: %s", tmp, rel, err, lastLines(out, 5))
	}
	if err := os.RemoveAll(filepath.Join(tmp, "usr")); err != nil { // documentation only
		return "", fmt.Errorf("vm: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".ready"), []byte(pkg+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	if err := os.RemoveAll(kdir); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	if err := os.Rename(tmp, kdir); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	return rel, nil
}

// ensureVmlinux returns the kernel image qemu should boot: the ELF
// vmlinux unpacked from the bzImage when it has a PVH entry point, which
// qemu starts directly, sparing the emulated CPU the xz decompression
// (about 2.5 s of every boot under TCG); otherwise the bzImage itself.
func ensureVmlinux(boot, rel, xz string) string {
	bz := filepath.Join(boot, "vmlinuz-"+rel)
	elfPath := filepath.Join(boot, "vmlinux-"+rel)
	if hasPVHEntry(elfPath) {
		return elfPath
	}
	data, err := os.ReadFile(bz)
	if err != nil {
		return bz
	}
	i := bytes.Index(data, []byte("\xfd7zXZ\x00"))
	if i < 0 {
		return bz
	}
	tmp := elfPath + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return bz
	}
	cmd := exec.Command(xz, "-dc", "--single-stream", "-q")
	cmd.Stdin = bytes.NewReader(data[i:])
	cmd.Stdout = out
	err = cmd.Run()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil || !hasPVHEntry(tmp) || os.Rename(tmp, elfPath) != nil {
		os.Remove(tmp)
		return bz
	}
	return elfPath
}

// hasPVHEntry reports whether file is an ELF kernel with the Xen note
// XEN_ELFNOTE_PHYS32_ENTRY (type 18) that qemu boots as PVH.
func hasPVHEntry(file string) bool {
	f, err := elf.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return false
		}
		for len(b) >= 12 {
			nsz, dsz, typ := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
			name := (uint64(nsz) + 3) &^ 3
			desc := (uint64(dsz) + 3) &^ 3
			if uint64(len(b)) < 12+name+desc {
				break
			}
			if typ == 18 && nsz == 4 && string(b[12:15]) == "Xen" {
				return true
			}
			b = b[12+name+desc:]
		}
	}
	return false
}

// newestCachedKernel returns the release of the most recently unpacked
// complete kernel in the cache, or "".
func newestCachedKernel(dir string) string {
	matches, _ := filepath.Glob(filepath.Join(dir, "kernel-*", ".ready"))
	sort.Slice(matches, func(i, j int) bool {
		a, _ := os.Stat(matches[i])
		b, _ := os.Stat(matches[j])
		return a != nil && b != nil && a.ModTime().After(b.ModTime())
	})
	if len(matches) == 0 {
		return ""
	}
	return strings.TrimPrefix(filepath.Base(filepath.Dir(matches[0])), "kernel-")
}

// ensureBusybox unpacks busybox-static into the cache once.
func ensureBusybox(dir string, tools map[string]string) (string, error) {
	bdir := filepath.Join(dir, "busybox")
	bin := filepath.Join(bdir, "bin", "busybox")
	if _, err := os.Stat(filepath.Join(bdir, ".ready")); err == nil {
		return bin, nil
	}
	tmp := bdir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	if err := unpackDeb(dir, busyboxPackage, tmp, tools); err != nil {
		return "", err
	}
	if out, err := exec.Command(filepath.Join(tmp, "bin", "busybox"), "true").CombinedOutput(); err != nil {
		return "", fmt.Errorf("vm: unpacked busybox does not run: %w: %s", err, lastLines(out, 3))
	}
	if err := os.WriteFile(filepath.Join(tmp, ".ready"), nil, 0o644); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	if err := os.RemoveAll(bdir); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	if err := os.Rename(tmp, bdir); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	return bin, nil
}

// unpackDeb downloads a Debian package with apt-get download and extracts
// its files into dest with dpkg-deb -x.
func unpackDeb(cache, pkg, dest string, tools map[string]string) error {
	dl, err := os.MkdirTemp(cache, "download-")
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer os.RemoveAll(dl)
	if err := os.Chmod(dl, 0o755); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	if err := aptGet(dl, "download", pkg); err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("vm: apt-get download %s left %d .deb files", pkg, len(debs))
	}
	if out, err := exec.Command(tools["dpkg-deb"], "-x", debs[0], dest).CombinedOutput(); err != nil {
		return fmt.Errorf("vm: dpkg-deb -x %s: %w: %s", filepath.Base(debs[0]), err, lastLines(out, 5))
	}
	return nil
}

// lastLines returns the last n non-empty lines of out, for error messages.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(bytes.ReplaceAll(out, []byte("\r"), nil))), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// busyboxApplets lists the applet paths of a busybox binary ("bin/sh").
func busyboxApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("vm: %s --list-full: %w", busybox, err)
	}
	return strings.Fields(string(out)), nil
}
