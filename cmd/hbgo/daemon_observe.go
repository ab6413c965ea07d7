package main

import (
	"fmt"
	"io"
	"log/slog"

	"hbgo/conf"
	"hbgo/logging"
)

// openLog opens the daemon's log as ha.cf's logfile, debugfile and
// logfacility say (see package logging); stderr when none is set, in the
// journal's shape under systemd.
func openLog(ha *conf.HAConfig, node string, level slog.Level, stderr io.Writer) (*slog.Logger, func(), error) {
	o := logging.OptionsOf(ha, node, level <= slog.LevelDebug, stderr)
	l, err := logging.Open(o)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ha.File, err)
	}
	return l.Logger(), func() { l.Close() }, nil
}
