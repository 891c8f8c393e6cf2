package traceroutingprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tracebound/tracebound/internal/warnlimit"
	"github.com/tracebound/tracebound/processor/traceroutingprocessor/internal/metadatatest"
)

// routesConfig is a routes table keyed by account and zone.
func routesConfig(c *Config) {
	c.Routes = []RouteConfig{
		{Match: map[string]any{"account": "42"}, Destinations: []string{"tempo"}},
		{Match: map[string]any{"account": []any{"2", 7}, "zone": "*"}, Destinations: []string{"tempo", "vendor"}},
		{Match: map[string]any{"zone": "eu"}, Destinations: []string{"eu"}},
		{Match: map[string]any{"account": "42", "zone": "eu"}, Destinations: []string{"never"}}, // shadowed by the first
	}
}

// routeOf runs one resource with header through a processor and returns the
// route it leaves with, "" when dropped.
func routeOf(t *testing.T, configure func(*Config), header string) string {
	t.Helper()
	h := newHarness(t, configure)
	h.consume(t, withHeader("cf-trace-config", header), makeTraces(t, res{service: "svc", spans: 1}))
	got := h.received(t)
	if len(got) == 0 {
		return ""
	}
	require.Len(t, got, 1)
	return got[0].route
}

func TestRoutesTable(t *testing.T) {
	for header, want := range map[string]string{
		`{"accountId":42}`:                   "tempo",
		`{"accountId":42,"zoneId":"eu"}`:     "tempo", // first match wins over the later, more specific rule
		`account=2;zone=x`:                   "tempo,vendor",
		`{"account":7,"zone":"x"}`:           "tempo,vendor", // YAML's 7 matches the text "7"
		`account=7`:                          "",             // "*" needs the zone present
		`{"account":"7","zone":null}`:        "",             // null is absent
		`{"account":"7","zone":""}`:          "",             // so is ""
		`{"zone":"eu"}`:                      "eu",
		`{"zone":"EU"}`:                      "", // exact match
		`{"account":"420"}`:                  "",
		`{"account":"42 "}`:                  "",      // the value as sent, spaces included
		`{"account":42.0}`:                   "",      // "42.0" is not "42"
		`{"account":"42","destinations":[]}`: "tempo", // an empty list names nothing
	} {
		assert.Equal(t, want, routeOf(t, routesConfig, header), header)
	}
}

// DESIGN's order: the producer's destinations, then routes, then policies.
func TestPrecedence(t *testing.T) {
	configure := func(c *Config) {
		routesConfig(c)
		c.OnMissing, c.OnInvalid, c.OnUnrouted = PolicyDefault, PolicyDefault, PolicyDefault
		c.DefaultDestinations = []string{"fallback"}
	}
	assert.Equal(t, "audit", routeOf(t, configure, `{"accountId":42,"destinations":["audit"]}`), "producer over routes")
	assert.Equal(t, "tempo", routeOf(t, configure, `{"accountId":42}`), "routes over policies")
	assert.Equal(t, "fallback", routeOf(t, configure, `{"accountId":1}`), "unrouted")
	assert.Equal(t, "fallback", routeOf(t, configure, `{"accountId":`), "invalid")
	assert.Equal(t, "fallback", routeOf(t, configure, ""), "missing")
}

func TestPoliciesDropByDefault(t *testing.T) {
	for header, reason := range map[string]string{
		"":                 "missing",
		"{broken":          "invalid",
		`{"accountId":1}`:  "unrouted",
		`zone=1;account=9`: "unrouted",
	} {
		h := newHarness(t, routesConfig)
		h.consume(t, withHeader("cf-trace-config", header), makeTraces(t, res{service: "a", spans: 3}))
		assert.Empty(t, h.sink.AllTraces(), header)
		assert.Equal(t, int64(3), h.spansDropped(t, reason), header)
		assert.Equal(t, int64(1), h.resourcesDropped(t, reason), header)
	}
}

// Defaulted resources keep what was read: an unrouted config's fields are
// stamped, so the tenant is not lost.
func TestUnroutedDefaultKeepsTheTenant(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OnUnrouted = PolicyDefault
		c.DefaultDestinations = []string{"catchall"}
	})
	h.consume(t, withHeader("cf-trace-config", `{"zoneId":12345,"accountId":9}`), makeTraces(t, res{service: "a", spans: 2}))
	assert.Equal(t, []copyOf{{service: "a", route: "catchall", account: "9", zone: "12345", spans: 2}}, h.received(t))
	assert.Equal(t, int64(1), h.resourcesDefaulted(t, "unrouted"))
	assert.Zero(t, h.spansDropped(t, "unrouted"))
}

func TestAllowedDestinationsFilterProducerNames(t *testing.T) {
	configure := func(c *Config) {
		c.AllowedDestinations = []string{"tempo", "vendor"}
		c.Routes = []RouteConfig{{Match: map[string]any{"account": "42"}, Destinations: []string{"tempo"}}}
	}
	h := newHarness(t, configure)
	h.consume(t, withHeader("cf-trace-config", `destinations=vendor|nope|tempo|other;account=42`), makeTraces(t, res{service: "a", spans: 2}))
	assert.Equal(t, []copyOf{{service: "a", route: "vendor,tempo", account: "42", spans: 2}}, h.received(t))
	assert.Equal(t, int64(4), h.spansDropped(t, "unknown_destination"), "2 spans x 2 unknown names")

	// Only unknown names: dropped, not routed by the table or a policy.
	assert.Equal(t, "", routeOf(t, configure, `{"account":"42","destinations":["nope"]}`))
}

func TestCountersByReasonThroughTheRealReader(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		routesConfig(c)
		c.OnMissing = PolicyDefault
		c.DefaultDestinations = []string{"tempo"}
		c.AllowedDestinations = []string{"tempo", "vendor", "eu", "never"}
	})
	h.consume(t, withHeader("cf-trace-config", "account=42"), makeTraces(t,
		res{service: "routed", spans: 4},                                     // tempo 4
		res{service: "unrouted", config: `{"account":"1"}`, spans: 3},        // unrouted 3
		res{service: "invalid", config: "{", spans: 2},                       // invalid 2
		res{service: "named", config: `destinations=vendor|bogus`, spans: 5}, // vendor 5, unknown 5
	))
	h.consume(t, context.Background(), makeTraces(t, res{service: "missing", spans: 1})) // defaulted: tempo 1

	noTime := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualProcessorTraceRoutingSpansRouted(t, h.tel,
		pointsBy("destination", map[string]int64{"tempo": 5, "vendor": 5}), noTime)
	metadatatest.AssertEqualProcessorTraceRoutingSpansDropped(t, h.tel,
		pointsBy("reason", map[string]int64{"unrouted": 3, "invalid": 2, "unknown_destination": 5}), noTime)
	metadatatest.AssertEqualProcessorTraceRoutingResourcesDropped(t, h.tel,
		pointsBy("reason", map[string]int64{"unrouted": 1, "invalid": 1, "unknown_destination": 1}), noTime)
	metadatatest.AssertEqualProcessorTraceRoutingResourcesDefaulted(t, h.tel,
		pointsBy("reason", map[string]int64{"missing": 1}), noTime)
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// warnHarness is a processor whose warnings go to an observer, its rate
// limit read from a clock the test moves.
func warnHarness(t *testing.T, configure func(*Config)) (*tracesProcessor, *observer.ObservedLogs, *fakeClock) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if configure != nil {
		configure(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.WarnLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.Logger = zap.New(core)
	p, err := newTracesProcessor(set, cfg)
	require.NoError(t, err)
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	p.warn.limit = warnlimit.New(warnlimit.DefaultInterval, clock.now)
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })
	return p, logs, clock
}

func TestWarningsAtMostOneAMinutePerReason(t *testing.T) {
	p, logs, clock := warnHarness(t, routesConfig)
	send := func(header string, spans int) {
		resources := make([]res, spans)
		for i := range resources {
			resources[i] = res{service: "s", spans: 1}
		}
		_, _ = p.processTraces(withHeader("cf-trace-config", header), makeTraces(t, resources...))
	}
	bad := "zoneId=1;accountId" // a typo: the last pair has no value
	// A thousand bad requests within the minute: one warning per reason.
	for i := range 1000 {
		clock.t = clock.t.Add(50 * time.Millisecond)
		send(bad, 2)
		if i%10 == 0 {
			send(`{"accountId":5}`, 1) // unrouted
		}
	}
	invalid := logs.FilterField(zap.String("reason", "invalid")).All()
	unrouted := logs.FilterField(zap.String("reason", "unrouted")).All()
	require.Len(t, invalid, 1)
	require.Len(t, unrouted, 1)
	fields := invalid[0].ContextMap()
	assert.Equal(t, bad, fields["sample"])
	assert.Equal(t, "drop", fields["on_invalid"])
	assert.Equal(t, "cf-trace-config", fields["header"])
	assert.Equal(t, int64(2), fields["spans_since_last_warning"], "the first warning counts the first request")
	assert.Contains(t, fields["error"], "neither a JSON object")

	// A minute after the first: the next warning, with every span since.
	clock.t = time.Unix(1_000_000, 0).Add(50*time.Millisecond + time.Minute)
	send(bad, 2)
	invalid = logs.FilterField(zap.String("reason", "invalid")).All()
	require.Len(t, invalid, 2)
	assert.Equal(t, int64(999*2+2), invalid[1].ContextMap()["spans_since_last_warning"])
}

func TestWarningSampleIsBounded(t *testing.T) {
	p, logs, _ := warnHarness(t, nil)
	long := "{" + string(make([]byte, 500))
	_, _ = p.processTraces(withHeader("cf-trace-config", long), makeTraces(t, res{service: "s", spans: 1}))
	require.Equal(t, 1, logs.Len())
	assert.Len(t, logs.All()[0].ContextMap()["sample"], sampleBytes)
}

// With batch before trace_routing no client metadata reaches it at all:
// that cause is named once, however many requests follow.
func TestNoMetadataWarnsOnce(t *testing.T) {
	p, logs, _ := warnHarness(t, nil)
	for range 5 {
		_, _ = p.processTraces(context.Background(), makeTraces(t, res{service: "s", spans: 1}))
	}
	noMD := logs.FilterMessageSnippet("without any client metadata").All()
	require.Len(t, noMD, 1)
	assert.Contains(t, noMD[0].Message, "batch")
	// Missing is warned on its own, rate-limited like every reason.
	assert.Len(t, logs.FilterField(zap.String("reason", "missing")).All(), 1)

	// Metadata without the header is a plain missing config, not this cause.
	p2, logs2, _ := warnHarness(t, nil)
	_, _ = p2.processTraces(withHeader("content-type", "application/x-protobuf"), makeTraces(t, res{service: "s", spans: 1}))
	assert.Empty(t, logs2.FilterMessageSnippet("without any client metadata").All())
}
