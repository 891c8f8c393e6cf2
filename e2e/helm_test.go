package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// collectorChart is the official opentelemetry-collector chart, 0.170.0,
// as published (Apache-2.0; its LICENSE beside it): Chart.yaml, values.yaml,
// values.schema.json and templates/, so the test renders offline what
// `helm install` would.
const collectorChart = "testdata/opentelemetry-collector"

// renderChart renders the chart with deploy/helm/values.yaml as `helm
// install tracebound -n tracebound -f deploy/helm/values.yaml` would,
// the values checked against the chart's values.schema.json (which refuses
// unknown keys), and decodes every object strictly.
func renderChart(t *testing.T) []manifest {
	t.Helper()
	chrt, err := loader.Load(collectorChart)
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "helm", "values.yaml"))
	require.NoError(t, err)
	js, err := sigsyaml.YAMLToJSONStrict(data)
	require.NoError(t, err, "deploy/helm/values.yaml")
	values := map[string]any{}
	require.NoError(t, sigsyaml.Unmarshal(js, &values))

	top, err := util.ToRenderValues(chrt, values, common.ReleaseOptions{Name: "tracebound", Namespace: "tracebound", IsInstall: true}, nil)
	require.NoError(t, err, "deploy/helm/values.yaml against the chart's values.schema.json")
	out, err := engine.Render(chrt, top)
	require.NoError(t, err)

	var ms []manifest
	for _, name := range slices.Sorted(maps.Keys(out)) {
		if !strings.HasSuffix(name, ".yaml") {
			continue // NOTES.txt, helpers
		}
		docs, err := decodeDocuments(name, out[name])
		require.NoError(t, err)
		ms = append(ms, docs...)
	}
	require.NotEmpty(t, ms)
	return ms
}

// TestHelmSchemaRefusesUnknownKeys: the chart's schema, as the test loads
// it, does refuse a misspelled key, so the render test's values check means
// something.
func TestHelmSchemaRefusesUnknownKeys(t *testing.T) {
	chrt, err := loader.Load(collectorChart)
	require.NoError(t, err)
	for name, values := range map[string]map[string]any{
		"top level": {"mode": "daemonset", "imagee": map[string]any{"repository": "x"}},
		"nested":    {"mode": "daemonset", "image": map[string]any{"repositori": "x"}},
	} {
		_, err := util.ToRenderValues(chrt, values, common.ReleaseOptions{Name: "x", Namespace: "x"}, nil)
		assert.Error(t, err, name)
	}
}

// TestHelmValues renders the official chart with deploy/helm/values.yaml
// and checks what it would install as the manifests of deploy/kubernetes
// are checked: strictly decoded objects that line up, the example app
// (deploy/kubernetes/example/app.yaml) reaching the socket, a memory
// budget within the chart's GOMEMLIMIT, and a collector config, the agent
// ConfigMap's own, that the binary validates with the container's
// environment.
func TestHelmValues(t *testing.T) {
	ms := renderChart(t)
	kube := loadManifests(t)
	// What a user applies beside the chart: the namespace (helm's
	// --create-namespace) and an app.
	for _, m := range kube {
		if m.file == "namespace.yaml" || m.file == filepath.Join("example", "app.yaml") {
			ms = append(ms, m)
		}
	}

	var ds *appsv1.DaemonSet
	for _, m := range ms {
		if o, ok := m.obj.(*appsv1.DaemonSet); ok {
			require.Nil(t, ds, "the chart rendered two DaemonSets")
			ds = o
		}
		if m.kind == "Deployment" && !strings.HasPrefix(m.file, "example") {
			t.Errorf("%s: mode daemonset rendered a Deployment", m.file)
		}
	}
	require.NotNil(t, ds, "mode: daemonset rendered no DaemonSet")
	c := ds.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "tracebound:dev", c.Image)
	assert.Equal(t, []string{"/usr/local/bin/otelcol-tracebound"}, c.Command, "the image's binary")
	for _, p := range c.Ports {
		assert.Zero(t, p.HostPort, "port %s: no hostPort on the nodes", p.Name)
	}

	checkLineUp(t, ms)
	checkSocketShared(t, ms)
	checkMemoryBudgets(t, ms)
	checkConfigsValidate(t, ms)

	// The chart's config is the agent ConfigMap's, key for key.
	pods := collectorPods(t, ms)
	require.Len(t, pods, 1)
	var agentConfig string
	for _, m := range kube {
		if cm, ok := m.obj.(*corev1.ConfigMap); ok && cm.Name == "tracebound-agent" {
			agentConfig = cm.Data["config.yaml"]
		}
	}
	var rendered, agent map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(pods[0].config), &rendered))
	require.NoError(t, yaml.Unmarshal([]byte(agentConfig), &agent))
	assert.Equal(t, agent, rendered, "the chart's alternateConfig differs from deploy/kubernetes/agent/configmap.yaml's config.yaml")
}
