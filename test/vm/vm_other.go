//go:build !linux

package vm

import "context"

// Assets returns ErrUnsupported: the machine needs a Linux host.
func Assets() (*AssetSet, error) { return nil, ErrUnsupported }

// Run returns ErrUnsupported: the machine needs a Linux host.
func Run(ctx context.Context, opts Options) (*Result, error) { return nil, ErrUnsupported }
