package describe

import (
	"errors"
	"fmt"
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Condition is an outcome iter8ctl assert can require of an experiment.
type Condition string

// The conditions. completed, winnerFound, candidateWon and noFailure are iter8ctl's.
const (
	// ConditionCompleted: the experiment has completed, successfully or not.
	ConditionCompleted Condition = "completed"
	// ConditionNoFailure: the experiment has not failed (so far).
	ConditionNoFailure Condition = "noFailure"
	// ConditionWinnerFound: the last assessment found a winner.
	ConditionWinnerFound Condition = "winnerFound"
	// ConditionCandidateWon: the winner is a candidate.
	ConditionCandidateWon Condition = "candidateWon"
	// ConditionBaselineWon: the winner is the baseline, e.g. a conformant version.
	ConditionBaselineWon Condition = "baselineWon"
	// ConditionRolledBack: a version violated a rollback objective and was rolled back.
	ConditionRolledBack Condition = "rolledBack"
)

// Conditions are the valid conditions, in the order help lists them.
var Conditions = []Condition{
	ConditionCompleted,
	ConditionNoFailure,
	ConditionWinnerFound,
	ConditionCandidateWon,
	ConditionBaselineWon,
	ConditionRolledBack,
}

// ParseCondition returns the condition with the given name.
func ParseCondition(name string) (Condition, error) {
	for _, c := range Conditions {
		if string(c) == name {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown condition %q, valid conditions are %s", name, conditionNames())
}

func conditionNames() string {
	names := make([]string, len(Conditions))
	for i, c := range Conditions {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// Assert checks every condition and returns nil when all hold, or an error that names every
// condition that does not and says why.
func Assert(exp *v2alpha1.Experiment, conds []Condition) error {
	var errs []error
	for _, c := range conds {
		if why := Check(exp, c); why != "" {
			errs = append(errs, fmt.Errorf("condition %s not satisfied: %s", c, why))
		}
	}
	return errors.Join(errs...)
}

// Check returns why c does not hold for exp, or "" when it holds.
func Check(exp *v2alpha1.Experiment, c Condition) string {
	st := &exp.Status
	switch c {
	case ConditionCompleted:
		if st.IsTrue(v2alpha1.ConditionCompleted) || st.GetStage() == v2alpha1.StageCompleted {
			return ""
		}
		return fmt.Sprintf("stage is %s after %d of %d iterations", st.GetStage(), st.GetCompletedIterations(), exp.Spec.TotalIterations())
	case ConditionNoFailure:
		if f := st.Condition(v2alpha1.ConditionFailed); f != nil && f.Status == "True" {
			return "experiment failed" + conditionText(f)
		}
		return ""
	case ConditionWinnerFound:
		winner, why := winner(exp)
		if winner == "" {
			return why
		}
		return ""
	case ConditionCandidateWon:
		winner, why := winner(exp)
		if winner == "" {
			return why
		}
		var candidates []string
		if vi := exp.Spec.VersionInfo; vi != nil {
			for _, v := range vi.Candidates {
				if v.Name == winner {
					return ""
				}
				candidates = append(candidates, v.Name)
			}
		}
		switch len(candidates) {
		case 0:
			return fmt.Sprintf("winner is %s, the experiment has no candidate", winner)
		case 1:
			return fmt.Sprintf("winner is %s, candidate is %s", winner, candidates[0])
		default:
			return fmt.Sprintf("winner is %s, candidates are %s", winner, strings.Join(candidates, ", "))
		}
	case ConditionBaselineWon:
		winner, why := winner(exp)
		if winner == "" {
			return why
		}
		baseline := ""
		if vi := exp.Spec.VersionInfo; vi != nil {
			baseline = vi.Baseline.Name
		}
		if winner == baseline {
			return ""
		}
		return fmt.Sprintf("winner is %s, baseline is %s", winner, baseline)
	case ConditionRolledBack:
		if len(st.RolledBack) > 0 {
			return ""
		}
		for _, cond := range st.Conditions {
			if cond != nil && cond.Reason != nil && *cond.Reason == v2alpha1.ReasonRollback {
				return ""
			}
		}
		return "no version was rolled back"
	}
	return fmt.Sprintf("unknown condition, valid conditions are %s", conditionNames())
}

// winner returns the winner recorded by the last assessment, or why there is none.
func winner(exp *v2alpha1.Experiment) (string, string) {
	a := exp.Status.Analysis
	if a == nil || a.WinnerAssessment == nil {
		return "", fmt.Sprintf("no winner assessment recorded (stage %s, %d iterations completed)", exp.Status.GetStage(), exp.Status.GetCompletedIterations())
	}
	w := a.WinnerAssessment
	if w.Data.WinnerFound && w.Data.Winner != nil && *w.Data.Winner != "" {
		return *w.Data.Winner, ""
	}
	why := "no winner found"
	if w.Message != nil && *w.Message != "" {
		why += ": " + *w.Message
	}
	return "", why
}

func conditionText(c *v2alpha1.ExperimentCondition) string {
	var parts []string
	if c.Reason != nil && *c.Reason != "" {
		parts = append(parts, *c.Reason)
	}
	if c.Message != nil && *c.Message != "" {
		parts = append(parts, *c.Message)
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ": ")
}
