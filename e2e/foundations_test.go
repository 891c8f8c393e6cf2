package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
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

// The producer of foundationsPost, as cloudflare/foundations' user tracing
// (output_otlp_uds) describes itself on its resources.
const (
	foundationsService = "foundations-app"
	foundationsVersion = "1.4.2"
)

// foundationsTraces builds one request of a foundations producer: spans
// spans, each in its own ResourceSpans whose resource holds only
// service.name and service.version, and each the root of its own trace.
// Request k's span i has span ID {k, i>>8, i, 0xf0, ...} and the name
// "req-k/span-i"; its only attribute is request=k.
func foundationsTraces(k byte, spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	now := time.Now()
	for i := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", foundationsService)
		rs.Resource().Attributes().PutStr("service.version", foundationsVersion)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("foundations::telemetry")
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0xf0, k, byte(i >> 8), byte(i), 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		s.SetSpanID(pcommon.SpanID{k, byte(i >> 8), byte(i), 0xf0, 1, 1, 1, 1})
		s.SetName(fmt.Sprintf("req-%d/span-%d", k, i))
		s.SetKind(ptrace.SpanKindServer)
		s.Attributes().PutInt("request", int64(k))
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	}
	return td
}

// foundationsPost sends td to the collector's socket the way foundations
// does: a new connection for this request alone, POST /v1/traces over
// HTTP/1.1 with an uncompressed protobuf body, the trace config header in
// the app's own encoding when traceConfig is not "", and no retry
// whatever the answer. It returns the status and the answer's body.
func foundationsPost(socket string, td ptrace.Traces, traceConfig string) (int, []byte, error) {
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return 0, nil, err
	}
	conn, err := net.DialTimeout("unix", socket, 10*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, "http://localhost/v1/traces", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if traceConfig != "" {
		req.Header.Set("cf-trace-config", traceConfig)
	}
	// Request.Write sends exactly this request (Content-Length, no
	// Accept-Encoding, nothing pooled): the connection is the producer's.
	if err := req.Write(conn); err != nil {
		return 0, nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	return res.StatusCode, answer, err
}

// foundationsRequest is one request of TestFoundationsProducerThroughGateway
// and where configs/gateway.yaml must send it.
type foundationsRequest struct {
	shape  string // the header's shape, for messages
	header string // cf-trace-config; "" sends none
	spans  int
	// to are the destinations every span must reach, each exactly once;
	// none: the request is dropped, counted under dropped.
	to      []string
	dropped string
	// unknown is how many of the destinations the producer named
	// allowed_destinations does not list (counted as unknown_destination).
	unknown int
	// stamps are the trace_config.* attributes the resource must arrive
	// with, by field; no other trace_config.* may be there.
	stamps map[string]string
}

// arrival is what a backend received of one span.
type arrival struct {
	name      string
	resource  map[string]any
	spanAttrs map[string]any
}

// arrivals records, by span ID, every span a backend accepts (its
// mockbackend OnTraces hook).
type arrivals struct {
	mu    sync.Mutex
	spans map[pcommon.SpanID][]arrival
}

func (a *arrivals) record(td ptrace.Traces) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, rs := range td.ResourceSpans().All() {
		res := rs.Resource().Attributes().AsRaw()
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				a.spans[sp.SpanID()] = append(a.spans[sp.SpanID()], arrival{
					name: sp.Name(), resource: res, spanAttrs: sp.Attributes().AsRaw(),
				})
			}
		}
	}
}

func (a *arrivals) snapshot() map[pcommon.SpanID][]arrival {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.spans)
}

// TestFoundationsProducerThroughGateway is issue 10's "Done when", through
// the built binary on configs/gateway.yaml itself (configured by its
// environment variables) with three local backends, tempo, vendor and
// audit. A producer modelled on cloudflare/foundations (a new connection per
// request, uncompressed protobuf, each span its own ResourceSpans with only
// service.name and service.version, one request of up to 512 spans per
// routing group, never a retry: any answer but 2xx is a loss and fails the
// test) sends the header shapes producers use: camelCase JSON numbers,
// snake_case JSON strings, key=value pairs, base64 in the standard alphabet
// (padded, with a '+'), an integer above 2^53, destinations the producer
// names (JSON and key=value lists, one of them not allowed), and headers that
// cannot be read, none at all, or that match no route. Each span arrives
// exactly once at exactly the destinations gateway.yaml's routes (or the
// producer's allowed list) give it, its resource holding what was sent plus
// trace_config.* exactly as the header said (strings, the big integer
// exact), never the route attribute, and its span no
// lifecycle.identity.violations (violations are counted, not stamped). What
// is dropped is counted by reason in the collector's own metrics, and each
// reason is warned once, the undecodable header's warning showing it as its
// sample.
func TestFoundationsProducerThroughGateway(t *testing.T) {
	names := []string{"tempo", "vendor", "audit"}
	backends := map[string]*mockbackend.Backend{}
	got := map[string]*arrivals{}
	for _, name := range names {
		got[name] = &arrivals{spans: map[pcommon.SpanID][]arrival{}}
		backends[name] = startBackend(t, mockbackend.Options{Name: name, OnTraces: got[name].record})
	}
	p, socket, _ := startGateway(t, backends)

	// Base64 of JSON only differs between the standard and the URL alphabet
	// where it holds '+' or '/': this JSON's ("~" in the workspace) does.
	b64JSON := `{"zoneId":777,"accountId":99,"workspaceId":"ops~eu"}`
	b64 := base64.StdEncoding.EncodeToString([]byte(b64JSON))
	require.True(t, strings.ContainsAny(b64, "+/") && strings.HasSuffix(b64, "="),
		"%s must encode with '+' or '/' and padding, got %s", b64JSON, b64)
	const undecodable = `{"zoneId":12345,"accountId":` // cut short
	invalid := foundationsRequest{shape: "undecodable (JSON cut short)", header: undecodable, spans: 4, dropped: "invalid"}

	// gateway.yaml: allowed_destinations [tempo, vendor, audit]; routes
	// account 42 -> tempo, vendor; accounts 7 and 8 with a zone -> tempo,
	// audit; any zone -> tempo; missing, invalid, unrouted dropped.
	reqs := []foundationsRequest{
		{shape: "camelCase JSON numbers", header: `{"zoneId":12345,"accountId":42}`, spans: 512,
			to: []string{"tempo", "vendor"}, stamps: map[string]string{"account": "42", "zone": "12345"}},
		invalid,
		{shape: "snake_case JSON strings", header: `{"account_id":"7","zone_id":"z-1"}`, spans: 5,
			to: []string{"tempo", "audit"}, stamps: map[string]string{"account": "7", "zone": "z-1"}},
		{shape: "key=value", header: "zone=1;account=8", spans: 5,
			to: []string{"tempo", "audit"}, stamps: map[string]string{"account": "8", "zone": "1"}},
		{shape: "no header", spans: 6, dropped: "missing"},
		{shape: "base64 JSON, standard alphabet, padded", header: b64, spans: 5,
			to: []string{"tempo"}, stamps: map[string]string{"account": "99", "zone": "777", "workspace": "ops~eu"}},
		invalid,
		{shape: "integer above 2^53", header: `{"accountId":9007199254740993,"zoneId":5}`, spans: 5,
			to: []string{"tempo"}, stamps: map[string]string{"account": "9007199254740993", "zone": "5"}},
		{shape: "producer-named destinations", header: `{"accountId":3,"destinations":["audit"]}`, spans: 5,
			to: []string{"audit"}, stamps: map[string]string{"account": "3"}},
		{shape: "matches no route (no zone)", header: `{"accountId":3}`, spans: 5, dropped: "unrouted"},
		{shape: "producer-named destinations, key=value", header: "account=5;destinations=vendor|audit", spans: 4,
			to: []string{"vendor", "audit"}, stamps: map[string]string{"account": "5"}},
		// Named destinations win over the routes (zone 6 alone would go to
		// tempo); the one not allowed is dropped and counted.
		{shape: "producer-named destinations, one not allowed", header: `{"accountId":3,"zoneId":6,"destinations":["audit","billing"]}`,
			spans: 3, to: []string{"audit"}, unknown: 1, stamps: map[string]string{"account": "3", "zone": "6"}},
		invalid,
	}

	// Send, one request per connection, in order, never retried.
	want := map[string]map[pcommon.SpanID]foundationsExpect{}
	for _, name := range names {
		want[name] = map[pcommon.SpanID]foundationsExpect{}
	}
	sentSpans := 0
	for i, r := range reqs {
		k := byte(i + 1)
		td := foundationsTraces(k, r.spans)
		status, answer, err := foundationsPost(socket, td, r.header)
		switch {
		case err != nil:
			t.Errorf("request %d (%s): %v: foundations does not retry, its %d spans are lost", k, r.shape, err, r.spans)
		case status < 200 || status > 299:
			t.Errorf("request %d (%s): HTTP %d %q: foundations does not retry, its %d spans are lost", k, r.shape, status, answer, r.spans)
		default:
			resp := ptraceotlp.NewExportResponse()
			if assert.NoError(t, resp.UnmarshalProto(answer), "request %d (%s): answer", k, r.shape) {
				assert.Zero(t, resp.PartialSuccess().RejectedSpans(), "request %d (%s): spans rejected: %s", k, r.shape, resp.PartialSuccess().ErrorMessage())
			}
		}
		sentSpans += r.spans
		resource := map[string]any{"service.name": foundationsService, "service.version": foundationsVersion}
		for field, v := range r.stamps {
			resource["trace_config."+field] = v
		}
		for _, sp := range td.ResourceSpans().All() {
			s := sp.ScopeSpans().At(0).Spans().At(0)
			for _, d := range r.to {
				want[d][s.SpanID()] = foundationsExpect{request: i, name: s.Name(), resource: resource}
			}
		}
	}

	// Each backend gets its spans; then nothing more arrives.
	ok := assert.Eventually(t, func() bool {
		for _, name := range names {
			if backends[name].Spans() < int64(len(want[name])) {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "every backend receives the spans routed to it")
	if !ok {
		for _, name := range names {
			t.Logf("%s: %d spans of %d", name, backends[name].Spans(), len(want[name]))
		}
	}
	time.Sleep(time.Second) // a misrouted or doubled batch would arrive by now (batch timeout 200ms)

	// Per request, which backend got how many of its spans: the overview.
	wantPer, gotPer := map[string]map[string]int{}, map[string]map[string]int{}
	for _, r := range reqs {
		wantPer[r.shape] = map[string]int{}
		gotPer[r.shape] = map[string]int{}
	}
	for _, name := range names {
		for _, e := range want[name] {
			wantPer[reqs[e.request].shape][name]++
		}
		for id, as := range got[name].snapshot() {
			if int(id[0]) < 1 || int(id[0]) > len(reqs) {
				t.Errorf("%s received span %s, never sent", name, id)
				continue
			}
			gotPer[reqs[id[0]-1].shape][name] += len(as)
		}
	}
	assert.Equal(t, wantPer, gotPer, "spans of each request (by header shape) at each backend")

	// Span by span: once, with its resource exactly as sent plus its
	// trace_config.*, and nothing added to the span.
	for _, name := range names {
		var problems []string
		note := func(f string, a ...any) {
			if len(problems) < 10 {
				problems = append(problems, fmt.Sprintf(f, a...))
			}
		}
		arrived := got[name].snapshot()
		for id, e := range want[name] {
			as := arrived[id]
			if len(as) != 1 {
				note("span %s of request %d (%s) arrived %d times", e.name, e.request+1, reqs[e.request].shape, len(as))
				continue
			}
			a := as[0]
			if a.name != e.name {
				note("span %s arrived named %q", e.name, a.name)
			}
			if !assert.ObjectsAreEqual(e.resource, a.resource) {
				note("span %s of request %d (%s): resource %v, want %v", e.name, e.request+1, reqs[e.request].shape, a.resource, e.resource)
			}
			if _, tagged := a.spanAttrs["lifecycle.identity.violations"]; tagged {
				note("span %s carries lifecycle.identity.violations %v", e.name, a.spanAttrs["lifecycle.identity.violations"])
			}
			if !assert.ObjectsAreEqual(map[string]any{"request": int64(e.request + 1)}, a.spanAttrs) {
				note("span %s: attributes %v, want only request=%d", e.name, a.spanAttrs, e.request+1)
			}
		}
		for id, as := range arrived {
			if _, ok := want[name][id]; !ok && len(as) > 0 {
				note("span %s (%s) arrived but was not routed here", as[0].name, id)
			}
			for _, a := range as {
				if r, ok := a.resource[routeAttribute]; ok {
					note("span %s arrived with %s=%v", a.name, routeAttribute, r)
				}
			}
		}
		assert.Empty(t, problems, "%s: what arrived", name)
	}

	// The collector's own count of what it dropped, by reason.
	wantDropped := map[string]float64{"missing": 0, "invalid": 0, "unrouted": 0, "unknown_destination": 0}
	for _, r := range reqs {
		if r.dropped != "" {
			wantDropped[r.dropped] += float64(r.spans)
		}
		wantDropped["unknown_destination"] += float64(r.spans * r.unknown)
	}
	m, err := p.Scrape()
	require.NoError(t, err)
	gotDropped := map[string]float64{}
	for reason := range wantDropped {
		gotDropped[reason] = m.Sum("otelcol_processor_trace_routing_spans_dropped", map[string]string{"reason": reason})
	}
	assert.Equal(t, wantDropped, gotDropped, "otelcol_processor_trace_routing_spans_dropped by reason")
	assert.EqualValues(t, sentSpans, m.Sum("otelcol_receiver_accepted_spans", map[string]string{"receiver": "otlpuds"}),
		"otlpuds accepted every span sent")
	assert.Zero(t, m.Sum("otelcol_receiver_refused_spans", map[string]string{"receiver": "otlpuds"}), "otlpuds refused nothing")
	assert.Zero(t, m.Sum("otelcol_exporter_destinations_spans_dropped", nil), "destinations drops nothing it is given")
	for _, name := range names {
		assert.EqualValues(t, len(want[name]), m.Sum("otelcol_exporter_destinations_spans_sent", map[string]string{"destination": name}),
			"spans destinations sent to %s", name)
	}
	// No span carries an identity (foundations user spans have none): each
	// misses component.name and footprint.identifier, counted, not stamped.
	assert.EqualValues(t, 2*sentSpans, m.Sum("otelcol_processor_lifecycle_identity_violations", map[string]string{"kind": "missing"}),
		"identity violations counted, two per span")

	// Each drop reason warned once (at most one a minute), the undecodable
	// header's warning showing it as its sample, with the spans of the first
	// request that had it.
	warnings := routingWarnings(t, p)
	for reason := range wantDropped {
		assert.Len(t, warnings[reason], 1, "trace_routing warns about %s once in a minute", reason)
	}
	if w := warnings["invalid"]; len(w) > 0 {
		assert.Equal(t, "Spans arrived with a trace config that cannot be read", w[0].message)
		assert.Equal(t, undecodable, w[0].fields["sample"], "the warning shows the header it could not read")
		assert.EqualValues(t, invalid.spans, w[0].fields["spans_since_last_warning"])
		assert.Equal(t, "cf-trace-config", w[0].fields["header"])
	}
}

// foundationsExpect is where and how one span must arrive.
type foundationsExpect struct {
	request  int // index in the test's requests
	name     string
	resource map[string]any
}

// logWarning is one warning of the collector's log.
type logWarning struct {
	message string
	fields  map[string]any
}

// routingWarnings reads the warnings trace_routing logged (console
// encoding: time, level, caller, message, then the fields as JSON, tab
// separated), by their reason field.
func routingWarnings(t *testing.T, p *collector.Process) map[string][]logWarning {
	t.Helper()
	data, err := os.ReadFile(p.LogPath)
	require.NoError(t, err)
	out := map[string][]logWarning{}
	for line := range strings.SplitSeq(string(data), "\n") {
		parts := strings.SplitN(line, "\t", 5)
		if len(parts) < 5 || parts[1] != "warn" {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(parts[4]), &fields); err != nil {
			t.Errorf("a warning whose fields are not JSON: %s", line)
			continue
		}
		if fields["otelcol.component.id"] != "trace_routing" {
			continue
		}
		reason, _ := fields["reason"].(string)
		out[reason] = append(out[reason], logWarning{message: parts[3], fields: fields})
	}
	return out
}
