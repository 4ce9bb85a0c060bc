package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// queries are the Knative metric set's queries (config/metrics/knative.yaml) over the
// sample app's revision_app_request_latencies series; synthetic metric i uses
// queries[i%len(queries)], so every size measures the shipped kinds of query.
var queries = []struct{ kind, query string }{{
	"Counter", `sum(increase(revision_app_request_latencies_count{revision_name='$revision'}[${elapsedTime}s])) or on() vector(0)`,
}, {
	"Counter", `sum(increase(revision_app_request_latencies_count{response_code_class!='2xx',revision_name='$revision'}[${elapsedTime}s])) or on() vector(0)`,
}, {
	"Gauge", `(sum(increase(revision_app_request_latencies_count{response_code_class!='2xx',revision_name='$revision'}[${elapsedTime}s])) or on() vector(0)) / (sum(increase(revision_app_request_latencies_count{revision_name='$revision'}[${elapsedTime}s])) or on() vector(0))`,
}, {
	"Gauge", `(sum(increase(revision_app_request_latencies_sum{revision_name='$revision'}[${elapsedTime}s])) or on() vector(0)) / (sum(increase(revision_app_request_latencies_count{revision_name='$revision'}[${elapsedTime}s])) or on() vector(0))`,
}, {
	"Gauge", `histogram_quantile(0.95, sum(rate(revision_app_request_latencies_bucket{revision_name='$revision'}[${elapsedTime}s])) by (le))`,
}}

func metricName(i int) string { return fmt.Sprintf("bench-%d", i) }

// metricObject is synthetic metric i, querying the Prometheus at promURL. Its query gets
// a matcher of its own, iter8_bench!='i' (no series has that label, so it changes neither
// the result nor the cost): every metric's query is distinct, as a real metric set's are,
// and the stage's batching cannot send a repeated query once where the minimum sends it
// every time.
func metricObject(i int, promURL string) *unstructured.Unstructured {
	q := queries[i%len(queries)]
	q.query = strings.ReplaceAll(q.query, "revision_name=", fmt.Sprintf("iter8_bench!='%d',revision_name=", i))
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "iter8.tools/v2alpha2", "kind": "Metric",
		"metadata": map[string]any{"name": metricName(i)},
		"spec": map[string]any{
			"description":  "benchmark variant of a Knative metric",
			"type":         q.kind,
			"provider":     "prometheus",
			"params":       []any{map[string]any{"name": "query", "value": q.query}},
			"jqExpression": ".data.result[0].value[1] | tonumber",
			"urlTemplate":  promURL + "/api/v1/query",
		},
	}}
}

// versionName is the name of version i, also its revision name (the $revision of a
// version without variables), so that version i reads sample app i's series.
func versionName(i int) string { return fmt.Sprintf("sample-app-v%d", i+1) }

// iterationsPerLoop leaves room for every iteration a benchmark runs in one experiment.
const iterationsPerLoop = 1000

// experimentObject is an experiment over versions × metrics that moves no traffic: a
// Conformance test of the baseline alone, or an A/B/N with a FixedSplit whose reward is
// the first metric. Every other metric is an objective whose limit every version meets,
// so each iteration assesses every metric of every version and the experiment goes on.
func experimentObject(name, target string, versions, metrics int) *unstructured.Unstructured {
	var objectives []any
	for i := 0; i < metrics; i++ {
		if versions > 1 && i == 0 {
			continue
		}
		objectives = append(objectives, map[string]any{"metric": metricName(i), "upperLimit": "1000000000"})
	}
	criteria := map[string]any{"objectives": objectives}
	strategy := map[string]any{"testingPattern": "Conformance"}
	var candidates []any
	if versions > 1 {
		strategy = map[string]any{"testingPattern": "A/B/N", "deploymentPattern": "FixedSplit"}
		criteria["rewards"] = []any{map[string]any{"metric": metricName(0), "preferredDirection": "High"}}
		for i := 1; i < versions; i++ {
			candidates = append(candidates, map[string]any{"name": versionName(i)})
		}
	}
	versionInfo := map[string]any{"baseline": map[string]any{"name": versionName(0)}}
	if len(candidates) > 0 {
		versionInfo["candidates"] = candidates
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "iter8.tools/v2alpha2", "kind": "Experiment",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"target":      target,
			"strategy":    strategy,
			"criteria":    criteria,
			"duration":    map[string]any{"intervalSeconds": int64(1), "iterationsPerLoop": int64(iterationsPerLoop)},
			"versionInfo": versionInfo,
		},
	}}
}

// TestObjectsValidate checks, without a cluster, that the synthesized objects of every
// benchmark size decode strictly and pass the API's validation, so a benchmark never
// measures a refused experiment.
func TestObjectsValidate(t *testing.T) {
	for _, s := range sizes {
		t.Run(s.String(), func(t *testing.T) {
			b, err := json.Marshal(experimentObject("bench", "default/sample-app", s.versions, s.metrics).Object)
			if err != nil {
				t.Fatal(err)
			}
			exp, err := v2alpha1.DecodeExperiment(b)
			if err != nil {
				t.Fatalf("decoding the experiment: %v", err)
			}
			if err := exp.Validate(); err != nil {
				t.Errorf("experiment: %v", err)
			}
			if got := len(exp.Spec.Versions()); got != s.versions {
				t.Errorf("%d versions, want %d", got, s.versions)
			}
			refs := map[string]bool{}
			for _, o := range exp.Spec.Criteria.Objectives {
				refs[o.Metric] = true
			}
			for _, r := range exp.Spec.Rewards() {
				refs[r.Metric] = true
			}
			if len(refs) != s.metrics {
				t.Errorf("%d metrics referenced, want %d", len(refs), s.metrics)
			}
			for i := 0; i < s.metrics; i++ {
				mb, err := json.Marshal(metricObject(i, "http://127.0.0.1:9090").Object)
				if err != nil {
					t.Fatal(err)
				}
				docs, err := v2alpha1.DecodeDocuments(bytes.NewReader(mb))
				if err != nil || len(docs) != 1 || docs[0].Metric == nil {
					t.Fatalf("decoding metric %d: %v (%d documents)", i, err, len(docs))
				}
				if err := docs[0].Metric.Validate(); err != nil {
					t.Errorf("metric %d: %v", i, err)
				}
			}
		})
	}
}

// TestMetricQueriesDistinct checks that no two synthetic metrics send the same query, which
// the stage's batching would send once and the minimum every time.
func TestMetricQueriesDistinct(t *testing.T) {
	seen := map[string]int{}
	for i := 0; i < 50; i++ {
		params, _, _ := unstructured.NestedSlice(metricObject(i, "http://127.0.0.1:9090").Object, "spec", "params")
		q := params[0].(map[string]any)["value"].(string)
		if j, ok := seen[q]; ok {
			t.Errorf("metrics %d and %d send the same query %q", j, i, q)
		}
		seen[q] = i
	}
}
