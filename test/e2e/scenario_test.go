//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

var (
	ksvcGVR   = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	metricGVR = schema.GroupVersionResource{Group: "iter8.tools", Version: "v2alpha2", Resource: "metrics"}
)

// bridgeIP is the host's address on the node's private bridge (test/local-cluster env.sh):
// the only host address pods reach.
const bridgeIP = "10.244.0.1"

// revision is one revision of the tests' Knative Services: the sample app, configured
// by its command line.
type revision struct {
	name, version string
	latency       time.Duration
	// jitter adds up to that much more latency to each request.
	jitter time.Duration
}

// servePrometheus starts Prometheus scraping targets, forwards the bridge address to it,
// waits until it has a sample of every revision and returns it with the URL pods use.
func servePrometheus(ctx context.Context, t testing.TB, targets, revisions []string) (*harness.Prometheus, string) {
	t.Helper()
	p, err := harness.StartPrometheus(ctx, targets)
	if err != nil {
		t.Fatalf("starting Prometheus: %v", err)
	}
	t.Cleanup(func() { p.Stop() })
	fctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	addr, err := harness.Forward(fctx, bridgeIP+":0", strings.TrimPrefix(p.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rev := range revisions {
		if _, err := p.WaitForSamples(ctx, fmt.Sprintf(`revision_app_request_latencies_count{revision_name=%q}`, rev)); err != nil {
			t.Fatalf("waiting for samples of %s: %v", rev, err)
		}
	}
	return p, "http://" + addr
}

// pointMetrics sets the Prometheus URL of the installed Knative Metrics, as a user does at
// install time; their default names a Service of a Prometheus operator. The Metrics are
// shared: only the seed, whose experiment.yaml names them, and the concurrency benchmark
// point them; the other tests make their own with knativeMetricsIn.
func pointMetrics(t testing.TB, promURL string) {
	t.Helper()
	ctx := context.Background()
	for _, m := range installedKnativeMetrics(t) {
		if _, ok, _ := unstructured.NestedString(m.Object, "spec", "urlTemplate"); !ok {
			continue
		}
		unstructured.SetNestedField(m.Object, promURL+"/api/v1/query", "spec", "urlTemplate")
		if _, err := cluster.dyn.Resource(metricGVR).Namespace(m.GetNamespace()).Update(ctx, &m, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("updating metric %s: %v", m.GetName(), err)
		}
	}
}

// installedKnativeMetrics lists the Metrics that the release installed in iter8-knative.
func installedKnativeMetrics(t testing.TB) []unstructured.Unstructured {
	t.Helper()
	l, err := cluster.dyn.Resource(metricGVR).Namespace("iter8-knative").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) == 0 {
		t.Fatal("kubectl apply -k config/ installed no Metrics in iter8-knative")
	}
	return l.Items
}

// knativeMetricsIn copies the installed Knative Metrics (iter8-knative) into ns, pointed at
// promURL, with their references to one another (spec.sampleSize) turned to the copies in
// ns, as a team that runs its own Prometheus installs them. Each Knative test scrapes its
// own revisions, whose names (sample-app-v1, ...) the seed's share and which the Metrics'
// queries select alone: with Metrics of their own the tests run side by side.
func knativeMetricsIn(t testing.TB, ns, promURL string) {
	t.Helper()
	ctx := context.Background()
	for _, m := range installedKnativeMetrics(t) {
		spec, _, _ := unstructured.NestedMap(m.Object, "spec")
		if _, ok := spec["urlTemplate"]; ok {
			spec["urlTemplate"] = promURL + "/api/v1/query"
		}
		if ref, ok := spec["sampleSize"].(string); ok {
			if name, found := strings.CutPrefix(ref, "iter8-knative/"); found {
				spec["sampleSize"] = ns + "/" + name
			}
		}
		c := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": m.GetAPIVersion(),
			"kind":       m.GetKind(),
			"metadata":   map[string]any{"name": m.GetName(), "namespace": ns},
			"spec":       spec,
		}}
		if _, err := cluster.dyn.Resource(metricGVR).Namespace(ns).Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatalf("copying metric %s into %s: %v", m.GetName(), ns, err)
		}
	}
}

// runExperiment makes the PipelineRun with iter8ctl pipelinerun, creates it with kubectl
// and waits for it. intervalSeconds overrides the experiment's interval when positive.
func runExperiment(t *testing.T, expFile, ns string, intervalSeconds int) (string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"pipelinerun", "-f", expFile, "-n", ns, "--image", stagesImage, "--image-pull-policy", "Never"}
	if intervalSeconds > 0 {
		args = append(args, "--interval-seconds", fmt.Sprint(intervalSeconds))
	}
	pr, err := iter8ctl(ctx, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := kubectl(ctx, []byte(pr), "create", "-f", "-", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(strings.TrimSpace(out), "pipelinerun.tekton.dev/"), []byte(pr)
}

func getExperiment(t testing.TB, ns, name string) *v2alpha1.Experiment {
	t.Helper()
	u, err := cluster.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := harness.ExperimentFrom(u)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
