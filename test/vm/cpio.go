package vm

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
)

// File type bits of a cpio mode, as in stat(2).
const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeChar = 0o020000
)

// cpioWriter writes the "newc" cpio format the kernel unpacks as an
// initramfs. Parent directories are added on demand, each once.
type cpioWriter struct {
	w    *bufio.Writer
	ino  uint32
	dirs map[string]bool
	err  error
}

func newCpioWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriter(w), ino: 1, dirs: map[string]bool{"": true, ".": true}}
}

// clean turns an absolute or relative path into the archive's relative form.
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func (c *cpioWriter) header(name string, mode, nlink uint32, size int64, rmajor, rminor uint32) {
	if c.err != nil {
		return
	}
	if size > 0xffffffff {
		c.err = fmt.Errorf("vm: cpio: %s: %d bytes is too large for newc", name, size)
		return
	}
	c.ino++
	_, c.err = fmt.Fprintf(c.w, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, uint32(size), 0, 0, rmajor, rminor, len(name)+1, 0)
	if c.err != nil {
		return
	}
	_, c.err = io.WriteString(c.w, name+"\x00")
	c.pad(110 + int64(len(name)) + 1)
}

// pad aligns the stream to four bytes after n bytes of a record.
func (c *cpioWriter) pad(n int64) {
	if c.err != nil {
		return
	}
	if r := n % 4; r != 0 {
		_, c.err = c.w.Write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) parents(name string) {
	dir := path.Dir(name)
	if c.dirs[dir] {
		return
	}
	c.parents(dir)
	c.dirs[dir] = true
	c.header(dir, modeDir|0o755, 2, 0, 0, 0)
}

// Dir adds a directory (and its parents).
func (c *cpioWriter) Dir(name string, perm uint32) {
	name = cleanName(name)
	if c.dirs[name] {
		return
	}
	c.parents(name)
	c.dirs[name] = true
	c.header(name, modeDir|perm, 2, 0, 0, 0)
}

// File adds a regular file of size bytes read from r.
func (c *cpioWriter) File(name string, perm uint32, size int64, r io.Reader) {
	name = cleanName(name)
	c.parents(name)
	c.header(name, modeFile|perm, 1, size, 0, 0)
	if c.err != nil {
		return
	}
	n, err := io.CopyN(c.w, r, size)
	if err != nil {
		c.err = fmt.Errorf("vm: cpio: %s: copied %d of %d bytes: %w", name, n, size, err)
		return
	}
	c.pad(size)
}

// Bytes adds a regular file holding data.
func (c *cpioWriter) Bytes(name string, perm uint32, data []byte) {
	c.File(name, perm, int64(len(data)), bytes.NewReader(data))
}

// Symlink adds a symbolic link to target.
func (c *cpioWriter) Symlink(name, target string) {
	name = cleanName(name)
	c.parents(name)
	c.header(name, modeLink|0o777, 1, int64(len(target)), 0, 0)
	if c.err != nil {
		return
	}
	_, c.err = io.WriteString(c.w, target)
	c.pad(int64(len(target)))
}

// CharDev adds a character device node; the archive needs no privilege to
// hold one, the kernel creates it while unpacking.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) {
	name = cleanName(name)
	c.parents(name)
	c.header(name, modeChar|perm, 1, 0, major, minor)
}

// Close writes the trailer and flushes; it returns the first error met.
func (c *cpioWriter) Close() error {
	c.ino = ^uint32(0) // the header's increment makes the trailer's inode 0
	c.header("TRAILER!!!", 0, 1, 0, 0, 0)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}
