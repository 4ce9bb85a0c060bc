package actions

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// conditionEnv is what an `if` expression sees: iter8's functions and a copy of the
// experiment's Spec and Status (e.g. `Status.Analysis != nil`), so an expression cannot
// change the experiment.
type conditionEnv struct {
	Spec   v2alpha1.ExperimentSpec
	Status v2alpha1.ExperimentStatus
}

// WinnerFound reports whether the last assessment found a winner.
func (c conditionEnv) WinnerFound() bool {
	a := c.Status.Analysis
	return a != nil && a.WinnerAssessment != nil && a.WinnerAssessment.Data.WinnerFound
}

// CandidateWon reports whether there is exactly one candidate and it is the winner.
func (c conditionEnv) CandidateWon() bool {
	if !c.WinnerFound() || c.Spec.VersionInfo == nil || len(c.Spec.VersionInfo.Candidates) != 1 {
		return false
	}
	w := c.Status.Analysis.WinnerAssessment.Data.Winner
	return w != nil && *w == c.Spec.VersionInfo.Candidates[0].Name
}

// RolledBack reports whether a version violated a rollback objective.
func (c conditionEnv) RolledBack() bool {
	return len(c.Status.RolledBack) > 0
}

// Failed reports whether the experiment's Failed condition is True.
func (c conditionEnv) Failed() bool {
	return c.Status.IsTrue(v2alpha1.ConditionFailed)
}

func compileCondition(s string) (*vm.Program, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("an if expression cannot be empty")
	}
	return expr.Compile(s, expr.Env(conditionEnv{}), expr.AsBool())
}

func evalCondition(p *vm.Program, exp *v2alpha1.Experiment) (bool, error) {
	c := exp.DeepCopy()
	out, err := expr.Run(p, conditionEnv{Spec: c.Spec, Status: c.Status})
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("got %T, want a bool", out)
	}
	return b, nil
}
