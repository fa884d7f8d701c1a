// Package kubernetes checks the Kubernetes manifests beside it, with no
// cluster: each object is decoded strictly into its k8s.io/api type, the
// references between them are followed, and the configs they carry are
// loaded by the project's own config check (nats.conf by nats-server's).
// It is a package of its own so that only it compiles the k8s.io modules.
package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	_ "github.com/interoceptor/interoceptor/decoders/all"
	_ "github.com/interoceptor/interoceptor/filters/all"
	_ "github.com/interoceptor/interoceptor/inputs/all"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	"github.com/interoceptor/interoceptor/pipeline"
	_ "github.com/interoceptor/interoceptor/pipeline/matcher"
)

// secretName and secretKeys are the Secret the README's Install section has
// the user create; the manifests ship none, so as not to ship a password.
const secretName = "interoceptor"

var secretKeys = []string{"nats-password", "admin-token"}

// manifests holds every object of the folder's YAML files, by kind.
type manifests struct {
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	statefulSets map[string]*appsv1.StatefulSet
	daemonSets   map[string]*appsv1.DaemonSet
	deployments  map[string]*appsv1.Deployment
	pdbs         map[string]*policyv1.PodDisruptionBudget
	namespaces   map[string]*corev1.Namespace
	files        []string
}

// load decodes each document of each *.yaml file (but kustomization.yaml)
// into the type its apiVersion and kind name; an unknown field is an error,
// as is a kind this test does not know.
func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{
		configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{},
		statefulSets: map[string]*appsv1.StatefulSet{}, daemonSets: map[string]*appsv1.DaemonSet{},
		deployments: map[string]*appsv1.Deployment{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		namespaces: map[string]*corev1.Namespace{},
	}
	paths, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		if path == "kustomization.yaml" {
			continue
		}
		m.files = append(m.files, path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s document %d: %v", path, i+1, err)
			}
			var obj interface{ GetName() string }
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 ConfigMap":
				obj = keep(t, path, i, doc, m.configMaps, &corev1.ConfigMap{})
			case "v1 Service":
				obj = keep(t, path, i, doc, m.services, &corev1.Service{})
			case "v1 Namespace":
				obj = keep(t, path, i, doc, m.namespaces, &corev1.Namespace{})
			case "apps/v1 StatefulSet":
				obj = keep(t, path, i, doc, m.statefulSets, &appsv1.StatefulSet{})
			case "apps/v1 DaemonSet":
				obj = keep(t, path, i, doc, m.daemonSets, &appsv1.DaemonSet{})
			case "apps/v1 Deployment":
				obj = keep(t, path, i, doc, m.deployments, &appsv1.Deployment{})
			case "policy/v1 PodDisruptionBudget":
				obj = keep(t, path, i, doc, m.pdbs, &policyv1.PodDisruptionBudget{})
			default:
				t.Fatalf("%s document %d: apiVersion %q kind %q is not one this test decodes", path, i+1, tm.APIVersion, tm.Kind)
			}
			if obj.GetName() == "" {
				t.Errorf("%s document %d: no metadata.name", path, i+1)
			}
		}
	}
	return m
}

// decode unmarshals doc strictly into obj and returns its name.
func decode(t *testing.T, path string, i int, doc []byte, obj interface{ GetName() string }) string {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("%s document %d: %v", path, i+1, err)
	}
	return obj.GetName()
}

// keep decodes document i into o and files it under its name in into.
func keep[T interface{ GetName() string }](t *testing.T, path string, i int, doc []byte, into map[string]T, o T) T {
	t.Helper()
	into[decode(t, path, i, doc, o)] = o
	return o
}

// workload is a pod template and what owns it.
type workload struct {
	kind, name string
	selector   *metav1.LabelSelector
	template   *corev1.PodTemplateSpec
}

func (m *manifests) workloads() []workload {
	var w []workload
	for n, o := range m.statefulSets {
		w = append(w, workload{"StatefulSet", n, o.Spec.Selector, &o.Spec.Template})
	}
	for n, o := range m.daemonSets {
		w = append(w, workload{"DaemonSet", n, o.Spec.Selector, &o.Spec.Template})
	}
	for n, o := range m.deployments {
		w = append(w, workload{"Deployment", n, o.Spec.Selector, &o.Spec.Template})
	}
	slices.SortFunc(w, func(a, b workload) int { return strings.Compare(a.kind+a.name, b.kind+b.name) })
	return w
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)
	if len(m.daemonSets) != 1 || len(m.statefulSets) != 2 || len(m.configMaps) != 3 {
		t.Errorf("%d DaemonSets, %d StatefulSets, %d ConfigMaps: want the agents, NATS and the central, and their configs",
			len(m.daemonSets), len(m.statefulSets), len(m.configMaps))
	}
	// Kustomize applies exactly the files here.
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
		Images     []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	res := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(res, m.files) {
		t.Errorf("kustomization.yaml resources %q, want the folder's %q", res, m.files)
	}
	if m.namespaces[k.Namespace] == nil {
		t.Errorf("kustomization.yaml namespace %q is not one of the manifests' Namespaces", k.Namespace)
	}
}

// TestWorkloads checks each pod template: its selector selects it, its
// containers have an image, named ports, probes on those ports, resource
// requests and limits, a non-root user and a read-only root; its volumes and
// references exist.
func TestWorkloads(t *testing.T) {
	m := load(t)
	for _, w := range m.workloads() {
		name := w.kind + " " + w.name
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || w.selector == nil || sel.Empty() {
			t.Errorf("%s: selector %v: %v", name, w.selector, err)
		} else if !sel.Matches(labels.Set(w.template.Labels)) {
			t.Errorf("%s: selector %v does not select the template's labels %v", name, sel, w.template.Labels)
		}
		spec := &w.template.Spec
		volumes := map[string]corev1.Volume{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = v
			if cm := v.ConfigMap; cm != nil {
				m.checkConfigMapKeys(t, name, cm.Name, cm.Items)
			}
		}
		if s := m.statefulSets[w.name]; w.kind == "StatefulSet" {
			for _, c := range s.Spec.VolumeClaimTemplates {
				volumes[c.Name] = corev1.Volume{Name: c.Name}
			}
			svc := m.services[s.Spec.ServiceName]
			if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("%s: serviceName %q is not a headless Service here", name, s.Spec.ServiceName)
			}
		}
		podNonRoot := spec.SecurityContext != nil && spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot
		for _, c := range spec.Containers {
			cname := name + " container " + c.Name
			checkContainer(t, cname, c, volumes, true)
			if sc := c.SecurityContext; !podNonRoot && (sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
				t.Errorf("%s: not runAsNonRoot", cname)
			}
			m.checkEnvRefs(t, cname, c.Env)
		}
		for _, c := range spec.InitContainers {
			checkContainer(t, name+" init container "+c.Name, c, volumes, false)
		}
	}
	// Services select pods and target their named ports.
	for n, svc := range m.services {
		var found *workload
		for _, w := range m.workloads() {
			if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.template.Labels)) {
				found = &w
			}
		}
		if len(svc.Spec.Selector) == 0 || found == nil {
			t.Errorf("Service %s: selector %v selects no pod template", n, svc.Spec.Selector)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.Name == "" || !hasPort(found.template.Spec.Containers, p.TargetPort.StrVal) {
				t.Errorf("Service %s port %q: targetPort %q is not a named port of %s", n, p.Name, p.TargetPort.String(), found.name)
			}
		}
	}
	for n, pdb := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || m.statefulSets[n] == nil || !sel.Matches(labels.Set(m.statefulSets[n].Spec.Template.Labels)) {
			t.Errorf("PodDisruptionBudget %s selects no StatefulSet of its name (%v)", n, err)
		}
	}
}

func checkContainer(t *testing.T, name string, c corev1.Container, volumes map[string]corev1.Volume, probes bool) {
	t.Helper()
	if c.Image == "" {
		t.Errorf("%s: no image", name)
	}
	for _, p := range c.Ports {
		if p.Name == "" {
			t.Errorf("%s: port %d has no name", name, p.ContainerPort)
		}
	}
	if probes {
		for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: no %s HTTP probe", name, kind)
				continue
			}
			if !hasPort([]corev1.Container{c}, p.HTTPGet.Port.StrVal) {
				t.Errorf("%s: %s probe on %q, not a named port of the container", name, kind, p.HTTPGet.Port.String())
			}
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %v, limit %v: want both, request ≤ limit", name, r, req.String(), lim.String())
		}
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: securityContext must set readOnlyRootFilesystem, allowPrivilegeEscalation false and drop ALL", name)
	}
	for _, vm := range c.VolumeMounts {
		v, ok := volumes[vm.Name]
		if !ok {
			t.Errorf("%s: mounts volume %q, which the pod does not have", name, vm.Name)
		}
		if v.HostPath != nil && strings.HasPrefix(v.HostPath.Path, "/var/log") && !vm.ReadOnly {
			t.Errorf("%s: the node's %s is mounted writable", name, v.HostPath.Path)
		}
	}
}

func hasPort(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		for _, p := range c.Ports {
			if name != "" && p.Name == name {
				return true
			}
		}
	}
	return false
}

func (m *manifests) checkConfigMapKeys(t *testing.T, who, name string, items []corev1.KeyToPath) {
	t.Helper()
	cm := m.configMaps[name]
	if cm == nil {
		t.Errorf("%s: ConfigMap %q is not in the manifests", who, name)
		return
	}
	for _, it := range items {
		if _, ok := cm.Data[it.Key]; !ok {
			t.Errorf("%s: ConfigMap %s has no key %q", who, name, it.Key)
		}
	}
}

func (m *manifests) checkEnvRefs(t *testing.T, who string, env []corev1.EnvVar) {
	t.Helper()
	for _, e := range env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			m.checkConfigMapKeys(t, who+" env "+e.Name, r.Name, []corev1.KeyToPath{{Key: r.Key}})
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil && (r.Name != secretName || !slices.Contains(secretKeys, r.Key)) {
			t.Errorf("%s env %s: Secret %s key %s; the README creates Secret %s with keys %q",
				who, e.Name, r.Name, r.Key, secretName, secretKeys)
		}
	}
}

// containerEnv is what the container's environment would hold: values as
// written, placeholders for a Secret's key and a field of the pod (a node
// name with dots, as cloud nodes have).
func containerEnv(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "secret-" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = map[string]string{"spec.nodeName": "ip-10-0-1-7.eu-west-1.compute.internal",
				"metadata.name": "nats-1"}[e.ValueFrom.FieldRef.FieldPath]
		}
	}
	return env
}

// mountedConfig returns the ConfigMap key that a container's file path reads,
// through its volume mounts.
func (m *manifests) mountedConfig(t *testing.T, spec *corev1.PodSpec, c corev1.Container, file string) string {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, vm.MountPath+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			for _, it := range v.ConfigMap.Items {
				if it.Path == rel {
					return m.configMaps[v.ConfigMap.Name].Data[it.Key]
				}
			}
		}
	}
	t.Fatalf("%s: %s is not a file of a mounted ConfigMap", c.Name, file)
	return ""
}

// TestInteroceptorConfigs loads each Interoceptor container's -config, as
// its ConfigMap mounts it and with its environment, through the project's
// config check (what `interoceptor check` runs).
func TestInteroceptorConfigs(t *testing.T) {
	m := load(t)
	n := 0
	for _, w := range m.workloads() {
		for _, c := range w.template.Spec.Containers {
			if c.Name != "interoceptor" {
				continue
			}
			n++
			if len(c.Args) < 3 || c.Args[0] != "run" || c.Args[1] != "-config" {
				t.Errorf("%s %s: args %q, want run -config FILE ...", w.kind, w.name, c.Args)
				continue
			}
			text := m.mountedConfig(t, &w.template.Spec, c, c.Args[2])
			for k, v := range containerEnv(c) {
				t.Setenv(k, v)
			}
			file := filepath.Join(t.TempDir(), filepath.Base(c.Args[2]))
			if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := pipeline.LoadConfig(file)
			if err != nil {
				t.Errorf("%s %s: %s does not pass the config check:\n%v", w.kind, w.name, c.Args[2], err)
				continue
			}
			if !hasDataMount(c, cfg.Agent.DataDir) {
				t.Errorf("%s %s: data_dir %s is not a mounted volume", w.kind, w.name, cfg.Agent.DataDir)
			}
			if !strings.HasSuffix(cfg.Agent.AdminAddr, ":8377") || !hasPort([]corev1.Container{c}, "admin") {
				t.Errorf("%s %s: admin_addr %q, want :8377 as port \"admin\" for the probes", w.kind, w.name, cfg.Agent.AdminAddr)
			}
			if cfg.Nats.URL != "nats://nats:4222" || m.services["nats"] == nil {
				t.Errorf("%s %s: nats url %q, want Service nats", w.kind, w.name, cfg.Nats.URL)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d Interoceptor containers, want the agents' and the central's", n)
	}
}

func hasDataMount(c corev1.Container, dir string) bool {
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == dir && !vm.ReadOnly {
			return true
		}
	}
	return false
}

// TestNATSConfig reads nats.conf with nats-server's own parser (the version
// in go.mod) and checks it against the StatefulSet: a route to each replica
// through the headless Service, the ports the container names, JetStream on
// the data volume.
func TestNATSConfig(t *testing.T) {
	m := load(t)
	sts := m.statefulSets["nats"]
	if sts == nil {
		t.Fatal("no StatefulSet nats")
	}
	c := sts.Spec.Template.Spec.Containers[0]
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("nats args %q have no --config", c.Args)
	}
	text := m.mountedConfig(t, &sts.Spec.Template.Spec, c, c.Args[i+1])
	for k, v := range containerEnv(c) {
		t.Setenv(k, v)
	}
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	if opts.ServerName != "nats-1" || opts.Password != "secret-nats-password" {
		t.Errorf("nats.conf: server_name %q, password %q: want them from POD_NAME and NATS_PASSWORD", opts.ServerName, opts.Password)
	}
	ports := map[string]int{"client": opts.Port, "cluster": opts.Cluster.Port, "monitor": opts.HTTPPort}
	for _, p := range c.Ports {
		if ports[p.Name] != int(p.ContainerPort) {
			t.Errorf("container port %s %d, nats.conf listens on %d", p.Name, p.ContainerPort, ports[p.Name])
		}
	}
	var routes []string
	for _, r := range opts.Routes {
		routes = append(routes, r.Host)
	}
	var want []string
	for r := range *sts.Spec.Replicas {
		want = append(want, sts.Name+"-"+string(rune('0'+r))+"."+sts.Spec.ServiceName+":6222")
	}
	if !slices.Equal(routes, want) {
		t.Errorf("nats.conf routes %q, want one per replica %q", routes, want)
	}
	if !opts.JetStream || !hasDataMount(c, filepath.Dir(opts.StoreDir)) {
		t.Errorf("nats.conf: JetStream %v in %q, want it on the data volume", opts.JetStream, opts.StoreDir)
	}
}

// TestReadmeCreatesTheSecret: the Secret the manifests read is the one the
// README's Install section tells the user to create, with the same keys.
func TestReadmeCreatesTheSecret(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	if !strings.Contains(readme, "create secret generic "+secretName+" ") {
		t.Errorf("README: no `kubectl create secret generic %s`", secretName)
	}
	for _, k := range secretKeys {
		if !strings.Contains(readme, "--from-literal="+k+"=") {
			t.Errorf("README: the Secret's key %s is not created (--from-literal=%s=...)", k, k)
		}
	}
}
