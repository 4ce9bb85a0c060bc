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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

var httpRouteGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// gatewayAPI installs the Gateway API's CRDs (from the sigs.k8s.io/gateway-api module) on
// the shared control plane.
func gatewayAPI(t *testing.T, e *env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	files, err := harness.GatewayAPICRDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cp.InstallCRDs(ctx, files...); err != nil {
		t.Fatal(err)
	}
}

// httpRoute is an HTTPRoute that splits sample-app between the Services of two versions.
func httpRoute(t *testing.T, e *env, ns string, baseline, candidate int64) {
	t.Helper()
	e.apply(t, ns, yamlObject(t, fmt.Sprintf(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: sample-app
spec:
  parentRefs:
  - name: gateway
  hostnames: [sample-app.example.com]
  rules:
  - backendRefs:
    - name: sample-app-v1
      port: 80
      weight: %d
    - name: sample-app-v2
      port: 80
      weight: %d
`, baseline, candidate)))
}

func routeWeights(t *testing.T, e *env, ns string) []int64 {
	t.Helper()
	u, err := e.dyn.Resource(httpRouteGVR).Namespace(ns).Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	var out []int64
	for _, b := range rules[0].(map[string]any)["backendRefs"].([]any) {
		w, _, _ := unstructured.NestedInt64(b.(map[string]any), "weight")
		out = append(out, w)
	}
	return out
}

// routeCanary is a progressive Canary of the sample-app HTTPRoute, judged on a mocked
// latency: candidateLatency over 50 violates the rollback objective.
func routeCanary(t *testing.T, name, ns, pattern string) *unstructured.Unstructured {
	ref := func(i int) string {
		return fmt.Sprintf(`
      weightObjRef:
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        namespace: %s
        name: sample-app
        fieldPath: .spec.rules[0].backendRefs[%d].weight`, ns, i)
	}
	return yamlObject(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: `+name+`
spec:
  target: `+ns+`/sample-app
  strategy:
    testingPattern: Canary
    deploymentPattern: `+pattern+`
    weights:
      maxCandidateWeight: 50
      maxCandidateWeightIncrement: 20
  criteria:
    objectives:
    - metric: latency
      upperLimit: 50
      rollback_on_failure: true
  duration:
    intervalSeconds: 1
    iterationsPerLoop: 2
  versionInfo:
    baseline:
      name: sample-app-v1`+ref(0)+`
    candidates:
    - name: sample-app-v2`+ref(1)+`
`)
}

// TestHTTPRouteCanary runs canaries whose traffic is an HTTPRoute's backendRef weights, on
// the real API server with the Gateway API's CRDs: a good candidate is moved up step by
// step (Progressive, BlueGreen), a bad one rolled back, and a person editing the route
// mid-run stops the experiment.
func TestHTTPRouteCanary(t *testing.T) {
	e := cluster(t)
	gatewayAPI(t, e)
	for _, tc := range []struct {
		name, pattern string
		candidate     string // the candidate's mocked latency
		wantOutcome   string
		want          []int64
	}{
		{"progressive promotes", "Progressive", "12", "Succeeded", []int64{60, 40}},
		// As in iter8 v2, BlueGreen shifts as Progressive does; only its objectives roll
		// back by default.
		{"blue-green", "BlueGreen", "12", "Succeeded", []int64{60, 40}},
		{"a bad candidate is rolled back", "Progressive", "80", "RolledBack", []int64{100, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, e)
			httpRoute(t, e, ns, 100, 0)
			e.apply(t, ns, mockMetric(t, "latency", map[string]string{"sample-app-v1": "10", "sample-app-v2": tc.candidate}),
				routeCanary(t, "route", ns, tc.pattern))
			_, res, err := e.runAll(t, ns, "route", 1)
			if got := res["outcome"]; got != tc.wantOutcome {
				t.Errorf("outcome %q (error %v), want %s", got, err, tc.wantOutcome)
			}
			if got := routeWeights(t, e, ns); !cmp.Equal(tc.want, got) {
				t.Errorf("HTTPRoute weights %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("a person edits the route mid-run", func(t *testing.T) {
		ns := namespace(t, e)
		httpRoute(t, e, ns, 100, 0)
		e.apply(t, ns, mockMetric(t, "latency", map[string]string{"sample-app-v1": "10", "sample-app-v2": "12"}),
			routeCanary(t, "route", ns, "Progressive"))
		if _, _, err := e.stage(t, stagecmd.StageInit, ns, "route", "--target-wait", "5s"); err != nil {
			t.Fatalf("init-experiment: %v", err)
		}
		for _, s := range []string{stagecmd.StageIterate, stagecmd.StageAssess} {
			if _, _, err := e.stage(t, s, ns, "route", "--iteration", "1", "--interval-seconds", "1"); err != nil {
				t.Fatalf("%s 1: %v", s, err)
			}
		}
		if got := routeWeights(t, e, ns); !cmp.Equal([]int64{80, 20}, got) {
			t.Fatalf("HTTPRoute weights %v after assess 1, want 80/20", got)
		}
		patch := []byte(`[{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":70},{"op":"replace","path":"/spec/rules/0/backendRefs/0/weight","value":30}]`)
		if _, err := e.dyn.Resource(httpRouteGVR).Namespace(ns).Patch(context.Background(), "sample-app", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.stage(t, stagecmd.StageIterate, ns, "route", "--iteration", "2", "--interval-seconds", "1"); err != nil {
			t.Fatalf("iterate 2: %v", err)
		}
		if _, _, err := e.stage(t, stagecmd.StageAssess, ns, "route", "--iteration", "2", "--interval-seconds", "1"); err == nil {
			t.Errorf("assess 2 after the edit succeeded, want TrafficChangedExternally")
		}
		exp := e.get(t, ns, "route")
		c := exp.Status.Condition(v2alpha1.ConditionFailed)
		if c == nil || c.Reason == nil || *c.Reason != v2alpha1.ReasonTrafficChangedExternally {
			t.Fatalf("Failed condition %s, want TrafficChangedExternally", mustJSON(c))
		}
		// The person's weights stand: the experiment does not fight them.
		if got := routeWeights(t, e, ns); !cmp.Equal([]int64{30, 70}, got) {
			t.Errorf("HTTPRoute weights %v after the edit, want the person's 30/70", got)
		}
		if c.Message == nil || !strings.Contains(*c.Message, "sample-app") {
			t.Errorf("the message does not name the route: %s", mustJSON(c))
		}
	})
}
