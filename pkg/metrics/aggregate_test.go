package metrics

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// numbers compares Numbers by their text.
var numbers = cmp.Comparer(func(a, b v2alpha1.Number) bool { return a.String() == b.String() })

func TestAggregate(t *testing.T) {
	policy := func(p v2alpha1.MissingValuePolicy) v2alpha1.Metric {
		return v2alpha1.Metric{Spec: v2alpha1.MetricSpec{OnMissingValue: &p}}
	}
	exp := &v2alpha1.Experiment{Status: v2alpha1.ExperimentStatus{Metrics: []v2alpha1.MetricInfo{
		{Name: "ns/fail", MetricObj: v2alpha1.Metric{}},
		{Name: "ns/reuse", MetricObj: policy(v2alpha1.MissingValueReusePrevious)},
		{Name: "ns/ignore", MetricObj: policy(v2alpha1.MissingValueIgnore)},
	}}}
	value := func(v float64) Result {
		return Result{State: v2alpha1.MetricStateValue, Value: v, Query: "q", Attempts: 1}
	}
	noData := Result{State: v2alpha1.MetricStateNoData, Reason: "empty result", Query: "q", Attempts: 1}
	failed := Result{State: v2alpha1.MetricStateError, Reason: "HTTP 503: x (after 3 attempts)", Query: "q", Attempts: 3}
	fresh := func(v float64) v2alpha1.AggregatedMetricsVersionData {
		return v2alpha1.AggregatedMetricsVersionData{Value: v2alpha1.NewNumber(v), State: v2alpha1.MetricStateValue, Query: "q", Attempts: 1}
	}
	missed := func(r Result, misses int32, stale *float64) v2alpha1.AggregatedMetricsVersionData {
		d := v2alpha1.AggregatedMetricsVersionData{State: r.State, Reason: r.Reason, Query: r.Query, Attempts: int32(r.Attempts), ConsecutiveMisses: misses}
		if stale != nil {
			d.Value, d.Stale = v2alpha1.NewNumber(*stale), true
		}
		return d
	}
	three := 3.0

	// Each step is one iteration's results for every metric's version v1, and what v1's
	// entry must be afterwards.
	steps := []struct {
		results map[string]Result
		want    map[string]v2alpha1.AggregatedMetricsVersionData
	}{{
		results: map[string]Result{"fail": value(3), "reuse": value(3), "ignore": value(3)},
		want:    map[string]v2alpha1.AggregatedMetricsVersionData{"fail": fresh(3), "reuse": fresh(3), "ignore": fresh(3)},
	}, {
		results: map[string]Result{"fail": noData, "reuse": noData, "ignore": failed},
		want: map[string]v2alpha1.AggregatedMetricsVersionData{
			"fail": missed(noData, 1, nil), "reuse": missed(noData, 1, &three), "ignore": missed(failed, 1, nil),
		},
	}, {
		results: map[string]Result{"fail": failed, "reuse": failed, "ignore": failed},
		want: map[string]v2alpha1.AggregatedMetricsVersionData{
			"fail": missed(failed, 2, nil), "reuse": missed(failed, 2, &three), "ignore": missed(failed, 2, nil),
		},
	}, {
		// The third miss in a row reaches maxConsecutiveMissing (3): no more reuse.
		results: map[string]Result{"fail": noData, "reuse": noData, "ignore": noData},
		want: map[string]v2alpha1.AggregatedMetricsVersionData{
			"fail": missed(noData, 3, nil), "reuse": missed(noData, 3, nil), "ignore": missed(noData, 3, nil),
		},
	}, {
		results: map[string]Result{"fail": value(4), "reuse": value(5), "ignore": value(6)},
		want:    map[string]v2alpha1.AggregatedMetricsVersionData{"fail": fresh(4), "reuse": fresh(5), "ignore": fresh(6)},
	}}

	var prev *v2alpha1.AggregatedMetricsAnalysis
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for i, step := range steps {
		results := map[string]map[string]Result{}
		for k, r := range step.results {
			results[k] = map[string]Result{"v1": r}
		}
		var before *v2alpha1.AggregatedMetricsAnalysis
		if prev != nil {
			before = prev.DeepCopy()
		}
		got := Aggregate(prev, results, exp, now)
		if diff := cmp.Diff(before, prev, numbers); diff != "" {
			t.Fatalf("step %d: Aggregate modified prev (-before +after):\n%s", i, diff)
		}
		gotV1 := map[string]v2alpha1.AggregatedMetricsVersionData{}
		for k, d := range got.Data {
			gotV1[k] = d.Data["v1"]
		}
		if diff := cmp.Diff(step.want, gotV1, numbers); diff != "" {
			t.Errorf("step %d (-want +got):\n%s", i, diff)
		}
		if got.Provenance != Provenance || !got.Timestamp.Equal(&now) {
			t.Errorf("step %d: provenance %q timestamp %v", i, got.Provenance, got.Timestamp)
		}
		prev = got
	}
}

func TestAggregateKeepsOtherEntries(t *testing.T) {
	prev := &v2alpha1.AggregatedMetricsAnalysis{Data: map[string]v2alpha1.AggregatedMetricsData{
		"old": {Data: map[string]v2alpha1.AggregatedMetricsVersionData{"v1": {Value: v2alpha1.NewNumber(1), State: v2alpha1.MetricStateValue}}},
		"m":   {Data: map[string]v2alpha1.AggregatedMetricsVersionData{"v2": {Value: v2alpha1.NewNumber(2), State: v2alpha1.MetricStateValue}}},
	}}
	got := Aggregate(prev, map[string]map[string]Result{"m": {"v1": {State: v2alpha1.MetricStateValue, Value: 9}}}, &v2alpha1.Experiment{}, metav1.Now())
	want := map[string]v2alpha1.AggregatedMetricsData{
		"old": {Data: map[string]v2alpha1.AggregatedMetricsVersionData{"v1": {Value: v2alpha1.NewNumber(1), State: v2alpha1.MetricStateValue}}},
		"m": {Data: map[string]v2alpha1.AggregatedMetricsVersionData{
			"v1": {Value: v2alpha1.NewNumber(9), State: v2alpha1.MetricStateValue},
			"v2": {Value: v2alpha1.NewNumber(2), State: v2alpha1.MetricStateValue},
		}},
	}
	if diff := cmp.Diff(want, got.Data, numbers); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestAggregateSampleSize(t *testing.T) {
	exp := &v2alpha1.Experiment{Status: v2alpha1.ExperimentStatus{Metrics: []v2alpha1.MetricInfo{
		{Name: "iter8-knative/request-count", MetricObj: v2alpha1.Metric{}},
		{Name: "iter8-knative/mean-latency", MetricObj: v2alpha1.Metric{Spec: v2alpha1.MetricSpec{SampleSize: ptr("request-count")}}},
		{Name: "iter8-knative/error-rate", MetricObj: v2alpha1.Metric{Spec: v2alpha1.MetricSpec{SampleSize: ptr("iter8-knative/request-count")}}},
	}}}
	results := map[string]map[string]Result{
		"iter8-knative/request-count": {
			"v1": {State: v2alpha1.MetricStateValue, Value: 101.6},
			"v2": {State: v2alpha1.MetricStateError, Reason: "x"},
		},
		"mean-latency": {"v1": {State: v2alpha1.MetricStateValue, Value: 3}, "v2": {State: v2alpha1.MetricStateValue, Value: 4}},
		"error-rate":   {"v1": {State: v2alpha1.MetricStateValue, Value: 0}},
	}
	got := Aggregate(nil, results, exp, metav1.Now())
	sizes := map[string]map[string]*int32{}
	for key, d := range got.Data {
		sizes[key] = map[string]*int32{}
		for v, vd := range d.Data {
			sizes[key][v] = vd.SampleSize
		}
	}
	want := map[string]map[string]*int32{
		"iter8-knative/request-count": {"v1": nil, "v2": nil},
		"mean-latency":                {"v1": ptr(int32(102)), "v2": nil},
		"error-rate":                  {"v1": ptr(int32(102))},
	}
	if diff := cmp.Diff(want, sizes); diff != "" {
		t.Errorf("sample sizes (-want +got):\n%s", diff)
	}
}
