package e2e

import (
	"testing"

	"github.com/tracebound/tracebound/testbed/mockbackend"
)

// routeAttribute is the resource attribute on which trace_routing hands a
// resource's route (its destination names) to the destinations exporter.
// It is internal to the pipeline: destinations removes it before sending,
// so no backend may ever see it.
const routeAttribute = "tracebound.route"

// Resource attributes whose values the backends count.
var countedAttributes = []string{"service.name", "trace_config.account", "trace_config.zone", "trace_config.workspace", routeAttribute}

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

// assertNoRoute checks that no span reached b (a newBackend) carrying the
// route attribute.
func assertNoRoute(t *testing.T, b *mockbackend.Backend) {
	t.Helper()
	for v, n := range b.AttributeCounts(routeAttribute) {
		if v != "" {
			t.Errorf("%s received %d spans with %s=%q: the route must be removed before sending", b.Name(), n, routeAttribute, v)
		}
	}
}
