package scenario

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tracebound/tracebound/testbed/loadgen"
)

func TestPipelineConfigs(t *testing.T) {
	base := pipelineSpec{Baseline: true, Socket: "/tmp/b.sock", Dests: []dest{{Name: "main", URL: "http://127.0.0.1:1"}}}
	cfg, comps := base.config("otlp_http", 9999)
	if got := strings.Join(comps, ","); got != "otlp,memory_limiter,batch,otlp_http" {
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

// TestRoutesConfig: the routes table renders as trace_routing reads it,
// each value quoted (so 42 is the text "42"), one value as a scalar,
// several as a list.
func TestRoutesConfig(t *testing.T) {
	spec := pipelineSpec{Socket: "/tmp/t.sock", Routing: true, Routes: routingRoutes,
		Dests: []dest{{Name: "healthy", URL: "http://127.0.0.1:1"}}}
	cfg, _ := spec.config("otlp_http", 9999)
	var doc struct {
		Processors struct {
			TraceRouting struct {
				Routes []struct {
					Match        map[string]any
					Destinations []string
				}
			} `yaml:"trace_routing"`
		}
	}
	if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
		t.Fatalf("invalid YAML: %v\n%s", err, cfg)
	}
	routes := doc.Processors.TraceRouting.Routes
	if len(routes) != len(routingRoutes) {
		t.Fatalf("%d routes rendered, want %d:\n%s", len(routes), len(routingRoutes), cfg)
	}
	if m := routes[0].Match; len(m) != 1 || m["account"] != "42" {
		t.Errorf("route 0 match %#v", m)
	}
	if m := routes[1].Match; len(m) != 2 || m["zone"] != "*" || fmt.Sprint(m["account"]) != "[7 8]" {
		t.Errorf("route 1 match %#v", m)
	}
	if d := routes[2].Destinations; !slices.Equal(d, []string{"healthy", "failing", "slow", unconfigured}) {
		t.Errorf("route 2 destinations %v", d)
	}
	plain, _ := pipelineSpec{Socket: "/tmp/t.sock", Routing: true}.config("otlp_http", 9999)
	if !strings.Contains(plain, "  trace_routing: {}\n") {
		t.Errorf("without routes:\n%s", plain)
	}
}

// TestRouteOf: the model of trace_routing's decision the routing scenario
// counts with: the producer's list first, then the first matching route,
// "*" for any value present, else nowhere.
func TestRouteOf(t *testing.T) {
	for _, c := range []struct {
		tc   loadgen.TraceConfig
		want []string
	}{
		{loadgen.TraceConfig{Account: "42", Workspace: "w"}, []string{"healthy", "failing"}},
		{loadgen.TraceConfig{Account: "8", Zone: "2"}, []string{"healthy", "slow"}},
		{loadgen.TraceConfig{Account: "8"}, nil}, // zone "*" needs a zone
		{loadgen.TraceConfig{Account: "8", Workspace: "w"}, []string{"healthy", "failing", "slow", unconfigured}},
		{loadgen.TraceConfig{Account: "42", Destinations: []string{"slow"}}, []string{"slow"}},
		{loadgen.TraceConfig{Account: "999", Zone: "9"}, nil},
	} {
		if got := routeOf(routingRoutes, c.tc); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.tc, got, c.want)
		}
	}
	// Every config of the scenario goes where the scenario says: each
	// routed one to healthy and to failing or slow, one nowhere.
	nowhere := 0
	for _, tc := range routingLoad().Configs {
		routes := tc.Routes()
		if len(routes) == 0 {
			nowhere++
			continue
		}
		if !slices.Contains(routes, "healthy") || !(slices.Contains(routes, "failing") || slices.Contains(routes, "slow")) {
			t.Errorf("%+v goes to %v", tc, routes)
		}
	}
	if nowhere != 1 {
		t.Errorf("%d configs routed nowhere, want 1", nowhere)
	}
}

// TestPprofConfig: -heap-profiles adds the pprof extension on the port
// given, and the service enables it; without it there is no extension.
func TestPprofConfig(t *testing.T) {
	for _, spec := range []pipelineSpec{
		{Baseline: true, Socket: "/tmp/b.sock", Dests: []dest{{Name: "main", URL: "http://127.0.0.1:1"}}},
		{Socket: "/tmp/t.sock", Lifecycle: true, MaxSpans: 2000, Routing: true, Dests: []dest{{Name: "main", URL: "http://127.0.0.1:1"}}},
	} {
		plain, _ := spec.config("otlp_http", 9999)
		if strings.Contains(plain, "pprof") {
			t.Errorf("pprof without -heap-profiles:\n%s", plain)
		}
		spec.PprofPort = 7777
		cfg, _ := spec.config("otlp_http", 9999)
		var doc struct {
			Extensions map[string]struct{ Endpoint string }
			Service    struct {
				Extensions []string
				Pipelines  map[string]any
			}
		}
		if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
			t.Fatalf("invalid YAML: %v\n%s", err, cfg)
		}
		if doc.Extensions["pprof"].Endpoint != "127.0.0.1:7777" || !slices.Equal(doc.Service.Extensions, []string{"pprof"}) || doc.Service.Pipelines["traces"] == nil {
			t.Errorf("pprof extension not configured:\n%s", cfg)
		}
	}
}
