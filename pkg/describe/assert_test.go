package describe

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func TestAssertSatisfied(t *testing.T) {
	for _, tc := range []struct {
		file  string
		conds []Condition
	}{{
		file:  "seed-experiment.yaml",
		conds: []Condition{ConditionCompleted, ConditionNoFailure},
	}, {
		file:  "ab-rewards.yaml",
		conds: []Condition{ConditionNoFailure, ConditionWinnerFound, ConditionCandidateWon},
	}, {
		file:  "v2alpha2.yaml",
		conds: []Condition{ConditionCompleted, ConditionNoFailure, ConditionWinnerFound, ConditionBaselineWon},
	}, {
		file:  "canary-rollback.yaml",
		conds: []Condition{ConditionCompleted, ConditionRolledBack, ConditionWinnerFound, ConditionBaselineWon},
	}, {
		file:  "not-started.yaml",
		conds: nil,
	}} {
		t.Run(tc.file, func(t *testing.T) {
			if err := Assert(readExperiment(t, tc.file), tc.conds); err != nil {
				t.Errorf("Assert(%v) = %v, want nil", tc.conds, err)
			}
		})
	}
}

func TestAssertNotSatisfied(t *testing.T) {
	for _, tc := range []struct {
		file  string
		conds []Condition
		want  []string
	}{{
		file:  "seed-experiment.yaml",
		conds: []Condition{ConditionCompleted, ConditionWinnerFound, ConditionCandidateWon, ConditionNoFailure, ConditionRolledBack},
		want: []string{
			"condition winnerFound not satisfied: no winner found",
			"condition candidateWon not satisfied: no winner found",
			"condition rolledBack not satisfied: no version was rolled back",
		},
	}, {
		file:  "v2alpha2.yaml",
		conds: []Condition{ConditionCandidateWon},
		want:  []string{"condition candidateWon not satisfied: winner is current, the experiment has no candidate"},
	}, {
		file:  "canary-rollback.yaml",
		conds: []Condition{ConditionNoFailure, ConditionCandidateWon},
		want: []string{
			"condition noFailure not satisfied: experiment failed: Rollback: version productpage-v2 violated rollback objective iter8-istio/error-rate",
			"condition candidateWon not satisfied: winner is productpage-v1, candidate is productpage-v2",
		},
	}, {
		file:  "ab-rewards.yaml",
		conds: []Condition{ConditionCompleted, ConditionBaselineWon},
		want: []string{
			"condition completed not satisfied: stage is Running after 12 of 15 iterations",
			"condition baselineWon not satisfied: winner is productpage-v2, baseline is productpage-v1",
		},
	}, {
		file:  "not-started.yaml",
		conds: []Condition{ConditionCompleted, ConditionWinnerFound},
		want: []string{
			"condition completed not satisfied: stage is Initializing after 0 of 15 iterations",
			"condition winnerFound not satisfied: no winner assessment recorded (stage Initializing, 0 iterations completed)",
		},
	}} {
		t.Run(tc.file, func(t *testing.T) {
			err := Assert(readExperiment(t, tc.file), tc.conds)
			if err == nil {
				t.Fatalf("Assert(%v) = nil, want an error", tc.conds)
			}
			if d := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); d != "" {
				t.Errorf("unmet conditions (-want +got):\n%s", d)
			}
		})
	}
}

func TestAssertWinnerMessage(t *testing.T) {
	exp := readExperiment(t, "canary-rollback.yaml")
	msg := "no version satisfies all objectives"
	exp.Status.Analysis.WinnerAssessment.Message = &msg
	exp.Status.Analysis.WinnerAssessment.Data = v2alpha1.WinnerAssessmentData{WinnerFound: false}
	want := "condition winnerFound not satisfied: no winner found: no version satisfies all objectives"
	if d := cmp.Diff(want, Assert(exp, []Condition{ConditionWinnerFound}).Error()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestParseCondition(t *testing.T) {
	for _, c := range Conditions {
		got, err := ParseCondition(string(c))
		if err != nil || got != c {
			t.Errorf("ParseCondition(%q) = %q, %v", c, got, err)
		}
	}
	_, err := ParseCondition("won")
	want := `unknown condition "won", valid conditions are completed, noFailure, winnerFound, candidateWon, baselineWon, rolledBack`
	if err == nil || err.Error() != want {
		t.Errorf("ParseCondition(won) = %v, want %s", err, want)
	}
}
