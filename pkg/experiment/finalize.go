package experiment

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/analytics"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Outcome is how an experiment ended. It is the one vocabulary of the status message, the
// finalize Task's `outcome` result, iter8ctl run's exit and the assert conditions
// (docs/reference.md, "Outcomes and exit codes").
type Outcome string

// The outcomes.
const (
	// OutcomeSucceeded: the experiment ran to its end and achieved its aim (Conformance:
	// the version passed every objective; Canary: the candidate won; A/B, A/B/N: a
	// winner was found).
	OutcomeSucceeded Outcome = "Succeeded"
	// OutcomeNoWinner: the experiment ran to its end and its objectives and rewards were
	// evaluated, but its aim was not achieved.
	OutcomeNoWinner Outcome = "NoWinner"
	// OutcomeRolledBack: a version violated a rollback objective; traffic is on the baseline.
	OutcomeRolledBack Outcome = "RolledBack"
	// OutcomeFailed: the experiment could not run to its end, or could not be judged (its
	// metrics were unreadable); traffic is on the baseline.
	OutcomeFailed Outcome = "Failed"
)

// FinalizeResult is what finalize reports.
type FinalizeResult struct {
	Outcome     Outcome
	Winner      string
	Recommended string
	// AimAchieved: Conformance, the version passed; Canary, the candidate won; A/B and
	// A/B/N, a winner was found. A CI gate passes on it.
	AimAchieved bool
	// Reason says, when the aim was not achieved, why.
	Reason string
}

// Finalize ends the experiment whatever happened before (Tekton runs it in `finally`):
// after a failure or a rollback it restores all traffic to the baseline; after success and
// rollback it runs the finish actions (promotion); it releases the target and marks the
// experiment Completed, and Failed where it failed. pipelineStatus is Tekton's
// $(tasks.status) ("Succeeded", "Completed", "Failed", "None"); a local run passes "".
// Run again on a completed experiment, it changes nothing and reports the same result.
func Finalize(ctx context.Context, d *Deps, pipelineStatus string) (*FinalizeResult, error) {
	exp, err := d.Store.Get(ctx)
	if err != nil {
		return nil, err
	}
	if exp.Status.IsTrue(v2alpha1.ConditionCompleted) {
		d.logf("finalize: experiment already completed")
		return finalResult(exp), nil
	}

	reason, cause := failureCause(exp, pipelineStatus)
	rolledBack := len(exp.Status.RolledBack) > 0
	latest, err := d.setStage(ctx, v2alpha1.StageFinishing, "Experiment finishing")
	if err != nil {
		return nil, err
	}
	if latest.Status.IsTrue(v2alpha1.ConditionCompleted) {
		// Another run of finalize got there first: its traffic change and finish actions
		// are done, and must not be done twice.
		d.logf("finalize: experiment completed by another run meanwhile")
		return finalResult(latest), nil
	}

	externalChange := trafficChangedExternally(exp)
	// An experiment that never started (refused or failed by init) never changed traffic
	// and may not even hold its target: its traffic is not its to restore.
	started := exp.Status.StartTime != nil
	if (cause != "" || rolledBack) && !externalChange && started {
		if err := d.restoreBaseline(ctx, exp); errors.Is(err, ErrGone) {
			return nil, err
		} else if err != nil {
			// Traffic could not be restored: that is the worst outcome, say so loudly.
			cause = joinCause(cause, "restoring traffic to the baseline failed: "+err.Error())
		}
	}

	// Finish actions promote; they run on success and on rollback, not on failure
	// (iter8 #644/#203: a failed experiment has nothing trustworthy to promote).
	if cause == "" && len(exp.Spec.Strategy.Actions[v2alpha1.ActionFinish]) > 0 {
		fresh, err := d.Store.Get(ctx)
		if err != nil {
			return nil, err
		}
		if d.RunActions == nil {
			cause = "finish actions are defined but no task runner is configured"
		} else if err := d.RunActions(ctx, fresh, v2alpha1.ActionFinish); err != nil {
			cause = "finish actions failed: " + err.Error()
		} else {
			d.logf("finalize: finish actions completed")
		}
	}

	now := metav1.NewTime(d.now())
	exp, written, err := d.updateStatus(ctx, func(e *v2alpha1.Experiment) error {
		if e.Status.IsTrue(v2alpha1.ConditionCompleted) {
			return ErrNoChange
		}
		e.Status.InitializeStatus(now)
		completed := v2alpha1.StageCompleted
		e.Status.Stage = &completed
		e.Status.LastUpdateTime = &now
		if e.Status.IsTrue(v2alpha1.ConditionTargetAcquired) {
			e.Status.MarkCondition(v2alpha1.ConditionTargetAcquired, corev1.ConditionFalse, v2alpha1.ReasonExperimentCompleted, "Target "+e.Spec.Target+" released", now)
		}
		var msg string
		switch {
		case cause != "":
			if e.Spec.VersionInfo != nil {
				e.SetRecommendedVersion(e.Spec.VersionInfo.Baseline.Name)
			}
			if !e.Status.IsTrue(v2alpha1.ConditionFailed) {
				e.Status.MarkCondition(v2alpha1.ConditionFailed, corev1.ConditionTrue, reason, cause, now)
			}
			msg = "Experiment failed: " + cause
		case rolledBack:
			msg = "Experiment rolled back: " + strings.Join(e.Status.RolledBack, ", ") + " " + rollbackVerb(e) + rollbackCause(e)
		default:
			if r := finalResult(e); r.Outcome == OutcomeSucceeded {
				msg = "Experiment completed successfully"
			} else {
				msg = "Experiment completed without a winner: " + r.Reason
			}
		}
		e.Status.MarkCondition(v2alpha1.ConditionCompleted, corev1.ConditionTrue, v2alpha1.ReasonExperimentCompleted, msg, now)
		outcome := string(finalResult(e).Outcome)
		e.Status.Outcome = &outcome
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Completed: the target is free for the next experiment, without waiting for the
	// lease to expire.
	d.releaseTarget(ctx, exp)
	res := finalResult(exp)
	evType := corev1.EventTypeNormal
	if res.Outcome != OutcomeSucceeded {
		evType = corev1.EventTypeWarning
	}
	if written {
		d.Store.Event(ctx, exp, evType, v2alpha1.ReasonExperimentCompleted, statusMessage(exp))
	}
	d.logf("finalize: %s; outcome %s; recommended %s; aim achieved: %t%s", statusMessage(exp), res.Outcome, res.Recommended, res.AimAchieved, reasonSuffix(res.Reason))
	return res, nil
}

// failureCause says why the experiment failed, and the reason of its Failed condition, or
// "" when it did not fail.
func failureCause(exp *v2alpha1.Experiment, pipelineStatus string) (reason, cause string) {
	if c := exp.Status.Condition(v2alpha1.ConditionFailed); c != nil && c.Status == corev1.ConditionTrue {
		msg := ""
		if c.Reason != nil {
			reason = *c.Reason
		}
		if c.Message != nil {
			msg = *c.Message
		}
		return reason, reason + ": " + msg
	}
	if len(exp.Status.RolledBack) > 0 {
		return "", ""
	}
	total, done := exp.Spec.TotalIterations(), exp.Status.GetCompletedIterations()
	if done < total || assessed(exp) < total {
		cause := fmt.Sprintf("ended after %d of %d iterations", min(done, assessed(exp)), total)
		if pipelineStatus != "" {
			cause += " (pipeline tasks " + pipelineStatus + ")"
		}
		return v2alpha1.ReasonAborted, cause
	}
	// An experiment whose metrics could not be read was not judged, whatever its winner
	// says: a dead metrics backend must not read as a passing release.
	if u := analytics.Unreadable(exp); len(u) > 0 {
		return v2alpha1.ReasonMetricsUnreadable, "metrics could not be read, so the objectives were not evaluated: " + strings.Join(u, "; ")
	}
	return "", ""
}

func joinCause(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// restoreBaseline sends all traffic to the baseline.
func (d *Deps) restoreBaseline(ctx context.Context, exp *v2alpha1.Experiment) error {
	if d.Traffic == nil || !exp.Spec.ShiftsTraffic() || exp.Spec.VersionInfo == nil {
		return nil
	}
	observed, err := d.Traffic.Observe(ctx, exp)
	if err != nil {
		return err
	}
	var desired []v2alpha1.WeightData
	for i, v := range exp.Spec.VersionNames() {
		w := int32(0)
		if i == 0 {
			w = 100
		}
		desired = append(desired, v2alpha1.WeightData{Name: v, Value: w})
	}
	if sameWeights(observed, desired) {
		_, err := d.recordWeights(ctx, observed)
		return err
	}
	// The experiment may have been deleted since finalize read it: a deleted experiment
	// moves no traffic (whoever deleted it owns the traffic now).
	if _, err := d.Store.Get(ctx); err != nil {
		return err
	}
	applied, err := d.Traffic.Apply(ctx, exp, observed, desired)
	if err != nil {
		return err
	}
	d.logf("traffic: restored to the baseline: %s -> %s", formatWeights(observed), formatWeights(applied))
	_, err = d.recordWeights(ctx, applied)
	return err
}

// FinalResult is how exp ended, as finalize reports it: its outcome, winner, recommended
// version, and why its aim was not achieved. It reads only the status.
func FinalResult(exp *v2alpha1.Experiment) *FinalizeResult { return finalResult(exp) }

func finalResult(exp *v2alpha1.Experiment) *FinalizeResult {
	r := &FinalizeResult{Outcome: OutcomeSucceeded, Recommended: exp.Status.RecommendedVersion(), Winner: exp.Status.Winner()}
	switch {
	case exp.Status.IsTrue(v2alpha1.ConditionFailed):
		r.Outcome = OutcomeFailed
		r.Reason = conditionText(exp.Status.Condition(v2alpha1.ConditionFailed))
		return r
	case len(exp.Status.RolledBack) > 0:
		r.Outcome = OutcomeRolledBack
		r.Reason = "rolled back: " + strings.Join(exp.Status.RolledBack, ", ") + " " + rollbackVerb(exp) + rollbackCause(exp)
		return r
	}
	var candidates []string
	for _, v := range exp.Spec.Versions()[min(1, len(exp.Spec.Versions())):] {
		candidates = append(candidates, v.Name)
	}
	switch exp.Spec.Strategy.TestingPattern {
	case v2alpha1.TestingPatternConformance:
		r.AimAchieved = r.Winner != ""
		r.Reason = "the version did not satisfy every objective"
	case v2alpha1.TestingPatternCanary:
		r.AimAchieved = len(candidates) == 1 && r.Winner == candidates[0]
		r.Reason = "the candidate did not win"
	default:
		r.AimAchieved = r.Winner != ""
		r.Reason = "no winner was found"
	}
	if r.AimAchieved {
		r.Reason = ""
		return r
	}
	r.Outcome = OutcomeNoWinner
	if a := exp.Status.Analysis; a != nil && a.WinnerAssessment != nil && a.WinnerAssessment.Message != nil {
		r.Reason += ": " + *a.WinnerAssessment.Message
	}
	return r
}

// rollbackCause names what the rollback objectives said, e.g. " (v2: error-rate: no data
// (empty result): not satisfied)", so that the final message says why without the events.
func rollbackCause(exp *v2alpha1.Experiment) string {
	a := exp.Status.Analysis
	if a == nil || a.VersionAssessments == nil {
		return ""
	}
	reasons := analytics.RollbackReasons(exp, a.VersionAssessments.Data, a.VersionAssessments.Reasons)
	if len(reasons) == 0 {
		return ""
	}
	return " (" + strings.Join(reasons, "; ") + ")"
}

func conditionText(c *v2alpha1.ExperimentCondition) string {
	if c == nil {
		return ""
	}
	s := ""
	if c.Reason != nil {
		s = *c.Reason
	}
	if c.Message != nil {
		s += ": " + *c.Message
	}
	return s
}

func statusMessage(exp *v2alpha1.Experiment) string {
	if exp.Status.Message == nil {
		return ""
	}
	return *exp.Status.Message
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

// rollbackVerb says what the rolled-back versions did, in the words of the criteria the
// experiment has.
func rollbackVerb(exp *v2alpha1.Experiment) string {
	if len(exp.Spec.Comparisons()) > 0 {
		return "failed a rollback objective or its comparisons"
	}
	return "violated a rollback objective"
}
