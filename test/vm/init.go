package vm

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// guestBinary is where the test binary sits in the machine.
const guestBinary = "/hbgo/test.bin"

// markerPrefix starts every line /init prints for the harness; a random
// nonce follows it, so output of the test cannot pass for a marker.
const markerPrefix = "hbgo-vm-marker"

// ansiRE matches the terminal control sequences firmware writes to the
// console (clear screen, reset), which only clutter logs.
var ansiRE = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|[@-~])`)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// initSpec is what /init needs to know.
type initSpec struct {
	nonce   string
	release string
	modules []string // paths below /lib/modules/<release>, in load order
	args    []string
	env     []string
	dir     string
}

// initScript writes /init: it mounts the pseudo file systems, loads the
// modules in order, brings lo up, runs the test binary, reports its exit
// code on a marker line and powers off. A module that fails to load stops
// it before the test runs. If /init itself died the kernel would panic and,
// with panic=-1 and qemu's -no-reboot, the machine would stop anyway.
func initScript(s initSpec) (string, error) {
	var b strings.Builder
	m := markerPrefix + " " + s.nonce
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("#!/bin/sh")
	w("export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TMPDIR=/tmp")
	w("mount -t proc proc /proc")
	w("mount -t sysfs sysfs /sys")
	w("mount -t devtmpfs devtmpfs /dev 2>/dev/null")
	w("mkdir -p /dev/pts /dev/shm /tmp /run /root /var/run")
	w("mount -t devpts devpts /dev/pts")
	w("mount -t tmpfs tmpfs /dev/shm")
	w("mount -t tmpfs tmpfs /tmp")
	w("mount -t tmpfs tmpfs /run")
	w("echo %s", shellQuote(m+" init"))
	w("stop() { echo \"%s exit $1\"; sync; poweroff -f; sleep 10; exit \"$1\"; }", m)
	for _, mod := range s.modules {
		p := "/lib/modules/" + s.release + "/" + mod
		w("insmod %s || { echo %s; dmesg | tail -20; stop 125; }", shellQuote(p), shellQuote(m+" insmod-failed "+moduleName(mod)))
	}
	w("ip link set lo up")
	for _, kv := range s.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !envNameRE.MatchString(k) {
			return "", fmt.Errorf("vm: environment entry %q is not NAME=VALUE", kv)
		}
		w("export %s=%s", k, shellQuote(v))
	}
	w("export %s=1", InVMEnv)
	dir := s.dir
	if dir == "" {
		dir = "/"
	}
	w("mkdir -p %s && cd %s || stop 126", shellQuote(dir), shellQuote(dir))
	cmd := []string{guestBinary}
	for _, a := range s.args {
		cmd = append(cmd, shellQuote(a))
	}
	w("%s", strings.Join(cmd, " "))
	w("stop $?")
	return b.String(), nil
}

// consoleLine is one line of the serial console as the harness reads it.
type consoleLine struct {
	marker bool
	init   bool   // /init started
	exit   int    // exit code reported, or -1
	insmod string // module that failed to load
}

// parseConsoleLine recognises the harness's markers for one nonce. The
// console may put kernel messages on the same line before a marker.
func parseConsoleLine(line, nonce string) consoleLine {
	r := consoleLine{exit: -1}
	m := markerPrefix + " " + nonce + " "
	i := strings.Index(line, m)
	if i < 0 {
		return r
	}
	f := strings.Fields(line[i+len(m):])
	if len(f) == 0 {
		return r
	}
	switch {
	case f[0] == "init":
		r.marker, r.init = true, true
	case f[0] == "exit" && len(f) == 2:
		if n, err := strconv.Atoi(f[1]); err == nil {
			r.marker, r.exit = true, n
		}
	case f[0] == "insmod-failed" && len(f) == 2:
		r.marker, r.insmod = true, f[1]
	}
	return r
}
