package scenario

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestPipelineConfigs(t *testing.T) {
	base := pipelineSpec{Baseline: true, Socket: "/tmp/b.sock", Dests: []dest{{Name: "main", URL: "http://127.0.0.1:1"}}}
	cfg, comps := base.config("otlp_http", 9999)
	if got := strings.Join(comps, ","); got != "otlp,batch,otlp_http" {
		t.Errorf("baseline components %s", got)
	}
	tb := pipelineSpec{Socket: "/tmp/t.sock", Lifecycle: true, MaxSpans: 2000, Routing: true,
		Dests: []dest{{Name: "a", URL: "http://127.0.0.1:1"}, {Name: "b", URL: "http://127.0.0.1:2", RetryMaxElapsed: 2 * time.Second, QueueSize: 10}}}
	cfg2, comps2 := tb.config("otlp_http", 9999)
	if got := strings.Join(comps2, ","); got != "otlpuds,memory_limiter,lifecycle_identity,trace_routing,batch,destinations" {
		t.Errorf("tracebound components %s", got)
	}
	for _, c := range []string{cfg, cfg2} {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(c), &doc); err != nil {
			t.Fatalf("invalid YAML: %v\n%s", err, c)
		}
		if !strings.Contains(c, "port: 9999") {
			t.Errorf("no telemetry port:\n%s", c)
		}
	}
	if !strings.Contains(cfg, "transport: unix") || !strings.Contains(cfg2, "max_elapsed_time: 2s") {
		t.Errorf("configs:\n%s\n%s", cfg, cfg2)
	}
}
