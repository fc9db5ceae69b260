package check

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// serviceMonitor is the part of prometheus-operator's ServiceMonitor the
// chart writes; decoding into it strictly catches a misspelt field.
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// objects is a rendered chart, decoded by kind.
type objects struct {
	deployments []appsv1.Deployment
	services    []corev1.Service
	configMaps  []corev1.ConfigMap
	secrets     []corev1.Secret
	pdbs        []policyv1.PodDisruptionBudget
	hpas        []autoscalingv2.HorizontalPodAutoscaler
	ingresses   []networkingv1.Ingress
	monitors    []serviceMonitor
}

// decodeStrict decodes one manifest into a new T, refusing unknown fields.
func decodeStrict[T any](t *testing.T, where, doc string, into *[]T) {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
		t.Fatalf("%s: %v\n%s", where, err, doc)
	}
	*into = append(*into, v)
}

// render renders the chart with the values file (none: the defaults)
// and decodes every object strictly into its Kubernetes type.
func render(t *testing.T, valuesFile string, set map[string]any) objects {
	t.Helper()
	ch, err := loader.Load(filepath.Join("..", "helm", "kiln"))
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	if valuesFile != "" {
		v, err := chartutil.ReadValuesFile(valuesFile)
		if err != nil {
			t.Fatal(err)
		}
		vals = v
	}
	for k, v := range set {
		vals[k] = v
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "kiln", Namespace: "kiln", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	var objs objects
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for k, doc := range strings.Split(files[name], "\n---\n") {
			if strings.TrimSpace(strings.ReplaceAll(doc, "---", "")) == "" {
				continue
			}
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s #%d: %v", name, k, err)
			}
			where := fmt.Sprintf("%s #%d (%s)", name, k, head.Kind)
			switch head.Kind {
			case "Deployment":
				decodeStrict(t, where, doc, &objs.deployments)
			case "Service":
				decodeStrict(t, where, doc, &objs.services)
			case "ConfigMap":
				decodeStrict(t, where, doc, &objs.configMaps)
			case "Secret":
				decodeStrict(t, where, doc, &objs.secrets)
			case "PodDisruptionBudget":
				decodeStrict(t, where, doc, &objs.pdbs)
			case "HorizontalPodAutoscaler":
				decodeStrict(t, where, doc, &objs.hpas)
			case "Ingress":
				decodeStrict(t, where, doc, &objs.ingresses)
			case "ServiceMonitor":
				decodeStrict(t, where, doc, &objs.monitors)
			default:
				t.Fatalf("%s: kind %q is not checked by this test", where, head.Kind)
			}
		}
	}
	return objs
}

// checkInvariants asserts what every rendering must hold.
func checkInvariants(t *testing.T, o objects, secretValues []string) {
	t.Helper()
	if len(o.deployments) == 0 {
		t.Fatal("no Deployment rendered")
	}
	for _, d := range o.deployments {
		pod := d.Spec.Template.Spec
		if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			t.Errorf("%s: the pod does not run as a non-root user: %+v", d.Name, sc)
		}
		for _, c := range pod.Containers {
			where := d.Name + "/" + c.Name
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: want readOnlyRootFilesystem and no privilege escalation, got %+v", where, sc)
			}
			for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
					t.Errorf("%s: the %s probe is not GET /healthz: %+v", where, name, p)
				}
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Errorf("%s: no CPU and memory requests: %+v", where, c.Resources.Requests)
			}
			_, tag, ok := strings.Cut(c.Image[strings.LastIndexByte(c.Image, '/')+1:], ":")
			if !ok || tag == "" || tag == "latest" {
				t.Errorf("%s: image %s has no release tag", where, c.Image)
			}
			for _, e := range c.Env {
				if e.Value != "" && slices.Contains(secretValues, e.Value) {
					t.Errorf("%s: env %s holds a secret in the clear", where, e.Name)
				}
			}
		}
	}
	for _, cm := range o.configMaps {
		for key, text := range cm.Data {
			for _, s := range secretValues {
				if strings.Contains(text, s) {
					t.Errorf("ConfigMap %s key %s holds the secret %q", cm.Name, key, s)
				}
			}
			if strings.Contains(text, "password") {
				t.Errorf("ConfigMap %s key %s names a password", cm.Name, key)
			}
		}
	}
	ing := deployment(t, o, "kiln-ingestor")
	replicas := int32(0)
	if ing.Spec.Replicas != nil {
		replicas = *ing.Spec.Replicas
	}
	for _, h := range o.hpas {
		if h.Spec.ScaleTargetRef.Name == ing.Name {
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || len(h.Spec.Metrics) == 0 || h.Spec.Metrics[0].Resource == nil ||
				h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
				t.Errorf("HPA %s: want at least 2 replicas, scaled on CPU: %+v", h.Name, h.Spec)
			}
			replicas = *h.Spec.MinReplicas
		}
	}
	if replicas < 2 {
		t.Errorf("the ingestor runs %d replicas, want at least 2", replicas)
	}
	pdb := false
	for _, p := range o.pdbs {
		pdb = pdb || p.Spec.Selector.MatchLabels["app.kubernetes.io/component"] == "ingestor"
	}
	if !pdb {
		t.Error("no PodDisruptionBudget covers the ingestor")
	}
	if len(o.monitors) != 1 || o.monitors[0].Spec.Endpoints[0].Path != "/metrics" || o.monitors[0].Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("want one ServiceMonitor scraping port metrics /metrics, got %+v", o.monitors)
	}
	for _, s := range o.services {
		if s.Spec.Ports[0].Name != "metrics" {
			t.Errorf("Service %s: the ServiceMonitor scrapes the port named metrics, not %s", s.Name, s.Spec.Ports[0].Name)
		}
	}
	// Least privilege: each service reads only its own database password.
	for _, d := range o.deployments {
		component := d.Spec.Template.Labels["app.kubernetes.io/component"]
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !strings.HasPrefix(e.ValueFrom.SecretKeyRef.Key, component+"-") {
					t.Errorf("%s reads the secret key %s of another service", d.Name, e.ValueFrom.SecretKeyRef.Key)
				}
			}
		}
	}
}

func deployment(t *testing.T, o objects, name string) appsv1.Deployment {
	t.Helper()
	for _, d := range o.deployments {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no Deployment %s", name)
	return appsv1.Deployment{}
}

func TestChartDefaultsRenderTheIngestorSafely(t *testing.T) {
	secrets := map[string]any{"secrets": map[string]any{
		"ingestorPulsarToken": "tok-ingestor-123", "ingestorDBPassword": "pw-ingestor-456",
		"platformPulsarToken": "tok-platform-789", "platformDBPassword": "pw-platform-000",
		"tenants": "tenants:\n  - {id: acme, namespaces: [plant-1]}\n",
	}}
	o := render(t, "", secrets)
	checkInvariants(t, o, []string{"tok-ingestor-123", "pw-ingestor-456", "tok-platform-789", "pw-platform-000"})
	if len(o.deployments) != 1 || len(o.ingresses) != 0 {
		t.Errorf("defaults render %d Deployments and %d Ingresses; the platform must be off until it ships", len(o.deployments), len(o.ingresses))
	}
	if len(o.secrets) != 1 {
		t.Fatalf("%d Secrets, want the chart's one", len(o.secrets))
	}
	s := o.secrets[0]
	if s.StringData["ingestor-db-password"] != "pw-ingestor-456" || s.StringData["ingestor-pulsar-token"] != "tok-ingestor-123" {
		t.Errorf("the Secret lacks the ingestor's credentials: %v", slices.Sorted(func(y func(string) bool) {
			for k := range s.StringData {
				if !y(k) {
					return
				}
			}
		}))
	}
	if _, ok := s.StringData["platform-db-password"]; ok {
		t.Error("the platform's password is in the Secret while the platform is off")
	}
}

func TestChartProductionExampleRendersIngestorAndPlatform(t *testing.T) {
	o := render(t, filepath.Join("..", "examples", "helm-production-values.yaml"), nil)
	checkInvariants(t, o, nil)
	deployment(t, o, "kiln-platform")
	if len(o.secrets) != 0 {
		t.Errorf("the production example uses an existing Secret, yet the chart made %d", len(o.secrets))
	}
	if len(o.ingresses) != 1 || len(o.ingresses[0].Spec.TLS) != 1 {
		t.Errorf("want one Ingress with TLS for the platform, got %+v", o.ingresses)
	}
}

func TestChartRefusesTheLatestTag(t *testing.T) {
	ch, err := loader.Load(filepath.Join("..", "helm", "kiln"))
	if err != nil {
		t.Fatal(err)
	}
	rv, err := chartutil.ToRenderValues(ch, map[string]any{"image": map[string]any{"tag": "latest"}},
		chartutil.ReleaseOptions{Name: "kiln", Namespace: "kiln"}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Render(ch, rv); err == nil || !strings.Contains(err.Error(), "not latest") {
		t.Errorf("render with image.tag latest = %v, want the chart's refusal", err)
	}
}
