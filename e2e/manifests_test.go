package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// manifest is one Kubernetes object of a file under deploy/kubernetes,
// decoded into its API type.
type manifest struct {
	file string // relative to deploy/kubernetes
	kind string
	obj  any // *corev1.ConfigMap, *appsv1.DaemonSet, ...: each a metav1.Object
}

func (m manifest) name() string { return m.obj.(metav1.Object).GetName() }

// newObject maps the kinds deploy/kubernetes uses to their API types; any
// other kind is an error, so a new kind gets its checks when it is added.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: not a kind these tests know", apiVersion, kind)
}

// decodeStrict turns one YAML document into its API type, failing on
// duplicate keys and on any field the type does not have, as
// `kubectl apply --validate=strict` does.
func decodeStrict(doc []byte) (manifest, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return manifest{}, err
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(js, &meta); err != nil {
		return manifest{}, err
	}
	obj, err := newObject(meta.APIVersion, meta.Kind)
	if err != nil {
		return manifest{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return manifest{}, fmt.Errorf("%s: %w", meta.Kind, err)
	}
	return manifest{kind: meta.Kind, obj: obj}, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// loadManifests decodes every document of every .yaml file under
// deploy/kubernetes.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	dir := filepath.Join(repoRoot(), "deploy", "kubernetes")
	var out []manifest
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		docs, err := decodeDocuments(rel, string(data))
		out = append(out, docs...)
		return err
	})
	require.NoError(t, err)
	require.NotEmpty(t, out)
	return out
}

// decodeDocuments decodes each YAML document of data (from file) strictly.
func decodeDocuments(file, data string) ([]manifest, error) {
	var out []manifest
	for i, doc := range docSeparator.Split(data, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		m, err := decodeStrict([]byte(doc))
		if err != nil {
			return out, fmt.Errorf("%s, document %d: %w", file, i+1, err)
		}
		m.file = file
		out = append(out, m)
	}
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestDecodeStrictRefusesUnknownFields: the strict decoding the manifest
// tests rely on does fail on a misspelled field, a duplicate key and an
// unknown kind.
func TestDecodeStrictRefusesUnknownFields(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndatas:\n  a: b\n",
		"nested typo":   "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          imagePullPolicyy: Always\n",
		"duplicate key": "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  name: y\n",
		"unknown kind":  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n",
	} {
		if _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	_, err := decodeStrict([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n"))
	require.NoError(t, err)
}

// podTemplate is a workload's pod template with where it came from.
type podTemplate struct {
	file, workload, namespace string
	selector                  map[string]string
	spec                      *corev1.PodTemplateSpec
}

func podTemplates(ms []manifest) []podTemplate {
	var out []podTemplate
	for _, m := range ms {
		switch o := m.obj.(type) {
		case *appsv1.DaemonSet:
			out = append(out, podTemplate{m.file, "DaemonSet " + o.Name, o.Namespace, o.Spec.Selector.MatchLabels, &o.Spec.Template})
		case *appsv1.Deployment:
			out = append(out, podTemplate{m.file, "Deployment " + o.Name, o.Namespace, o.Spec.Selector.MatchLabels, &o.Spec.Template})
		}
	}
	return out
}

// allContainers returns the pod's init containers (native sidecars among
// them) and its containers.
func allContainers(spec *corev1.PodSpec) []*corev1.Container {
	var out []*corev1.Container
	for i := range spec.InitContainers {
		out = append(out, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		out = append(out, &spec.Containers[i])
	}
	return out
}

func configMapsByName(ms []manifest) map[string]*corev1.ConfigMap {
	out := map[string]*corev1.ConfigMap{}
	for _, m := range ms {
		if cm, ok := m.obj.(*corev1.ConfigMap); ok {
			out[cm.Namespace+"/"+cm.Name] = cm
		}
	}
	return out
}

func labelsInclude(labels, want map[string]string) bool {
	if len(want) == 0 {
		return false
	}
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestManifestsDecodeAndLineUp: every object under deploy/kubernetes
// decodes strictly into its Kubernetes API type, and the objects refer to
// one another correctly: selectors select their own pods, every volume
// mount, ConfigMap and probe port named exists, each Service selects pods
// that have its target ports, no two objects of a kind share a name in a
// folder (gateway/ replaces agent/'s DaemonSet under the same name on
// purpose).
func TestManifestsDecodeAndLineUp(t *testing.T) {
	checkLineUp(t, loadManifests(t))
}

// checkLineUp checks that the objects of ms refer to one another correctly
// (see TestManifestsDecodeAndLineUp).
func checkLineUp(t *testing.T, ms []manifest) {
	t.Helper()
	namespaces := map[string]bool{}
	seen := map[string]string{}
	for _, m := range ms {
		key := filepath.Dir(m.file) + " " + m.kind + " " + m.name()
		if prev, dup := seen[key]; dup {
			t.Errorf("%s and %s both define %s %s", prev, m.file, m.kind, m.name())
		}
		seen[key] = m.file
		if ns, ok := m.obj.(*corev1.Namespace); ok {
			namespaces[ns.Name] = true
		}
	}
	configMaps := configMapsByName(ms)
	pods := podTemplates(ms)
	require.NotEmpty(t, pods)

	for _, m := range ms {
		if m.kind == "Namespace" {
			continue
		}
		if ns := m.obj.(metav1.Object).GetNamespace(); !namespaces[ns] {
			t.Errorf("%s: %s %s is in namespace %q, which no manifest creates", m.file, m.kind, m.name(), ns)
		}
	}

	for _, p := range pods {
		where := p.file + ": " + p.workload
		if !labelsInclude(p.spec.Labels, p.selector) {
			t.Errorf("%s: selector %v does not select its own pod labels %v", where, p.selector, p.spec.Labels)
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range p.spec.Spec.Volumes {
			volumes[v.Name] = v
			if v.ConfigMap != nil && configMaps[p.namespace+"/"+v.ConfigMap.Name] == nil {
				t.Errorf("%s: volume %q names ConfigMap %q, which no manifest defines in namespace %q", where, v.Name, v.ConfigMap.Name, p.namespace)
			}
		}
		mounted := map[string]bool{}
		for _, c := range allContainers(&p.spec.Spec) {
			ports := map[string]bool{}
			for _, port := range c.Ports {
				ports[port.Name] = true
				ports[fmt.Sprint(port.ContainerPort)] = true
			}
			for _, vm := range c.VolumeMounts {
				mounted[vm.Name] = true
				if _, ok := volumes[vm.Name]; !ok {
					t.Errorf("%s: container %q mounts volume %q, which the pod does not have", where, c.Name, vm.Name)
				}
			}
			for kind, probe := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
				if probe == nil || probe.HTTPGet == nil {
					continue
				}
				if port := probe.HTTPGet.Port.String(); !ports[port] {
					t.Errorf("%s: container %q %s probes port %q, which is not among its ports", where, c.Name, kind, port)
				}
			}
		}
		for name := range volumes {
			if !mounted[name] {
				t.Errorf("%s: volume %q is mounted by no container", where, name)
			}
		}
	}

	services := 0
	for _, m := range ms {
		svc, ok := m.obj.(*corev1.Service)
		if !ok {
			continue
		}
		services++
		var selected []podTemplate
		for _, p := range pods {
			if p.namespace == svc.Namespace && labelsInclude(p.spec.Labels, svc.Spec.Selector) {
				selected = append(selected, p)
			}
		}
		if len(selected) != 1 {
			t.Errorf("%s: Service %s selects %d workloads' pods, want exactly 1", m.file, svc.Name, len(selected))
			continue
		}
		for _, sp := range svc.Spec.Ports {
			found := false
			for _, c := range selected[0].spec.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.String() || fmt.Sprint(cp.ContainerPort) == sp.TargetPort.String() {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("%s: Service %s port %q targets %q, which %s's containers do not expose", m.file, svc.Name, sp.Name, sp.TargetPort.String(), selected[0].workload)
			}
		}
	}
	_ = services
}

// TestReadmeDeploySection: every file or folder the README's "Deploy on
// Kubernetes" section names under deploy/ exists, and every test it says
// checks them is a test of this package.
func TestReadmeDeploySection(t *testing.T) {
	root := repoRoot()
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	readme := string(data)
	start := strings.Index(readme, "\n## Deploy on Kubernetes\n")
	require.GreaterOrEqual(t, start, 0, "README.md has no Deploy on Kubernetes section")
	section := readme[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	paths := regexp.MustCompile(`deploy/(?:kubernetes|helm|grafana|prometheus)[A-Za-z0-9_./-]*[A-Za-z0-9_/]`).FindAllString(section, -1)
	require.NotEmpty(t, paths)
	for _, p := range paths {
		_, err := os.Stat(filepath.Join(root, p))
		assert.NoError(t, err, "README names %s", p)
	}
	applied := regexp.MustCompile(`kubectl apply -f (\S+)`).FindAllStringSubmatch(section, -1)
	require.NotEmpty(t, applied, "the section shows no kubectl apply")

	var sources strings.Builder
	files, err := filepath.Glob("*_test.go")
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		sources.Write(b)
	}
	tests := regexp.MustCompile("`(Test[A-Za-z0-9_]+)`").FindAllStringSubmatch(section, -1)
	require.NotEmpty(t, tests)
	for _, m := range tests {
		assert.Contains(t, sources.String(), "func "+m[1]+"(t *testing.T)", "README names test %s", m[1])
	}
}
