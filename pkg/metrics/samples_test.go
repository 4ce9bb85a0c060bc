package metrics

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func samplesExperiment(metric v2alpha1.Metric) *v2alpha1.Experiment {
	start := metav1.NewTime(time.Unix(1700000000, 0))
	return &v2alpha1.Experiment{
		Spec: v2alpha1.ExperimentSpec{
			Strategy: v2alpha1.Strategy{TestingPattern: v2alpha1.TestingPatternCanary},
			VersionInfo: &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "a"},
				Candidates: []v2alpha1.VersionDetail{{Name: "b"}}},
			Criteria: &v2alpha1.Criteria{Comparisons: []v2alpha1.Comparison{{Metric: "ns/m", Direction: v2alpha1.DirectionIncrease}}},
		},
		Status: v2alpha1.ExperimentStatus{StartTime: &start, Metrics: []v2alpha1.MetricInfo{{Name: "ns/m", MetricObj: metric}}},
	}
}

func decoded(t *testing.T, s v2alpha1.SampleSeries) []float64 {
	t.Helper()
	if s.State != v2alpha1.MetricStateValue {
		t.Fatalf("series in state %s: %s", s.State, s.Reason)
	}
	v, err := v2alpha1.DecodeSamples(s.Values)
	if err != nil {
		t.Fatal(err)
	}
	if int(s.Count) != len(v) {
		t.Errorf("count %d, %d values", s.Count, len(v))
	}
	return v
}

func TestCollectSamplesMock(t *testing.T) {
	m := v2alpha1.Metric{Spec: v2alpha1.MetricSpec{Mock: []v2alpha1.NamedLevel{{Name: "a", Level: *v2alpha1.ParseNumber("100")}, {Name: "b", Level: *v2alpha1.ParseNumber("110")}}}}
	got := (&Collector{}).CollectSamples(context.Background(), samplesExperiment(m))
	a, b := decoded(t, got.Data["ns/m"]["a"]), decoded(t, got.Data["ns/m"]["b"])
	if len(a) != mockSamples || len(b) != mockSamples {
		t.Fatalf("%d and %d samples, want %d", len(a), len(b), mockSamples)
	}
	if a[mockSamples/2] < 99 || a[mockSamples/2] > 101 || b[mockSamples/2] < 109 || b[mockSamples/2] > 111 {
		t.Errorf("middle samples %v and %v, want about the levels 100 and 110", a[mockSamples/2], b[mockSamples/2])
	}
}

func TestCollectSamplesPrometheusRange(t *testing.T) {
	var mu sync.Mutex
	gotForm := map[string]map[string]string{}
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		defer mu.Unlock()
		gotForm[r.Form.Get("query")] = map[string]string{"path": r.URL.Path, "start": r.Form.Get("start"), "end": r.Form.Get("end"), "step": r.Form.Get("step")}
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000002,"1.5"],[1700000004,"NaN"],[1700000006,"2.5"]]}]}}`)
	}))
	defer prom.Close()
	step := int32(2)
	m := v2alpha1.Metric{Spec: v2alpha1.MetricSpec{
		Provider: ptr("prometheus"), URLTemplate: ptr(prom.URL + "/api/v1/query"),
		Params:  []v2alpha1.NamedValue{{Name: "query", Value: `latency{v="$name"}`}},
		Samples: &v2alpha1.MetricSamples{StepSeconds: &step},
	}}
	c := &Collector{Now: func() time.Time { return time.Unix(1700000010, 0) }}
	got := c.CollectSamples(context.Background(), samplesExperiment(m))
	if diff := cmp.Diff([]float64{1.5, 2.5}, decoded(t, got.Data["ns/m"]["b"])); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	q := map[string]string{"path": "/api/v1/query_range", "start": "1700000000", "end": "1700000010", "step": "2"}
	want := map[string]map[string]string{`latency{v="a"}`: q, `latency{v="b"}`: q}
	if diff := cmp.Diff(want, gotForm); diff != "" {
		t.Errorf("range query (-want +got):\n%s", diff)
	}
}

// TestCollectSamplesNotPrometheus: another API's JSON at 200, which the client takes for an
// answer without a result, is an unexpected response, described and not quoted.
func TestCollectSamplesNotPrometheus(t *testing.T) {
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status": "ok", "token": "internal-s3cr3t"}`)
	}))
	defer prom.Close()
	step := int32(2)
	m := v2alpha1.Metric{Spec: v2alpha1.MetricSpec{
		Provider: ptr("prometheus"), URLTemplate: ptr(prom.URL + "/api/v1/query"),
		Params:  []v2alpha1.NamedValue{{Name: "query", Value: `latency{v="$name"}`}},
		Samples: &v2alpha1.MetricSamples{StepSeconds: &step},
	}}
	c := &Collector{Now: func() time.Time { return time.Unix(1700000010, 0) }}
	got := c.CollectSamples(context.Background(), samplesExperiment(m)).Data["ns/m"]["b"]
	want := "unexpected response: an application/json response of 44 bytes (not recorded)"
	if got.State != v2alpha1.MetricStateError || got.Reason != want {
		t.Errorf("series %s %q, want %s %q", got.State, got.Reason, v2alpha1.MetricStateError, want)
	}
}

func TestRangeSamplesFailures(t *testing.T) {
	series := func(vals ...float64) *model.SampleStream {
		s := &model.SampleStream{}
		for i, v := range vals {
			s.Values = append(s.Values, model.SamplePair{Timestamp: model.Time(i), Value: model.SampleValue(v)})
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		v      model.Value
		state  v2alpha1.MetricState
		reason string
	}{
		{"no series", model.Matrix{}, v2alpha1.MetricStateNoData, "empty result"},
		{"two series", model.Matrix{series(1), series(2)}, v2alpha1.MetricStateError, "2 series, expected 1"},
		{"only NaN", model.Matrix{series(math.NaN())}, v2alpha1.MetricStateNoData, "no finite points in the window"},
		{"a vector", model.Vector{}, v2alpha1.MetricStateError, "result of type vector, expected a matrix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := rangeSamples(tc.v)
			if r.State != tc.state || r.Reason != tc.reason {
				t.Errorf("rangeSamples = %s %q, want %s %q", r.State, r.Reason, tc.state, tc.reason)
			}
		})
	}
}

func TestCollectSamplesRESTArray(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"latencies":[10, "12.5", null, 14]}`)
	}))
	defer srv.Close()
	m := v2alpha1.Metric{Spec: v2alpha1.MetricSpec{
		URLTemplate: ptr(srv.URL), JQExpression: ptr(".latencies"), Samples: &v2alpha1.MetricSamples{},
	}}
	got := (&Collector{}).CollectSamples(context.Background(), samplesExperiment(m))
	if diff := cmp.Diff([]float64{10, 12.5, 14}, decoded(t, got.Data["ns/m"]["a"])); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
}

func TestCollectSamplesWithoutSamplesSpec(t *testing.T) {
	m := v2alpha1.Metric{Spec: v2alpha1.MetricSpec{URLTemplate: ptr("http://127.0.0.1:1/"), JQExpression: ptr(".x")}}
	got := (&Collector{}).CollectSamples(context.Background(), samplesExperiment(m)).Data["ns/m"]["a"]
	if got.State != v2alpha1.MetricStateError || got.Reason != "metric ns/m has no spec.samples, so it yields one number, not samples" {
		t.Errorf("series = %+v", got)
	}
}
