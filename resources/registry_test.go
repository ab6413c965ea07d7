//go:build unix

package resources

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"hbgo/conf"
)

// confResource is a resource resolved to agent, with args.
func confResource(name, agent string, args ...string) conf.Resource {
	return conf.Resource{Name: name, Args: args, Raw: ResourceName(name, args), Line: 1, Agent: agent}
}

// fakeAgent is a built-in for the tests: it keeps its state in memory and
// appends its start and stop to a log file, like the svc script.
type fakeAgent struct {
	mu      sync.Mutex
	name    string
	logPath string
	running bool
}

func (f *fakeAgent) Name() string { return f.name }

func (f *fakeAgent) note(op string) error {
	lf, err := os.OpenFile(f.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return &OpError{Resource: f.name, Op: op, Err: err}
	}
	defer lf.Close()
	_, err = lf.WriteString(strings.ReplaceAll(f.name, "::", "-") + " " + op + "\n")
	return err
}

func (f *fakeAgent) Start(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running {
		return nil
	}
	f.running = true
	return f.note("start")
}

func (f *fakeAgent) Stop(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		return nil
	}
	f.running = false
	return f.note("stop")
}

func (f *fakeAgent) Status(context.Context) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running {
		return Running, nil
	}
	return Stopped, nil
}

// The fake built-in: its log file is the env var FAKE_LOG in Env.Vars.
func init() {
	Register("TestFake", func(res conf.Resource, env Env) (Agent, error) {
		if len(res.Args) == 0 {
			return nil, errors.New("TestFake needs an argument")
		}
		var logPath string
		for _, kv := range env.Vars {
			if v, ok := strings.CutPrefix(kv, "SVC_DIR="); ok {
				logPath = v + "/log"
			}
		}
		return &fakeAgent{name: ResourceName(res.Name, res.Args), logPath: logPath}, nil
	})
}

func TestNewAgent(t *testing.T) {
	svc := svcPath(t)
	tests := []struct {
		name    string
		res     conf.Resource
		wantErr string // "" for an agent
		noAgent bool
		check   func(t *testing.T, a Agent)
	}{
		{
			name: "registered built-in",
			res:  confResource("TestFake", "builtin:TestFake", "1"),
			check: func(t *testing.T, a Agent) {
				if f, ok := a.(*fakeAgent); !ok || f.Name() != "TestFake::1" || f.logPath != "/x/log" {
					t.Errorf("got %#v, want the fake TestFake::1 logging to /x/log", a)
				}
			},
		},
		{
			name:    "built-in whose factory refuses",
			res:     confResource("TestFake", "builtin:TestFake"),
			wantErr: "resource TestFake: TestFake needs an argument",
		},
		{
			name:    "built-in not in this build",
			res:     confResource("Unplugged", "builtin:Unplugged", "10.0.0.1"),
			wantErr: "resource Unplugged::10.0.0.1: built-in agent Unplugged is not in this build: no agent",
			noAgent: true,
		},
		{
			name:    "never resolved",
			res:     confResource("httpd", ""),
			wantErr: "resource httpd: not resolved to a built-in or a script: no agent",
			noAgent: true,
		},
		{
			name: "script",
			res:  confResource("svc", svc, "A", "b"),
			check: func(t *testing.T, a Agent) {
				s, ok := a.(*Script)
				if !ok || s.Name() != "svc::A::b" || s.Path() != svc || !equal(s.Args(), []string{"A", "b"}) {
					t.Errorf("got %#v, want the script svc::A::b", a)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.res, Env{Vars: []string{"SVC_DIR=/x"}})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if errors.Is(err, ErrNoAgent) != tc.noAgent {
					t.Errorf("errors.Is(err, ErrNoAgent) = %v, want %v", !tc.noAgent, tc.noAgent)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, a)
		})
	}
}

func TestRegister(t *testing.T) {
	if got := Registered(); !strings.Contains(strings.Join(got, " "), "TestFake") {
		t.Errorf("Registered() = %q, want TestFake among them", got)
	}
	for name, f := range map[string]Factory{
		"TestFake": func(conf.Resource, Env) (Agent, error) { return nil, nil },
		"TestNil":  nil,
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", name)
				}
			}()
			Register(name, f)
		}()
	}
}
