package analytics

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func dryRun(o v2alpha1.Objective) v2alpha1.Objective {
	o.DryRun = ptr(true)
	return o
}

// withComparison adds a comparison of metric "samples" and the two versions' samples.
func withComparison(e *v2alpha1.Experiment, c v2alpha1.Comparison, baseline, candidate []float64) *v2alpha1.Experiment {
	c.Metric = "samples"
	if e.Spec.Criteria == nil {
		e.Spec.Criteria = &v2alpha1.Criteria{}
	}
	e.Spec.Criteria.Comparisons = append(e.Spec.Criteria.Comparisons, c)
	if e.Status.Analysis == nil {
		e.Status.Analysis = &v2alpha1.Analysis{}
	}
	series := func(v []float64) v2alpha1.SampleSeries {
		return v2alpha1.SampleSeries{State: v2alpha1.MetricStateValue, Count: int32(len(v)), Values: v2alpha1.EncodeSamples(v)}
	}
	versions := e.Spec.VersionNames()
	e.Status.Analysis.Samples = &v2alpha1.SamplesAnalysis{Data: map[string]map[string]v2alpha1.SampleSeries{
		"samples": {versions[0]: series(baseline), versions[1]: series(candidate)},
	}}
	return e
}

// TestDryRunCriteria: a dry-run objective or comparison is evaluated and reported, and
// neither keeps a version from winning nor rolls one back; the same criteria gating do.
func TestDryRunCriteria(t *testing.T) {
	slow := values{"latency": {"v1": value("10"), "v2": value("30")}}
	base, shifted := spread(100, 200, 0.1), spread(100, 240, 0.1)
	critical := v2alpha1.Comparison{Direction: v2alpha1.DirectionIncrease, Critical: ptr(true)}
	dryCritical := critical
	dryCritical.DryRun = ptr(true)
	for _, tc := range []struct {
		name         string
		exp          *v2alpha1.Experiment
		wantWinner   string
		wantRollback []string
		wantVerdicts map[string][]bool
	}{{
		name:         "gating rollback objective",
		exp:          expSpec{pattern: v2alpha1.TestingPatternCanary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{rollingBack(upper("latency", "20"), true)}, values: slow}.build(),
		wantWinner:   "v1",
		wantRollback: []string{"v2"},
		wantVerdicts: map[string][]bool{"v1": {true}, "v2": {false}},
	}, {
		name:         "dry-run rollback objective",
		exp:          expSpec{pattern: v2alpha1.TestingPatternCanary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{dryRun(rollingBack(upper("latency", "20"), true))}, values: slow}.build(),
		wantWinner:   "v2",
		wantVerdicts: map[string][]bool{"v1": {true}, "v2": {false}},
	}, {
		name:         "gating critical comparison",
		exp:          withComparison(expSpec{pattern: v2alpha1.TestingPatternCanary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{upper("latency", "50")}, values: slow}.build(), critical, base, shifted),
		wantWinner:   "v1",
		wantRollback: []string{"v2"},
		wantVerdicts: map[string][]bool{"v1": {true}, "v2": {true}},
	}, {
		name:         "dry-run critical comparison",
		exp:          withComparison(expSpec{pattern: v2alpha1.TestingPatternCanary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{upper("latency", "50")}, values: slow}.build(), dryCritical, base, shifted),
		wantWinner:   "v2",
		wantVerdicts: map[string][]bool{"v1": {true}, "v2": {true}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			res := Assess(tc.exp, metav1.Now())
			got := ""
			if w := res.WinnerAssessment.Data.Winner; w != nil {
				got = *w
			}
			if got != tc.wantWinner {
				t.Errorf("winner = %q, want %q (%s)", got, tc.wantWinner, *res.WinnerAssessment.Message)
			}
			if diff := cmp.Diff(tc.wantRollback, res.Rollback); diff != "" {
				t.Errorf("rollback (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantVerdicts, res.VersionAssessments.Data); diff != "" {
				t.Errorf("verdicts, still reported (-want +got):\n%s", diff)
			}
			if len(tc.exp.Spec.Comparisons()) > 0 {
				j := res.Comparisons.Data["v2"]
				if len(j.Comparisons) != 1 || j.Comparisons[0].Classification != v2alpha1.ClassificationHigh {
					t.Errorf("comparison not reported as High: %+v", j)
				}
			}
		})
	}
}
