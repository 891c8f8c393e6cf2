package traceroutingprocessor

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/tracebound/tracebound/internal/route"
	"github.com/tracebound/tracebound/processor/traceroutingprocessor/internal/metadatatest"
)

func configFor(dest ...string) string {
	return `{"account":"a1","zone":"z1","workspace":"w1","destinations":["` + strings.Join(dest, `","`) + `"]}`
}

// stamped is one resource routed to dests by configFor's trace config.
func stamped(service string, spans int, dests ...string) []copyOf {
	return []copyOf{{service: service, route: route.Join(dests), account: "a1", zone: "z1", workspace: "w1", spans: spans}}
}

func TestEncodingsAndSources(t *testing.T) {
	raw := configFor("tempo", "vendor")
	encodings := map[string]string{
		"raw":                raw,
		"base64url padded":   base64.URLEncoding.EncodeToString([]byte(raw)),
		"base64url unpadded": base64.RawURLEncoding.EncodeToString([]byte(raw)),
	}
	for name, value := range encodings {
		t.Run("header/"+name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.consume(t, withHeader("cf-trace-config", value), makeTraces(t, res{service: "svc", spans: 3}))
			assert.Equal(t, stamped("svc", 3, "tempo", "vendor"), h.received(t))
		})
		t.Run("attribute/"+name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.consume(t, context.Background(), makeTraces(t, res{service: "svc", config: value, spans: 3}))
			assert.Equal(t, stamped("svc", 3, "tempo", "vendor"), h.received(t))
		})
	}
}

func TestAttributeOverridesHeader(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, withHeader("cf-trace-config", configFor("from-header")), makeTraces(t,
		res{service: "plain", spans: 1},
		res{service: "override", config: configFor("from-attr"), spans: 2},
		res{service: "empty-attr", config: "", spans: 3},
	))
	want := append(append(stamped("plain", 1, "from-header"), stamped("override", 2, "from-attr")...), stamped("empty-attr", 3, "from-header")...)
	assert.Equal(t, want, h.received(t))
}

// A trace.config attribute of only spaces (or tabs, newlines) counts as
// absent, as an empty one does: the resource falls back to the header, and
// without a header it is missing, not invalid. The blank attribute is
// removed like any other.
func TestBlankAttributeFallsBackToHeader(t *testing.T) {
	blanks := []string{" ", "   ", "\t", " \n\t "}
	t.Run("header", func(t *testing.T) {
		h := newHarness(t, nil)
		var resources []res
		var want []copyOf
		for i, blank := range blanks {
			svc := fmt.Sprintf("blank-%d", i)
			resources = append(resources, res{service: svc, config: blank, spans: i + 1})
			want = append(want, stamped(svc, i+1, "tempo")...)
		}
		h.consume(t, withHeader("cf-trace-config", configFor("tempo")), makeTraces(t, resources...))
		assert.Equal(t, want, h.received(t))
		assert.Zero(t, h.spansDropped(t, "invalid"))
	})
	t.Run("no header", func(t *testing.T) {
		h := newHarness(t, nil)
		h.consume(t, context.Background(), makeTraces(t, res{service: "blank", config: "  ", spans: 3}))
		assert.Empty(t, h.received(t))
		assert.Equal(t, int64(3), h.spansDropped(t, "missing"))
		assert.Zero(t, h.spansDropped(t, "invalid"))
	})
}

func TestInvalidAttributeDoesNotFallBackToHeader(t *testing.T) {
	for name, attr := range map[string]any{
		"malformed":  "{not json",
		"not string": int64(42),
		"map":        map[string]any{"destinations": []any{"tempo"}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.consume(t, withHeader("cf-trace-config", configFor("tempo")), makeTraces(t,
				res{service: "bad", config: attr, spans: 4},
				res{service: "good", spans: 1},
			))
			assert.Equal(t, stamped("good", 1, "tempo"), h.received(t))
			assert.Equal(t, int64(4), h.spansDropped(t, "invalid"))
			assert.Equal(t, int64(1), h.resourcesDropped(t, "invalid"))
		})
	}
}

func TestHeaderIsCaseInsensitive(t *testing.T) {
	// confighttp stores net/http's canonical keys ("Cf-Trace-Config");
	// client.Metadata lower-cases keys and lookups.
	for _, configured := range []string{"cf-trace-config", "CF-TRACE-CONFIG", "Cf-Trace-Config"} {
		for _, sent := range []string{"cf-trace-config", "Cf-Trace-Config", "CF-Trace-CONFIG"} {
			t.Run(configured+"/"+sent, func(t *testing.T) {
				h := newHarness(t, func(c *Config) { c.Header = configured })
				h.consume(t, withHeader(sent, configFor("tempo")), makeTraces(t, res{service: "svc", spans: 1}))
				assert.Equal(t, stamped("svc", 1, "tempo"), h.received(t))
			})
		}
	}
}

func TestCustomHeaderOnly(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Header = "x-route" })
	h.consume(t, withHeader("cf-trace-config", configFor("tempo")), makeTraces(t, res{service: "svc", spans: 2}))
	assert.Empty(t, h.received(t))
	assert.Equal(t, int64(2), h.spansDropped(t, "missing"))
}

// Each distinct trace config of a request is decided once: a request
// resolves every resource to an entry, and only a new entry calls decide.
func TestHeaderDecodedOncePerRequest(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	p, err := newTracesProcessor(metadatatest.NewSettings(tel), createDefaultConfig().(*Config))
	require.NoError(t, err)
	defer func() { require.NoError(t, p.shutdown(context.Background())) }()

	resources := make([]res, 50)
	for i := range resources {
		resources[i] = res{service: fmt.Sprintf("svc%d", i), spans: 1}
	}
	resources = append(resources,
		res{service: "a", config: configFor("x"), spans: 1},
		res{service: "b", config: configFor("x"), spans: 1},
		res{service: "c", config: configFor("y"), spans: 1})
	td := makeTraces(t, resources...)
	req := request{p: p, ctx: withHeader("cf-trace-config", configFor("tempo")), header: -1}
	for i := range td.ResourceSpans().Len() {
		resolveAttrs(&req, td.ResourceSpans().At(i).Resource().Attributes())
	}
	require.Len(t, req.entries, 3, "the header once, each distinct attribute value once")
	assert.Equal(t, "tempo", req.entries[0].d.route)
	assert.Equal(t, "x", req.entries[1].d.route)
	assert.Equal(t, "y", req.entries[2].d.route)

	// A request that never needs the header does not read it.
	req = request{p: p, ctx: withHeader("cf-trace-config", "{broken"), header: -1}
	resolveAttrs(&req, makeTraces(t, res{service: "a", config: configFor("x"), spans: 1}).ResourceSpans().At(0).Resource().Attributes())
	require.Len(t, req.entries, 1)
	assert.Equal(t, -1, req.header)
}

// resolveAttrs resolves a resource with these attributes, the first of
// its request.
func resolveAttrs(req *request, attrs pcommon.Map) int {
	h := head{entry: -1}
	return req.resolve(h.scan(attrs))
}

func TestSeveralHeaderValuesAreInvalid(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, withHeader("cf-trace-config", configFor("tempo"), configFor("vendor")), makeTraces(t, res{service: "svc", spans: 2}))
	assert.Empty(t, h.received(t))
	assert.Equal(t, int64(2), h.spansDropped(t, "invalid"))
}

func TestMissing(t *testing.T) {
	contexts := map[string]context.Context{
		"no client info":  context.Background(),
		"other metadata":  withHeader("x-other", "1"),
		"empty header":    withHeader("cf-trace-config", ""),
		"blank header":    withHeader("cf-trace-config", "  "),
		"no header value": withHeader("cf-trace-config"),
	}
	for name, ctx := range contexts {
		t.Run("drop/"+name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.consume(t, ctx, makeTraces(t, res{service: "a", spans: 2}, res{service: "b", spans: 3}))
			assert.Empty(t, h.sink.AllTraces(), "nothing is sent downstream")
			assert.Equal(t, int64(5), h.spansDropped(t, "missing"))
			assert.Equal(t, int64(2), h.resourcesDropped(t, "missing"))
		})
		t.Run("default/"+name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.OnMissing = PolicyDefault
				c.DefaultDestinations = []string{"archive", "tempo"}
			})
			h.consume(t, ctx, makeTraces(t, res{service: "a", spans: 2}))
			assert.Equal(t, []copyOf{{service: "a", route: "archive,tempo", spans: 2}}, h.received(t))
			assert.Equal(t, int64(1), h.resourcesDefaulted(t, "missing"))
			assert.Equal(t, int64(2), h.routed(t, "archive"))
			assert.Equal(t, int64(0), h.spansDropped(t, "missing"))
		})
	}
}

// invalidConfigs breaks each limit and each rule once.
func invalidConfigs() map[string]string {
	many := make([]string, 33)
	for i := range many {
		many[i] = fmt.Sprintf("d%d", i)
	}
	return map[string]string{
		"not JSON":             "{oops",
		"not base64url":        "a+b/c",
		"over 8 KiB":           `{"destinations":["tempo"],"pad":"` + strings.Repeat("x", 8<<10) + `"}`,
		"33 destinations":      configFor(many...),
		"bad name":             configFor("tempo", "no spaces"),
		"name over 128":        configFor(strings.Repeat("n", 129)),
		"account over 256":     `{"account":"` + strings.Repeat("a", 257) + `","destinations":["tempo"]}`,
		"destinations wrong":   `{"destinations":{"tempo":true}}`,
		"binary":               "\x00\xff\xfe{",
		"base64 of binary":     base64.RawURLEncoding.EncodeToString([]byte{0, 1, 2, 0xff}),
		"JSON array of config": "[" + configFor("tempo") + "]",
	}
}

func TestInvalid(t *testing.T) {
	for name, value := range invalidConfigs() {
		t.Run("drop/"+name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.consume(t, withHeader("cf-trace-config", value), makeTraces(t, res{service: "a", spans: 2}))
			assert.Empty(t, h.sink.AllTraces())
			assert.Equal(t, int64(2), h.spansDropped(t, "invalid"))
			assert.Equal(t, int64(1), h.resourcesDropped(t, "invalid"))
		})
		t.Run("default/"+name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.OnInvalid = PolicyDefault
				c.DefaultDestinations = []string{"quarantine"}
			})
			h.consume(t, context.Background(), makeTraces(t, res{service: "a", config: value, spans: 2}))
			// No identity from an invalid config; stale stamps are removed.
			assert.Equal(t, []copyOf{{service: "a", route: "quarantine", spans: 2}}, h.received(t))
			assert.Equal(t, int64(1), h.resourcesDefaulted(t, "invalid"))
			assert.Equal(t, int64(0), h.spansDropped(t, "invalid"))
		})
	}
}

func TestPoliciesAreIndependent(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OnMissing = PolicyDefault
		c.DefaultDestinations = []string{"tempo"}
	})
	h.consume(t, context.Background(), makeTraces(t,
		res{service: "missing", spans: 1},
		res{service: "invalid", config: "{", spans: 2},
	))
	assert.Equal(t, []copyOf{{service: "missing", route: "tempo", spans: 1}}, h.received(t))
	assert.Equal(t, int64(2), h.spansDropped(t, "invalid"))
}

func TestAllowList(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowedDestinations = []string{"tempo", "vendor"} })
	h.consume(t, withHeader("cf-trace-config", configFor("tempo", "bogus", "vendor", "other")), makeTraces(t, res{service: "svc", spans: 3}))
	assert.Equal(t, stamped("svc", 3, "tempo", "vendor"), h.received(t))
	assert.Equal(t, int64(6), h.spansDropped(t, "unknown_destination"), "3 spans for each of 2 unknown names")
	assert.Equal(t, int64(2), h.resourcesDropped(t, "unknown_destination"))
	assert.Equal(t, int64(3), h.routed(t, "tempo"))
	assert.Equal(t, int64(0), h.routed(t, "bogus"))

	// Nothing allowed: nothing goes downstream, no fallback to defaults.
	h.sink.Reset()
	h.consume(t, withHeader("cf-trace-config", configFor("bogus")), makeTraces(t, res{service: "svc", spans: 1}))
	assert.Empty(t, h.sink.AllTraces())
	assert.Equal(t, int64(7), h.spansDropped(t, "unknown_destination"))
}

// A resource leaves once whatever its route holds: copies per destination
// are the destinations exporter's job.
func TestRouteOfSeveralDestinationsLeavesOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, withHeader("cf-trace-config", configFor("tempo", "vendor", "archive")), makeTraces(t,
		res{service: "a", spans: 2},
		res{service: "b", spans: 5},
	))
	require.Len(t, h.sink.AllTraces(), 1, "one downstream call per request")
	want := append(stamped("a", 2, "tempo", "vendor", "archive"), stamped("b", 5, "tempo", "vendor", "archive")...)
	assert.Equal(t, want, h.received(t))
	for _, d := range []string{"tempo", "vendor", "archive"} {
		assert.Equal(t, int64(7), h.routed(t, d), d)
	}
	assert.Equal(t, 7, h.sink.SpanCount(), "no copies")
}

func TestDuplicateDestinationsNamedOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, withHeader("cf-trace-config", configFor("tempo", "tempo")), makeTraces(t, res{service: "a", spans: 2}))
	assert.Equal(t, stamped("a", 2, "tempo"), h.received(t))
}

func TestOneDownstreamCallPerRequest(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OnInvalid = PolicyDefault
		c.DefaultDestinations = []string{"quarantine"}
	})
	td := makeTraces(t,
		res{service: "header", spans: 1},
		res{service: "attr", config: configFor("x", "y"), spans: 1},
		res{service: "invalid", config: "!", spans: 1},
		res{service: "unrouted", config: `{"account":"a1"}`, spans: 1},
	)
	h.consume(t, withHeader("cf-trace-config", configFor("tempo")), td)
	assert.Len(t, h.sink.AllTraces(), 1)
	assert.Len(t, h.received(t), 3, "the unrouted resource is dropped")

	// A request of which nothing survives makes no downstream call at all.
	h.sink.Reset()
	h.consume(t, context.Background(), makeTraces(t, res{service: "a", spans: 1}, res{service: "b", spans: 1}))
	assert.Empty(t, h.sink.AllTraces())
}

func TestStampedInPlace(t *testing.T) {
	h := newHarness(t, nil)
	td := makeTraces(t, res{service: "a", spans: 2}, res{service: "b", config: configFor("vendor", "tempo"), spans: 1})
	h.consume(t, withHeader("cf-trace-config", configFor("tempo")), td)
	require.Len(t, h.sink.AllTraces(), 1)
	// The request itself goes downstream: nothing was copied.
	v, ok := td.ResourceSpans().At(1).Resource().Attributes().Get(route.Attribute)
	require.True(t, ok)
	assert.Equal(t, "vendor,tempo", v.Str())
	assert.Equal(t, append(stamped("a", 2, "tempo"), stamped("b", 1, "vendor", "tempo")...), h.received(t))
}

func TestStaleStampsReplaced(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, withHeader("cf-trace-config", `{"zone":"z9","destinations":["tempo"]}`), makeTraces(t, res{
		service: "a", spans: 1,
		attrs: map[string]any{attrAccount: "spoofed", attrZone: "old", "trace_config.tenant": "x", route.Attribute: "elsewhere", "keep": "me"},
	}))
	got := h.sink.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, map[string]any{"service.name": "a", "keep": "me", attrZone: "z9", route.Attribute: "tempo"}, got)
}

func TestCountersByReason(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OnMissing = PolicyDefault
		c.DefaultDestinations = []string{"tempo"}
		c.AllowedDestinations = []string{"tempo", "vendor"}
	})
	ctx := withHeader("cf-trace-config", configFor("tempo", "vendor", "nope"))
	h.consume(t, ctx, makeTraces(t,
		res{service: "fanout", spans: 4},                             // tempo 4, vendor 4, unknown 4
		res{service: "invalid", config: "{", spans: 3},               // invalid 3
		res{service: "alone", config: configFor("vendor"), spans: 2}, // vendor 2
	))
	h.consume(t, context.Background(), makeTraces(t, res{service: "missing", spans: 5})) // defaulted to tempo 5

	// The comparison ignores the order of data points.
	noTime := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualProcessorTraceRoutingSpansRouted(t, h.tel,
		pointsBy("destination", map[string]int64{"tempo": 9, "vendor": 6}), noTime)
	metadatatest.AssertEqualProcessorTraceRoutingSpansDropped(t, h.tel,
		pointsBy("reason", map[string]int64{"invalid": 3, "unknown_destination": 4}), noTime)
	metadatatest.AssertEqualProcessorTraceRoutingResourcesDropped(t, h.tel,
		pointsBy("reason", map[string]int64{"invalid": 1, "unknown_destination": 1}), noTime)
	metadatatest.AssertEqualProcessorTraceRoutingResourcesDefaulted(t, h.tel,
		pointsBy("reason", map[string]int64{"missing": 1}), noTime)
}

// pointsBy is one data point per value of the attribute key, holding that
// attribute alone.
func pointsBy(key string, values map[string]int64) []metricdata.DataPoint[int64] {
	points := make([]metricdata.DataPoint[int64], 0, len(values))
	for value, n := range values {
		points = append(points, metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attribute.String(key, value)), Value: n})
	}
	return points
}

func TestEmptyRequest(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, withHeader("cf-trace-config", configFor("tempo")), makeTraces(t))
	assert.Empty(t, h.sink.AllTraces())
}

func TestCapabilitiesMutateData(t *testing.T) {
	h := newHarness(t, nil)
	assert.True(t, h.proc.Capabilities().MutatesData)
}

func TestConcurrentRequests(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowedDestinations = []string{"tempo", "vendor"} })
	const workers, requests = 4, 50
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range requests {
				ctx := withHeader("cf-trace-config", configFor("tempo", fmt.Sprintf("d%d", (w+i)%3), "vendor"))
				assert.NoError(t, h.proc.ConsumeTraces(ctx, makeTraces(t, res{service: "a", spans: 2}, res{service: "b", config: configFor("tempo"), spans: 1})))
			}
		}()
	}
	for range workers {
		<-done
	}
	assert.Equal(t, int64(workers*requests*3), h.routed(t, "tempo"))
	assert.Equal(t, int64(workers*requests*2), h.routed(t, "vendor"))
	assert.Equal(t, int64(workers*requests*2), h.spansDropped(t, "unknown_destination"))
}
