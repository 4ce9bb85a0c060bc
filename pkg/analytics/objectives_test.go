package analytics

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

const (
	errState    = v2alpha1.MetricStateError
	noData      = v2alpha1.MetricStateNoData
	stateValue  = v2alpha1.MetricStateValue
	fail        = v2alpha1.MissingValueFail
	reuse       = v2alpha1.MissingValueReusePrevious
	ignore      = v2alpha1.MissingValueIgnore
	refused     = "connection refused"
	emptyResult = "empty result"
)

type objectiveCase struct {
	name   string
	obj    v2alpha1.Objective
	metric *v2alpha1.MetricSpec
	data   *v2alpha1.AggregatedMetricsVersionData
	want   string
}

func runObjectiveCases(t *testing.T, cases []objectiveCase, wantSatisfied bool) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := AssessObjective(tc.obj, tc.metric, tc.data)
			if got != wantSatisfied {
				t.Errorf("AssessObjective() = %v, want %v (reason %q)", got, wantSatisfied, reason)
			}
			if diff := cmp.Diff(tc.want, reason); diff != "" {
				t.Errorf("reason (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAssessObjectiveSatisfied(t *testing.T) {
	both := v2alpha1.Objective{Metric: "mean-latency", LowerLimit: num("0.1"), UpperLimit: num("50")}
	runObjectiveCases(t, []objectiveCase{{
		name: "below upper limit",
		obj:  upper("mean-latency", "50"),
		data: ptr(value("0.879")),
		want: "mean-latency = 0.879 <= 50.000: satisfied",
	}, {
		name: "upper limit is inclusive",
		obj:  upper("mean-latency", "50"),
		data: ptr(value("50")),
		want: "mean-latency = 50.000 <= 50.000: satisfied",
	}, {
		name: "above lower limit",
		obj:  lower("request-count", "10"),
		data: ptr(value("1022.565")),
		want: "request-count = 1022.565 >= 10.000: satisfied",
	}, {
		name: "lower limit is inclusive",
		obj:  lower("request-count", "10"),
		data: ptr(value("10")),
		want: "request-count = 10.000 >= 10.000: satisfied",
	}, {
		name: "between both limits",
		obj:  both,
		data: ptr(value("0.879")),
		want: "0.100 <= mean-latency = 0.879 <= 50.000: satisfied",
	}, {
		name: "quantity limit as etc3 wrote it",
		obj:  upper("error-rate", "10m"),
		data: ptr(value("0.01")),
		want: "error-rate = 0.010 <= 0.010: satisfied",
	}, {
		name: "no limits",
		obj:  v2alpha1.Objective{Metric: "m"},
		data: ptr(value("3")),
		want: "m = 3.000 (no limits): satisfied",
	}, {
		name: "value without state as iter8 wrote it",
		obj:  upper("mean-latency", "50"),
		data: &v2alpha1.AggregatedMetricsVersionData{Value: num("1")},
		want: "mean-latency = 1.000 <= 50.000: satisfied",
	}, {
		name:   "fresh value after misses ignores the old count",
		obj:    upper("mean-latency", "50"),
		metric: policy(fail, 0),
		data:   &v2alpha1.AggregatedMetricsVersionData{Value: num("1"), State: stateValue, ConsecutiveMisses: 5},
		want:   "mean-latency = 1.000 <= 50.000: satisfied",
	}, {
		name:   "reuse previous value, first miss",
		obj:    upper("mean-latency", "50"),
		metric: policy(reuse, 0),
		data:   ptr(miss(errState, refused, 1, "0.879")),
		want:   "mean-latency = 0.879 <= 50.000 (previous value; error (connection refused) for 1 of 3 iterations): satisfied",
	}, {
		name:   "reuse previous value, last allowed miss",
		obj:    upper("mean-latency", "50"),
		metric: policy(reuse, 0),
		data:   ptr(miss(noData, emptyResult, 2, "0.879")),
		want:   "mean-latency = 0.879 <= 50.000 (previous value; no data (empty result) for 2 of 3 iterations): satisfied",
	}, {
		name:   "reuse previous value carried with a miss state but no stale flag",
		obj:    upper("mean-latency", "50"),
		metric: policy(reuse, 5),
		data:   &v2alpha1.AggregatedMetricsVersionData{Value: num("2"), State: noData, ConsecutiveMisses: 4},
		want:   "mean-latency = 2.000 <= 50.000 (previous value; no data for 4 of 5 iterations): satisfied",
	}, {
		name:   "ignore, first miss",
		obj:    upper("mean-latency", "50"),
		metric: policy(ignore, 0),
		data:   ptr(miss(errState, refused, 1, "")),
		want:   "mean-latency: error (connection refused), ignored for 1 of 3 iterations",
	}, {
		name:   "ignore, last allowed miss of a larger window",
		obj:    upper("mean-latency", "50"),
		metric: policy(ignore, 5),
		data:   ptr(miss(noData, "NaN", 4, "")),
		want:   "mean-latency: no data (NaN), ignored for 4 of 5 iterations",
	}, {
		name:   "ignore does not use a stale value",
		obj:    upper("mean-latency", "50"),
		metric: policy(ignore, 0),
		data:   ptr(miss(stateValue, "", 2, "999")),
		want:   "mean-latency: stale value, ignored for 2 of 3 iterations",
	}, {
		name: "more digits when 3 decimals would hide the difference",
		obj:  lower("m", "50.0001"),
		data: ptr(value("50.0004")),
		want: "m = 50.0004 >= 50.0001: satisfied",
	}, {
		name: "numbers are rounded to the nearest, like describe's",
		obj:  upper("m", "1"),
		data: ptr(value("0.8791")),
		want: "m = 0.879 <= 1.000: satisfied",
	}, {
		name: "a value just under the limit is not rounded up to it",
		obj:  upper("m", "50"),
		data: ptr(value("49.9991")),
		want: "m = 49.999 <= 50.000: satisfied",
	}, {
		name: "a value that rounds to the limit shows the digits that tell them apart",
		obj:  upper("m", "50"),
		data: ptr(value("49.99996")),
		want: "m = 49.99996 <= 50.00000: satisfied",
	}}, true)
}

func TestAssessObjectiveNotSatisfied(t *testing.T) {
	both := v2alpha1.Objective{Metric: "mean-latency", LowerLimit: num("0.1"), UpperLimit: num("50")}
	runObjectiveCases(t, []objectiveCase{{
		name: "above upper limit",
		obj:  upper("mean-latency", "50"),
		data: ptr(value("60")),
		want: "mean-latency = 60.000 > 50.000: not satisfied",
	}, {
		name: "below lower limit",
		obj:  lower("request-count", "10"),
		data: ptr(value("9.5")),
		want: "request-count = 9.500 < 10.000: not satisfied",
	}, {
		name: "both limits, above upper",
		obj:  both,
		data: ptr(value("50.5")),
		want: "mean-latency = 50.500 > 50.000: not satisfied",
	}, {
		name: "both limits, below lower",
		obj:  both,
		data: ptr(value("0.05")),
		want: "mean-latency = 0.050 < 0.100: not satisfied",
	}, {
		name: "more digits when 3 decimals would hide the difference",
		obj:  upper("m", "50.0001"),
		data: ptr(value("50.0004")),
		want: "m = 50.0004 > 50.0001: not satisfied",
	}, {
		name: "rounding never shows a failing value equal to the limit",
		obj:  upper("m", "50"),
		data: ptr(value("50.0004")),
		want: "m = 50.0004 > 50.0000: not satisfied",
	}, {
		name: "a value just over the limit is not rounded further up",
		obj:  upper("m2", "0.01"),
		data: ptr(value("0.0100001")),
		want: "m2 = 0.0100001 > 0.0100000: not satisfied",
	}, {
		name: "tiny numbers fall back to shortest form",
		obj:  upper("m", "1e-12"),
		data: ptr(value("2e-12")),
		want: "m = 2e-12 > 1e-12: not satisfied",
	}, {
		name: "nothing recorded",
		obj:  upper("mean-latency", "50"),
		want: "mean-latency: no data recorded: not satisfied",
	}, {
		name: "nothing recorded, even under ignore",
		obj:  upper("mean-latency", "50"),
		// No bookkeeping means no miss to excuse.
		metric: policy(ignore, 0),
		want:   "mean-latency: no data recorded: not satisfied",
	}, {
		name:   "fail policy, no data",
		obj:    upper("error-rate", "0.01"),
		metric: policy(fail, 0),
		data:   ptr(miss(noData, emptyResult, 1, "")),
		want:   "error-rate: no data (empty result): not satisfied",
	}, {
		name: "default policy is fail",
		obj:  upper("error-rate", "0.01"),
		// The Metric is not embedded in the status.
		data: ptr(miss(errState, refused, 1, "")),
		want: "error-rate: error (connection refused): not satisfied",
	}, {
		name:   "fail policy does not reuse a stale value",
		obj:    upper("error-rate", "0.01"),
		metric: policy(fail, 0),
		data:   ptr(miss(stateValue, "", 1, "0")),
		want:   "error-rate: stale value: not satisfied",
	}, {
		name:   "unknown policy is fail",
		obj:    upper("error-rate", "0.01"),
		metric: policy("Sometimes", 0),
		data:   ptr(miss(errState, refused, 1, "0")),
		want:   "error-rate: error (connection refused): not satisfied",
	}, {
		name: "value state without a value",
		obj:  upper("error-rate", "0.01"),
		data: &v2alpha1.AggregatedMetricsVersionData{State: stateValue},
		want: "error-rate: no value: not satisfied",
	}, {
		name: "no data without a reason",
		obj:  upper("error-rate", "0.01"),
		data: &v2alpha1.AggregatedMetricsVersionData{State: noData, ConsecutiveMisses: 1},
		want: "error-rate: no data: not satisfied",
	}, {
		name:   "reuse previous with nothing to reuse",
		obj:    upper("mean-latency", "50"),
		metric: policy(reuse, 0),
		data:   ptr(miss(errState, refused, 1, "")),
		want:   "mean-latency: error (connection refused), no previous value to reuse: not satisfied",
	}, {
		name:   "reuse previous, window used up",
		obj:    upper("mean-latency", "50"),
		metric: policy(reuse, 0),
		data:   ptr(miss(errState, refused, 3, "0.879")),
		want:   "mean-latency: error (connection refused) for 3 of 3 iterations: not satisfied",
	}, {
		name:   "reuse previous, window of one",
		obj:    upper("mean-latency", "50"),
		metric: policy(reuse, 1),
		data:   ptr(miss(errState, refused, 1, "0.879")),
		want:   "mean-latency: error (connection refused) for 1 of 1 iterations: not satisfied",
	}, {
		name:   "reused value violates the limit",
		obj:    upper("mean-latency", "50"),
		metric: policy(reuse, 0),
		data:   ptr(miss(errState, refused, 1, "70")),
		want:   "mean-latency = 70.000 > 50.000 (previous value; error (connection refused) for 1 of 3 iterations): not satisfied",
	}, {
		name:   "ignore, metric never had a value",
		obj:    upper("mean-latency", "50"),
		metric: policy(ignore, 0),
		data:   ptr(miss(noData, emptyResult, 0, "")),
		want:   "mean-latency: no data (empty result): not satisfied",
	}, {
		name:   "ignore, window used up",
		obj:    upper("mean-latency", "50"),
		metric: policy(ignore, 0),
		data:   ptr(miss(noData, emptyResult, 3, "")),
		want:   "mean-latency: no data (empty result) for 3 of 3 iterations: not satisfied",
	}, {
		name:   "ignore, window of one",
		obj:    upper("mean-latency", "50"),
		metric: policy(ignore, 1),
		data:   ptr(miss(errState, refused, 1, "")),
		want:   "mean-latency: error (connection refused) for 1 of 1 iterations: not satisfied",
	}, {
		name: "value is not a number",
		obj:  upper("mean-latency", "50"),
		data: ptr(value("abc")),
		want: `mean-latency: invalid value "abc": not satisfied`,
	}, {
		name: "value is NaN",
		obj:  lower("mean-latency", "0"),
		data: ptr(value("NaN")),
		want: `mean-latency: invalid value "NaN": not satisfied`,
	}, {
		name:   "reused value is not a number",
		obj:    upper("mean-latency", "50"),
		metric: policy(reuse, 0),
		data:   ptr(miss(errState, refused, 1, "+Inf")),
		want:   `mean-latency: invalid value "+Inf": not satisfied`,
	}, {
		name: "upper limit is not a number",
		obj:  upper("mean-latency", "fifty"),
		data: ptr(value("1")),
		want: `mean-latency: invalid upperLimit "fifty": not satisfied`,
	}, {
		name: "lower limit is not a number",
		obj:  lower("mean-latency", ""),
		data: ptr(value("1")),
		want: `mean-latency: invalid lowerLimit "": not satisfied`,
	}}, false)
}

func TestVersionAssessments(t *testing.T) {
	latency := rollingBack(upper("iter8-knative/mean-latency", "50"), true)
	errRate := upper("error-rate", "0.01")
	tests := []struct {
		name        string
		exp         expSpec
		mutate      func(*v2alpha1.Experiment)
		wantData    map[string][]bool
		wantReasons map[string][]string
	}{{
		name: "every version against every objective in order",
		exp: expSpec{
			pattern:    v2alpha1.TestingPatternCanary,
			versions:   []string{"v1", "v2"},
			objectives: []v2alpha1.Objective{latency, errRate},
			values: values{
				"iter8-knative/mean-latency": {"v1": value("10"), "v2": value("60")},
				"error-rate":                 {"v1": miss(errState, refused, 1, ""), "v2": value("0")},
			},
			// A bare reference finds the embedded namespace/name Metric.
			metrics: map[string]*v2alpha1.MetricSpec{"iter8-knative/error-rate": policy(ignore, 0)},
		},
		wantData: map[string][]bool{"v1": {true, true}, "v2": {false, true}},
		wantReasons: map[string][]string{
			"v1": {"iter8-knative/mean-latency = 10.000 <= 50.000: satisfied", "error-rate: error (connection refused), ignored for 1 of 3 iterations"},
			"v2": {"iter8-knative/mean-latency = 60.000 > 50.000: not satisfied", "error-rate = 0.000 <= 0.010: satisfied"},
		},
	}, {
		name: "values are keyed by the reference exactly as written",
		exp: expSpec{
			pattern:    v2alpha1.TestingPatternConformance,
			versions:   []string{"current"},
			objectives: []v2alpha1.Objective{errRate},
			values:     values{"iter8-knative/error-rate": {"current": value("0")}},
		},
		wantData:    map[string][]bool{"current": {false}},
		wantReasons: map[string][]string{"current": {"error-rate: no data recorded: not satisfied"}},
	}, {
		name: "version missing from a metric's data",
		exp: expSpec{
			pattern:    v2alpha1.TestingPatternCanary,
			versions:   []string{"v1", "v2"},
			objectives: []v2alpha1.Objective{errRate},
			values:     values{"error-rate": {"v1": value("0")}},
		},
		wantData:    map[string][]bool{"v1": {true}, "v2": {false}},
		wantReasons: map[string][]string{"v1": {"error-rate = 0.000 <= 0.010: satisfied"}, "v2": {"error-rate: no data recorded: not satisfied"}},
	}, {
		name: "no aggregated metrics yet",
		exp: expSpec{
			pattern:    v2alpha1.TestingPatternCanary,
			versions:   []string{"v1", "v2"},
			objectives: []v2alpha1.Objective{errRate},
		},
		mutate:      func(e *v2alpha1.Experiment) { e.Status.Analysis = &v2alpha1.Analysis{} },
		wantData:    map[string][]bool{"v1": {false}, "v2": {false}},
		wantReasons: map[string][]string{"v1": {"error-rate: no data recorded: not satisfied"}, "v2": {"error-rate: no data recorded: not satisfied"}},
	}, {
		name: "no objectives gives empty lists",
		exp: expSpec{
			pattern:  v2alpha1.TestingPatternAB,
			versions: []string{"v1", "v2"},
			rewards:  []v2alpha1.Reward{{Metric: "books", PreferredDirection: v2alpha1.PreferredDirectionHigh}},
		},
		wantData:    map[string][]bool{"v1": {}, "v2": {}},
		wantReasons: map[string][]string{"v1": {}, "v2": {}},
	}, {
		name:        "no versions",
		exp:         expSpec{pattern: v2alpha1.TestingPatternCanary, objectives: []v2alpha1.Objective{errRate}},
		wantData:    map[string][]bool{},
		wantReasons: map[string][]string{},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.exp.build()
			if tc.mutate != nil {
				tc.mutate(e)
			}
			data, reasons := VersionAssessments(e)
			if diff := cmp.Diff(tc.wantData, data); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantReasons, reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatNumbers(t *testing.T) {
	tests := []struct {
		in   []float64
		want []string
	}{
		{in: []float64{0.879}, want: []string{"0.879"}},
		{in: []float64{0.8791}, want: []string{"0.879"}},
		{in: []float64{0.8795}, want: []string{"0.880"}},
		{in: []float64{123.188035}, want: []string{"123.188"}},
		{in: []float64{0.0100001}, want: []string{"0.010"}},
		{in: []float64{0.0100001, 0.01}, want: []string{"0.0100001", "0.0100000"}},
		{in: []float64{0.0099999, 0.01}, want: []string{"0.0099999", "0.0100000"}},
		{in: []float64{50.0004, 50}, want: []string{"50.0004", "50.0000"}},
		{in: []float64{49.9996, 50}, want: []string{"49.9996", "50.0000"}},
		{in: []float64{0.1}, want: []string{"0.100"}},
		{in: []float64{1234567.25}, want: []string{"1234567.250"}},
		{in: []float64{-1.2345}, want: []string{"-1.235"}},
		{in: []float64{-1.2344}, want: []string{"-1.234"}},
		{in: []float64{-0.0001}, want: []string{"0.000"}},
		{in: []float64{-0.0011}, want: []string{"-0.001"}},
		{in: []float64{0.0004}, want: []string{"0.000"}},
		{in: []float64{0.0005}, want: []string{"0.001"}},
		{in: []float64{1, 1}, want: []string{"1.000", "1.000"}},
		{in: []float64{0.1, 0.1004, 0.2}, want: []string{"0.1000", "0.1004", "0.2000"}},
		{in: []float64{0.1001, 0.1004, 0.2}, want: []string{"0.1001", "0.1004", "0.2000"}},
		{in: []float64{1e-12, 2e-12}, want: []string{"1e-12", "2e-12"}},
		{in: []float64{1e20}, want: []string{"100000000000000000000.000"}},
		{in: []float64{math.Inf(1)}, want: []string{"+Inf"}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, FormatNumbers(tc.in...)); diff != "" {
			t.Errorf("FormatNumbers(%v) (-want +got):\n%s", tc.in, diff)
		}
	}
}

// TestFormatNumbersNeverMisleads checks the promise of FormatNumbers on many pairs of a
// value and a limit: a printed value is within half a unit of its last digit of the
// measured one, and the texts keep the numbers' order.
func TestFormatNumbersNeverMisleads(t *testing.T) {
	limits := []float64{0, 0.01, 1, 50, 100, 123.188, -5}
	deltas := []float64{0, 1e-7, -1e-7, 4e-4, -4e-4, 5e-4, -5e-4, 6e-4, 0.0100001, -0.0099999, 1.2345}
	for _, l := range limits {
		for _, d := range deltas {
			v := l + d
			got := FormatNumbers(v, l)
			pv, err := strconv.ParseFloat(got[0], 64)
			if err != nil {
				t.Fatalf("FormatNumbers(%v, %v) = %q: not a number", v, l, got)
			}
			pl, _ := strconv.ParseFloat(got[1], 64)
			decimals := 0
			if i := strings.IndexByte(got[0], '.'); i >= 0 {
				decimals = len(got[0]) - i - 1
			}
			if math.Abs(pv-v) > 0.5*math.Pow(10, -float64(decimals))+1e-12 {
				t.Errorf("FormatNumbers(%v, %v) = %q: %s is further from %v than rounding allows", v, l, got, got[0], v)
			}
			if (v > l && !(pv > pl)) || (v < l && !(pv < pl)) || (v == l && pv != pl) {
				t.Errorf("FormatNumbers(%v, %v) = %q: the texts do not keep the order of the numbers", v, l, got)
			}
		}
	}
}
