package actions

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func conditionExperiment(candidates []string, winner *string, rolledBack []string, failed bool) *v2alpha1.Experiment {
	exp := &v2alpha1.Experiment{}
	exp.Spec.VersionInfo = &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "baseline"}}
	for _, c := range candidates {
		exp.Spec.VersionInfo.Candidates = append(exp.Spec.VersionInfo.Candidates, v2alpha1.VersionDetail{Name: c})
	}
	if winner != nil {
		exp.Status.Analysis = &v2alpha1.Analysis{WinnerAssessment: &v2alpha1.WinnerAssessmentAnalysis{
			Data: v2alpha1.WinnerAssessmentData{WinnerFound: *winner != "", Winner: winner},
		}}
		if *winner == "" {
			exp.Status.Analysis.WinnerAssessment.Data.Winner = nil
		}
	}
	exp.Status.RolledBack = rolledBack
	if failed {
		exp.Status.Conditions = []*v2alpha1.ExperimentCondition{{Type: v2alpha1.ConditionFailed, Status: corev1.ConditionTrue}}
	}
	return exp
}

func TestConditions(t *testing.T) {
	candidate, baseline, none := "candidate", "baseline", ""
	canaryWon := conditionExperiment([]string{"candidate"}, &candidate, nil, false)
	baselineWon := conditionExperiment([]string{"candidate"}, &baseline, nil, false)
	noWinner := conditionExperiment([]string{"candidate"}, &none, nil, false)
	noAnalysis := conditionExperiment([]string{"candidate"}, nil, nil, false)
	abnCandidateWon := conditionExperiment([]string{"candidate", "c2"}, &candidate, nil, false)
	rolledBack := conditionExperiment([]string{"candidate"}, &baseline, []string{"candidate"}, false)
	failed := conditionExperiment([]string{"candidate"}, nil, nil, true)

	tests := []struct {
		name string
		expr string
		exp  *v2alpha1.Experiment
		want bool
	}{
		{"candidate won", "CandidateWon()", canaryWon, true},
		{"not candidate won", "not CandidateWon()", canaryWon, false},
		{"baseline won", "CandidateWon()", baselineWon, false},
		{"not candidate won when baseline won", "not CandidateWon()", baselineWon, true},
		{"no winner", "CandidateWon()", noWinner, false},
		{"no analysis", "WinnerFound()", noAnalysis, false},
		{"no analysis, not candidate won", "not CandidateWon()", noAnalysis, true},
		{"winner found", "WinnerFound()", baselineWon, true},
		{"winner not found", "WinnerFound()", noWinner, false},
		{"two candidates: CandidateWon needs exactly one", "CandidateWon()", abnCandidateWon, false},
		{"rolled back", "RolledBack()", rolledBack, true},
		{"not rolled back", "RolledBack()", canaryWon, false},
		{"failed", "Failed()", failed, true},
		{"not failed", "Failed()", canaryWon, false},
		{"combination", "WinnerFound() && !RolledBack() && not Failed()", baselineWon, true},
		{"field access", "Status.Analysis != nil", noAnalysis, false},
		{"field access true", "Status.Analysis != nil && len(Spec.VersionInfo.Candidates) == 1", canaryWon, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compileCondition(tc.expr)
			if err != nil {
				t.Fatalf("compileCondition(%q): %v", tc.expr, err)
			}
			got, err := evalCondition(p, tc.exp)
			if err != nil {
				t.Fatalf("evalCondition(%q): %v", tc.expr, err)
			}
			if got != tc.want {
				t.Errorf("%s = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}
}

func TestConditionErrors(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want string
	}{
		{"empty", "  ", "cannot be empty"},
		{"unknown function", "Winner()", "unknown name Winner"},
		{"not a bool", "len(Status.RolledBack)", "expected bool"},
		{"syntax", "CandidateWon(", "unexpected token"},
		{"unknown field", "Status.Nope", "has no field Nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileCondition(tc.expr)
			if err == nil {
				t.Fatalf("compileCondition(%q) succeeded, want an error containing %q", tc.expr, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("compileCondition(%q) = %q, want it to contain %q", tc.expr, err, tc.want)
			}
		})
	}
}

// A condition cannot change the experiment it reads: the status's mutating methods are
// not callable.
func TestConditionCannotMutate(t *testing.T) {
	for _, e := range []string{
		`Status.MarkCondition("Failed", "True", "r", "m", nil)`,
		`Status.InitializeStatus(nil) == nil`,
	} {
		if _, err := compileCondition(e); err == nil {
			t.Errorf("compileCondition(%q) succeeded; an if expression must not change the status", e)
		}
	}
}
