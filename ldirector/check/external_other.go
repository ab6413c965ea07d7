//go:build !unix

package check

import (
	"context"
	"fmt"
)

func external(ctx context.Context, s Spec) error {
	return fmt.Errorf("%w: checktype %s on this system", ErrUnsupported, s.Type)
}
