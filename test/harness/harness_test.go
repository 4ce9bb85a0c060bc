package harness_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/test/harness"
)

func TestMain(m *testing.M) { harness.MainControlPlane(m) }

var (
	crdGVR  = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	ksvcGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	vsGVR   = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	taskGVR = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "tasks"}
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestInstallCRDsAndCreateObjects(t *testing.T) {
	cp := harness.SharedControlPlane(t)
	ctx := testContext(t)
	cfg := cp.Config()
	files, err := harness.AllCRDs(ctx)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := harness.InstallCRDs(ctx, cfg, files...); err != nil {
		t.Fatal(err)
	}
	t.Logf("installed the CRDs of %d files in %v", len(files), time.Since(start).Round(time.Millisecond))
	// A second install updates in place; the method then installs each file only once
	// per control plane.
	if err := cp.InstallCRDs(ctx, files...); err != nil {
		t.Fatalf("installing the CRDs again (ControlPlane.InstallCRDs): %v", err)
	}
	start = time.Now()
	if err := cp.InstallCRDs(ctx, files...); err != nil {
		t.Fatalf("ControlPlane.InstallCRDs again: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("ControlPlane.InstallCRDs of installed files took %v, want no work", d)
	}

	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	list, err := dc.Resource(crdGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	installed := map[string]bool{}
	for _, crd := range list.Items {
		installed[crd.GetName()] = true
	}
	crds, err := harness.ReadCRDs(files...)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"services.serving.knative.dev", "virtualservices.networking.istio.io", "tasks.tekton.dev", "pipelineruns.tekton.dev"}
	for _, crd := range crds {
		names = append(names, crd.GetName())
	}
	var missing []string
	for _, name := range names {
		if !installed[name] {
			missing = append(missing, name)
		}
	}
	// A reused cluster (ITER8_KUBECONFIG) may have more CRDs; none may be missing.
	if diff := cmp.Diff([]string(nil), missing); diff != "" {
		t.Errorf("CRDs missing after InstallCRDs (-want +got):\n%s", diff)
	}
	if len(crds) < 29 {
		t.Errorf("read %d CRDs from %d files, want at least 29 (7 Knative Serving, 14 Istio, 8 Tekton)", len(crds), len(files))
	}

	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := harness.Namespace(t, cs)

	t.Run("knative service", func(t *testing.T) {
		ksvc := object(t, `
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: sample-app
spec:
  template:
    metadata:
      name: sample-app-v2
    spec:
      containers:
      - image: localhost/sample-app:v2
  traffic:
  - revisionName: sample-app-v1
    percent: 75
  - revisionName: sample-app-v2
    percent: 25
    tag: candidate
`)
		got := createAndGet(t, ctx, dc.Resource(ksvcGVR).Namespace(ns), ksvc)
		traffic, _, err := unstructured.NestedSlice(got.Object, "spec", "traffic")
		if err != nil {
			t.Fatal(err)
		}
		want := []any{
			map[string]any{"revisionName": "sample-app-v1", "percent": int64(75)},
			map[string]any{"revisionName": "sample-app-v2", "percent": int64(25), "tag": "candidate"},
		}
		if diff := cmp.Diff(want, traffic); diff != "" {
			t.Errorf("spec.traffic read back (-want +got):\n%s", diff)
		}
	})

	t.Run("istio virtualservice", func(t *testing.T) {
		vs := object(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: sample-app
spec:
  hosts: [sample-app.example.com]
  http:
  - route:
    - destination: {host: sample-app-v1, port: {number: 80}}
      weight: 90
    - destination: {host: sample-app-v2, port: {number: 80}}
      weight: 10
`)
		got := createAndGet(t, ctx, dc.Resource(vsGVR).Namespace(ns), vs)
		routes, _, err := unstructured.NestedSlice(got.Object, "spec", "http")
		if err != nil || len(routes) != 1 {
			t.Fatalf("spec.http read back: %v (%d routes)", err, len(routes))
		}
		var weights []int64
		for _, r := range routes[0].(map[string]any)["route"].([]any) {
			weights = append(weights, r.(map[string]any)["weight"].(int64))
		}
		if diff := cmp.Diff([]int64{90, 10}, weights); diff != "" {
			t.Errorf("route weights read back (-want +got):\n%s", diff)
		}

		// The real schema is enforced: a weight must be an integer.
		bad := object(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: invalid
spec:
  hosts: [x]
  http:
  - route:
    - destination: {host: x}
      weight: "ninety"
`)
		_, err = dc.Resource(vsGVR).Namespace(ns).Create(ctx, bad, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Errorf("creating a VirtualService with weight \"ninety\": got error %v, want Invalid", err)
		}
	})

	t.Run("tekton task", func(t *testing.T) {
		task := object(t, `
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: hello
spec:
  steps:
  - name: hello
    image: localhost/hello:v1
    command: [/hello]
`)
		got := createAndGet(t, ctx, dc.Resource(taskGVR).Namespace(ns), task)
		steps, _, _ := unstructured.NestedSlice(got.Object, "spec", "steps")
		if diff := cmp.Diff(1, len(steps)); diff != "" {
			t.Errorf("steps read back (-want +got):\n%s", diff)
		}
	})

	t.Run("namespace has a default service account", func(t *testing.T) {
		sa, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff("default", sa.Name); diff != "" {
			t.Error(diff)
		}
	})
}

// TestSecondControlPlane starts a control plane of its own next to the shared one: each
// has its own directory and ports, and Stop removes everything.
func TestSecondControlPlane(t *testing.T) {
	t.Parallel()
	shared := harness.SharedControlPlane(t)
	ctx := testContext(t)
	if os.Getenv(harness.EnvKubeconfig) != "" {
		t.Skipf("%s is set: StartControlPlane reuses that cluster", harness.EnvKubeconfig)
	}
	start := time.Now()
	cp, err := harness.StartControlPlane(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second control plane ready in %v", time.Since(start).Round(time.Millisecond))
	defer func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	}()
	if shared.Config().Host == cp.Config().Host {
		t.Fatalf("both control planes serve at %s", cp.Config().Host)
	}
	cs, err := kubernetes.NewForConfig(cp.Config())
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("v1.32.8", v.GitVersion); diff != "" {
		t.Errorf("server version (-want +got):\n%s", diff)
	}
	logs := cp.LogsDir()
	if _, err := os.Stat(filepath.Join(logs, "kube-apiserver.log")); err != nil {
		t.Errorf("apiserver log: %v", err)
	}
	start = time.Now()
	if err := cp.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v", time.Since(start).Round(time.Millisecond))
	if _, err := os.Stat(filepath.Dir(logs)); !os.IsNotExist(err) {
		t.Errorf("work directory %s after Stop: %v, want it removed", filepath.Dir(logs), err)
	}
	if _, err := cs.Discovery().ServerVersion(); err == nil {
		t.Error("the stopped apiserver still answers")
	}
}

func TestPrometheusScrapesExporter(t *testing.T) {
	t.Parallel()
	harness.Integration(t, harness.NeedPrometheus)
	ctx := testContext(t)

	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "iter8_harness_requests_total",
		Help: "Requests seen by the test exporter.",
	}, []string{"revision"})
	reg.MustRegister(requests)
	requests.WithLabelValues("sample-app-v1").Add(3)
	requests.WithLabelValues("sample-app-v2").Add(1)
	exporter := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer exporter.Close()
	u, err := url.Parse(exporter.URL)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	p, err := harness.StartPrometheus(ctx, []string{u.Host})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prometheus at %s ready, target up, in %v", p.URL(), time.Since(start).Round(time.Millisecond))
	defer func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	}()
	if !strings.HasPrefix(p.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %s: want http://127.0.0.1:PORT", p.URL())
	}

	vec, err := p.WaitForSamples(ctx, `iter8_harness_requests_total`)
	if err != nil {
		t.Fatal(err)
	}
	type sample struct {
		Revision, Job, Instance string
		Value                   float64
	}
	var got []sample
	for _, s := range vec {
		got = append(got, sample{
			Revision: string(s.Metric["revision"]),
			Job:      string(s.Metric[model.JobLabel]),
			Instance: string(s.Metric[model.InstanceLabel]),
			Value:    float64(s.Value),
		})
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Revision < got[j].Revision })
	want := []sample{
		{Revision: "sample-app-v1", Job: harness.PrometheusJob, Instance: u.Host, Value: 3},
		{Revision: "sample-app-v2", Job: harness.PrometheusJob, Instance: u.Host, Value: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}

	// A later increment shows up in the next scrapes.
	requests.WithLabelValues("sample-app-v1").Add(2)
	if _, err := p.WaitForSamples(ctx, `iter8_harness_requests_total{revision="sample-app-v1"} == 5`); err != nil {
		t.Fatal(err)
	}

	// Another exporter instead of the first.
	reg2 := prometheus.NewRegistry()
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "iter8_harness_other", Help: "A second exporter."})
	reg2.MustRegister(other)
	other.Set(42)
	exporter2 := httptest.NewServer(promhttp.HandlerFor(reg2, promhttp.HandlerOpts{}))
	defer exporter2.Close()
	u2, err := url.Parse(exporter2.URL)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := p.SetTargets(ctx, []string{u2.Host}); err != nil {
		t.Fatal(err)
	}
	t.Logf("targets changed in %v", time.Since(start).Round(time.Millisecond))
	vec, err = p.WaitForSamples(ctx, `iter8_harness_other`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.SampleValue(42), vec[0].Value); diff != "" {
		t.Errorf("iter8_harness_other (-want +got):\n%s", diff)
	}

	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.API().Buildinfo(ctx); err == nil {
		t.Error("the stopped prometheus still answers")
	}
}

// object parses a YAML manifest.
func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("parsing manifest: %v", err)
	}
	return u
}

func createAndGet(t *testing.T, ctx context.Context, c dynamic.ResourceInterface, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	if _, err := c.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	got, err := c.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	return got
}
