package vm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// exitGrace is how long qemu may take to stop after /init reported the
// exit code before it is killed.
const exitGrace = 15 * time.Second

// Run boots the machine once: it builds an initramfs with busybox, the
// modules, /init and the test binary, starts qemu-system-x86_64 (TCG, no
// network device, serial console on stdout), and returns the test
// binary's exit code and the console. When the timeout or ctx ends first,
// qemu is killed and the error wraps ErrTimeout; the partial Result is
// returned with every error that happens after boot.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.TestBinary == "" {
		return nil, fmt.Errorf("vm: Options.TestBinary is empty")
	}
	if st, err := os.Stat(opts.TestBinary); err != nil {
		return nil, fmt.Errorf("vm: test binary: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("vm: test binary %s is not a regular file", opts.TestBinary)
	}
	a, err := Assets()
	if err != nil {
		return nil, err
	}
	idx, err := loadModuleIndex(a.ModulesDir)
	if err != nil {
		return nil, err
	}
	mods := opts.Modules
	if mods == nil {
		mods = DefaultModules
	}
	order, err := idx.order(mods)
	if err != nil {
		return nil, err
	}
	nonce, err := randomHex(8)
	if err != nil {
		return nil, err
	}
	script, err := initScript(initSpec{nonce: nonce, release: a.Release, modules: order, args: opts.Args, env: opts.Env, dir: opts.Dir})
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "hbgo-vm-")
	if err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	defer os.RemoveAll(work)
	initrd := filepath.Join(work, "initrd.cpio")
	if err := buildInitramfs(initrd, a, script, order, opts); err != nil {
		return nil, err
	}

	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	mem := opts.Memory
	if mem == "" {
		mem = DefaultMemory
	}
	cmd := exec.Command(a.Qemu,
		"-accel", "tcg", "-m", mem, "-smp", "1",
		"-nographic", "-nic", "none", "-no-reboot",
		"-kernel", a.Kernel, "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("vm: start qemu: %w", err)
	}

	var (
		mu       sync.Mutex
		res      = &Result{ExitCode: -1}
		out      strings.Builder
		failed   string
		exitSeen = make(chan struct{})
		readDone = make(chan struct{})
	)
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			line := ansiRE.ReplaceAllString(strings.TrimRight(sc.Text(), "\r"), "")
			l := parseConsoleLine(line, nonce)
			mu.Lock()
			switch {
			case l.init:
				res.Boot = time.Since(start)
			case l.insmod != "":
				failed = l.insmod
			case l.exit >= 0:
				if res.ExitCode < 0 {
					res.ExitCode = l.exit
					close(exitSeen)
				}
			default:
				out.WriteString(line)
				out.WriteByte('\n')
			}
			mu.Unlock()
			if opts.Console != nil && !l.marker {
				io.WriteString(opts.Console, line+"\n")
			}
		}
		io.Copy(io.Discard, stdout) // a line too long for the scanner
	}()

	var (
		stopErr error
		grace   <-chan time.Time
		done    = ctx.Done()
	)
wait:
	for {
		select {
		case <-readDone:
			break wait
		case <-exitSeen:
			exitSeen, grace = nil, time.After(exitGrace)
		case <-grace:
			// The result is known; qemu just did not power off.
			grace = nil
			cmd.Process.Kill()
		case <-done:
			done = nil
			stopErr = fmt.Errorf("%w after %v: %v", ErrTimeout, time.Since(start).Round(time.Millisecond), ctx.Err())
			cmd.Process.Kill() // by PID; qemu has no children
		}
	}
	waitErr := cmd.Wait()
	res.Total = time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	res.Output = out.String()
	switch {
	case stopErr != nil:
		return res, fmt.Errorf("%w; console ends: %s", stopErr, lastLines([]byte(res.Output), 5))
	case failed != "":
		return res, fmt.Errorf("%w: %s (kernel %s); console ends: %s", ErrModule, failed, a.Release, lastLines([]byte(res.Output), 8))
	case res.ExitCode < 0:
		return res, fmt.Errorf("%w (qemu: %v %s); console ends: %s", ErrNoExit, waitErr, lastLines(stderr.Bytes(), 3), lastLines([]byte(res.Output), 8))
	}
	return res, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("vm: random nonce: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// buildInitramfs writes the newc archive the machine boots from.
func buildInitramfs(file string, a *AssetSet, script string, modules []string, opts Options) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("vm: initramfs: %w", err)
	}
	defer f.Close()
	c := newCpioWriter(f)
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "root", "etc", "hbgo"} {
		c.Dir(d, 0o755)
	}
	c.CharDev("dev/console", 0o600, 5, 1)
	c.CharDev("dev/null", 0o666, 1, 3)
	c.Bytes("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	c.Bytes("etc/group", 0o644, []byte("root:x:0:\n"))
	c.Bytes("etc/hosts", 0o644, []byte("127.0.0.1 localhost\n::1 localhost\n"))
	c.Bytes("init", 0o755, []byte(script))

	applets, err := busyboxApplets(a.Busybox)
	if err != nil {
		return err
	}
	if err := addHostFile(c, "bin/busybox", a.Busybox); err != nil {
		return err
	}
	for _, ap := range applets {
		if ap = cleanName(ap); ap != "bin/busybox" && ap != "init" {
			c.Symlink(ap, "/bin/busybox")
		}
	}
	for _, m := range modules {
		if err := addHostFile(c, path.Join("lib/modules", a.Release, m), filepath.Join(a.ModulesDir, m)); err != nil {
			return err
		}
	}
	if err := addHostFile(c, guestBinary, opts.TestBinary); err != nil {
		return err
	}
	for dst, src := range opts.Files {
		if !strings.HasPrefix(dst, "/") {
			return fmt.Errorf("vm: Files: %q is not an absolute path in the machine", dst)
		}
		if err := addHostTree(c, dst, src); err != nil {
			return err
		}
	}
	if err := c.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vm: initramfs: %w", err)
	}
	return nil
}

// addHostFile copies one regular host file into the archive, keeping its
// permission bits.
func addHostFile(c *cpioWriter, dst, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("vm: initramfs: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("vm: initramfs: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("vm: initramfs: %s is not a regular file", src)
	}
	c.File(dst, uint32(st.Mode().Perm()), st.Size(), f)
	return c.err
}

// addHostTree copies a file, or a directory with its files, directories
// and symbolic links.
func addHostTree(c *cpioWriter, dst, src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("vm: Files: %w", err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return fmt.Errorf("vm: Files: %w", err)
		}
		target := path.Join(dst, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			c.Dir(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("vm: Files: %w", err)
			}
			c.Symlink(target, link)
		default:
			return addHostFile(c, target, p)
		}
		return c.err
	})
}
