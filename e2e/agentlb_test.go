package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tracebound/tracebound/testbed/collector"
)

// agentBuild is the agent collector built with the contrib load_balancing
// exporter (the testbed's scale-out scenario), which runs
// deploy/kubernetes/gateway/agent-configmap.yaml's config.
type agentBuild struct {
	path     string // the binary; "" when it is not there
	manifest string // its ocb manifest, relative to the repository root
	missing  string // why path is "", and how to build it
}

// lbExporterModule is the contrib module an agent manifest must pull.
const lbExporterModule = "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter"

// agentLBBinary finds the ocb manifest under testbed/ that builds a
// collector with the load_balancing exporter, and the binary it names
// (dist::output_path, relative to the repository root as the Makefile
// runs ocb, and dist::name).
func agentLBBinary(t *testing.T) agentBuild {
	t.Helper()
	root := repoRoot()
	var manifests []string
	err := filepath.WalkDir(filepath.Join(root, "testbed"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), lbExporterModule) && strings.Contains(string(data), "dist:") {
			manifests = append(manifests, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	switch len(manifests) {
	case 0:
		return agentBuild{missing: "no ocb manifest under testbed/ builds a collector with " + lbExporterModule +
			" (the scale-out scenario's agent build)"}
	case 1:
	default:
		t.Fatalf("several ocb manifests under testbed/ pull the load_balancing exporter: %v", manifests)
	}
	data, err := os.ReadFile(manifests[0])
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Dist struct {
			Name       string `yaml:"name"`
			OutputPath string `yaml:"output_path"`
		} `yaml:"dist"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", manifests[0], err)
	}
	rel, _ := filepath.Rel(root, manifests[0])
	if m.Dist.Name == "" || m.Dist.OutputPath == "" {
		t.Fatalf("%s: dist::name and dist::output_path must be set", rel)
	}
	out := m.Dist.OutputPath
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	bin := filepath.Join(out, m.Dist.Name)
	if _, err := os.Stat(bin); err != nil {
		return agentBuild{manifest: rel, missing: fmt.Sprintf("the agent build %s (from %s) is not built: %s", bin, rel, buildHint(root, rel))}
	}
	return agentBuild{path: bin, manifest: rel}
}

var (
	makeTarget   = regexp.MustCompile(`^([^\t#=:][^=:]*?)\s*:([^=]|$)`)
	makeVariable = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*[:?]?=\s*(.*)$`)
	makeRef      = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
)

// makeRule is one rule of a Makefile: its target as written and as a
// path (variables expanded), and its recipe lines.
type makeRule struct {
	raw, target string
	recipe      []string
}

// readMakefile reads the Makefile at root: its variables (as written) and
// its rules.
func readMakefile(root string) (map[string]string, []*makeRule, error) {
	data, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return nil, nil, err
	}
	vars := map[string]string{}
	var rules []*makeRule
	for _, line := range strings.Split(string(data), "\n") {
		switch m, v := makeTarget.FindStringSubmatch(line), makeVariable.FindStringSubmatch(line); {
		case v != nil:
			vars[v[1]] = strings.TrimSpace(v[2])
		case m != nil:
			target := makeRef.ReplaceAllStringFunc(m[1], func(ref string) string { return vars[makeRef.FindStringSubmatch(ref)[1]] })
			rules = append(rules, &makeRule{raw: m[1], target: target})
		case strings.HasPrefix(line, "\t") && len(rules) > 0:
			r := rules[len(rules)-1]
			r.recipe = append(r.recipe, line)
		}
	}
	return vars, rules, nil
}

// buildHint names the Makefile target that builds manifest: the rule
// whose recipe runs ocb on it, or, when that rule's target is a variable
// such as $(AGENT), a phony target whose recipe makes $(AGENT) (serialised,
// say), else the file the variable names; the ocb command when no rule
// builds it.
func buildHint(root, manifest string) string {
	_, rules, err := readMakefile(root)
	if err != nil {
		return "build it with `.tools/bin/builder --config " + manifest + "`"
	}
	for _, r := range rules {
		if !slices.ContainsFunc(r.recipe, func(l string) bool { return strings.Contains(l, manifest) }) {
			continue
		}
		if strings.HasPrefix(r.raw, "$(") {
			for _, p := range rules {
				if p != r && slices.ContainsFunc(p.recipe, func(l string) bool { return strings.Contains(l, r.raw) }) {
					return "run `make " + p.target + "`"
				}
			}
		}
		return "run `make " + r.target + "`"
	}
	return "build it with `.tools/bin/builder --config " + manifest + "`"
}

// TestBuildHint: the skip message names the make target that builds the
// agent manifest, a variable target read as its file, or the ocb command.
func TestBuildHint(t *testing.T) {
	for name, tc := range map[string]struct{ makefile, want string }{
		"phony target": {"OCB := x\n\nagent: $(OCB)\n\t$(OCB) --config testbed/agent/manifest.yaml\n", "run `make agent`"},
		"phony target making a variable target": {"AGENT := bin/agent\n$(AGENT): m.yaml\n\t$(OCB) --config testbed/agent/manifest.yaml\n\nagent:\n\tflock x $(MAKE) $(AGENT)\n",
			"run `make agent`"},
		"variable target": {"AGENT := testbed/agent/bin/otelcol-agent\n$(AGENT): go.mod\n\tCGO_ENABLED=0 $(OCB) --config testbed/agent/manifest.yaml\n",
			"run `make testbed/agent/bin/otelcol-agent`"},
		"no target": {"build:\n\tgo build ./...\n", "build it with `.tools/bin/builder --config testbed/agent/manifest.yaml`"},
	} {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "Makefile"), []byte(tc.makefile), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := buildHint(root, "testbed/agent/manifest.yaml"); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

// lackedComponents lists the component types config uses ("receivers
// otlpuds", ...) that binary was not built with, so a gap between the
// deployed agent config and the agent build fails with its fix rather than
// as a validate error.
func lackedComponents(t *testing.T, binary string, config map[string]any) []string {
	t.Helper()
	have, err := collector.ListComponents(binary)
	if err != nil {
		t.Fatal(err)
	}
	var lacked []string
	for _, kind := range []string{"receivers", "processors", "exporters", "extensions", "connectors"} {
		section, _ := config[kind].(map[string]any)
		for _, id := range slices.Sorted(maps.Keys(section)) {
			typ, _, _ := strings.Cut(id, "/")
			if !have.Has(kind, typ) && !slices.Contains(lacked, kind+" "+typ) {
				lacked = append(lacked, kind+" "+typ)
			}
		}
	}
	return lacked
}

// requireAgentHas fails when the agent build lacks a component of config,
// naming them and the manifest to add them to.
func requireAgentHas(t *testing.T, agent agentBuild, where string, config map[string]any) {
	t.Helper()
	if lacked := lackedComponents(t, agent.path, config); len(lacked) > 0 {
		t.Fatalf("%s uses %s, which the agent build %s lacks: add them to its ocb manifest %s",
			where, strings.Join(lacked, ", "), agent.path, agent.manifest)
	}
}
