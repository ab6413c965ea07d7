package resources

import "time"

// Observer hears every start and stop of a chain's resources, with how
// long it took and its error (nil on success); the daemon's metrics
// implement it. op is "start" or "stop"; each stop attempt is heard. It
// is called on the chain's goroutine and must not block.
type Observer interface {
	ResourceDone(group, resource, op string, took time.Duration, err error)
}

// WithObserver has o hear the chain's resource operations.
func WithObserver(o Observer) ChainOption {
	return func(c *chainConfig) { c.observer = o }
}

// observe times one operation of a for the observer, if any.
func (c *Chain) observe(a Agent, op string, fn func() error) error {
	if c.cfg.observer == nil {
		return fn()
	}
	start := time.Now()
	err := fn()
	c.cfg.observer.ResourceDone(c.name, a.Name(), op, time.Since(start), err)
	return err
}
