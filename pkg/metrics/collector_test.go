package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics/builtin"
)

// loadMetrics decodes a shipped Metric set.
func loadMetrics(t testing.TB, file string) map[string]v2alpha1.Metric {
	t.Helper()
	b, err := os.ReadFile("../../config/metrics/" + file)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := v2alpha1.DecodeDocuments(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
	out := map[string]v2alpha1.Metric{}
	for _, d := range docs {
		if d.Metric == nil {
			t.Fatalf("%s: document %d is not a Metric", file, d.Index)
		}
		out[d.Metric.Namespace+"/"+d.Metric.Name] = *d.Metric
	}
	return out
}

// promByRevision answers every query, and every query of a batch, with the value given for
// the revision it names, or an empty result.
func promByRevision(t testing.TB, values map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		q := form.Get("query")
		queries, batch := splitBatch(q)
		if !batch {
			queries = []string{q}
		}
		var items []string
		for i, q := range queries {
			for rev, v := range values {
				if strings.Contains(q, "'"+rev+"'") {
					label := ""
					if batch {
						label = fmt.Sprintf(`,%q:"%d"`, batchLabel, i)
					}
					items = append(items, `{"metric":{"i":"a"`+label+`},"value":[1700000000.5,"`+v+`"]}`)
					break
				}
			}
		}
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[`+strings.Join(items, ",")+`]}}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCollect(t *testing.T) {
	knative := loadMetrics(t, "knative.yaml")
	istio := loadMetrics(t, "istio.yaml")
	prom := promByRevision(t, map[string]string{"sample-app-v2": "5", "sample-app-v1": "7"})
	hists, err := builtin.AddHists(nil, map[string]*builtin.Histogram{
		"current": {DurationHistogram: builtin.DurationHistogram{Count: 4, Sum: 0.4, Max: 0.2,
			Data: []builtin.Bucket{{Start: 0, End: 0.2, Count: 4}}}, RetCodes: map[int]int64{200: 3, 503: 1}},
	}, metav1.Now())
	if err != nil {
		t.Fatal(err)
	}
	mock := istio["iter8-istio/user-engagement"]
	mock.Spec.Mock = []v2alpha1.NamedLevel{{Name: "current", Level: *v2alpha1.ParseNumber("15")}, {Name: "candidate", Level: *v2alpha1.ParseNumber("20")}}
	counter := mock.DeepCopy()
	counter.Spec.Type = ptr(v2alpha1.CounterMetricType)

	start := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	exp := &v2alpha1.Experiment{
		Spec: v2alpha1.ExperimentSpec{
			Target:   "default/sample-app",
			Strategy: v2alpha1.Strategy{TestingPattern: v2alpha1.TestingPatternCanary},
			VersionInfo: &v2alpha1.VersionInfo{
				Baseline:   v2alpha1.VersionDetail{Name: "current", Variables: []v2alpha1.NamedValue{{Name: "revision", Value: "sample-app-v2"}}},
				Candidates: []v2alpha1.VersionDetail{{Name: "candidate", Variables: []v2alpha1.NamedValue{{Name: "revision", Value: "sample-app-v1"}}}},
			},
			Criteria: &v2alpha1.Criteria{
				RequestCount: ptr("iter8-knative/request-count"),
				Objectives: []v2alpha1.Objective{
					{Metric: "mean-latency"},
					{Metric: "iter8-system/error-rate"},
					{Metric: "user-engagement"},
					{Metric: "no-such-metric"},
				},
				Indicators: []string{"sessions"},
			},
		},
		Status: v2alpha1.ExperimentStatus{
			StartTime: &start,
			Analysis:  &v2alpha1.Analysis{AggregatedBuiltinHists: hists},
			Metrics: []v2alpha1.MetricInfo{
				{Name: "iter8-knative/request-count", MetricObj: knative["iter8-knative/request-count"]},
				{Name: "iter8-knative/mean-latency", MetricObj: knative["iter8-knative/mean-latency"]},
				{Name: "iter8-knative/error-count", MetricObj: knative["iter8-knative/error-count"]},
				{Name: "iter8-istio/user-engagement", MetricObj: mock},
				{Name: "iter8-istio/sessions", MetricObj: *counter},
			},
		},
	}
	for i := range exp.Status.Metrics {
		m := &exp.Status.Metrics[i].MetricObj
		m.Spec.URLTemplate = ptr(prom.URL + "/api/v1/query")
	}
	c := testCollector(nil)
	c.Now = func() time.Time { return start.Add(100 * time.Second) }
	got := c.Collect(t.Context(), exp)

	val := func(v float64, q string) Result {
		return Result{State: v2alpha1.MetricStateValue, Value: v, Query: q, Attempts: 1}
	}
	knativeQuery := func(name, rev string) string {
		m := knative["iter8-knative/"+name]
		p, _ := param(&m.Spec, "query")
		return Substitute(p, map[string]string{"revision": rev, "elapsedTime": "100"}, EscapePromQL)
	}
	missing := Result{State: v2alpha1.MetricStateError, Reason: `metric "no-such-metric" is not in status.metrics`}
	want := map[string]map[string]Result{
		"iter8-knative/request-count": {"current": val(5, knativeQuery("request-count", "sample-app-v2")), "candidate": val(7, knativeQuery("request-count", "sample-app-v1"))},
		"mean-latency":                {"current": val(5, knativeQuery("mean-latency", "sample-app-v2")), "candidate": val(7, knativeQuery("mean-latency", "sample-app-v1"))},
		"iter8-knative/error-count":   {"current": val(5, knativeQuery("error-count", "sample-app-v2")), "candidate": val(7, knativeQuery("error-count", "sample-app-v1"))},
		"iter8-system/error-rate": {
			"current":   {State: v2alpha1.MetricStateValue, Value: 0.25, Query: "builtin error-rate"},
			"candidate": {State: v2alpha1.MetricStateNoData, Reason: "no builtin load results for version candidate", Query: "builtin error-rate"},
		},
		"user-engagement": {
			"current":   {State: v2alpha1.MetricStateValue, Value: 15, Query: "mock"},
			"candidate": {State: v2alpha1.MetricStateValue, Value: 20, Query: "mock"},
		},
		"sessions": {
			"current":   {State: v2alpha1.MetricStateValue, Value: 1500, Query: "mock"},
			"candidate": {State: v2alpha1.MetricStateValue, Value: 2000, Query: "mock"},
		},
		"no-such-metric": {"current": missing, "candidate": missing},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Collect (-want +got):\n%s", diff)
	}
}

func TestCollectBadBuiltinHists(t *testing.T) {
	exp := &v2alpha1.Experiment{
		Spec: v2alpha1.ExperimentSpec{
			VersionInfo: &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "v1"}},
			Criteria:    &v2alpha1.Criteria{Objectives: []v2alpha1.Objective{{Metric: "iter8-system/mean-latency"}}},
		},
		Status: v2alpha1.ExperimentStatus{Analysis: &v2alpha1.Analysis{AggregatedBuiltinHists: &v2alpha1.AggregatedBuiltinHists{
			Data: &apiextensionsv1.JSON{Raw: []byte(`[1, 2]`)},
		}}},
	}
	got := testCollector(nil).Collect(t.Context(), exp)["iter8-system/mean-latency"]["v1"]
	if got.State != v2alpha1.MetricStateError || !strings.Contains(got.Reason, "decoding aggregatedBuiltinHists.data") {
		t.Errorf("got %+v, want an Error about the histograms", got)
	}
}

// slowExperiment has versions × metrics REST metrics whose backend answers after delay.
func slowExperiment(t testing.TB, versions, metrics int, delay time.Duration) (*v2alpha1.Experiment, *atomic.Int32) {
	t.Helper()
	var inFlight, maxInFlight atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(delay)
		_ = json.NewEncoder(w).Encode(map[string]float64{"value": 1})
	}))
	t.Cleanup(srv.Close)
	exp := &v2alpha1.Experiment{Spec: v2alpha1.ExperimentSpec{VersionInfo: &v2alpha1.VersionInfo{}, Criteria: &v2alpha1.Criteria{}}}
	for i := range versions {
		v := v2alpha1.VersionDetail{Name: fmt.Sprintf("v%d", i)}
		if i == 0 {
			exp.Spec.VersionInfo.Baseline = v
		} else {
			exp.Spec.VersionInfo.Candidates = append(exp.Spec.VersionInfo.Candidates, v)
		}
	}
	for i := range metrics {
		name := fmt.Sprintf("m%d", i)
		exp.Spec.Criteria.Indicators = append(exp.Spec.Criteria.Indicators, name)
		exp.Status.Metrics = append(exp.Status.Metrics, v2alpha1.MetricInfo{Name: "ns/" + name, MetricObj: *restMetric(srv.URL, nil)})
	}
	return exp, &maxInFlight
}

func TestCollectRunsConcurrentlyAndBounded(t *testing.T) {
	exp, maxInFlight := slowExperiment(t, 4, 10, 200*time.Millisecond)
	c := testCollector(nil)
	c.Parallelism = 8
	start := time.Now()
	got := c.Collect(t.Context(), exp)
	took := time.Since(start)
	values := 0
	for _, vs := range got {
		for _, r := range vs {
			if r.State == v2alpha1.MetricStateValue {
				values++
			}
		}
	}
	if values != 40 {
		t.Errorf("got %d values, want 40", values)
	}
	// 40 queries of 200ms, 8 at a time: 5 rounds, 1s; one at a time would be 8s.
	if took > 3*time.Second {
		t.Errorf("Collect took %v, want about 1s", took)
	}
	if m := maxInFlight.Load(); m > 8 || m < 4 {
		t.Errorf("at most %d queries were in flight, want up to Parallelism (8)", m)
	}
}

func TestCollectSlowBackendDelaysOnlyItself(t *testing.T) {
	start := time.Now()
	var lastFast atomic.Int64 // nanoseconds after start of the fast backend's last answer
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastFast.Store(int64(time.Since(start)))
		_, _ = io.WriteString(w, `{"value": 1}`)
	}))
	t.Cleanup(fast.Close)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)

	exp := &v2alpha1.Experiment{Spec: v2alpha1.ExperimentSpec{
		VersionInfo: &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "v1"}, Candidates: []v2alpha1.VersionDetail{{Name: "v2"}}},
		Criteria:    &v2alpha1.Criteria{},
	}}
	// The hanging backend's queries are added first and outnumber Parallelism.
	for i := range 3 {
		name := fmt.Sprintf("hang%d", i)
		exp.Spec.Criteria.Indicators = append(exp.Spec.Criteria.Indicators, name)
		m := restMetric(hang.URL, func(s *v2alpha1.MetricSpec) { s.TimeoutSeconds = ptr(int32(1)) })
		exp.Status.Metrics = append(exp.Status.Metrics, v2alpha1.MetricInfo{Name: "ns/" + name, MetricObj: *m})
	}
	for i := range 3 {
		name := fmt.Sprintf("fast%d", i)
		exp.Spec.Criteria.Indicators = append(exp.Spec.Criteria.Indicators, name)
		exp.Status.Metrics = append(exp.Status.Metrics, v2alpha1.MetricInfo{Name: "ns/" + name, MetricObj: *restMetric(fast.URL, nil)})
	}
	c := testCollector(nil)
	c.Parallelism = 2
	got := c.Collect(t.Context(), exp)
	took := time.Since(start)
	// 6 hanging queries, 2 at a time, 1s each.
	if took < 2900*time.Millisecond || took > 4500*time.Millisecond {
		t.Errorf("Collect took %v, want about 3s", took)
	}
	if last := time.Duration(lastFast.Load()); last > 500*time.Millisecond {
		t.Errorf("the fast backend's last query came %v after the start, want it not to wait for the hanging one", last)
	}
	for key, vs := range got {
		for v, r := range vs {
			want := v2alpha1.MetricStateValue
			if strings.HasPrefix(key, "hang") {
				want = v2alpha1.MetricStateError
			}
			if r.State != want {
				t.Errorf("%s/%s: got %s (%s), want %s", key, v, r.State, r.Reason, want)
			}
		}
	}
}

func TestShippedMetricSets(t *testing.T) {
	for _, file := range []string{"knative.yaml", "istio.yaml", "builtin.yaml"} {
		t.Run(file, func(t *testing.T) {
			ms := loadMetrics(t, file)
			if len(ms) == 0 {
				t.Fatal("no metrics")
			}
			for name, m := range ms {
				if err := m.Validate(); err != nil {
					t.Errorf("%s: %v", name, err)
				}
				if m.Spec.SampleSize != nil {
					if _, ok := ms[*m.Spec.SampleSize]; !ok {
						t.Errorf("%s: sampleSize %s is not in the set", name, *m.Spec.SampleSize)
					}
				}
			}
		})
	}
	want := map[string]v2alpha1.Metric{}
	for _, m := range builtin.Metrics() {
		want[m.Namespace+"/"+m.Name] = m
	}
	if diff := cmp.Diff(want, loadMetrics(t, "builtin.yaml")); diff != "" {
		t.Errorf("builtin.yaml and builtin.Metrics() differ (-Metrics +yaml):\n%s", diff)
	}
	knative := loadMetrics(t, "knative.yaml")
	var names []string
	for name := range knative {
		names = append(names, name)
	}
	for _, name := range []string{"request-count", "error-count", "error-rate", "mean-latency", "95th-percentile-tail-latency"} {
		m, ok := knative["iter8-knative/"+name]
		if !ok {
			t.Errorf("knative.yaml has no %s (has %v)", name, names)
			continue
		}
		if got := *m.Spec.URLTemplate; got != "http://prometheus-operated.iter8-system:9090/api/v1/query" {
			t.Errorf("%s: urlTemplate %s", name, got)
		}
	}
}
