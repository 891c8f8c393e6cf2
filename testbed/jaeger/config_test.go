package jaeger

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestConfigLoopbackOwnPorts: every listener is on 127.0.0.1 at the port it
// was given, none on a Jaeger default (which would clash with another
// Jaeger, or with a collector's metrics on 8888).
func TestConfigLoopbackOwnPorts(t *testing.T) {
	p := ports{otlp: 41001, queryHTTP: 41002, queryGRPC: 41003, metrics: 41004}
	cfg := config(p)
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
		t.Fatalf("config is not YAML: %v\n%s", err, cfg)
	}
	for _, want := range []string{
		"endpoint: 127.0.0.1:41001", "endpoint: 127.0.0.1:41002", "endpoint: 127.0.0.1:41003", "port: 41004", "host: 127.0.0.1",
		"max_traces: " + fmt.Sprint(MaxTraces), "enable_tracing: false",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	for _, port := range []string{"4317", "4318", "16686", "16685", "8888", "0.0.0.0"} {
		if strings.Contains(cfg, port) {
			t.Errorf("config names %s:\n%s", port, cfg)
		}
	}
	svc := doc["service"].(map[string]any)
	traces := svc["pipelines"].(map[string]any)["traces"].(map[string]any)
	if fmt.Sprint(traces["exporters"]) != "[jaeger_storage_exporter]" || fmt.Sprint(svc["extensions"]) != "[jaeger_storage jaeger_query]" {
		t.Errorf("pipeline %v, extensions %v", traces, svc["extensions"])
	}
}

func TestFreePortsDistinct(t *testing.T) {
	p, err := freePorts()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, n := range []int{p.otlp, p.queryHTTP, p.queryGRPC, p.metrics} {
		if n == 0 || seen[n] {
			t.Fatalf("ports %+v", p)
		}
		seen[n] = true
	}
}
