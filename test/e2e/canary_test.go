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

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/iter8-tools/iter8-tekton/test/harness"
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

// TestCanaryRollback runs a Progressive Canary over a real Knative Service whose candidate
// revision breaks a rollback objective (mean latency 80 ms > 50 ms): assess-1 stops the run,
// the later iterations are skipped, finalize restores all traffic to the baseline and fails
// the PipelineRun.
//
// Real: the Knative controller, webhook and autoscaler reconcile the Service the test
// applies (and the stages' spec.traffic patches) into Revisions with queue-proxy pods, the
// Route and the KIngress splits; Prometheus scrapes the queue-proxies. Played
// (knative_test.go): the networking layer, marking the KIngress ready and sending the load
// in its splits. The test checks the rollback on the Knative objects' status (Service and
// Route status.traffic, the KIngress splits) and on where the load went.
//
// It is the one test that does not run beside the others (no t.Parallel: go test runs it
// before them): its time to safety (docs/benchmarks.md) is the stages' and Knative's, not
// that of pods starting slowly among the other tests' dozens.
func TestCanaryRollback(t *testing.T) {
	const ns = "e2e-canary"
	installIn(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	base := &revision{name: "sample-app-v1", version: "v1", latency: 2 * time.Millisecond}
	cand := &revision{name: "sample-app-v2", version: "v2", latency: 80 * time.Millisecond}
	applyCanaryService(t, ns, base, cand, 20)
	gen := loadBySplit(t, ns, "sample-app")
	promURL := scrapeQueueProxies(t, ns, base.name, cand.name)
	knativeMetricsIn(t, ns, promURL)

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
    - metric: `+ns+`/mean-latency
      upperLimit: 50
      rollback_on_failure: true
    - metric: `+ns+`/error-rate
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
	// Prometheus when the experiment starts; the traffic is safe when the KIngress that
	// Knative's controller reconciled from the Service sends none of it to the candidate.
	// Watched every 100 ms.
	restored := make(chan time.Time, 1)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for wctx.Err() == nil {
			if ing, err := cluster.dyn.Resource(kingressGVR).Namespace(ns).Get(wctx, "sample-app", metav1.GetOptions{}); err == nil {
				if sp := splitsMap(harness.KIngressSplits(ing)); sp[base.name] == 100 && sp[cand.name] == 0 {
					restored <- time.Now()
					return
				}
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
			t.Logf("time to safety: the KIngress back at the baseline %.1f s after the experiment started (interval 3 s); %.1f s after iteration 1's slot, the floor being one query, one patch and Knative's reconciliation",
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
	checkRolledBack(t, ns, base.name, cand.name, gen)
}

// checkRolledBack checks that Knative carried the rollback out: the Service's and the
// Route's status.traffic (written by Knative's controller for the generation the stages
// last wrote) and the KIngress splits give the baseline everything, and the load no
// longer reaches the candidate while the baseline still answers.
func checkRolledBack(t *testing.T, ns, base, cand string, gen *loadGen) {
	t.Helper()
	ctx := context.Background()
	want := map[string]int64{base: 100, cand: 0}
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		last = ""
		for _, gvr := range []schema.GroupVersionResource{ksvcGVR, routeGVR} {
			u, err := cluster.dyn.Resource(gvr).Namespace(ns).Get(ctx, "sample-app", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !observed(u) {
				last += fmt.Sprintf("%s: generation %d not observed yet; ", gvr.Resource, u.GetGeneration())
			} else if d := cmp.Diff(want, statusTraffic(u)); d != "" {
				last += fmt.Sprintf("%s status.traffic (-want +got):\n%s", gvr.Resource, d)
			}
		}
		ing, err := cluster.dyn.Resource(kingressGVR).Namespace(ns).Get(ctx, "sample-app", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		splits := splitsMap(harness.KIngressSplits(ing))
		delete(splits, cand) // a split of 0 % may be left out or kept
		if d := cmp.Diff(map[string]int64{base: 100}, splits); d != "" {
			last += fmt.Sprintf("kingress splits (-want +got):\n%s", d)
		}
		if last == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if last != "" {
		t.Errorf("after the rollback: %s", last)
	}
	before := gen.Counts()
	time.Sleep(3 * time.Second)
	after := gen.Counts()
	t.Logf("requests answered: %v before the last 3 s, %v after", before, after)
	if before[cand] == 0 {
		t.Errorf("the candidate %s answered no request during the canary: %v", cand, before)
	}
	if after[cand] != before[cand] {
		t.Errorf("the candidate %s answered %d requests in the 3 s after the rollback, want 0", cand, after[cand]-before[cand])
	}
	if after[base] <= before[base] {
		t.Errorf("the baseline %s answered no request in the 3 s after the rollback", base)
	}
}

// applyCanaryService applies the Knative Service sample-app as a user rolls a canary out:
// first with revision base alone, then with revision cand and candPercent of the traffic
// on it, the rest on base, waiting each time until Knative's controller reports the
// Service Ready.
func applyCanaryService(t *testing.T, ns string, base, cand *revision, candPercent int64) {
	t.Helper()
	ctx := context.Background()
	ksvc := func(r *revision, traffic string) string {
		return `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: sample-app
  namespace: ` + ns + `
spec:
  template:
    metadata:
      name: ` + r.name + `
    spec:
      containers:
      - image: ` + knativeSampleAppImage + `
        command: ["/sample-app"]
        args: ["--version", "` + r.version + `", "--latency", "` + r.latency.String() + `", "--latency-jitter", "` + r.jitter.String() + `"]
` + traffic
	}
	for _, y := range []string{
		ksvc(base, ""),
		ksvc(cand, `  traffic:
  - revisionName: `+base.name+`
    percent: `+fmt.Sprint(100-candPercent)+`
  - latestRevision: true
    percent: `+fmt.Sprint(candPercent)+`
`),
	} {
		if _, err := kubectl(ctx, []byte(y), "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		waitKsvcReady(t, ns, "sample-app")
	}
	u, err := cluster.dyn.Resource(ksvcGVR).Namespace(ns).Get(ctx, "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int64{base.name: 100 - candPercent, cand.name: candPercent}, statusTraffic(u)); d != "" {
		t.Fatalf("ksvc status.traffic by Knative's controller (-want +got):\n%s", d)
	}
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

func trafficPercents(u *unstructured.Unstructured) []int64 {
	traffic, _, _ := unstructured.NestedSlice(u.Object, "spec", "traffic")
	var weights []int64
	for _, x := range traffic {
		p, _, _ := unstructured.NestedInt64(x.(map[string]any), "percent")
		weights = append(weights, p)
	}
	return weights
}
