//go:build !linux

package heartbeat

import "errors"

var errNoSerial = errors.New("heartbeat: serial media need Linux")

// OpenSerial is only available on Linux.
func OpenSerial(device string, baud int) (*SerialLink, error) {
	if err := checkBaud(device, baud); err != nil {
		return nil, err
	}
	return nil, &SerialError{Device: device, Problem: errNoSerial.Error(), Err: errNoSerial}
}

// pidAlive cannot tell here, so every lock counts as live.
func pidAlive(pid int) bool { return true }
