package analytics

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

var (
	conformance = v2alpha1.TestingPatternConformance
	canary      = v2alpha1.TestingPatternCanary
	ab          = v2alpha1.TestingPatternAB
	abn         = v2alpha1.TestingPatternABN

	latencyObj = upper("mean-latency", "50")
	errorObj   = upper("error-rate", "0.01")
	twoObjs    = []v2alpha1.Objective{latencyObj, errorObj}

	booksHigh = []v2alpha1.Reward{{Metric: "books", PreferredDirection: v2alpha1.PreferredDirectionHigh}}
	costLow   = []v2alpha1.Reward{{Metric: "cost", PreferredDirection: v2alpha1.PreferredDirectionLow}}
)

func won(v string) v2alpha1.WinnerAssessmentData {
	return v2alpha1.WinnerAssessmentData{WinnerFound: true, Winner: &v, BestVersions: []string{v}}
}

type winnerCase struct {
	name        string
	exp         expSpec
	assessments map[string][]bool
	want        v2alpha1.WinnerAssessmentData
	wantMsg     string
}

func runWinnerCases(t *testing.T, cases []winnerCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := Winner(tc.exp.build(), tc.assessments)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("winner (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantMsg, msg); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWinnerConformanceAndCanary(t *testing.T) {
	runWinnerCases(t, []winnerCase{{
		name:        "conformance: baseline satisfies all objectives",
		exp:         expSpec{pattern: conformance, versions: []string{"current"}, objectives: twoObjs},
		assessments: map[string][]bool{"current": {true, true}},
		want:        won("current"),
		wantMsg:     "baseline satisfies all objectives",
	}, {
		name:        "conformance: baseline fails",
		exp:         expSpec{pattern: conformance, versions: []string{"current"}, objectives: twoObjs},
		assessments: map[string][]bool{"current": {true, false}},
		wantMsg:     "no version satisfies all objectives: current fails error-rate",
	}, {
		name:        "conformance: missing verdicts fail",
		exp:         expSpec{pattern: conformance, versions: []string{"current"}, objectives: twoObjs},
		assessments: map[string][]bool{"current": {true}},
		wantMsg:     "no version satisfies all objectives: current fails error-rate",
	}, {
		name:        "conformance: no objectives",
		exp:         expSpec{pattern: conformance, versions: []string{"current"}},
		assessments: map[string][]bool{"current": {}},
		want:        won("current"),
		wantMsg:     "baseline satisfies all objectives",
	}, {
		name:        "conformance: no objectives and no assessments",
		exp:         expSpec{pattern: conformance, versions: []string{"current"}},
		assessments: nil,
		want:        won("current"),
		wantMsg:     "baseline satisfies all objectives",
	}, {
		name:        "canary: candidate satisfies all objectives",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}, objectives: twoObjs},
		assessments: map[string][]bool{"v1": {false, false}, "v2": {true, true}},
		want:        won("v2"),
		wantMsg:     "candidate satisfies all objectives",
	}, {
		name:        "canary: both feasible, candidate wins",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}, objectives: twoObjs},
		assessments: map[string][]bool{"v1": {true, true}, "v2": {true, true}},
		want:        won("v2"),
		wantMsg:     "candidate satisfies all objectives",
	}, {
		name:        "canary: candidate fails, baseline wins",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}, objectives: twoObjs},
		assessments: map[string][]bool{"v1": {true, true}, "v2": {false, false}},
		want:        won("v1"),
		wantMsg:     "baseline satisfies all objectives; candidate does not: v2 fails mean-latency, error-rate",
	}, {
		name:        "canary: nobody satisfies all objectives",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}, objectives: twoObjs},
		assessments: map[string][]bool{"v1": {false, true}, "v2": {true, false}},
		wantMsg:     "no version satisfies all objectives: v1 fails mean-latency; v2 fails error-rate",
	}, {
		name:        "canary: a candidate without verdicts fails",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}, objectives: twoObjs},
		assessments: map[string][]bool{"v1": {true, true}},
		want:        won("v1"),
		wantMsg:     "baseline satisfies all objectives; candidate does not: v2 fails mean-latency, error-rate",
	}, {
		name:        "canary: one metric named once when two objectives use it",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}, objectives: []v2alpha1.Objective{latencyObj, lower("mean-latency", "1")}},
		assessments: map[string][]bool{"v1": {false, false}, "v2": {false, false}},
		wantMsg:     "no version satisfies all objectives: v1 fails mean-latency; v2 fails mean-latency",
	}, {
		name:        "canary: no objectives",
		exp:         expSpec{pattern: canary, versions: []string{"v1", "v2"}},
		assessments: map[string][]bool{"v1": {}, "v2": {}},
		want:        won("v2"),
		wantMsg:     "candidate satisfies all objectives",
	}, {
		name:        "canary without a candidate: baseline feasible",
		exp:         expSpec{pattern: canary, versions: []string{"v1"}, objectives: twoObjs},
		assessments: map[string][]bool{"v1": {true, true}},
		want:        won("v1"),
		wantMsg:     "baseline satisfies all objectives; there is no candidate",
	}, {
		name:        "canary without a candidate: baseline fails",
		exp:         expSpec{pattern: canary, versions: []string{"v1"}, objectives: twoObjs},
		assessments: map[string][]bool{"v1": {false, true}},
		wantMsg:     "no version satisfies all objectives: v1 fails mean-latency",
	}})
}

func TestWinnerABN(t *testing.T) {
	books := func(vs ...string) values {
		m := map[string]v2alpha1.AggregatedMetricsVersionData{}
		for i := 0; i+1 < len(vs); i += 2 {
			m[vs[i]] = value(vs[i+1])
		}
		return values{"books": m}
	}
	runWinnerCases(t, []winnerCase{{
		name:        "A/B: higher reward wins",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, objectives: twoObjs, rewards: booksHigh, values: books("v1", "5.03", "v2", "24.454")},
		assessments: map[string][]bool{"v1": {true, true}, "v2": {true, true}},
		want:        won("v2"),
		wantMsg:     "found unique winner: v2 has the highest books (24.454) of the versions that satisfy all objectives",
	}, {
		name:        "A/B: lower reward wins",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, rewards: costLow, values: values{"cost": {"v1": value("3"), "v2": value("4")}}},
		assessments: map[string][]bool{"v1": {}, "v2": {}},
		want:        won("v1"),
		wantMsg:     "found unique winner: v1 has the lowest cost (3.000) of the versions that satisfy all objectives",
	}, {
		name:        "A/B: v2alpha1 single reward spelling",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, reward: &booksHigh[0], values: books("v1", "1", "v2", "2")},
		assessments: map[string][]bool{"v1": {}, "v2": {}},
		want:        won("v2"),
		wantMsg:     "found unique winner: v2 has the highest books (2.000) of the versions that satisfy all objectives",
	}, {
		name:        "A/B: one reward and no objectives (iter8 #791)",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, rewards: booksHigh, values: books("v1", "7", "v2", "2")},
		assessments: map[string][]bool{},
		want:        won("v1"),
		wantMsg:     "found unique winner: v1 has the highest books (7.000) of the versions that satisfy all objectives",
	}, {
		name:        "A/B: a better reward does not help an infeasible version",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, objectives: twoObjs, rewards: booksHigh, values: books("v1", "5", "v2", "50")},
		assessments: map[string][]bool{"v1": {true, true}, "v2": {true, false}},
		want:        won("v1"),
		wantMsg:     "found unique winner: v1 has the highest books (5.000) of the versions that satisfy all objectives; v2 fails error-rate",
	}, {
		name:        "A/B: tie",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, rewards: booksHigh, values: books("v1", "5", "v2", "5.0")},
		assessments: map[string][]bool{"v1": {}, "v2": {}},
		want:        v2alpha1.WinnerAssessmentData{BestVersions: []string{"v1", "v2"}},
		wantMsg:     "no unique winner: v1, v2 share the highest books (5.000)",
	}, {
		name:        "A/B/N: tie of two among three, in version order",
		exp:         expSpec{pattern: abn, versions: []string{"v1", "v2", "v3"}, rewards: costLow, values: values{"cost": {"v3": value("1"), "v1": value("2"), "v2": value("1")}}},
		assessments: map[string][]bool{"v1": {}, "v2": {}, "v3": {}},
		want:        v2alpha1.WinnerAssessmentData{BestVersions: []string{"v2", "v3"}},
		wantMsg:     "no unique winner: v2, v3 share the lowest cost (1.000)",
	}, {
		name:        "A/B/N: a tie broken by a later better value",
		exp:         expSpec{pattern: abn, versions: []string{"v1", "v2", "v3"}, rewards: booksHigh, values: books("v1", "1", "v2", "1", "v3", "2")},
		assessments: map[string][]bool{"v1": {}, "v2": {}, "v3": {}},
		want:        won("v3"),
		wantMsg:     "found unique winner: v3 has the highest books (2.000) of the versions that satisfy all objectives",
	}, {
		name:        "A/B/N: a feasible version without a reward value means no winner",
		exp:         expSpec{pattern: abn, versions: []string{"v1", "v2", "v3"}, objectives: twoObjs, rewards: booksHigh, values: values{"books": {"v1": value("1"), "v2": miss(noData, emptyResult, 1, "")}}},
		assessments: map[string][]bool{"v1": {true, true}, "v2": {true, true}, "v3": {false, true}},
		wantMsg:     "no winner: the versions that satisfy all objectives cannot be compared by reward books; v3 fails mean-latency; v2 has no books value (no data (empty result))",
	}, {
		name:        "A/B/N: an infeasible version without a reward value does not matter",
		exp:         expSpec{pattern: abn, versions: []string{"v1", "v2", "v3"}, objectives: twoObjs, rewards: booksHigh, values: values{"books": {"v1": value("1"), "v2": value("2")}}},
		assessments: map[string][]bool{"v1": {true, true}, "v2": {true, true}, "v3": {false, true}},
		want:        won("v2"),
		wantMsg:     "found unique winner: v2 has the highest books (2.000) of the versions that satisfy all objectives; v3 fails mean-latency",
	}, {
		name: "A/B: a reused reward value counts under ReusePrevious",
		exp: expSpec{pattern: ab, versions: []string{"v1", "v2"}, rewards: booksHigh,
			values:  values{"books": {"v1": value("1"), "v2": miss(errState, refused, 1, "3")}},
			metrics: map[string]*v2alpha1.MetricSpec{"ns/books": policy(reuse, 0)}},
		assessments: map[string][]bool{"v1": {}, "v2": {}},
		want:        won("v2"),
		wantMsg:     "found unique winner: v2 has the highest books (3.000) of the versions that satisfy all objectives",
	}, {
		name:        "A/B: a stale reward value does not count under Fail, so nobody wins",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, rewards: booksHigh, values: values{"books": {"v1": value("1"), "v2": miss(errState, refused, 1, "3")}}},
		assessments: map[string][]bool{"v1": {}, "v2": {}},
		wantMsg:     "no winner: the versions that satisfy all objectives cannot be compared by reward books; v2 has no books value (error (connection refused))",
	}, {
		name:        "A/B: the reward has no value for the baseline",
		exp:         expSpec{pattern: ab, versions: []string{"blue", "green"}, rewards: booksHigh, values: values{"books": {"green": value("1")}}},
		assessments: map[string][]bool{"blue": {}, "green": {}},
		wantMsg:     "no winner: the versions that satisfy all objectives cannot be compared by reward books; blue has no books value (no data recorded)",
	}})
}

func TestWinnerNoWinner(t *testing.T) {
	runWinnerCases(t, []winnerCase{{
		name:        "no versions",
		exp:         expSpec{pattern: canary, objectives: twoObjs},
		assessments: map[string][]bool{},
		wantMsg:     "no versions to assess",
	}, {
		name:        "unknown testing pattern",
		exp:         expSpec{pattern: "Shadow", versions: []string{"v1"}},
		assessments: map[string][]bool{"v1": {}},
		wantMsg:     `unknown testing pattern "Shadow"`,
	}, {
		name:        "A/B: no reward",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, objectives: twoObjs},
		assessments: map[string][]bool{"v1": {true, true}, "v2": {true, true}},
		wantMsg:     "no reward metric in the experiment, so no winner can be chosen",
	}, {
		name:        "A/B: unknown preferred direction",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, rewards: []v2alpha1.Reward{{Metric: "books", PreferredDirection: "higher"}}, values: values{"books": {"v1": value("1")}}},
		assessments: map[string][]bool{"v1": {}, "v2": {}},
		wantMsg:     `reward books has unknown preferred direction "higher", so no winner can be chosen`,
	}, {
		name:        "A/B: no version satisfies all objectives",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, objectives: twoObjs, rewards: booksHigh, values: values{"books": {"v1": value("1"), "v2": value("2")}}},
		assessments: map[string][]bool{"v1": {false, true}, "v2": {false, false}},
		wantMsg:     "no version satisfies all objectives: v1 fails mean-latency; v2 fails mean-latency, error-rate",
	}, {
		name:        "A/B: no feasible version has a reward value",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, objectives: twoObjs, rewards: booksHigh, values: values{"books": {"v2": value("2")}}},
		assessments: map[string][]bool{"v1": {true, true}, "v2": {false, true}},
		wantMsg:     "no version that satisfies all objectives has a value for reward books; v2 fails mean-latency; v1 has no books value (no data recorded)",
	}, {
		name:        "A/B: no aggregated metrics at all",
		exp:         expSpec{pattern: ab, versions: []string{"v1", "v2"}, rewards: booksHigh},
		assessments: map[string][]bool{"v1": {}, "v2": {}},
		wantMsg:     "no version that satisfies all objectives has a value for reward books; v1 has no books value (no data recorded); v2 has no books value (no data recorded)",
	}})
}
