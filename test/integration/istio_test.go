package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// istioVS creates the VirtualService that splits sample-app between the two revisions'
// destinations, baseline/candidate.
func istioVS(t *testing.T, e *env, ns string, baseline, candidate int64) {
	t.Helper()
	vs := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: sample-app
spec:
  hosts: [sample-app.example.com]
  http:
  - route:
    - destination: {host: sample-app-v1}
      weight: `+fmt.Sprint(baseline)+`
    - destination: {host: sample-app-v2}
      weight: `+fmt.Sprint(candidate)+`
`), &vs.Object); err != nil {
		t.Fatal(err)
	}
	e.apply(t, ns, vs)
}

func vsWeights(t *testing.T, e *env, ns string) []int64 {
	t.Helper()
	u, err := e.dyn.Resource(vsGVR).Namespace(ns).Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	var out []int64
	for _, d := range routes[0].(map[string]any)["route"].([]any) {
		w, _, _ := unstructured.NestedInt64(d.(map[string]any), "weight")
		out = append(out, w)
	}
	return out
}

// istioVersions names each revision and points its weightObjRef at its destination's
// weight in the VirtualService: with no start action, the experiment says it all.
const istioVersions = `  versionInfo:
    baseline:
      name: sample-app-v1
      variables:
      - name: revision
        value: sample-app-v1
      weightObjRef:
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        name: sample-app
        fieldPath: .spec.http[0].route[0].weight
    candidates:
    - name: sample-app-v2
      variables:
      - name: revision
        value: sample-app-v2
      weightObjRef:
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        name: sample-app
        fieldPath: .spec.http[0].route[1].weight
`

// istioExperiment is canaryExperiment without the Knative start action.
func istioExperiment(t *testing.T, ns, weights, finishURL string, iterations int, rollback bool) *unstructured.Unstructured {
	t.Helper()
	u := canaryExperiment(t, ns, "canary-istio", "", weights, finishURL, iterations, istioVersions)
	actions, _, _ := unstructured.NestedMap(u.Object, "spec", "strategy", "actions")
	delete(actions, "start")
	if err := unstructured.SetNestedMap(u.Object, actions, "spec", "strategy", "actions"); err != nil {
		t.Fatal(err)
	}
	if rollback {
		objs, _, _ := unstructured.NestedSlice(u.Object, "spec", "criteria", "objectives")
		objs[0].(map[string]any)["rollback_on_failure"] = true
		if err := unstructured.SetNestedSlice(u.Object, objs, "spec", "criteria", "objectives"); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func TestCanaryProgressiveIstio(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	startRevisions(t, e, ns, 3*time.Millisecond)
	istioVS(t, e, ns, 100, 0)
	var n notifications
	url := n.serve(t)
	weights := "    weights:\n      maxCandidateWeight: 25\n      maxCandidateWeightIncrement: 10"
	e.apply(t, ns, istioExperiment(t, ns, weights, url, 4, false))

	k, seen, res, err := e.runWatchingWeights(t, ns, "canary-istio", func() []int64 { return vsWeights(t, e, ns) })
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	if k != 4 {
		t.Errorf("ran %d iterations, want 4", k)
	}
	want := [][]int64{{90, 10}, {80, 20}, {75, 25}, {75, 25}, {75, 25}}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("VirtualService weights after each assess and after finalize (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"outcome": "Succeeded", "winner": "sample-app-v2", "recommended": "sample-app-v2"}, res); diff != "" {
		t.Errorf("finalize results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sample-app-v2"}, n.promoted()); diff != "" {
		t.Errorf("finish action promoted (-want +got):\n%s", diff)
	}
	exp := e.get(t, ns, "canary-istio")
	if diff := cmp.Diff([]v2alpha1.WeightData{{Name: "sample-app-v1", Value: 75}, {Name: "sample-app-v2", Value: 25}}, exp.Status.CurrentWeightDistribution); diff != "" {
		t.Errorf("currentWeightDistribution (-want +got):\n%s", diff)
	}
	if got := exp.Status.GetStage(); got != v2alpha1.StageCompleted || exp.Status.IsTrue(v2alpha1.ConditionFailed) {
		t.Errorf("stage %s, conditions %s; want Completed, not Failed", got, mustJSON(exp.Status.Conditions))
	}
	// Only the weights moved: the destinations are as the user wrote them.
	u, err := e.dyn.Resource(vsGVR).Namespace(ns).Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	var hosts []string
	for _, d := range routes[0].(map[string]any)["route"].([]any) {
		h, _, _ := unstructured.NestedString(d.(map[string]any), "destination", "host")
		hosts = append(hosts, h)
	}
	if diff := cmp.Diff([]string{"sample-app-v1", "sample-app-v2"}, hosts); diff != "" {
		t.Errorf("VirtualService destinations (-want +got):\n%s", diff)
	}
}

func TestCanaryRollbackIstio(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	startRevisions(t, e, ns, 80*time.Millisecond) // breaks mean-latency <= 50
	istioVS(t, e, ns, 80, 20)                     // a previous rollout step left the candidate at 20%
	var n notifications
	url := n.serve(t)
	e.apply(t, ns, istioExperiment(t, ns, "", url, 5, true))

	k, seen, res, err := e.runWatchingWeights(t, ns, "canary-istio", func() []int64 { return vsWeights(t, e, ns) })
	if err == nil || !strings.Contains(err.Error(), "did not achieve its aim") {
		t.Errorf("finalize error = %v, want the aim not achieved", err)
	}
	if k != 1 {
		t.Errorf("ran %d iterations, want the rollback at the first", k)
	}
	// The assess that finds the breach restores the baseline; finalize finds it done.
	if diff := cmp.Diff([][]int64{{100, 0}, {100, 0}}, seen); diff != "" {
		t.Errorf("VirtualService weights after assess and after finalize (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"outcome": "RolledBack", "winner": "sample-app-v1", "recommended": "sample-app-v1"}, res); diff != "" {
		t.Errorf("finalize results (-want +got):\n%s", diff)
	}
	got := e.get(t, ns, "canary-istio")
	if diff := cmp.Diff([]string{"sample-app-v2"}, got.Status.RolledBack); diff != "" {
		t.Errorf("rolledBack (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]v2alpha1.WeightData{{Name: "sample-app-v1", Value: 100}, {Name: "sample-app-v2", Value: 0}}, got.Status.CurrentWeightDistribution); diff != "" {
		t.Errorf("currentWeightDistribution (-want +got):\n%s", diff)
	}
	if got.Status.Message == nil || !strings.Contains(*got.Status.Message, "rolled back") {
		t.Errorf("message = %v, want it to say the experiment rolled back", got.Status.Message)
	}
	if diff := cmp.Diff([]string{"sample-app-v1"}, n.promoted()); diff != "" {
		t.Errorf("finish action promoted (-want +got):\n%s", diff)
	}
}
