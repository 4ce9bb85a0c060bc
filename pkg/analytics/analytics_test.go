package analytics

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = metav1.NewTime(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))

func md(msg string) v2alpha1.AnalysisMetaData {
	m := v2alpha1.AnalysisMetaData{Provenance: Provenance, Timestamp: now}
	if msg != "" {
		m.Message = &msg
	}
	return m
}

func winnerAnalysis(msg string, d v2alpha1.WinnerAssessmentData) v2alpha1.WinnerAssessmentAnalysis {
	return v2alpha1.WinnerAssessmentAnalysis{AnalysisMetaData: md(msg), Data: d}
}

func weightsAnalysis(msg string, d []v2alpha1.WeightData) *v2alpha1.WeightsAnalysis {
	return &v2alpha1.WeightsAnalysis{AnalysisMetaData: md(msg), Data: d}
}

func TestAssessSeedExperiment(t *testing.T) {
	b, err := os.ReadFile("../apis/iter8/v2alpha1/testdata/seed-experiment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := v2alpha1.DecodeExperiment(b)
	if err != nil {
		t.Fatalf("decoding the seed experiment: %v", err)
	}
	exp.Status.Analysis = &v2alpha1.Analysis{AggregatedMetrics: &v2alpha1.AggregatedMetricsAnalysis{Data: map[string]v2alpha1.AggregatedMetricsData{
		"mean-latency":                 {Data: map[string]v2alpha1.AggregatedMetricsVersionData{"current": value("1.2345")}},
		"95th-percentile-tail-latency": {Data: map[string]v2alpha1.AggregatedMetricsVersionData{"current": value("4.3")}},
		"error-rate":                   {Data: map[string]v2alpha1.AggregatedMetricsVersionData{"current": value("0")}},
	}}}
	want := Result{
		VersionAssessments: v2alpha1.VersionAssessmentAnalysis{
			AnalysisMetaData: md("current satisfies all objectives"),
			Data:             map[string][]bool{"current": {true, true, true}},
			Reasons: map[string][]string{"current": {
				"mean-latency = 1.235 <= 50.000: satisfied",
				"95th-percentile-tail-latency = 4.300 <= 100.000: satisfied",
				"error-rate = 0.000 <= 0.010: satisfied",
			}},
		},
		WinnerAssessment:   winnerAnalysis("baseline satisfies all objectives", won("current")),
		RecommendedVersion: "current",
	}
	if diff := cmp.Diff(want, Assess(exp, now), ignoreVerdicts); diff != "" {
		t.Errorf("Assess (-want +got):\n%s", diff)
	}
}

func TestAssess(t *testing.T) {
	latencyRB := rollingBack(latencyObj, true)
	tests := []struct {
		name string
		exp  expSpec
		want Result
	}{{
		name: "progressive canary, candidate wins and gains traffic",
		exp: expSpec{
			pattern: canary, versions: []string{"v1", "v2"}, objectives: twoObjs,
			values: values{
				"mean-latency": {"v1": value("10"), "v2": value("12")},
				"error-rate":   {"v1": value("0.02"), "v2": value("0")},
			},
			current: wd("v1", 80, "v2", 20),
		},
		want: Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{
				AnalysisMetaData: md("v1 fails error-rate; v2 satisfies all objectives"),
				Data:             map[string][]bool{"v1": {true, false}, "v2": {true, true}},
				Reasons: map[string][]string{
					"v1": {"mean-latency = 10.000 <= 50.000: satisfied", "error-rate = 0.020 > 0.010: not satisfied"},
					"v2": {"mean-latency = 12.000 <= 50.000: satisfied", "error-rate = 0.000 <= 0.010: satisfied"},
				},
			},
			WinnerAssessment:   winnerAnalysis("candidate satisfies all objectives", won("v2")),
			Weights:            weightsAnalysis("exploitation traffic to v2; v2 held at 30 (old weight 20 + maxCandidateWeightIncrement 10)", wd("v1", 70, "v2", 30)),
			RecommendedVersion: "v2",
		},
	}, {
		name: "spec weight limits are used",
		exp: expSpec{
			pattern: canary, versions: []string{"v1", "v2"},
			current: wd("v1", 50, "v2", 50),
			weights: &v2alpha1.Weights{MaxCandidateWeight: ptr[int32](60), MaxCandidateWeightIncrement: ptr[int32](30)},
		},
		want: Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{
				AnalysisMetaData: md("no objectives: every version is feasible"),
				Data:             map[string][]bool{"v1": {}, "v2": {}},
				Reasons:          map[string][]string{"v1": {}, "v2": {}},
			},
			WinnerAssessment:   winnerAnalysis("candidate satisfies all objectives", won("v2")),
			Weights:            weightsAnalysis("exploitation traffic to v2; v2 held at 60 (maxCandidateWeight)", wd("v1", 40, "v2", 60)),
			RecommendedVersion: "v2",
		},
	}, {
		name: "candidate violates a rollback objective",
		exp: expSpec{
			pattern: canary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{latencyRB},
			values: values{"mean-latency": {"v1": value("10"), "v2": value("80")}},
		},
		want: Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{
				AnalysisMetaData: md("v1 satisfies all objectives; v2 fails mean-latency"),
				Data:             map[string][]bool{"v1": {true}, "v2": {false}},
				Reasons: map[string][]string{
					"v1": {"mean-latency = 10.000 <= 50.000: satisfied"},
					"v2": {"mean-latency = 80.000 > 50.000: not satisfied"},
				},
			},
			WinnerAssessment:   winnerAnalysis("baseline satisfies all objectives; candidate does not: v2 fails mean-latency", won("v1")),
			Weights:            weightsAnalysis("exploitation traffic to v1", wd("v1", 95, "v2", 5)),
			Rollback:           []string{"v2"},
			RecommendedVersion: "v1",
		},
	}, {
		name: "baseline violates a rollback objective: the baseline is still recommended",
		exp: expSpec{
			pattern: canary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{latencyRB},
			values: values{"mean-latency": {"v1": value("80"), "v2": value("10")}},
		},
		want: Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{
				AnalysisMetaData: md("v1 fails mean-latency; v2 satisfies all objectives"),
				Data:             map[string][]bool{"v1": {false}, "v2": {true}},
				Reasons: map[string][]string{
					"v1": {"mean-latency = 80.000 > 50.000: not satisfied"},
					"v2": {"mean-latency = 10.000 <= 50.000: satisfied"},
				},
			},
			WinnerAssessment:   winnerAnalysis("candidate satisfies all objectives", won("v2")),
			Weights:            weightsAnalysis("exploitation traffic to v2; v2 held at 10 (old weight 0 + maxCandidateWeightIncrement 10)", wd("v1", 90, "v2", 10)),
			Rollback:           []string{"v1"},
			RecommendedVersion: "v1",
		},
	}, {
		name: "blue-green objectives roll back by default",
		exp: expSpec{
			pattern: canary, deploy: v2alpha1.DeploymentPatternBlueGreen, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{errorObj},
			values: values{"error-rate": {"v1": value("0"), "v2": miss(errState, refused, 1, "")}},
		},
		want: Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{
				AnalysisMetaData: md("v1 satisfies all objectives; v2 fails error-rate"),
				Data:             map[string][]bool{"v1": {true}, "v2": {false}},
				Reasons: map[string][]string{
					"v1": {"error-rate = 0.000 <= 0.010: satisfied"},
					"v2": {"error-rate: error (connection refused): not satisfied"},
				},
			},
			WinnerAssessment:   winnerAnalysis("baseline satisfies all objectives; candidate does not: v2 fails error-rate", won("v1")),
			Weights:            weightsAnalysis("exploitation traffic to v1", wd("v1", 95, "v2", 5)),
			Rollback:           []string{"v2"},
			RecommendedVersion: "v1",
		},
	}, {
		name: "fixed split weights are recommended but marked not applied",
		exp: expSpec{
			pattern: ab, deploy: v2alpha1.DeploymentPatternFixedSplit, versions: []string{"v1", "v2"}, rewards: booksHigh,
			values: values{"books": {"v1": value("3"), "v2": value("3")}},
		},
		want: Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{
				AnalysisMetaData: md("no objectives: every version is feasible"),
				Data:             map[string][]bool{"v1": {}, "v2": {}},
				Reasons:          map[string][]string{"v1": {}, "v2": {}},
			},
			WinnerAssessment: winnerAnalysis("no unique winner: v1, v2 share the highest books (3.000)", v2alpha1.WinnerAssessmentData{BestVersions: []string{"v1", "v2"}}),
			Weights: weightsAnalysis("not applied (deployment pattern FixedSplit): exploitation traffic to v1, v2; v2 held at 10 (old weight 0 + maxCandidateWeightIncrement 10)",
				wd("v1", 90, "v2", 10)),
			RecommendedVersion: "v1",
		},
	}, {
		name: "objective fails without rollback: no rollback, no winner",
		exp: expSpec{
			pattern: canary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{rollingBack(errorObj, false)},
			deploy: v2alpha1.DeploymentPatternBlueGreen,
			values: values{"error-rate": {"v1": value("1"), "v2": value("1")}},
		},
		want: Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{
				AnalysisMetaData: md("v1 fails error-rate; v2 fails error-rate"),
				Data:             map[string][]bool{"v1": {false}, "v2": {false}},
				Reasons: map[string][]string{
					"v1": {"error-rate = 1.000 > 0.010: not satisfied"},
					"v2": {"error-rate = 1.000 > 0.010: not satisfied"},
				},
			},
			WinnerAssessment:   winnerAnalysis("no version satisfies all objectives: v1 fails error-rate; v2 fails error-rate", v2alpha1.WinnerAssessmentData{}),
			Weights:            weightsAnalysis("exploitation traffic to v1 (baseline, no best version)", wd("v1", 95, "v2", 5)),
			RecommendedVersion: "v1",
		},
	}, {
		name: "conformance has no weights",
		exp:  expSpec{pattern: conformance, versions: []string{"current"}, objectives: []v2alpha1.Objective{errorObj}},
		want: Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{
				AnalysisMetaData: md("current fails error-rate"),
				Data:             map[string][]bool{"current": {false}},
				Reasons:          map[string][]string{"current": {"error-rate: no data recorded: not satisfied"}},
			},
			WinnerAssessment:   winnerAnalysis("no version satisfies all objectives: current fails error-rate", v2alpha1.WinnerAssessmentData{}),
			RecommendedVersion: "current",
		},
	}, {
		name: "no versions",
		exp:  expSpec{pattern: canary, objectives: []v2alpha1.Objective{latencyRB}},
		want: Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{AnalysisMetaData: md("no versions"), Data: map[string][]bool{}, Reasons: map[string][]string{}},
			WinnerAssessment:   winnerAnalysis("no versions to assess", v2alpha1.WinnerAssessmentData{}),
		},
	}, {
		name: "no criteria",
		exp:  expSpec{pattern: canary, versions: []string{"v1", "v2"}},
		want: Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{
				AnalysisMetaData: md("no objectives: every version is feasible"),
				Data:             map[string][]bool{"v1": {}, "v2": {}},
				Reasons:          map[string][]string{"v1": {}, "v2": {}},
			},
			WinnerAssessment:   winnerAnalysis("candidate satisfies all objectives", won("v2")),
			Weights:            weightsAnalysis("exploitation traffic to v2; v2 held at 10 (old weight 0 + maxCandidateWeightIncrement 10)", wd("v1", 90, "v2", 10)),
			RecommendedVersion: "v2",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := tc.exp.build()
			before := exp.DeepCopy()
			got := Assess(exp, now)
			if diff := cmp.Diff(tc.want, got, ignoreVerdicts); diff != "" {
				t.Errorf("Assess (-want +got):\n%s", diff)
			}
			checkVerdicts(t, exp, got.VersionAssessments)
			if diff := cmp.Diff(before, exp, cmp.AllowUnexported(v2alpha1.Number{})); diff != "" {
				t.Errorf("Assess modified the experiment (-before +after):\n%s", diff)
			}
		})
	}
}

func TestAssessNilExperiment(t *testing.T) {
	want := Result{
		VersionAssessments: v2alpha1.VersionAssessmentAnalysis{AnalysisMetaData: md("no experiment"), Data: map[string][]bool{}, Reasons: map[string][]string{}},
		WinnerAssessment:   winnerAnalysis("no experiment", v2alpha1.WinnerAssessmentData{}),
	}
	if diff := cmp.Diff(want, Assess(nil, now)); diff != "" {
		t.Errorf("Assess(nil) (-want +got):\n%s", diff)
	}
}

func TestRollback(t *testing.T) {
	rb, noRB := rollingBack(latencyObj, true), rollingBack(errorObj, false)
	tests := []struct {
		name        string
		exp         expSpec
		assessments map[string][]bool
		want        []string
		wantReasons []string
	}{{
		name:        "nothing fails",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{rb, noRB}},
		assessments: map[string][]bool{"v1": {true, true}, "v2": {true, true}},
	}, {
		name:        "only objectives that roll back count",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{rb, noRB}},
		assessments: map[string][]bool{"v1": {true, false}, "v2": {false, false}},
		want:        []string{"v2"},
		wantReasons: []string{"v2: latency reason"},
	}, {
		name:        "baseline and candidates, in version order",
		exp:         expSpec{pattern: abn, versions: []string{"v1", "v2", "v3"}, objectives: []v2alpha1.Objective{noRB, rb}},
		assessments: map[string][]bool{"v3": {true, false}, "v2": {true, true}, "v1": {false, false}},
		want:        []string{"v1", "v3"},
		wantReasons: []string{"v1: latency reason", "v3: latency reason"},
	}, {
		name:        "progressive objectives do not roll back by default",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}, objectives: twoObjs},
		assessments: map[string][]bool{"v1": {false, false}, "v2": {false, false}},
	}, {
		name:        "blue-green objectives roll back by default",
		exp:         expSpec{pattern: canary, deploy: v2alpha1.DeploymentPatternBlueGreen, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{latencyObj, noRB}},
		assessments: map[string][]bool{"v1": {true, false}, "v2": {false, true}},
		want:        []string{"v2"},
		wantReasons: []string{"v2: latency reason"},
	}, {
		name:        "a missing verdict rolls back",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{rb}},
		assessments: map[string][]bool{"v1": {true}},
		want:        []string{"v2"},
		wantReasons: []string{"v2: mean-latency: no verdict: not satisfied"},
	}, {
		name: "no objectives",
		exp:  expSpec{pattern: canary, versions: []string{"v1", "v2"}},
	}, {
		name:        "no versions",
		exp:         expSpec{pattern: canary, objectives: []v2alpha1.Objective{rb}},
		assessments: map[string][]bool{"v1": {false}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := tc.exp.build()
			if diff := cmp.Diff(tc.want, Rollback(exp, tc.assessments)); diff != "" {
				t.Errorf("Rollback (-want +got):\n%s", diff)
			}
			reasons := map[string][]string{}
			for v, verdicts := range tc.assessments {
				for i := range verdicts {
					line := "other reason"
					if exp.Spec.Objectives()[i].Metric == "mean-latency" {
						line = "latency reason"
					}
					reasons[v] = append(reasons[v], line)
				}
			}
			if diff := cmp.Diff(tc.wantReasons, RollbackReasons(exp, tc.assessments, reasons)); diff != "" {
				t.Errorf("RollbackReasons (-want +got):\n%s", diff)
			}
		})
	}
}

func BenchmarkAssess(b *testing.B) {
	versions := names(5)
	objectives := []v2alpha1.Objective{latencyObj, errorObj, lower("request-count", "10"), rollingBack(upper("p95", "100"), true)}
	vals := values{}
	for _, o := range objectives {
		vals[o.Metric] = map[string]v2alpha1.AggregatedMetricsVersionData{}
		for i, v := range versions {
			vals[o.Metric][v] = value(string(rune('1' + i)))
		}
	}
	vals["books"] = vals["request-count"]
	exp := expSpec{pattern: abn, versions: versions, objectives: objectives, rewards: booksHigh, values: vals,
		current: wd("v1", 60, "v2", 10, "v3", 10, "v4", 10, "v5", 10)}.build()
	for b.Loop() {
		Assess(exp, now)
	}
}

// ignoreVerdicts leaves the flat verdicts to checkVerdicts: they repeat Data.
var ignoreVerdicts = cmpopts.IgnoreFields(v2alpha1.VersionAssessmentAnalysis{}, "Verdicts")

// checkVerdicts: the flat verdicts are Data's, in version then objective order.
func checkVerdicts(t *testing.T, exp *v2alpha1.Experiment, va v2alpha1.VersionAssessmentAnalysis) {
	t.Helper()
	var want []v2alpha1.ObjectiveVerdict
	for _, v := range exp.Spec.VersionNames() {
		for i, o := range exp.Spec.Objectives() {
			d := va.Data[v]
			want = append(want, v2alpha1.ObjectiveVerdict{Version: v, Objective: int32(i), Metric: o.Metric, Satisfied: i < len(d) && d[i]})
		}
	}
	if diff := cmp.Diff(want, va.Verdicts); diff != "" {
		t.Errorf("flat verdicts (-want +got):\n%s", diff)
	}
}
