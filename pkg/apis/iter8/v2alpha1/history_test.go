package v2alpha1

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func aggOf(values map[string]map[string]AggregatedMetricsVersionData) *AggregatedMetricsAnalysis {
	a := &AggregatedMetricsAnalysis{Data: map[string]AggregatedMetricsData{}}
	for ref, vs := range values {
		a.Data[ref] = AggregatedMetricsData{Data: vs}
	}
	return a
}

func value(f float64) AggregatedMetricsVersionData {
	return AggregatedMetricsVersionData{Value: NewNumber(f), State: MetricStateValue}
}

var historyMeta = AnalysisMetaData{Provenance: "test", Timestamp: metav1.Unix(1700000000, 0)}

func TestRecordHistoryEncodes(t *testing.T) {
	var h *MetricHistory
	h = RecordHistory(h, 1, aggOf(map[string]map[string]AggregatedMetricsVersionData{
		"iter8-system/mean-latency": {"v1": value(0.879), "v2": value(136.0841234)},
		"iter8-system/error-rate":   {"v1": value(0), "v2": {State: MetricStateError, Reason: "timeout"}},
	}), historyMeta)
	// Iteration 2: v2's error-rate has no data; a new metric appears; v1's latency is
	// missing (not measured) and a large value is written in exponent form.
	h = RecordHistory(h, 2, aggOf(map[string]map[string]AggregatedMetricsVersionData{
		"iter8-system/mean-latency": {"v2": value(1.5e6)},
		"iter8-system/error-rate":   {"v1": value(0.25), "v2": {State: MetricStateNoData, Reason: "empty result"}},
		"request-count":             {"v1": value(42)},
	}), historyMeta)
	// A stale value reused by the metric's policy is the value assess judged.
	stale := value(7)
	stale.Stale, stale.State = true, MetricStateNoData
	h = RecordHistory(h, 3, aggOf(map[string]map[string]AggregatedMetricsVersionData{
		"request-count": {"v1": stale},
	}), historyMeta)
	want := &MetricHistory{
		AnalysisMetaData: historyMeta,
		Iterations:       []int32{1, 2, 3},
		Data: map[string]map[string]string{
			"iter8-system/mean-latency": {"v1": "0.879 - -", "v2": "136.084 1.5e+06 -"},
			"iter8-system/error-rate":   {"v1": "0 0.25 -", "v2": "! - -"},
			"request-count":             {"v1": "- 42 7"},
		},
	}
	if d := cmp.Diff(want, h); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}

	got, err := h.Series("iter8-system/error-rate", "v2")
	if err != nil {
		t.Fatal(err)
	}
	wantSeries := []HistoryPoint{{1, MetricStateError, 0}, {2, MetricStateNoData, 0}, {3, MetricStateNoData, 0}}
	if d := cmp.Diff(wantSeries, got); d != "" {
		t.Errorf("series (-want +got):\n%s", d)
	}
	got, err = h.Series("iter8-system/mean-latency", "v2")
	if err != nil {
		t.Fatal(err)
	}
	wantSeries = []HistoryPoint{{1, MetricStateValue, 136.084}, {2, MetricStateValue, 1.5e6}, {3, MetricStateNoData, 0}}
	if d := cmp.Diff(wantSeries, got); d != "" {
		t.Errorf("series (-want +got):\n%s", d)
	}
	if got, err := h.Series("unknown", "v1"); err != nil || got != nil {
		t.Errorf("Series of an unknown metric = %v, %v; want nil, nil", got, err)
	}

	// Recording an iteration again, or an earlier one, changes nothing.
	if again := RecordHistory(h, 3, aggOf(map[string]map[string]AggregatedMetricsVersionData{"request-count": {"v1": value(1)}}), historyMeta); again != h {
		t.Errorf("recording iteration 3 again changed the history: %+v", again)
	}
	// JSON round trip.
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back MetricHistory
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, &back); d != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", d)
	}
}

func TestHistorySeriesErrors(t *testing.T) {
	for _, tc := range []struct {
		series, want string
	}{
		{"1 2", "has 2 entries, want one per iteration (3)"},
		{"1 x 3", `entry 1 is "x", not a number`},
		{"1 NaN 3", `entry 1 is "NaN", not a number`},
	} {
		h := &MetricHistory{Iterations: []int32{1, 2, 3}, Data: map[string]map[string]string{"m": {"v": tc.series}}}
		_, err := h.Series("m", "v")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Series(%q) error %v, want it to contain %q", tc.series, err, tc.want)
		}
	}
	// A malformed series is started again by the next record rather than failing it.
	h := &MetricHistory{Iterations: []int32{1, 2}, Data: map[string]map[string]string{"m": {"v": "1"}}}
	h = RecordHistory(h, 3, aggOf(map[string]map[string]AggregatedMetricsVersionData{"m": {"v": value(3)}}), historyMeta)
	if d := cmp.Diff(map[string]map[string]string{"m": {"v": "- - 3"}}, h.Data); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}
}

// TestRecordHistoryDownsamples: past MaxHistoryIterations every other entry is dropped;
// the first and the latest iteration are always there.
func TestRecordHistoryDownsamples(t *testing.T) {
	var h *MetricHistory
	for k := int32(1); k <= 1000; k++ {
		h = RecordHistory(h, k, aggOf(map[string]map[string]AggregatedMetricsVersionData{"m": {"v": value(float64(k))}}), historyMeta)
		n := len(h.Iterations)
		if n > MaxHistoryIterations {
			t.Fatalf("iteration %d: %d entries, more than %d", k, n, MaxHistoryIterations)
		}
		if h.Iterations[0] != 1 || h.Iterations[n-1] != k {
			t.Fatalf("iteration %d: the history runs from %d to %d, want 1 to %d", k, h.Iterations[0], h.Iterations[n-1], k)
		}
		for i := 1; i < n; i++ {
			if h.Iterations[i] <= h.Iterations[i-1] {
				t.Fatalf("iteration %d: iterations not ascending: %v", k, h.Iterations)
			}
		}
		pts, err := h.Series("m", "v")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pts {
			if p.Value != float64(p.Iteration) {
				t.Fatalf("iteration %d: the value of iteration %d is %g: values and iterations are misaligned", k, p.Iteration, p.Value)
			}
		}
	}
	if n := len(h.Iterations); n < MaxHistoryIterations/2 {
		t.Errorf("after 1000 iterations %d entries are kept, want at least %d", n, MaxHistoryIterations/2)
	}
	// 101 entries halve to 51: the even ones and the last.
	var small *MetricHistory
	for k := int32(1); k <= MaxHistoryIterations+1; k++ {
		small = RecordHistory(small, k, aggOf(map[string]map[string]AggregatedMetricsVersionData{"m": {"v": value(1)}}), historyMeta)
	}
	var want []int32
	for k := int32(1); k <= MaxHistoryIterations+1; k += 2 {
		want = append(want, k)
	}
	if d := cmp.Diff(want, small.Iterations); d != "" {
		t.Errorf("iterations after downsampling (-want +got):\n%s", d)
	}
}

// TestRecordHistoryBoundsBytes: with many series the byte budget downsamples before the
// entry bound, and never below the first and the latest iteration.
func TestRecordHistoryBoundsBytes(t *testing.T) {
	for _, size := range []struct{ versions, metrics, iterations int }{{50, 50, 200}, {100, 100, 60}} {
		t.Run(fmt.Sprintf("%dx%d", size.versions, size.metrics), func(t *testing.T) {
			values := map[string]map[string]AggregatedMetricsVersionData{}
			for m := 0; m < size.metrics; m++ {
				vs := map[string]AggregatedMetricsVersionData{}
				for v := 0; v < size.versions; v++ {
					// The longest a value's text can be: 13 bytes, and a separator.
					vs[fmt.Sprintf("v%d", v)] = value(-1.23456789e-300)
				}
				values[fmt.Sprintf("iter8-system/metric-%d", m)] = vs
			}
			agg := aggOf(values)
			var h *MetricHistory
			last := int32(size.iterations)
			for k := int32(1); k <= last; k++ {
				h = RecordHistory(h, k, agg, historyMeta)
				bytes := 0
				for _, vs := range h.Data {
					for _, s := range vs {
						bytes += len(s) + 1
					}
				}
				series := size.versions * size.metrics
				// The bound holds unless only the first and the latest are left.
				if bytes > MaxHistoryBytes && len(h.Iterations) > 2 {
					t.Fatalf("iteration %d: %d bytes of values in %d entries, more than %d", k, bytes, len(h.Iterations), MaxHistoryBytes)
				}
				if len(h.Iterations) > 2 && bytes > 14*series*len(h.Iterations) {
					t.Fatalf("iteration %d: %d bytes for %d values", k, bytes, series*len(h.Iterations))
				}
			}
			if h.Iterations[0] != 1 || h.Iterations[len(h.Iterations)-1] != last {
				t.Errorf("history runs from %d to %d, want 1 to %d", h.Iterations[0], h.Iterations[len(h.Iterations)-1], last)
			}
		})
	}
}

// sizeExperiment is the status of an experiment of versions × metrics after iterations,
// with values of realistic magnitudes (rates, latencies, counts) and, in
// aggregatedMetrics, a resolved Prometheus query like the Knative metric set's.
func sizeExperiment(versions, metrics, iterations int) *Experiment {
	query := `sum(increase(revision_app_request_latencies_sum{revision_name='sample-app-v1-abcde',namespace_name='default',response_code_class!='5xx'}[30s])) / sum(increase(revision_app_request_latencies_count{revision_name='sample-app-v1-abcde',namespace_name='default'}[30s]))`
	exp := &Experiment{}
	exp.Status.Analysis = &Analysis{}
	var h *MetricHistory
	seed := uint32(1)
	next := func() float64 { // a small LCG: deterministic sizes
		seed = seed*1664525 + 1013904223
		return float64(seed>>8) / float64(1<<24)
	}
	for k := 1; k <= iterations; k++ {
		values := map[string]map[string]AggregatedMetricsVersionData{}
		for m := 0; m < metrics; m++ {
			vs := map[string]AggregatedMetricsVersionData{}
			for v := 0; v < versions; v++ {
				var f float64
				switch m % 3 {
				case 0: // an error rate
					f = next() / 50
				case 1: // a latency in milliseconds
					f = 10 + 90*next()
				default: // a request count
					f = float64(int(100000 * next()))
				}
				d := value(f)
				d.Query, d.Attempts, d.SampleSize = query, 1, new(int32)
				vs[fmt.Sprintf("sample-app-v%d", v)] = d
			}
			values[fmt.Sprintf("iter8-knative/metric-%d", m)] = vs
		}
		agg := aggOf(values)
		agg.AnalysisMetaData = historyMeta
		h = RecordHistory(h, int32(k), agg, historyMeta)
		exp.Status.Analysis.AggregatedMetrics = agg
	}
	exp.Status.Analysis.History = h
	return exp
}

func jsonSize(t *testing.T, v any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// TestHistorySize measures the history's bytes per value and the status with and without
// it (docs/benchmarks.md, "History size"; go test -run TestHistorySize -v prints the table).
// etcd refuses requests over 1.5 MiB.
func TestHistorySize(t *testing.T) {
	const etcdLimit = 3 << 19 // 1.5 MiB
	t.Logf("| V×M | iterations | entries kept | history | per value | aggregatedMetrics | status with history |")
	t.Logf("|---|---:|---:|---:|---:|---:|---:|")
	for _, tc := range []struct{ versions, metrics, iterations int }{
		{1, 4, 10}, {2, 4, 100}, {2, 4, 1000}, {5, 10, 100}, {10, 10, 100}, {10, 10, 1000},
		{10, 50, 100}, {50, 50, 100}, {50, 70, 100},
	} {
		exp := sizeExperiment(tc.versions, tc.metrics, tc.iterations)
		h := exp.Status.Analysis.History
		hist := jsonSize(t, h)
		series := tc.versions * tc.metrics
		values := series * len(h.Iterations)
		agg := jsonSize(t, exp.Status.Analysis.AggregatedMetrics)
		status := jsonSize(t, exp.Status)
		t.Logf("| %d×%d | %d | %d | %.1f KiB | %.1f B | %.1f KiB | %.1f KiB |", tc.versions, tc.metrics, tc.iterations,
			len(h.Iterations), float64(hist)/1024, float64(hist)/float64(values), float64(agg)/1024, float64(status)/1024)
		// The history never holds more than its budget, and the keys (a metric once, a
		// version once per metric: under 40 bytes a series here).
		if limit := MaxHistoryBytes + 40*series + 4096; hist > limit {
			t.Errorf("%d×%d×%d: history is %d bytes, more than %d", tc.versions, tc.metrics, tc.iterations, hist, limit)
		}
		// Up to 10 × 10 the history keeps every iteration up to the entry bound.
		if series <= 100 && len(h.Iterations) < min(tc.iterations, MaxHistoryIterations/2) {
			t.Errorf("%d×%d×%d: only %d entries kept", tc.versions, tc.metrics, tc.iterations, len(h.Iterations))
		}
		// 10 × 50 at 100 iterations (the largest with margin: under 2/3 of etcd's limit).
		if series <= 500 && status > etcdLimit*2/3 {
			t.Errorf("%d×%d×%d: the status is %d bytes, over 2/3 of etcd's limit", tc.versions, tc.metrics, tc.iterations, status)
		}
	}
}

// BenchmarkRecordHistory is what recording one iteration costs iterate, on a history
// already at its bound (the most work: a downsampling every other call at most), and the
// history's bytes per value.
func BenchmarkRecordHistory(b *testing.B) {
	for _, size := range []struct{ versions, metrics int }{{2, 4}, {10, 10}, {50, 50}} {
		b.Run(fmt.Sprintf("%dx%d", size.versions, size.metrics), func(b *testing.B) {
			exp := sizeExperiment(size.versions, size.metrics, MaxHistoryIterations+1)
			h, agg := exp.Status.Analysis.History, exp.Status.Analysis.AggregatedMetrics
			k := h.Iterations[len(h.Iterations)-1]
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k++
				h = RecordHistory(h, k, agg, historyMeta)
			}
			b.StopTimer()
			js, err := json.Marshal(h)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(js))/float64(len(h.Iterations)*size.versions*size.metrics), "B/value")
			b.ReportMetric(float64(len(h.Iterations)), "entries")
		})
	}
}

// TestTooManyValuesAreRefused: an experiment whose versions × metrics would not fit in the
// status is refused by validation, before it starts; 50 × 50 is accepted.
func TestTooManyValuesAreRefused(t *testing.T) {
	spec := func(versions, metrics int) *ExperimentSpec {
		fixed := DeploymentPatternFixedSplit
		s := &ExperimentSpec{Target: "default/app", Strategy: Strategy{TestingPattern: TestingPatternABN, DeploymentPattern: &fixed},
			VersionInfo: &VersionInfo{Baseline: VersionDetail{Name: "v0"}}, Criteria: &Criteria{}}
		for v := 1; v < versions; v++ {
			s.VersionInfo.Candidates = append(s.VersionInfo.Candidates, VersionDetail{Name: fmt.Sprintf("v%d", v)})
		}
		for m := 0; m < metrics; m++ {
			s.Criteria.Indicators = append(s.Criteria.Indicators, fmt.Sprintf("m%d", m))
		}
		s.Criteria.Rewards = []Reward{{Metric: "m0", PreferredDirection: PreferredDirectionHigh}}
		return s
	}
	if err := spec(50, 50).ValidateVersionInfo(); err != nil {
		t.Errorf("50 × 50: %v", err)
	}
	err := spec(50, 51).ValidateVersionInfo()
	if want := "50 versions × 51 metrics are 2550 values, more than 2500"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("50 × 51: %v, want an error containing %q", err, want)
	}
}
