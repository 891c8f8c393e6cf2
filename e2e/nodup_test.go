package e2e

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

// waitingConfig is the pipeline of configs/gateway.yaml (otlpuds ->
// memory_limiter -> lifecycle_identity -> trace_routing -> batch ->
// destinations) with two destinations, fast and held, both named by the
// route of account 42, and a memory_limiter with a fixed soft limit
// (limitMiB - spikeMiB) that checks often and forces a GC at every check
// above it (no minimum interval, no backoff): it refuses exactly while the
// live heap is over the soft limit, and takes data again at the first check
// after the live heap falls under it.
//
// admission::max_wait is 20s (below write_timeout's 30s and the producer's
// 30s deadline), so a request refused while held's queue fills waits for
// the release rather than running out of time on a busy 2-core machine.
// held's timeout (120s) is longer than the test holds it: an export that
// timed out while held would be retried by otlphttp and could arrive twice
// at the mock backend for reasons that have nothing to do with waiting.
// lifecycle_identity tracks at most 4096 traces (one span each here), so
// its state, which no release frees, stays far under the soft limit.
func waitingConfig(socket, fastURL, heldURL string, limitMiB, spikeMiB, metricsPort int) string {
	return fmt.Sprintf(`
receivers:
  otlpuds:
    endpoint: %s
    admission:
      max_wait: 20s
processors:
  memory_limiter:
    check_interval: 100ms
    limit_mib: %d
    spike_limit_mib: %d
    min_gc_interval_when_soft_limited: 0s
    min_gc_interval_when_hard_limited: 0s
    max_gc_interval_when_soft_limited: 0s
    max_gc_interval_when_hard_limited: 0s
  lifecycle_identity:
    split:
      max_traces: 4096
  trace_routing:
    header: cf-trace-config
    allowed_destinations: [fast, held]
    routes:
      - match: {account: "42"}
        destinations: [fast, held]
    on_missing: drop
    on_invalid: drop
    on_unrouted: drop
  batch:
    timeout: 200ms
    send_batch_size: 2048
exporters:
  destinations:
    destinations:
      fast:
        endpoint: %s
      held:
        endpoint: %s
        timeout: 120s
        sending_queue:
          queue_size: 5000
service:
%s  pipelines:
    traces:
      receivers: [otlpuds]
      processors: [memory_limiter, lifecycle_identity, trace_routing, batch]
      exporters: [destinations]
`, socket, limitMiB, spikeMiB, fastURL, heldURL, collector.TelemetryYAML(metricsPort))
}

// TestWaitingNeverDuplicates is issue 11's "Waiting never duplicates",
// through the built binary: a request that waited in otlpuds' admission
// after memory_limiter refused it is delivered exactly once to every
// destination its route names and counted once by lifecycle_identity.
//
// memory_limiter is made to refuse deterministically, with no reliance on
// timing: destination held's backend reads every request but answers none
// until released, so held's sending queue keeps every span routed to it
// alive in the collector's heap, while destination fast delivers at once.
// Producers modelled on foundations (a new connection per request, 512
// one-span resources per request, one request in flight each, never a
// retry) send for account 42, routed to both destinations. Once the live
// heap passes memory_limiter's soft limit, memory_limiter refuses at the
// head of the pipeline and otlpuds holds the refused requests in its
// waiting room, re-offering them; memory_limiter takes one now and then as
// transient memory (fast's copy, the batch being filled) is freed, and each
// one it takes adds to what held keeps, until nothing is taken any more.
// When every producer's request has waited with memory_limiter taking
// nothing for a second, held is released and no new request is sent: its
// queue drains, the live heap falls, memory_limiter takes data again, and
// the requests waiting across the release are accepted.
//
// Asserted: memory_limiter refused spans; otlpuds counted requests that
// waited for the pipeline, those waiting at the release for more than a
// second, and refused none after waiting; every request was answered 200
// with nothing rejected (foundations lost nothing); every span sent arrived
// exactly once at fast and exactly once at held, and nothing else arrived;
// and each count along the pipeline equals the spans sent, not more: otlpuds
// accepted, memory_limiter accepted, lifecycle_identity's spans processed,
// destinations' spans routed and sent per destination, none dropped or lost.
//
// Checked against two broken receivers: one that offers a waited request's
// data a second time once the pipeline takes it (lifecycle_identity and
// memory_limiter count its spans twice; batch, which takes the same pdata
// object asynchronously, sends them once), and one that offers a copy
// first (every count above and both backends see the spans twice).
func TestWaitingNeverDuplicates(t *testing.T) {
	const (
		limitMiB, spikeMiB = 96, 32 // refuses with a live heap over 64 MiB
		producers          = 4
		spansPer           = 512
		header             = `{"zoneId":12345,"accountId":42}`
	)
	names := []string{"fast", "held"}
	got := map[string]*arrivals{}
	for _, name := range names {
		got[name] = &arrivals{spans: map[pcommon.SpanID][]arrival{}}
	}
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseHeld := func() { releaseOnce.Do(func() { close(release) }) }
	// Released before any cleanup (the collector's stop, the backends'
	// close), whatever happens below.
	defer releaseHeld()
	fast := startBackend(t, mockbackend.Options{Name: "fast", OnTraces: got["fast"].record})
	held := startBackend(t, mockbackend.Options{Name: "held", OnTraces: func(td ptrace.Traces) {
		<-release
		got["held"].record(td)
	}})

	dir := shortTempDir(t)
	socket := filepath.Join(dir, "otlp.sock")
	cfg, metricsPort := writeConfig(t, dir, func(port int) string {
		return waitingConfig(socket, fast.URL, held.URL, limitMiB, spikeMiB, port)
	})
	p := startCollector(t, cfg, metricsPort, socket)

	// A scrape that reports its error instead of failing the test (it runs
	// while producers are sending).
	scrape := func() collector.Metrics {
		m, err := p.Scrape()
		if err != nil {
			t.Errorf("scraping self metrics: %v", err)
		}
		return m
	}
	heapMiB := func(m collector.Metrics) float64 {
		return m.Sum("otelcol_process_runtime_heap_alloc_bytes", nil) / (1 << 20)
	}

	type answer struct {
		seq     uint32
		status  int
		err     error
		took    time.Duration
		partial int64
		message string
	}
	var (
		mu      sync.Mutex
		answers []answer
		sent    = map[pcommon.SpanID]uint32{} // span -> request
		// inFlight is each producer's request not answered yet.
		inFlight = map[int]uint32{}
		seq      atomic.Uint32
		stop     atomic.Bool
		lost     atomic.Bool // a request was not answered 200
		wg       sync.WaitGroup
	)
	for producer := range producers {
		wg.Go(func() {
			for !stop.Load() {
				n := seq.Add(1)
				td := drainTraces(n, spansPer)
				mu.Lock()
				inFlight[producer] = n
				for _, rs := range td.ResourceSpans().All() {
					sent[rs.ScopeSpans().At(0).Spans().At(0).SpanID()] = n
				}
				mu.Unlock()
				start := time.Now()
				status, body, err := foundationsPost(socket, td, header)
				a := answer{seq: n, status: status, err: err, took: time.Since(start)}
				if err == nil && status == 200 {
					resp := ptraceotlp.NewExportResponse()
					if uerr := resp.UnmarshalProto(body); uerr != nil {
						a.err = fmt.Errorf("answer: %w", uerr)
					} else {
						a.partial, a.message = resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage()
					}
				} else if err == nil {
					a.message = string(body)
				}
				mu.Lock()
				answers = append(answers, a)
				delete(inFlight, producer)
				mu.Unlock()
				if err != nil || status != 200 {
					lost.Store(true)
					return // foundations would have lost these spans: no point going on
				}
			}
		})
	}
	// Whatever happens, the producers stop before the collector does.
	defer func() { stop.Store(true); releaseHeld(); wg.Wait() }()

	// Fill held's queue until memory_limiter refuses and otlpuds holds a
	// refused request in its waiting room. The live heap then hovers at
	// the soft limit for a while: what fast's copy, the batch being filled
	// and the requests being decoded hold is freed while memory_limiter
	// refuses, so it takes a request now and then, each adding its spans to
	// held's queue for good. Producers keep sending until the spans held
	// keeps alone hold the heap over the limit: every producer's request
	// waits, and memory_limiter has passed nothing on for a second.
	const quiet = time.Second
	fillStart := time.Now()
	var firstWait, quietSince time.Time
	var acceptedAtQuiet float64
	deadline := time.Now().Add(90 * time.Second)
	for {
		m := scrape()
		waiting := m.Sum("otelcol_otlpuds_admission_waiting", map[string]string{"wait": "pipeline"})
		accepted := m.Sum("otelcol_processor_memory_limiter_accepted_spans", nil)
		if firstWait.IsZero() && waiting > 0 {
			firstWait = time.Now()
			t.Logf("a request waits for the pipeline after %s: held was given %d spans, heap %.0f MiB",
				firstWait.Sub(fillStart).Round(time.Millisecond), int(m.Sum("otelcol_exporter_destinations_spans_routed", map[string]string{"destination": "held"})), heapMiB(m))
		}
		if waiting < producers || quietSince.IsZero() || accepted != acceptedAtQuiet {
			// Not every producer waits, or memory_limiter took data: the
			// quiet second starts again.
			quietSince, acceptedAtQuiet = time.Time{}, accepted
			if waiting >= producers {
				quietSince = time.Now()
			}
		} else if time.Since(quietSince) >= quiet {
			break
		}
		if lost.Load() || time.Now().After(deadline) {
			stop.Store(true)
			releaseHeld()
			wg.Wait()
			require.FailNowf(t, "memory_limiter never made every producer wait",
				"after %s: %d requests sent, held given %d spans, heap %.0f MiB (soft limit %d MiB), memory_limiter refused %.0f spans, %v requests waiting; last answers: %s",
				time.Since(fillStart).Round(time.Millisecond), seq.Load(),
				int(m.Sum("otelcol_exporter_destinations_spans_routed", map[string]string{"destination": "held"})), heapMiB(m), limitMiB-spikeMiB,
				m.Sum("otelcol_processor_memory_limiter_refused_spans", nil), waiting, lastAnswers(answers, &mu))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Release held; no new request is sent. The requests waiting now (one
	// per producer) waited at least a second, across the release: they go
	// through once held's queue drains and memory_limiter takes data again.
	stop.Store(true)
	mu.Lock()
	waitingAtRelease := map[uint32]bool{}
	for _, n := range inFlight {
		waitingAtRelease[n] = true
	}
	mu.Unlock()
	m := scrape()
	t.Logf("release after %s: requests %v waiting for the pipeline, held was given %d spans, heap %.0f MiB, memory_limiter refused %.0f spans",
		time.Since(fillStart).Round(time.Millisecond), sortedKeys(waitingAtRelease),
		int(m.Sum("otelcol_exporter_destinations_spans_routed", map[string]string{"destination": "held"})), heapMiB(m),
		m.Sum("otelcol_processor_memory_limiter_refused_spans", nil))
	require.NotEmpty(t, waitingAtRelease, "requests wait at the release")
	releaseHeld()
	wg.Wait()

	// Every request was answered 200, nothing rejected: foundations lost nothing.
	mu.Lock()
	sentSpans := len(sent)
	sort.Slice(answers, func(i, j int) bool { return answers[i].seq < answers[j].seq })
	var slow []string
	var longest time.Duration
	for _, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("request %d: %v after %s: foundations does not retry, its %d spans are lost", a.seq, a.err, a.took, spansPer)
		case a.status != 200:
			t.Errorf("request %d: HTTP %d %q after %s: foundations does not retry, its %d spans are lost", a.seq, a.status, a.message, a.took, spansPer)
		case a.partial != 0:
			t.Errorf("request %d: %d spans rejected: %s", a.seq, a.partial, a.message)
		}
		if a.took > 500*time.Millisecond {
			slow = append(slow, fmt.Sprintf("%d (%s)", a.seq, a.took.Round(time.Millisecond)))
		}
		longest = max(longest, a.took)
	}
	requests := len(answers)
	mu.Unlock()
	require.Equal(t, int(seq.Load()), requests, "every request sent was answered")
	require.Equal(t, requests*spansPer, sentSpans)
	t.Logf("%d requests (%d spans) answered; longest %s; answered after more than 500ms: %s",
		requests, sentSpans, longest.Round(time.Millisecond), strings.Join(slow, ", "))

	// Each backend gets every span; then nothing more arrives.
	ok := assert.Eventually(t, func() bool {
		return fast.Spans() >= int64(sentSpans) && held.Spans() >= int64(sentSpans)
	}, 60*time.Second, 50*time.Millisecond, "both destinations receive every span sent")
	if !ok {
		t.Logf("fast %d, held %d spans of %d", fast.Spans(), held.Spans(), sentSpans)
	}
	time.Sleep(time.Second) // a doubled batch would arrive by now (batch timeout 200ms)

	for _, name := range names {
		arrived := got[name].snapshot()
		var problems []string
		missing, twice := 0, 0
		for id, req := range sent {
			switch n := len(arrived[id]); {
			case n == 0:
				missing++
			case n > 1:
				twice++
				if len(problems) < 10 {
					problems = append(problems, fmt.Sprintf("span %s of request %d arrived %d times", id, req, n))
				}
			}
		}
		for id := range arrived {
			if _, ok := sent[id]; !ok && len(problems) < 10 {
				problems = append(problems, fmt.Sprintf("span %s arrived, never sent", id))
			}
		}
		assert.Zero(t, missing, "%s: spans answered 200 that never arrived", name)
		assert.Zero(t, twice, "%s: spans that arrived more than once", name)
		assert.Empty(t, problems, "%s: what arrived", name)
	}

	// The collector's own counts: memory_limiter refused and requests
	// waited; every count after the wait is the spans sent, once each.
	m = scrape()
	t.Logf("self metrics: %v", m.WithPrefix("otelcol_otlpuds_admission", "otelcol_processor_memory_limiter",
		"otelcol_processor_", "otelcol_receiver_", "otelcol_exporter_destinations"))
	assert.Positive(t, m.Sum("otelcol_processor_memory_limiter_refused_spans", nil), "memory_limiter refused spans")
	waited := m.Sum("otelcol_otlpuds_admission_waited", map[string]string{"wait": "pipeline"})
	assert.Positive(t, waited, "otlpuds counted requests that waited for the pipeline")
	// Those waiting at the release had waited a second already (nothing
	// was taken in that second): they waited across it.
	const waitBucket = "otelcol_otlpuds_admission_wait_time_bucket"
	waitedUnder := m.Sum(waitBucket, map[string]string{"wait": "pipeline", "le": "1"})
	assert.GreaterOrEqual(t, waited-waitedUnder, float64(len(waitingAtRelease)),
		"the requests waiting at the release waited more than 1s")
	assert.Zero(t, m.Sum("otelcol_otlpuds_admission_refused", nil), "no request refused after waiting")
	assert.Zero(t, m.Sum("otelcol_otlpuds_admission_waiting", nil), "nothing waits any more")

	assert.EqualValues(t, sentSpans, m.Sum("otelcol_receiver_accepted_spans", map[string]string{"receiver": "otlpuds"}),
		"otlpuds accepted each span once")
	assert.Zero(t, m.Sum("otelcol_receiver_refused_spans", map[string]string{"receiver": "otlpuds"}), "otlpuds refused nothing")
	assert.EqualValues(t, sentSpans, m.Sum("otelcol_processor_memory_limiter_accepted_spans", nil),
		"memory_limiter passed each span on once")
	assert.EqualValues(t, sentSpans, m.Sum("otelcol_processor_lifecycle_identity_spans_processed", nil),
		"lifecycle_identity counted each span once")
	for _, name := range names {
		assert.EqualValues(t, sentSpans, m.Sum("otelcol_exporter_destinations_spans_routed", map[string]string{"destination": name}),
			"destinations was given each span once for %s", name)
		assert.EqualValues(t, sentSpans, m.Sum("otelcol_exporter_destinations_spans_sent", map[string]string{"destination": name}),
			"destinations sent each span once to %s", name)
	}
	assert.Zero(t, m.Sum("otelcol_exporter_destinations_spans_dropped", nil), "destinations dropped nothing")
	assert.Zero(t, m.Sum("otelcol_exporter_destinations_spans_lost", nil), "destinations lost nothing")
}

// sortedKeys returns the keys of set in order.
func sortedKeys(set map[uint32]bool) []uint32 {
	out := make([]uint32, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// lastAnswers formats the last few answers for a failure message.
func lastAnswers[T any](answers []T, mu *sync.Mutex) string {
	mu.Lock()
	defer mu.Unlock()
	return fmt.Sprintf("%+v", answers[max(0, len(answers)-3):])
}
