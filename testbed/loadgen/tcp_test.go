package loadgen_test

import (
	"context"
	"testing"
	"time"

	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"

	"github.com/tracebound/tracebound/internal/oracle"
)

// TestTCPToMockBackend sends a bounded plan over TCP, protobuf then JSON, to
// a mock backend and checks every span arrives once, with its tree intact.
func TestTCPToMockBackend(t *testing.T) {
	for _, json := range []bool{false, true} {
		b, err := mockbackend.Start(mockbackend.Options{Name: "tcp", Record: true})
		if err != nil {
			t.Fatal(err)
		}
		g, err := loadgen.New(loadgen.Config{
			Endpoint: b.URL, Rate: 20_000, Duration: 10 * time.Second, SpansPerRequest: 100, Workers: 2, JSON: json,
			Trace:         loadgen.TraceShape{SpansPerTrace: 5, Traces: 100, Lifecycle: loadgen.LifecycleShape{Traces: 2, SpansPerTrace: 250}},
			RecordParents: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if g.PlannedSpans() != 1000 {
			t.Fatalf("planned %d", g.PlannedSpans())
		}
		st := g.Run(context.Background())
		if st.SpansSent != 1000 || st.SpansAccepted != 1000 || b.Spans() != 1000 {
			t.Fatalf("json=%v: sent %d accepted %d backend %d (%s)", json, st.SpansSent, st.SpansAccepted, b.Spans(), st.LastError)
		}
		sent := func(id [8]byte) (oracle.Sent, bool) {
			p, o, ok := g.Sent(id)
			return oracle.Sent{Parent: p, Order: o}, ok
		}
		rep := oracle.Analyze(b.Records(), sent, 0)
		if rep.UniqueSpans != 1000 || rep.Traces != 102 || rep.MaxTraceSpans != 250 || rep.MissingParents != 0 || rep.Rerooted != 0 ||
			rep.ParentChanged != 0 || rep.UnknownSpans != 0 {
			t.Errorf("json=%v: %+v", json, rep)
		}
		_ = b.Close()
	}
}
