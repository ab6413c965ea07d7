//go:build !linux

package sysmon

import "errors"

// Thread is only known on Linux.
func Thread() (int, error) { return 0, errors.New("sysmon: only on Linux") }

// Calm does nothing but on Linux.
func Calm() (int, error) { return 0, errors.New("sysmon: only on Linux") }

// ThreadOf is only known on Linux.
func ThreadOf(int) (int, error) { return 0, errors.New("sysmon: only on Linux") }
