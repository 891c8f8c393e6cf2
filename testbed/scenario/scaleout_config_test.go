package scenario

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tracebound/tracebound/testbed/loadgen"
)

// TestGatewayReplicaConfig: a replica receives OTLP/gRPC on its address
// with the stock otlp receiver, and runs the rest of the tracebound
// pipeline unchanged.
func TestGatewayReplicaConfig(t *testing.T) {
	spec := pipelineSpec{OTLPGRPC: "127.0.0.1:4317", Lifecycle: true, MaxSpans: 2000, Routing: true, Routes: scaleOutRoutes,
		Dests: []dest{{Name: "tempo", URL: "http://127.0.0.1:1"}}}
	cfg, comps := spec.config("otlp_http", 9999)
	if got := strings.Join(comps, ","); got != "otlp,memory_limiter,lifecycle_identity,trace_routing,batch,destinations" {
		t.Errorf("replica components %s", got)
	}
	var doc struct {
		Receivers struct {
			OTLP struct {
				Protocols map[string]struct{ Endpoint string }
			}
		}
	}
	if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
		t.Fatalf("invalid YAML: %v\n%s", err, cfg)
	}
	if p := doc.Receivers.OTLP.Protocols; len(p) != 1 || p["grpc"].Endpoint != "127.0.0.1:4317" {
		t.Errorf("otlp receiver protocols %+v, want grpc on 127.0.0.1:4317 only:\n%s", p, cfg)
	}
}

// agentDoc is what the tests read of the agent's config.
type agentDoc struct {
	Receivers struct {
		OTLP struct {
			Protocols struct {
				HTTP struct {
					Transport       string
					Endpoint        string
					IncludeMetadata bool `yaml:"include_metadata"`
				}
			}
		}
	}
	Processors struct {
		Resource struct {
			Attributes []struct {
				Key         string
				FromContext string `yaml:"from_context"`
				Action      string
			}
		}
	}
	Exporters struct {
		LoadBalancing struct {
			RoutingKey string `yaml:"routing_key"`
			Resolver   struct {
				Static struct{ Hostnames []string }
			}
		} `yaml:"load_balancing"`
	}
	Service struct {
		Extensions []string
		Pipelines  struct {
			Traces struct{ Receivers, Processors, Exporters []string }
		}
	}
}

// TestAgentConfig: the agent keeps the request's metadata, copies the
// trace config header into trace.config before batch (which would drop
// the metadata), and balances by trace ID over the replicas.
func TestAgentConfig(t *testing.T) {
	replicas := []string{"127.0.0.1:4317", "127.0.0.1:4327"}
	cfg, comps := agentConfig(pipelineSpec{Socket: "/tmp/a.sock"}, replicas, 9999)
	var doc agentDoc
	if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
		t.Fatalf("invalid YAML: %v\n%s", err, cfg)
	}
	h := doc.Receivers.OTLP.Protocols.HTTP
	if h.Transport != "unix" || h.Endpoint != "/tmp/a.sock" || !h.IncludeMetadata {
		t.Errorf("otlp http receiver %+v, want include_metadata on unix /tmp/a.sock", h)
	}
	attrs := doc.Processors.Resource.Attributes
	if len(attrs) != 1 || attrs[0].Key != "trace.config" || attrs[0].FromContext != "metadata."+loadgen.DefaultHeader || attrs[0].Action != "insert" {
		t.Errorf("resource attributes %+v, want trace.config inserted from metadata.%s", attrs, loadgen.DefaultHeader)
	}
	lb := doc.Exporters.LoadBalancing
	if lb.RoutingKey != "traceID" || !slices.Equal(lb.Resolver.Static.Hostnames, replicas) {
		t.Errorf("loadbalancing %+v", lb)
	}
	p := doc.Service.Pipelines.Traces
	if !slices.Equal(p.Processors, []string{"resource", "batch"}) || !slices.Equal(p.Exporters, []string{"load_balancing"}) || !slices.Equal(comps, []string{"otlp", "resource", "batch", "load_balancing"}) {
		t.Errorf("pipeline %+v, components %v", p, comps)
	}
	if strings.Contains(cfg, "pprof") {
		t.Errorf("pprof without -heap-profiles:\n%s", cfg)
	}
	cfg, _ = agentConfig(pipelineSpec{Socket: "/tmp/a.sock", PprofPort: 7777}, replicas, 9999)
	doc = agentDoc{}
	if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil || !slices.Equal(doc.Service.Extensions, []string{"pprof"}) {
		t.Errorf("pprof not configured (%v):\n%s", err, cfg)
	}
}

// TestAgentBinaryValidatesConfig runs the built agent's `validate` on the
// config the scenario gives it, when `make lb-agent` has built it (it
// takes minutes on a clean clone, so this test does not build it).
func TestAgentBinaryValidatesConfig(t *testing.T) {
	bin, err := filepath.Abs("../../.tools/lb-agent/otelcol-lb-agent")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no agent binary (make lb-agent): %v", err)
	}
	if reason := agentMissing(bin); reason != "" {
		t.Fatal(reason)
	}
	cfg, _ := agentConfig(pipelineSpec{Socket: filepath.Join(t.TempDir(), "a.sock")}, []string{"127.0.0.1:4317", "127.0.0.1:4327"}, 9999)
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "validate", "--config", path).CombinedOutput(); err != nil {
		t.Fatalf("%s validate: %v\n%s\n%s", bin, err, out, cfg)
	}
	// A config the agent cannot run must fail, or the check above tells
	// nothing.
	bad := strings.Replace(cfg, "routing_key: traceID", "routing_kee: traceID", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "validate", "--config", path).CombinedOutput(); err == nil {
		t.Fatalf("validate accepted an unknown key (routing_kee):\n%s", out)
	}
}
