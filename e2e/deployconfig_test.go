package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Collector images of the manifests and the binary each runs: tracebound's
// own (`make docker`), and the agent build with the load_balancing
// exporter (the testbed's scale-out scenario).
const (
	traceboundImage = "tracebound"
	agentLBImage    = "tracebound-agent"
)

// idleRSSMiB is tracebound's RSS with no load (testbed/README.md "Idle":
// 34.9 MiB), the part of GOMEMLIMIT no memory_limiter sees.
const idleRSSMiB = 35

// collectorPod is a collector container of a manifest with the config its
// ConfigMap gives it.
type collectorPod struct {
	where     string
	pod       podTemplate
	container *corev1.Container
	image     string // image name without tag
	configMap string // "namespace/name"
	configKey string
	config    string
}

func imageName(image string) string {
	name, _, _ := strings.Cut(image, ":")
	return name
}

// collectorPods finds every container of the manifests that runs a
// collector image, and the ConfigMap key its --config names.
func collectorPods(t *testing.T, ms []manifest) []collectorPod {
	t.Helper()
	configMaps := configMapsByName(ms)
	var out []collectorPod
	for _, p := range podTemplates(ms) {
		for _, c := range allContainers(&p.spec.Spec) {
			img := imageName(c.Image)
			if img != traceboundImage && img != agentLBImage {
				continue
			}
			where := fmt.Sprintf("%s: %s container %q", p.file, p.workload, c.Name)
			cp := collectorPod{where: where, pod: p, container: c, image: img}
			path := configArg(c.Args)
			require.NotEmpty(t, path, "%s: no --config argument", where)
			cp.configKey = filepath.Base(path)
			for _, vm := range c.VolumeMounts {
				if vm.MountPath != filepath.Dir(path) {
					continue
				}
				for _, v := range p.spec.Spec.Volumes {
					if v.Name != vm.Name || v.ConfigMap == nil {
						continue
					}
					cp.configMap = p.namespace + "/" + v.ConfigMap.Name
					// items: the file may be a key of another name.
					for _, item := range v.ConfigMap.Items {
						if item.Path == filepath.Base(path) {
							cp.configKey = item.Key
						}
					}
				}
			}
			require.NotEmpty(t, cp.configMap, "%s: --config %s is not in a mounted ConfigMap", where, path)
			cm := configMaps[cp.configMap]
			require.NotNil(t, cm, "%s: ConfigMap %s", where, cp.configMap)
			cp.config = cm.Data[cp.configKey]
			require.NotEmpty(t, cp.config, "%s: ConfigMap %s has no key %q", where, cp.configMap, cp.configKey)
			out = append(out, cp)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// configArg returns the file of a --config argument ("--config", "f" or
// "--config=f"), "" when there is none.
func configArg(args []string) string {
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			return args[i+1]
		}
		if f, ok := strings.CutPrefix(a, "--config="); ok {
			return f
		}
	}
	return ""
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// requiredEnv lists the ${env:NAME} references of a config that have no
// default: the container must set each.
func requiredEnv(config string) []string {
	var names []string
	for _, m := range envRef.FindAllStringSubmatch(config, -1) {
		if m[2] == "" && !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	return names
}

// expandEnv replaces the ${env:NAME} references of s with their values in
// env (the default after :- when env has none).
func expandEnv(s string, env map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		if v, ok := env[m[1]]; ok {
			return v
		}
		return strings.TrimPrefix(m[2], ":-")
	})
}

// containerEnv gives the value each env var of c would have in a pod, with
// fieldRefs standing in as they would resolve on this machine (the pod IP
// as 127.0.0.1).
func containerEnv(t *testing.T, where string, env []corev1.EnvVar) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && (e.ValueFrom.FieldRef.FieldPath == "status.podIP" || e.ValueFrom.FieldRef.FieldPath == "status.hostIP"):
			out[e.Name] = "127.0.0.1"
		case e.ValueFrom.FieldRef != nil:
			// spec.nodeName, metadata.namespace, metadata.name: names.
			out[e.Name] = "stand-in"
		default:
			t.Errorf("%s: env %s: no stand-in for its valueFrom", where, e.Name)
		}
	}
	return out
}

// validateConfig runs `binary validate` on config with exactly env (and
// PATH), as the container would see it.
func validateConfig(t *testing.T, binary, where, config string, env map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	cmd := exec.Command(binary, "validate", "--config", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: %s validate: %v\n%s", where, filepath.Base(binary), err, out)
	}
}

// configTree decodes a collector config for the checks that read its keys.
func configTree(t *testing.T, where, config string) map[string]any {
	t.Helper()
	var tree map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(config), &tree), where)
	return tree
}

// lookup walks a decoded config by keys; nil when a key is missing.
func lookup(tree any, keys ...string) any {
	for _, k := range keys {
		m, ok := tree.(map[string]any)
		if !ok {
			return nil
		}
		tree = m[k]
	}
	return tree
}

func number(t *testing.T, where string, v any) float64 {
	t.Helper()
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	t.Fatalf("%s: %v is not a number", where, v)
	return 0
}

// TestDeployedConfigsValidate: every collector config that a manifest
// under deploy/kubernetes mounts for tracebound's image passes `validate`
// of the built binary, with exactly the environment its container sets;
// every ${env:X} without a default, in any collector's config, is set there.
func TestDeployedConfigsValidate(t *testing.T) {
	checkConfigsValidate(t, loadManifests(t))
}

// checkConfigsValidate validates the configs of ms's tracebound containers
// (see TestDeployedConfigsValidate).
func checkConfigsValidate(t *testing.T, ms []manifest) {
	t.Helper()
	validated := 0
	for _, cp := range collectorPods(t, ms) {
		env := containerEnv(t, cp.where, cp.container.Env)
		for _, name := range requiredEnv(cp.config) {
			if _, ok := env[name]; !ok {
				t.Errorf("%s: config %s[%s] reads ${env:%s}, which the container does not set", cp.where, cp.configMap, cp.configKey, name)
			}
		}
		if cp.image == traceboundImage {
			validateConfig(t, binaryPath, cp.where, cp.config, env)
			validated++
		}
	}
	require.Positive(t, validated)
}

// TestAgentLBConfigValidates: the gateway topology's agent config (the
// load_balancing exporter, which tracebound's binary lacks) passes
// `validate` of the agent build of the testbed's scale-out scenario, with
// its container's environment. Skipped, saying how to build it, when that
// binary is not there.
func TestAgentLBConfigValidates(t *testing.T) {
	agent := agentLBBinary(t)
	validated := 0
	for _, cp := range collectorPods(t, loadManifests(t)) {
		if cp.image != agentLBImage {
			continue
		}
		if agent.path == "" {
			t.Skipf("%s: not validated: %s", cp.where, agent.missing)
		}
		requireAgentHas(t, agent, cp.where, configTree(t, cp.where, cp.config))
		validateConfig(t, agent.path, cp.where, cp.config, containerEnv(t, cp.where, cp.container.Env))
		validated++
	}
	require.Positive(t, validated, "no manifest runs the %s image", agentLBImage)
}

// TestDeployedMemoryBudget: each collector's memory settings are set from
// its container's memory limit: GOMEMLIMIT is 80% of limits.memory, and
// memory_limiter's hard limit (a percentage of the cgroup limit), otlpuds'
// admission budget (bytes in flight and waiting) and the idle RSS fit
// under GOMEMLIMIT. A limit changed alone fails here.
func TestDeployedMemoryBudget(t *testing.T) {
	checkMemoryBudgets(t, loadManifests(t))
}

// checkMemoryBudgets checks every collector container of ms (see
// TestDeployedMemoryBudget).
func checkMemoryBudgets(t *testing.T, ms []manifest) {
	t.Helper()
	for _, cp := range collectorPods(t, ms) {
		limit, ok := cp.container.Resources.Limits[corev1.ResourceMemory]
		if !assert.True(t, ok, "%s: no limits.memory", cp.where) {
			continue
		}
		var goMemLimit string
		for _, e := range cp.container.Env {
			if e.Name == "GOMEMLIMIT" {
				goMemLimit = e.Value
			}
		}
		limitMiB := float64(limit.Value()) / (1 << 20)
		checkMemoryBudget(t, cp.where, cp.config, limitMiB, goMemLimit)
	}
}

// checkMemoryBudget checks one collector's memory settings against a
// container limit of limitMiB (see TestDeployedMemoryBudget).
func checkMemoryBudget(t *testing.T, where, config string, limitMiB float64, goMemLimit string) {
	t.Helper()
	tree := configTree(t, where, config)
	if goMemLimit == "" {
		t.Errorf("%s: GOMEMLIMIT is not set", where)
		return
	}
	q, err := resource.ParseQuantity(strings.TrimSuffix(goMemLimit, "B"))
	if err != nil {
		t.Errorf("%s: GOMEMLIMIT %q: %v", where, goMemLimit, err)
		return
	}
	goMiB := float64(q.Value()) / (1 << 20)
	if goMiB < 0.78*limitMiB || goMiB > 0.82*limitMiB {
		t.Errorf("%s: GOMEMLIMIT %s is not 80%% of limits.memory (%.0f MiB)", where, goMemLimit, limitMiB)
	}
	ml := lookup(tree, "processors", "memory_limiter")
	if ml == nil {
		t.Errorf("%s: no memory_limiter", where)
		return
	}
	if lookup(ml, "limit_mib") != nil {
		t.Errorf("%s: memory_limiter::limit_mib is fixed; use limit_percentage so it follows limits.memory", where)
	}
	pct := lookup(ml, "limit_percentage")
	if pct == nil {
		t.Errorf("%s: memory_limiter has no limit_percentage", where)
		return
	}
	budget := limitMiB*number(t, where, pct)/100 + idleRSSMiB
	desc := fmt.Sprintf("memory_limiter %v%% of %.0f MiB + idle %d MiB", pct, limitMiB, idleRSSMiB)
	for name, rcv := range lookup(tree, "receivers").(map[string]any) {
		if strings.Split(name, "/")[0] != "otlpuds" {
			continue
		}
		// The defaults (128 and 32 MiB) when not set.
		inFlight, waiting := any(128), any(32)
		if v := lookup(rcv, "admission", "request_limit_mib"); v != nil {
			inFlight = v
		}
		if v := lookup(rcv, "admission", "waiting_limit_mib"); v != nil {
			waiting = v
		}
		budget += number(t, where, inFlight) + number(t, where, waiting)
		desc += fmt.Sprintf(" + %s admission %v + %v MiB", name, inFlight, waiting)
	}
	if budget > goMiB {
		t.Errorf("%s: %s = %.0f MiB, over GOMEMLIMIT %s", where, desc, budget, goMemLimit)
	}
}

// TestSocketSharedWithApps: the socket's folder, group and owner line up
// between the agent's config, its DaemonSet (or sidecar pod) and the apps
// that mount the same hostPath: the apps can connect, nobody else can,
// and uid 65532 owns the folder otlpuds checks.
func TestSocketSharedWithApps(t *testing.T) {
	checkSocketShared(t, loadManifests(t))
}

// checkSocketShared checks the socket of every otlpuds collector of ms
// (see TestSocketSharedWithApps).
func checkSocketShared(t *testing.T, ms []manifest) {
	t.Helper()
	agents := 0
	for _, cp := range collectorPods(t, ms) {
		tree := configTree(t, cp.where, cp.config)
		uds := lookup(tree, "receivers", "otlpuds")
		if uds == nil {
			continue
		}
		agents++
		endpoint, _ := lookup(uds, "endpoint").(string)
		group, _ := lookup(uds, "socket_group").(string)
		require.NotEmpty(t, group, "%s: otlpuds has no socket_group", cp.where)
		gid, err := strconv.ParseInt(group, 10, 64)
		require.NoError(t, err, "%s: socket_group %q: a numeric gid, which the image's /etc/group need not list", cp.where, group)
		assert.Equal(t, "0660", lookup(uds, "socket_mode"), "%s: socket_mode", cp.where)

		spec := &cp.pod.spec.Spec
		sc := cp.container.SecurityContext
		require.NotNil(t, sc, cp.where)
		assert.EqualValues(t, 65532, *sc.RunAsUser, "%s: the image's uid", cp.where)
		assert.Contains(t, spec.SecurityContext.SupplementalGroups, gid,
			"%s: the collector must be in socket_group %d to give the socket that group", cp.where, gid)

		var socketVolume *corev1.Volume
		for _, vm := range cp.container.VolumeMounts {
			if vm.MountPath == filepath.Dir(endpoint) {
				for i := range spec.Volumes {
					if spec.Volumes[i].Name == vm.Name {
						socketVolume = &spec.Volumes[i]
					}
				}
			}
		}
		require.NotNil(t, socketVolume, "%s: no volume mounted at the socket's folder %s", cp.where, filepath.Dir(endpoint))

		switch {
		case socketVolume.HostPath != nil:
			// The folder is the node's: an init container gives it to the
			// collector's uid and the socket's group.
			chowned := false
			for _, ic := range spec.InitContainers {
				script := strings.Join(append(slices.Clone(ic.Command), ic.Args...), " ")
				for _, vm := range ic.VolumeMounts {
					if vm.Name == socketVolume.Name && strings.Contains(script, fmt.Sprintf("chown 65532:%d %s", gid, vm.MountPath)) &&
						strings.Contains(script, "chmod 0710 "+vm.MountPath) {
						chowned = true
					}
				}
			}
			assert.True(t, chowned, "%s: no init container does chmod 0710 and chown 65532:%d on the socket's hostPath", cp.where, gid)
			checkAppsReachSocket(t, ms, socketVolume.HostPath.Path, filepath.Dir(endpoint), gid)
		case socketVolume.EmptyDir != nil:
			// A per-pod folder (mode 0777): otlpuds' folder check must be off
			// for it, and the app's container must mount the same volume.
			env := containerEnv(t, cp.where, cp.container.Env)
			strict := expandEnv(fmt.Sprint(lookup(uds, "strict_folder_modes")), env)
			assert.Equal(t, "false", strict,
				"%s: an emptyDir is 0777: strict_folder_modes must be false", cp.where)
			apps := 0
			for _, c := range spec.Containers {
				for _, vm := range c.VolumeMounts {
					if vm.Name == socketVolume.Name && c.Name != cp.container.Name {
						apps++
						assert.Equal(t, filepath.Dir(endpoint), vm.MountPath, "%s: app container %q", cp.where, c.Name)
					}
				}
			}
			assert.Positive(t, apps, "%s: no app container shares the socket's emptyDir", cp.where)
		default:
			t.Errorf("%s: socket volume %q is neither a hostPath nor an emptyDir", cp.where, socketVolume.Name)
		}
	}
	require.Positive(t, agents)
}

// checkAppsReachSocket: every non-collector pod that mounts the agent's
// hostPath mounts it where the agent's config puts the socket and runs with
// the socket's group.
func checkAppsReachSocket(t *testing.T, ms []manifest, hostPath, folder string, gid int64) {
	t.Helper()
	apps := 0
	for _, p := range podTemplates(ms) {
		for _, v := range p.spec.Spec.Volumes {
			if v.HostPath == nil || v.HostPath.Path != hostPath {
				continue
			}
			isCollector := false
			for _, c := range allContainers(&p.spec.Spec) {
				n := imageName(c.Image)
				isCollector = isCollector || n == traceboundImage || n == agentLBImage
			}
			if isCollector {
				continue
			}
			apps++
			where := p.file + ": " + p.workload
			assert.Contains(t, p.spec.Spec.SecurityContext.SupplementalGroups, gid, "%s: apps must run with the socket's group", where)
			for _, c := range p.spec.Spec.Containers {
				for _, vm := range c.VolumeMounts {
					if vm.Name == v.Name {
						assert.Equal(t, folder, vm.MountPath, "%s: container %q mounts the socket folder", where, c.Name)
					}
				}
			}
		}
	}
	assert.Positive(t, apps, "no example app mounts the hostPath %s", hostPath)
}

// TestGatewayLineUp: the agents' load_balancing exporter resolves the
// headless Service of the gateway replicas, on the port their otlp
// receiver listens on, and routes by trace ID.
func TestGatewayLineUp(t *testing.T) {
	ms := loadManifests(t)
	pods := collectorPods(t, ms)
	checked := 0
	for _, cp := range pods {
		tree := configTree(t, cp.where, cp.config)
		lb := lookup(tree, "exporters", "load_balancing")
		if lb == nil {
			continue
		}
		checked++
		assert.Equal(t, "traceID", lookup(lb, "routing_key"), "%s: routing_key", cp.where)
		host, _ := lookup(lb, "resolver", "dns", "hostname").(string)
		port := fmt.Sprint(lookup(lb, "resolver", "dns", "port"))
		svcName, rest, _ := strings.Cut(host, ".")
		ns, _, _ := strings.Cut(rest, ".")
		require.Equal(t, svcName+"."+ns+".svc.cluster.local", host, "%s: resolver::dns::hostname", cp.where)

		var svc *corev1.Service
		for _, m := range ms {
			if s, ok := m.obj.(*corev1.Service); ok && s.Name == svcName && s.Namespace == ns {
				svc = s
			}
		}
		require.NotNil(t, svc, "%s: no Service %s in %s", cp.where, svcName, ns)
		assert.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP, "%s: Service %s must be headless, or DNS gives one address for all replicas", cp.where, svcName)
		// The replicas behind it listen for OTLP/gRPC on that port.
		var replica *collectorPod
		for i := range pods {
			if pods[i].pod.namespace == ns && labelsInclude(pods[i].pod.spec.Labels, svc.Spec.Selector) {
				replica = &pods[i]
			}
		}
		require.NotNil(t, replica, "%s: Service %s selects no collector", cp.where, svcName)
		grpc, _ := lookup(configTree(t, replica.where, replica.config), "receivers", "otlp", "protocols", "grpc", "endpoint").(string)
		assert.True(t, strings.HasSuffix(grpc, ":"+port), "%s: the gateway's otlp grpc endpoint %q is not on the resolver's port %s", cp.where, grpc, port)
		servicePort := false
		for _, sp := range svc.Spec.Ports {
			servicePort = servicePort || fmt.Sprint(sp.Port) == port
		}
		assert.True(t, servicePort, "%s: Service %s has no port %s", cp.where, svcName, port)
		// The trace config crosses the hop as a resource attribute.
		found := false
		for name, proc := range lookup(tree, "processors").(map[string]any) {
			if strings.Split(name, "/")[0] != "resource" {
				continue
			}
			for _, a := range lookup(proc, "attributes").([]any) {
				found = found || (lookup(a, "key") == "trace.config" && lookup(a, "from_context") == "metadata.cf-trace-config")
			}
		}
		assert.True(t, found, "%s: no resource processor copies the cf-trace-config header into trace.config", cp.where)
	}
	require.Positive(t, checked, "no agent config with the load_balancing exporter")
}
