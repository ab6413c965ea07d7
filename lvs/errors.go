package lvs

import "errors"

// Sentinel errors both tables return (wrapped, with the service and server
// named), so callers branch the same way on the kernel and in memory.
var (
	ErrServiceExists = errors.New("virtual service already exists")
	ErrNoService     = errors.New("no such virtual service")
	ErrDestExists    = errors.New("real server already exists")
	ErrNoDest        = errors.New("no such real server")
	// ErrInvalid marks a service or server the kernel would refuse:
	// an unknown scheduler, protocol or method, a weight out of range, ...
	ErrInvalid = errors.New("invalid")
	// ErrTimeout is returned when the kernel did not answer a request in
	// time.
	ErrTimeout = errors.New("no reply from the kernel in time")
)

// joinErrs is errors.Join, nil for none.
func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
