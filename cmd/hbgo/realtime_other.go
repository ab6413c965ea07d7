//go:build !linux

package main

import (
	"context"
	"errors"
	"log/slog"
)

// goRealtime: realtime scheduling is only done on Linux.
func goRealtime(context.Context, int, int, *slog.Logger, string) error {
	return errors.New("realtime scheduling is only supported on Linux")
}
