package analytics

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func TestUnreadable(t *testing.T) {
	refused := miss(v2alpha1.MetricStateError, "connection refused", 6, "")
	for _, tc := range []struct {
		name string
		spec expSpec
		// iterations completed; 0 means none ran
		iterations int32
		want       []string
	}{{
		name:       "every query refused",
		spec:       expSpec{pattern: v2alpha1.TestingPatternConformance, versions: []string{"current"}, objectives: []v2alpha1.Objective{upper("latency", "50"), upper("errors", "0.01")}, values: values{"latency": {"current": refused}, "errors": {"current": refused}}},
		iterations: 6,
		want:       []string{"latency (current: error (connection refused))", "errors (current: error (connection refused))"},
	}, {
		name:       "one version unreadable",
		spec:       expSpec{pattern: v2alpha1.TestingPatternCanary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{upper("latency", "50")}, values: values{"latency": {"v1": value("10"), "v2": refused}}},
		iterations: 3,
		want:       []string{"latency (v2: error (connection refused))"},
	}, {
		name:       "an unreadable reward",
		spec:       expSpec{pattern: v2alpha1.TestingPatternAB, versions: []string{"a", "b"}, rewards: []v2alpha1.Reward{{Metric: "conversion", PreferredDirection: v2alpha1.PreferredDirectionHigh}}, values: values{"conversion": {"a": value("1"), "b": refused}}},
		iterations: 2,
		want:       []string{"conversion (b: error (connection refused))"},
	}, {
		name:       "the v2alpha1 reward",
		spec:       expSpec{pattern: v2alpha1.TestingPatternAB, versions: []string{"a", "b"}, reward: &v2alpha1.Reward{Metric: "conversion", PreferredDirection: v2alpha1.PreferredDirectionHigh}, values: values{"conversion": {"a": refused, "b": refused}}},
		iterations: 2,
		want:       []string{"conversion (a, b: error (connection refused))"},
	}, {
		name:       "nothing recorded after iterations ran",
		spec:       expSpec{pattern: v2alpha1.TestingPatternConformance, versions: []string{"current"}, objectives: []v2alpha1.Objective{upper("latency", "50")}},
		iterations: 1,
		want:       []string{"latency (current: no data recorded)"},
	}, {
		name:       "an error a reused value stands in for",
		spec:       expSpec{pattern: v2alpha1.TestingPatternConformance, versions: []string{"current"}, objectives: []v2alpha1.Objective{upper("latency", "50")}, values: values{"latency": {"current": miss(v2alpha1.MetricStateError, "timeout", 1, "10")}}, metrics: map[string]*v2alpha1.MetricSpec{"latency": policy(v2alpha1.MissingValueReusePrevious, 3)}},
		iterations: 4,
	}, {
		name:       "an error the Ignore policy excuses",
		spec:       expSpec{pattern: v2alpha1.TestingPatternConformance, versions: []string{"current"}, objectives: []v2alpha1.Objective{upper("latency", "50")}, values: values{"latency": {"current": miss(v2alpha1.MetricStateError, "timeout", 1, "")}}, metrics: map[string]*v2alpha1.MetricSpec{"latency": policy(v2alpha1.MissingValueIgnore, 3)}},
		iterations: 4,
	}, {
		name:       "the Ignore window ran out",
		spec:       expSpec{pattern: v2alpha1.TestingPatternConformance, versions: []string{"current"}, objectives: []v2alpha1.Objective{upper("latency", "50")}, values: values{"latency": {"current": miss(v2alpha1.MetricStateError, "timeout", 3, "")}}, metrics: map[string]*v2alpha1.MetricSpec{"latency": policy(v2alpha1.MissingValueIgnore, 3)}},
		iterations: 4,
		want:       []string{"latency (current: error (timeout) for 3 of 3 iterations)"},
	}, {
		name:       "an empty result is an answer",
		spec:       expSpec{pattern: v2alpha1.TestingPatternConformance, versions: []string{"current"}, objectives: []v2alpha1.Objective{upper("latency", "50")}, values: values{"latency": {"current": miss(v2alpha1.MetricStateNoData, "empty result", 2, "")}}},
		iterations: 2,
	}, {
		name:       "values everywhere",
		spec:       expSpec{pattern: v2alpha1.TestingPatternConformance, versions: []string{"current"}, objectives: []v2alpha1.Objective{upper("latency", "50")}, values: values{"latency": {"current": value("70")}}},
		iterations: 2,
	}, {
		name: "no iteration ran",
		spec: expSpec{pattern: v2alpha1.TestingPatternConformance, versions: []string{"current"}, objectives: []v2alpha1.Objective{upper("latency", "50")}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			exp := tc.spec.build()
			exp.Status.CompletedIterations = &tc.iterations
			if diff := cmp.Diff(tc.want, Unreadable(exp)); diff != "" {
				t.Errorf("Unreadable() (-want +got):\n%s", diff)
			}
		})
	}
}
