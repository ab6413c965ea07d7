//go:build !linux

package watchdog

import (
	"errors"
	"os"
)

func setTimeout(*os.File, int) (int, error) {
	return 0, errors.New("watchdog timeouts are set on Linux only")
}
