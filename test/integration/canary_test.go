package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/sampleapp"
)

var (
	ksvcGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	vsGVR   = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: "virtualservices"}
)

// startRevisions serves a healthy sample-app-v1 and a sample-app-v2 with the latency the
// test chooses, under load, scraped by Prometheus, with the Knative metric set installed.
func startRevisions(t *testing.T, e *env, ns string, candidateLatency time.Duration) {
	t.Helper()
	v1 := startApp(t, sampleapp.Config{Version: "v1", Namespace: ns, Service: "sample-app", Revision: "sample-app-v1", Latency: 2 * time.Millisecond})
	v2 := startApp(t, sampleapp.Config{Version: "v2", Namespace: ns, Service: "sample-app", Revision: "sample-app-v2", Latency: candidateLatency})
	prom := startPrometheus(t, v1, v2)
	load(t, 20*time.Millisecond, v1, v2)
	e.installMetrics(t, "config/metrics/knative.yaml", prom.URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, rev := range []string{"sample-app-v1", "sample-app-v2"} {
		if _, err := prom.WaitForSamples(ctx, fmt.Sprintf(`revision_app_request_latencies_count{namespace_name=%q,revision_name=%q}`, ns, rev)); err != nil {
			t.Fatalf("waiting for samples of %s: %v", rev, err)
		}
	}
	time.Sleep(3 * time.Second)
}

// canaryKsvc creates the Knative Service with baseline and candidate revisions, traffic
// split baseline/candidate.
func canaryKsvc(t *testing.T, e *env, ns string, baseline, candidate int64) {
	t.Helper()
	svc := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`
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
      - image: example.com/sample-app:v2
  traffic:
  - revisionName: sample-app-v1
    percent: `+fmt.Sprint(baseline)+`
  - latestRevision: true
    percent: `+fmt.Sprint(candidate)+`
`), &svc.Object); err != nil {
		t.Fatal(err)
	}
	e.apply(t, ns, svc)
	e.ksvcReady(t, ns, "sample-app", []map[string]any{
		{"revisionName": "sample-app-v1", "percent": baseline},
		{"revisionName": "sample-app-v2", "latestRevision": true, "percent": candidate},
	}, "sample-app-v2")
}

func ksvcWeights(t *testing.T, e *env, ns string) []int64 {
	t.Helper()
	u, err := e.dyn.Resource(ksvcGVR).Namespace(ns).Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, _, _ := unstructured.NestedSlice(u.Object, "spec", "traffic")
	var out []int64
	for _, x := range tr {
		p, _, _ := unstructured.NestedInt64(x.(map[string]any), "percent")
		out = append(out, p)
	}
	return out
}

// notifications receives notification/http posts.
type notifications struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (n *notifications) serve(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n.mu.Lock()
		n.bodies = append(n.bodies, m)
		n.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (n *notifications) promoted() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, b := range n.bodies {
		s, _ := b["summary"].(map[string]any)
		v, _ := s["versionRecommendedForPromotion"].(string)
		out = append(out, v)
	}
	return out
}

func canaryExperiment(t *testing.T, ns, name, extraCriteria, weights, finishURL string, iterations int, versionInfo string) *unstructured.Unstructured {
	t.Helper()
	doc := `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: ` + name + `
spec:
  target: ` + ns + `/sample-app
  strategy:
    testingPattern: Canary
    deploymentPattern: Progressive
` + weights + `
    actions:
      start:
      - task: knative/init-experiment
      finish:
      - task: notification/http
        with:
          url: ` + finishURL + `
          ignoreFailure: false
  criteria:
    objectives:
    - metric: iter8-knative/mean-latency
      upperLimit: 50
` + extraCriteria + `
    - metric: iter8-knative/error-rate
      upperLimit: "0.01"
  duration:
    intervalSeconds: 3
    iterationsPerLoop: ` + fmt.Sprint(iterations) + `
` + versionInfo
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("experiment YAML: %v\n%s", err, doc)
	}
	return u
}

const knativeCanaryVersions = `  versionInfo:
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
`

// runWatchingWeights runs the stages like the Pipeline and records the traffic after every
// assess.
func (e *env) runWatchingWeights(t *testing.T, ns, name string, weights func() []int64) (int, [][]int64, map[string]string, error) {
	t.Helper()
	if _, _, err := e.stage(t, "init-experiment", ns, name); err != nil {
		t.Fatalf("init-experiment: %v", err)
	}
	var seen [][]int64
	k := 0
	for {
		k++
		if _, _, err := e.stage(t, "iterate", ns, name, "--iteration", fmt.Sprint(k)); err != nil {
			t.Fatalf("iterate %d: %v", k, err)
		}
		res, _, err := e.stage(t, "assess", ns, name, "--iteration", fmt.Sprint(k))
		seen = append(seen, weights())
		if err != nil || res["continue"] != "true" {
			break
		}
	}
	res, _, err := e.stage(t, "finalize", ns, name, "--pipeline-status", "Succeeded")
	seen = append(seen, weights())
	return k, seen, res, err
}

func TestCanaryProgressiveKnative(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	startRevisions(t, e, ns, 3*time.Millisecond)
	canaryKsvc(t, e, ns, 100, 0)
	var n notifications
	url := n.serve(t)
	weights := "    weights:\n      maxCandidateWeight: 25\n      maxCandidateWeightIncrement: 10"
	e.apply(t, ns, canaryExperiment(t, ns, "canary", "", weights, url, 4, knativeCanaryVersions))

	k, seen, res, err := e.runWatchingWeights(t, ns, "canary", func() []int64 { return ksvcWeights(t, e, ns) })
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	if k != 4 {
		t.Errorf("ran %d iterations, want 4", k)
	}
	// +10 per iteration up to the cap of 25; promotion is the finish action's job.
	want := [][]int64{{90, 10}, {80, 20}, {75, 25}, {75, 25}, {75, 25}}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("traffic after each assess and after finalize (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"outcome": "Succeeded", "winner": "sample-app-v2", "recommended": "sample-app-v2"}, res); diff != "" {
		t.Errorf("finalize results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sample-app-v2"}, n.promoted()); diff != "" {
		t.Errorf("finish action promoted (-want +got):\n%s", diff)
	}
	exp := e.get(t, ns, "canary")
	if got := exp.Spec.VersionInfo.Candidates[0].WeightObjRef; got == nil || got.FieldPath != ".spec.traffic[1].percent" {
		t.Errorf("knative/init-experiment set the candidate's weightObjRef to %+v, want .spec.traffic[1].percent", got)
	}
	if diff := cmp.Diff([]v2alpha1.WeightData{{Name: "sample-app-v1", Value: 75}, {Name: "sample-app-v2", Value: 25}}, exp.Status.CurrentWeightDistribution); diff != "" {
		t.Errorf("currentWeightDistribution (-want +got):\n%s", diff)
	}
}

func TestCanaryRollbackKnative(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	startRevisions(t, e, ns, 80*time.Millisecond) // breaks mean-latency <= 50
	canaryKsvc(t, e, ns, 80, 20)                  // a previous rollout step left the candidate at 20%
	var n notifications
	url := n.serve(t)
	exp := canaryExperiment(t, ns, "canary", "", "", url, 5, knativeCanaryVersions)
	objs, _, _ := unstructured.NestedSlice(exp.Object, "spec", "criteria", "objectives")
	objs[0].(map[string]any)["rollback_on_failure"] = true
	unstructured.SetNestedSlice(exp.Object, objs, "spec", "criteria", "objectives")
	e.apply(t, ns, exp)

	k, seen, res, err := e.runWatchingWeights(t, ns, "canary", func() []int64 { return ksvcWeights(t, e, ns) })
	if err == nil || !strings.Contains(err.Error(), "did not achieve its aim") {
		t.Errorf("finalize error = %v, want the aim not achieved", err)
	}
	if k != 1 {
		t.Errorf("ran %d iterations, want the rollback at the first", k)
	}
	// The assess that finds the breach restores the baseline; finalize finds it done.
	if diff := cmp.Diff([][]int64{{100, 0}, {100, 0}}, seen); diff != "" {
		t.Errorf("traffic after assess and after finalize (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"outcome": "RolledBack", "winner": "sample-app-v1", "recommended": "sample-app-v1"}, res); diff != "" {
		t.Errorf("finalize results (-want +got):\n%s", diff)
	}
	got := e.get(t, ns, "canary")
	if diff := cmp.Diff([]string{"sample-app-v2"}, got.Status.RolledBack); diff != "" {
		t.Errorf("rolledBack (-want +got):\n%s", diff)
	}
	if msg := *got.Status.Message; !strings.Contains(msg, "rolled back") {
		t.Errorf("message = %q, want it to say the experiment rolled back", msg)
	}
	// Finish actions run on rollback too (iter8 semantics), promoting the baseline.
	if diff := cmp.Diff([]string{"sample-app-v1"}, n.promoted()); diff != "" {
		t.Errorf("finish action promoted (-want +got):\n%s", diff)
	}
}

func namespace(t *testing.T, e *env) string {
	return harnessNamespace(t, e)
}
