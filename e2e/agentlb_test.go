package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// agentBuild is the agent collector built with the contrib load_balancing
// exporter (the testbed's scale-out scenario), which runs
// deploy/kubernetes/gateway/agent-configmap.yaml's config.
type agentBuild struct {
	path    string // the binary; "" when it is not there
	missing string // why not, and how to build it
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
		return agentBuild{missing: fmt.Sprintf("the agent build %s (from %s) is not built: %s", bin, rel, buildHint(root, rel))}
	}
	return agentBuild{path: bin}
}

var (
	makeTarget   = regexp.MustCompile(`^([^\t#=:][^=:]*?)\s*:([^=]|$)`)
	makeVariable = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*[:?]?=\s*(.*)$`)
	makeRef      = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
)

// buildHint names the Makefile target whose recipe builds manifest (a
// variable target, such as $(AGENT), read as the file it names), or the
// ocb command when none does.
func buildHint(root, manifest string) string {
	data, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err == nil {
		vars := map[string]string{}
		target := ""
		for _, line := range strings.Split(string(data), "\n") {
			if m := makeVariable.FindStringSubmatch(line); m != nil {
				vars[m[1]] = strings.TrimSpace(m[2])
				continue
			}
			if m := makeTarget.FindStringSubmatch(line); m != nil {
				target = makeRef.ReplaceAllStringFunc(m[1], func(ref string) string {
					return vars[makeRef.FindStringSubmatch(ref)[1]]
				})
				continue
			}
			if strings.HasPrefix(line, "\t") && strings.Contains(line, manifest) && target != "" {
				return "run `make " + target + "`"
			}
		}
	}
	return "build it with `.tools/bin/builder --config " + manifest + "`"
}

// TestBuildHint: the skip message names the make target that builds the
// agent manifest, a variable target read as its file, or the ocb command.
func TestBuildHint(t *testing.T) {
	for name, tc := range map[string]struct{ makefile, want string }{
		"phony target": {"OCB := x\n\nagent: $(OCB)\n\t$(OCB) --config testbed/agent/manifest.yaml\n", "run `make agent`"},
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
