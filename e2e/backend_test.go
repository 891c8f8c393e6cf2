package e2e

import (
	"testing"

	"github.com/tracebound/tracebound/testbed/mockbackend"
)

// Resource attributes whose values the backends count.
var countedAttributes = []string{"service.name", "trace_config.account", "trace_config.zone", "trace_config.workspace", "trace_config.destination"}

// newBackend starts the testbed's mock OTLP/HTTP backend, recording every
// span for invariant checks, closed at cleanup.
func newBackend(t *testing.T, name string) *mockbackend.Backend {
	t.Helper()
	return startBackend(t, mockbackend.Options{Name: name, Record: true, CountTraces: true, CountAttributes: countedAttributes})
}

// startBackend starts the testbed's mock OTLP/HTTP backend with opts, closed
// at cleanup.
func startBackend(t *testing.T, opts mockbackend.Options) *mockbackend.Backend {
	t.Helper()
	b, err := mockbackend.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}
