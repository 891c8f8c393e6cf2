package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver"
)

// sharedReceivers maps a configuration to the one receiver serving it.
type sharedReceivers struct {
	mu sync.Mutex
	m  map[*Config]*sharedReceiver
}

func newSharedReceivers() *sharedReceivers {
	return &sharedReceivers{m: map[*Config]*sharedReceiver{}}
}

func (s *sharedReceivers) getOrCreate(cfg *Config, set receiver.Settings) (*sharedReceiver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[cfg]; ok {
		return r, nil
	}
	recv, err := newReceiver(cfg, set)
	if err != nil {
		return nil, err
	}
	r := &sharedReceiver{recv: recv}
	r.forget = func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.m, cfg)
	}
	s.m[cfg] = r
	return r, nil
}

// sharedReceiver starts and stops its receiver once, however many
// pipelines call Start and Shutdown.
type sharedReceiver struct {
	recv   *udsReceiver
	forget func()

	startOnce    sync.Once
	startErr     error
	shutdownOnce sync.Once
	shutdownErr  error
}

func (r *sharedReceiver) Start(ctx context.Context, host component.Host) error {
	r.startOnce.Do(func() {
		r.startErr = r.recv.Start(ctx, host)
	})
	return r.startErr
}

func (r *sharedReceiver) Shutdown(ctx context.Context) error {
	r.shutdownOnce.Do(func() {
		r.shutdownErr = r.recv.Shutdown(ctx)
		r.forget()
	})
	return r.shutdownErr
}
