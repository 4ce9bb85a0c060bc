package builtin

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// tenMs has 10 requests: 4 in [0, 0.01], 4 in [0.01, 0.02], 2 in [0.02, 0.05] seconds.
func tenMs() *Histogram {
	return &Histogram{
		DurationHistogram: DurationHistogram{Count: 10, Max: 0.05, Sum: 0.16, Data: []Bucket{
			{Start: 0.02, End: 0.05, Count: 2},
			{Start: 0, End: 0.01, Count: 4},
			{Start: 0.01, End: 0.02, Count: 4},
		}},
		RetCodes: map[int]int64{200: 7, 404: 1, 503: 1, -1: 1},
	}
}

var approx = cmpopts.EquateApprox(0, 1e-9)

func TestValue(t *testing.T) {
	tests := []struct {
		name string
		want float64
	}{
		{"request-count", 10},
		{"error-count", 3},
		{"error-rate", 0.3},
		{"mean-latency", 16},
		// rank 5 of 10: the first of the 4 in [10, 20]ms → 10 + 10·1/4.
		{"latency-50th-percentile", 12.5},
		// rank 7.5: 3.5 of 4 into [10, 20]ms.
		{"latency-75th-percentile", 18.75},
		// rank 9: 1 of 2 into [20, 50]ms.
		{"latency-90th-percentile", 35},
		{"latency-95th-percentile", 42.5},
		{"latency-99th-percentile", 48.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := Value(tc.name, tenMs())
			if err != nil || !ok {
				t.Fatalf("Value: %v %v", ok, err)
			}
			if diff := cmp.Diff(tc.want, got, approx); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestValueWithoutRequests(t *testing.T) {
	empty := &Histogram{}
	for _, m := range Metrics() {
		v, ok, err := Value(m.Name, empty)
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
		}
		counter := m.Spec.MetricType() == v2alpha1.CounterMetricType
		if ok != counter || v != 0 {
			t.Errorf("%s: got %v %v, want a zero count for counters and no value for gauges", m.Name, v, ok)
		}
	}
	if _, _, err := Value("latency-42nd-percentile", empty); err == nil {
		t.Error("an unknown metric has a value")
	}
}

func TestPercentileEdges(t *testing.T) {
	h := tenMs()
	for _, tc := range []struct {
		p    float64
		want float64
		ok   bool
	}{{100, 0.05, true}, {40, 0.01, true}, {0.001, 2.5e-7, true}, {0, 0, false}, {101, 0, false}, {math.NaN(), 0, false}} {
		got, ok := h.Percentile(tc.p)
		if ok != tc.ok || (ok && math.Abs(got-tc.want) > 1e-9) {
			t.Errorf("Percentile(%v) = %v %v, want %v %v", tc.p, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMergeAndAddHists(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	first, err := AddHists(nil, map[string]*Histogram{"v1": tenMs()}, now)
	if err != nil {
		t.Fatal(err)
	}
	second, err := AddHists(first, map[string]*Histogram{"v1": tenMs(), "v2": {
		DurationHistogram: DurationHistogram{Count: 1, Max: 0.3, Sum: 0.3, Data: []Bucket{{Start: 0.2, End: 0.3, Count: 1}}},
		RetCodes:          map[int]int64{200: 1},
	}}, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeHists(second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*Histogram{
		"v1": {
			DurationHistogram: DurationHistogram{Count: 20, Max: 0.05, Sum: 0.32, Data: []Bucket{
				{Start: 0, End: 0.01, Count: 8}, {Start: 0.01, End: 0.02, Count: 8}, {Start: 0.02, End: 0.05, Count: 4},
			}},
			RetCodes: map[int]int64{200: 14, 404: 2, 503: 2, -1: 2},
		},
		"v2": {
			DurationHistogram: DurationHistogram{Count: 1, Max: 0.3, Sum: 0.3, Data: []Bucket{{Start: 0.2, End: 0.3, Count: 1}}},
			RetCodes:          map[int]int64{200: 1},
		},
	}
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if second.Provenance != Provenance || !second.Timestamp.Equal(&now) {
		t.Errorf("metadata: %+v", second.AnalysisMetaData)
	}
	// first is unchanged.
	if h, _ := DecodeHists(first); h["v1"].DurationHistogram.Count != 10 {
		t.Errorf("AddHists changed its input: %+v", h["v1"])
	}
}

func TestDecodeFortioJSON(t *testing.T) {
	// An excerpt of `fortio load -json` output, with fields iter8 does not read.
	raw := `{"v1": {"RunType": "HTTP", "ActualQPS": 8.1, "DurationHistogram": {"Count": 3, "Min": 0.001, "Max": 0.004,
	  "Sum": 0.007, "Avg": 0.00233, "StdDev": 0.001, "Data": [{"Start": 0.001, "End": 0.002, "Percent": 33.3, "Count": 1},
	  {"Start": 0.002, "End": 0.004, "Percent": 100, "Count": 2}], "Percentiles": [{"Percentile": 50, "Value": 0.002}]},
	  "RetCodes": {"200": 2, "-1": 1}, "Sizes": {"Count": 3}}}`
	got, err := DecodeHists(&v2alpha1.AggregatedBuiltinHists{Data: &apiextensionsv1.JSON{Raw: []byte(raw)}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*Histogram{"v1": {
		DurationHistogram: DurationHistogram{Count: 3, Max: 0.004, Sum: 0.007, Data: []Bucket{{Start: 0.001, End: 0.002, Count: 1}, {Start: 0.002, End: 0.004, Count: 2}}},
		RetCodes:          map[int]int64{200: 2, -1: 1},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := DecodeHists(&v2alpha1.AggregatedBuiltinHists{Data: &apiextensionsv1.JSON{Raw: []byte(`"x"`)}}); err == nil {
		t.Error("decoding a string succeeded")
	}
}

func TestLoad(t *testing.T) {
	var n, posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("X-Test") == "yes" {
			posts.Add(1)
		}
		if n.Add(1)%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()

	h, err := Load(t.Context(), LoadOptions{
		URL: srv.URL, NumRequests: 20, QPS: 200, Connections: 2,
		Headers: map[string]string{"X-Test": "yes"}, Payload: []byte(`{"a":1}`), ContentType: "application/json",
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[int]int64{200: 16, 503: 4}, h.RetCodes); diff != "" {
		t.Errorf("RetCodes (-want +got):\n%s", diff)
	}
	if h.DurationHistogram.Count != 20 || posts.Load() != 20 {
		t.Errorf("count %d, POSTs with the header %d, want 20 and 20", h.DurationHistogram.Count, posts.Load())
	}
	var inBuckets int64
	for _, b := range h.DurationHistogram.Data {
		inBuckets += b.Count
	}
	if inBuckets != 20 || h.DurationHistogram.Sum <= 0 || h.DurationHistogram.Max <= 0 {
		t.Errorf("histogram %+v", h.DurationHistogram)
	}
	if v, _, _ := Value("error-rate", h); v != 0.2 {
		t.Errorf("error-rate %v, want 0.2", v)
	}
}

func TestLoadUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	h, err := Load(t.Context(), LoadOptions{URL: url, NumRequests: 4, QPS: 100, Connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	if h.Errors() != 4 || h.DurationHistogram.Count != 4 {
		t.Errorf("got %d errors of %d requests (%v), want 4 of 4", h.Errors(), h.DurationHistogram.Count, h.RetCodes)
	}
}

func TestLoadDurationEndsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	h, err := Load(ctx, LoadOptions{URL: srv.URL, Duration: time.Minute, QPS: 50, Connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Load took %v after its context ended at 300ms", took)
	}
	if h.DurationHistogram.Count == 0 {
		t.Error("no requests were sent")
	}
}

func TestLoadRejectsBadOptions(t *testing.T) {
	for _, o := range []LoadOptions{{}, {URL: "http://x", QPS: -1}, {URL: "http://127.0.0.1:1", Headers: map[string]string{"Bad Header": "x"}}} {
		if _, err := Load(t.Context(), o); err == nil {
			t.Errorf("Load(%+v) succeeded", o)
		}
	}
}
