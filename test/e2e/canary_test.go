//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// installIn installs the ServiceAccount, RBAC, Tasks and Pipeline into ns with the overlay
// that config/install/README.md documents.
func installIn(t testing.TB, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cluster.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(cluster.root, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ` + ns + `
resources:
- ` + rel("config/rbac") + `
- ` + rel("config/tekton") + `
`
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl(ctx, nil, "apply", "-k", dir); err != nil {
		t.Fatal(err)
	}
	for _, shared := range []string{"iter8-system", "iter8-knative", "iter8-istio"} {
		if _, err := kubectl(ctx, nil, "create", "rolebinding", "iter8-tekton-metrics-"+ns, "-n", shared,
			"--role=iter8-tekton-metrics", "--serviceaccount="+ns+":iter8-tekton"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			kubectl(context.Background(), nil, "delete", "rolebinding", "-n", shared, "iter8-tekton-metrics-"+ns)
		})
	}
}

// TestCanaryRollback runs a Progressive Canary whose candidate breaks a rollback objective
// (mean latency 80 ms > 50 ms): assess-1 stops the run, the later iterations are skipped,
// finalize restores all traffic to the baseline and fails the PipelineRun.
func TestCanaryRollback(t *testing.T) {
	const ns = "e2e-canary"
	installIn(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	base := &revision{name: "sample-app-v1", version: "v1", latency: 2 * time.Millisecond}
	cand := &revision{name: "sample-app-v2", version: "v2", latency: 80 * time.Millisecond}
	startRevisions(t, ns, base, cand)
	load(t, base, cand)
	_, promURL := startPrometheus(t, base, cand)
	pointMetrics(t, promURL)

	applyCanaryService(t, ns)

	expFile := writeFile(t, "experiment.yaml", `apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: canary
  namespace: `+ns+`
spec:
  target: `+ns+`/sample-app
  strategy:
    testingPattern: Canary
    deploymentPattern: Progressive
    actions:
      start:
      - task: knative/init-experiment
  criteria:
    objectives:
    - metric: iter8-knative/mean-latency
      upperLimit: 50
      rollback_on_failure: true
    - metric: iter8-knative/error-rate
      upperLimit: "0.01"
  duration:
    intervalSeconds: 3
    iterationsPerLoop: 5
  versionInfo:
    baseline:
      name: sample-app-v1
      variables:
      - name: revision
        value: sample-app-v1
    candidates:
    - name: sample-app-v2
      variables:
      - name: revision
        value: sample-app-v2
`)
	if _, err := kubectl(ctx, nil, "apply", "-f", expFile); err != nil {
		t.Fatal(err)
	}
	// Time to safety: the candidate is bad from its first request, so its values are in
	// Prometheus when the experiment starts; the traffic is safe when the Service is back
	// at 100/0. Watched every 100 ms.
	restored := make(chan time.Time, 1)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for wctx.Err() == nil {
			if w := ksvcWeightsNow(wctx, ns); len(w) == 2 && w[0] == 100 && w[1] == 0 {
				restored <- time.Now()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	name, _ := runExperiment(t, expFile, ns, 3)
	t.Logf("PipelineRun %s", name)
	pr := waitPipelineRun(t, ns, name, 10*time.Minute)
	logTaskRuns(t, ns, name)
	select {
	case at := <-restored:
		if start := getExperiment(t, ns, "canary").Status.StartTime; start != nil {
			// Kubernetes keeps the start to the second: the figures are ±1 s.
			since := at.Sub(start.Time)
			t.Logf("time to safety: traffic back at the baseline %.1f s after the experiment started (interval 3 s); %.1f s after iteration 1's slot, the floor being one query and one patch",
				since.Seconds(), (since - 3*time.Second).Seconds())
		}
	default:
		t.Error("the Service never went back to 100/0 while the run was watched")
	}

	if got := condition(pr); got != "False/Failed" {
		t.Errorf("PipelineRun condition = %s, want False/Failed (finalize reports the rollback)", got)
	}
	trs := taskRuns(t, ns, name)
	got := map[string]string{}
	for n, tr := range trs {
		got[n] = trStatus(tr)
	}
	want := map[string]string{"init-experiment": "Succeeded", "iterate-1": "Succeeded", "assess-1": "Succeeded", "finalize": "Failed:Failed"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("TaskRuns (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"assess-2", "assess-3", "assess-4", "assess-5", "iterate-2", "iterate-3", "iterate-4", "iterate-5"}, sortedKeys(skipped(pr))); d != "" {
		t.Errorf("skipped tasks (-want +got):\n%s", d)
	}
	if a := trs["assess-1"]; a != nil {
		if got := trResults(a)["continue"]; got != "false" {
			t.Errorf("assess-1 continue = %q, want false", got)
		}
	}
	if fin := trs["finalize"]; fin != nil {
		if got := trResults(fin)["outcome"]; got != "RolledBack" {
			t.Errorf("finalize outcome = %q, want RolledBack", got)
		}
	}

	// Tekton emits no result of a failed task: the Pipeline's outcome is missing, as its
	// description says, and the finalize TaskRun's outcome (above) says why.
	results := map[string]string{}
	for _, r := range pr.Status.Results {
		results[r.Name] = r.Value.StringVal
	}
	if d := cmp.Diff(map[string]string{"iterations": "5"}, results); d != "" {
		t.Errorf("PipelineRun results (-want +got):\n%s", d)
	}

	exp := getExperiment(t, ns, "canary")
	if got := exp.Status.GetCompletedIterations(); got != 1 {
		t.Errorf("completedIterations = %d, want 1", got)
	}
	if d := cmp.Diff([]string{"sample-app-v2"}, exp.Status.RolledBack); d != "" {
		t.Errorf("rolledBack (-want +got):\n%s", d)
	}
	if exp.Status.Message == nil || !strings.Contains(*exp.Status.Message, "rolled back") {
		t.Errorf("message = %v, want it to say the experiment rolled back", exp.Status.Message)
	}
	weights := ksvcWeights(t, ns)
	if d := cmp.Diff([]int64{100, 0}, weights); d != "" {
		t.Errorf("traffic after finalize (-want +got):\n%s", d)
	}
}

// applyCanaryService applies the Knative Service of sample-app with 80 % of the traffic on
// sample-app-v1 and 20 % on sample-app-v2, and plays Knative's controller making it ready.
func applyCanaryService(t *testing.T, ns string) {
	t.Helper()
	svc := writeFile(t, "service.yaml", `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: sample-app
  namespace: `+ns+`
spec:
  template:
    metadata:
      name: sample-app-v2
    spec:
      containers:
      - image: example.com/sample-app:v2
  traffic:
  - revisionName: sample-app-v1
    percent: 80
  - latestRevision: true
    percent: 20
`)
	if _, err := kubectl(context.Background(), nil, "apply", "-f", svc); err != nil {
		t.Fatal(err)
	}
	ksvcReady(t, ns, []map[string]any{
		{"revisionName": "sample-app-v1", "percent": int64(80)},
		{"revisionName": "sample-app-v2", "latestRevision": true, "percent": int64(20)},
	}, "sample-app-v2")
}

// ksvcWeights reads the percentages of sample-app's spec.traffic, in order.
func ksvcWeights(t *testing.T, ns string) []int64 {
	t.Helper()
	u, err := cluster.dyn.Resource(ksvcGVR).Namespace(ns).Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return trafficPercents(u)
}

// ksvcWeightsNow is ksvcWeights for a goroutine: nil when the Service cannot be read.
func ksvcWeightsNow(ctx context.Context, ns string) []int64 {
	u, err := cluster.dyn.Resource(ksvcGVR).Namespace(ns).Get(ctx, "sample-app", metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return trafficPercents(u)
}

func trafficPercents(u *unstructured.Unstructured) []int64 {
	traffic, _, _ := unstructured.NestedSlice(u.Object, "spec", "traffic")
	var weights []int64
	for _, x := range traffic {
		p, _, _ := unstructured.NestedInt64(x.(map[string]any), "percent")
		weights = append(weights, p)
	}
	return weights
}
