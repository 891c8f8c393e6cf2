package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/tracebound/tracebound/testbed/collector"
)

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promVariable = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_]\w*`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	labelValues  = regexp.MustCompile(`^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*[A-Za-z_]\w*\s*\)$`)
)

// promKeywords are PromQL words that are neither functions (followed by
// "(") nor metric names.
var promKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"}

// promqlMetrics returns the metric names a PromQL expression reads: the
// identifiers left once strings, Grafana variables, label matchers, ranges
// and grouping clauses are removed, other than functions and keywords.
func promqlMetrics(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promVariable.ReplaceAllString(s, "")
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		word := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // the exponent or unit of a number: 1e5, 0.9
		}
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || slices.Contains(promKeywords, strings.ToLower(word)) {
			continue
		}
		if !slices.Contains(names, word) {
			names = append(names, word)
		}
	}
	return names
}

func TestPromQLMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (receiver) (rate(otelcol_receiver_accepted_spans{job=~"$job", a="b}"}[$__rate_interval]))`: {"otelcol_receiver_accepted_spans"},
		`max by (job) (a_size{exporter=~"x"} / on (job) group_left b_capacity) > 0.9 * 100000`:             {"a_size", "b_capacity"},
		`rate(x_sum[5m]) / rate(x_count[5m]) > 1e3 and bool y`:                                             {"x_sum", "x_count", "y"},
		`histogram_quantile(0.99, sum without (le) (rate(h_bucket[1m]) offset 5m))`:                        {"h_bucket"},
	} {
		assert.Equal(t, want, promqlMetrics(expr), expr)
	}
}

// promQuery is one PromQL expression of the dashboard or the alerts.
type promQuery struct{ where, expr string }

// dashboardQueries reads every target of every panel (rows' panels
// included) of deploy/grafana/tracebound.json, and its template variables'
// label_values queries.
func dashboardQueries(t *testing.T) []promQuery {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "grafana", "tracebound.json"))
	require.NoError(t, err)
	type panel struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		UID        string            `json:"uid"`
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	require.NotEmpty(t, dash.UID)
	var out []promQuery
	ids := map[int]bool{}
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			require.NoError(t, json.Unmarshal(r, &p))
			require.False(t, ids[p.ID], "panel id %d used twice", p.ID)
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			where := fmt.Sprintf("dashboard panel %q", p.Title)
			assert.NotNil(t, p.Datasource, "%s: no datasource", where)
			assert.NotEmpty(t, p.Targets, "%s: no query", where)
			for _, tg := range p.Targets {
				out = append(out, promQuery{where + " " + tg.RefID, tg.Expr})
			}
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		require.NoError(t, json.Unmarshal(v.Query, &q))
		m := labelValues.FindStringSubmatch(q.Query)
		require.NotNil(t, m, "dashboard variable %s: only label_values(metric, label) queries are checked, got %q", v.Name, q.Query)
		out = append(out, promQuery{"dashboard variable " + v.Name, m[1]})
	}
	return out
}

// alertQueries reads deploy/prometheus/alerts.yaml strictly as a
// Prometheus rule file (unknown keys refused) and returns each rule's
// expression.
func alertQueries(t *testing.T) []promQuery {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "prometheus", "alerts.yaml"))
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Name     string `yaml:"name"`
			Interval string `yaml:"interval"`
			Rules    []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&rules), "deploy/prometheus/alerts.yaml")
	var out []promQuery
	names := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "group %s: a rule without alert", g.Name)
			require.False(t, names[r.Alert], "alert %s defined twice", r.Alert)
			names[r.Alert] = true
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
			}
			assert.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], "alert %s: severity", r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], "alert %s: summary", r.Alert)
			out = append(out, promQuery{"alert " + r.Alert, r.Expr})
		}
	}
	require.NotEmpty(t, out)
	return out
}

// observedConfig is the agent's pipeline with settings that make every
// metric the dashboard and the alerts read appear from a little traffic:
// a trace of 8 spans splits at max_spans 3, a third trace evicts at
// max_traces 2, a destination that refuses connections loses what it is
// routed, and a second receiver behind a memory_limiter that is always
// over its limit refuses after a short wait.
func observedConfig(socket, tightSocket, goodURL string, metricsPort int) string {
	return fmt.Sprintf(`
receivers:
  otlpuds:
    endpoint: %s
  otlpuds/tight:
    endpoint: %s
    admission:
      max_wait: 200ms
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 40
    spike_limit_percentage: 10
  memory_limiter/tight:
    check_interval: 100ms
    limit_mib: 2
    spike_limit_mib: 1
  lifecycle_identity:
    split:
      max_spans: 3
      max_traces: 2
  trace_routing:
    routes:
      - match: {zone: "*"}
        destinations: [good, down]
  batch:
    timeout: 50ms
exporters:
  destinations:
    destinations:
      good:
        endpoint: %s
      down:
        endpoint: http://127.0.0.1:1
        retry_on_failure:
          enabled: false
  debug:
    verbosity: basic
service:
%s  pipelines:
    traces:
      receivers: [otlpuds]
      processors: [memory_limiter, lifecycle_identity, trace_routing, batch]
      exporters: [destinations]
    traces/tight:
      receivers: [otlpuds/tight]
      processors: [memory_limiter/tight]
      exporters: [debug]
`, socket, tightSocket, goodURL, collector.TelemetryYAML(metricsPort))
}

// TestDashboardAndAlertsNameExposedMetrics runs the built binary, sends a
// little traffic through its socket (a split, an eviction, a routing drop,
// a destination failing, a memory_limiter refusal after an admission wait)
// and scrapes its Prometheus endpoint: every metric the Grafana dashboard
// or the alerting rules read must be there.
func TestDashboardAndAlertsNameExposedMetrics(t *testing.T) {
	queries := append(dashboardQueries(t), alertQueries(t)...)

	good := newBackend(t, "good")
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "otlp.sock")
	tight := filepath.Join(dir, "tight.sock")
	cfg, metricsPort := writeConfig(t, dir, func(port int) string { return observedConfig(socket, tight, good.URL, port) })
	p := startCollector(t, cfg, metricsPort, socket)
	require.NoError(t, waitForSocket(tight, 10*time.Second, p.Exited()))

	client := udsClient(t, socket)
	header := map[string]string{"cf-trace-config": "zone=1;account=2"}
	for k := range byte(3) {
		postTraces(t, client, makeTraces(k+1, 8), header)
	}
	postTraces(t, client, makeTraces(9, 2), nil) // no trace config: dropped, reason missing
	// memory_limiter/tight refuses from its first check (every 100 ms) on.
	require.Eventually(t, func() bool {
		status, _, err := foundationsPost(tight, makeTraces(10, 2), "")
		return err == nil && status == http.StatusServiceUnavailable
	}, 10*time.Second, 50*time.Millisecond, "memory_limiter/tight never refused")

	require.Eventually(t, func() bool {
		return good.Spans() == 24 && selfMetric(t, p, "otelcol_exporter_destinations_spans_lost", map[string]string{"destination": "down"}) == 24
	}, 20*time.Second, 100*time.Millisecond, "the good destination gets the 24 routed spans and down loses them")

	m, err := p.Scrape()
	require.NoError(t, err)
	checked := map[string]bool{}
	for _, q := range queries {
		names := promqlMetrics(q.expr)
		if !assert.NotEmpty(t, names, "%s: %q reads no metric", q.where, q.expr) {
			continue
		}
		for _, name := range names {
			checked[name] = true
			assert.True(t, m.Has(name), "%s reads %s, which the binary does not expose (%q)", q.where, name, q.expr)
		}
	}
	t.Logf("%d queries, %d metrics, each exposed: %v", len(queries), len(checked), slices.Sorted(maps.Keys(checked)))
}
