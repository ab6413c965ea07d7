package resources

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"hbgo/conf"
)

func init() { Register(conf.AgentLdirectord, newLdirectordAgent) }

// ldirectordAgent is the ldirectord[::FILE] resource. Heartbeat started
// and stopped the ldirectord daemon with the group; hbgo runs the
// ldirector of every ldirectord.cf on every director all the time, so its
// checks and the IPVS table are warm when a takeover comes and only the
// VIP moves. Start therefore checks that the ldirector runs and fails the
// group when it does not (its configuration failed, say); Stop leaves it
// running. Status is Running between Start and Stop while the ldirector
// runs.
type ldirectordAgent struct {
	name   string
	config string
	env    Env

	mu      sync.Mutex
	started bool
}

func newLdirectordAgent(res conf.Resource, env Env) (Agent, error) {
	config := conf.DefaultLdirectordConfig
	if len(res.Args) > 0 && res.Args[0] != "" {
		config = res.Args[0]
	}
	return &ldirectordAgent{name: ResourceName(res.Name, res.Args), config: config, env: env}, nil
}

func (a *ldirectordAgent) Name() string { return a.name }

func (a *ldirectordAgent) running() error {
	if a.env.Ldirector == nil {
		return errors.New("this process runs no ldirector (only the daemon does)")
	}
	if err := a.env.Ldirector(a.config); err != nil {
		return fmt.Errorf("the ldirector of %s does not run: %w", a.config, err)
	}
	return nil
}

func (a *ldirectordAgent) Start(ctx context.Context) error {
	if err := a.running(); err != nil {
		return &OpError{Resource: a.name, Op: "start", Err: err}
	}
	a.mu.Lock()
	a.started = true
	a.mu.Unlock()
	return nil
}

func (a *ldirectordAgent) Stop(ctx context.Context) error {
	a.mu.Lock()
	a.started = false
	a.mu.Unlock()
	return nil
}

func (a *ldirectordAgent) Status(ctx context.Context) (State, error) {
	a.mu.Lock()
	started := a.started
	a.mu.Unlock()
	if !started {
		return Stopped, nil
	}
	if err := a.running(); err != nil {
		return Failed, nil
	}
	return Running, nil
}
