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
	"github.com/iter8-tools/iter8-tekton/pkg/traffic"
)

// AssessResult is what assess reports.
type AssessResult struct {
	Iteration int32
	// Continue says whether the pipeline should run another iteration.
	Continue    bool
	Winner      string
	Recommended string
}

// Assess judges iteration k: version assessments, winner, recommended weights, rollback.
// It records the decision first and then applies the weights, so a stage killed between
// the two and run again completes the same decision: weights are never shifted twice.
func Assess(ctx context.Context, d *Deps, k int32) (*AssessResult, error) {
	exp, err := d.Store.Get(ctx)
	if err != nil {
		return nil, err
	}
	if !running(exp) {
		d.logf("assess %d: experiment is %s; stopping", k, exp.Status.GetStage())
		return assessResult(exp, k), nil
	}
	if exp.Status.GetCompletedIterations() < k {
		return nil, fmt.Errorf("assess %d: iteration %d has not been measured (%d complete)", k, k, exp.Status.GetCompletedIterations())
	}

	if assessed(exp) < k {
		// Assess may change the target's traffic: only while this experiment holds it.
		if err := d.renewTarget(ctx, exp, int(k)); err != nil {
			var se *StageError
			if errors.As(err, &se) {
				return nil, d.fail(ctx, se.Reason, se.Message)
			}
			return nil, err
		}
		now := metav1.NewTime(d.now())
		res := analytics.Assess(exp, now)
		var written bool
		exp, written, err = d.updateStatus(ctx, func(e *v2alpha1.Experiment) error {
			if assessed(e) >= k {
				return ErrNoChange
			}
			if e.Status.Analysis == nil {
				e.Status.Analysis = &v2alpha1.Analysis{}
			}
			va, wa := res.VersionAssessments, res.WinnerAssessment
			e.Status.Analysis.VersionAssessments = &va
			e.Status.Analysis.WinnerAssessment = &wa
			e.Status.Analysis.Weights = res.Weights
			e.Status.Analysis.Comparisons = res.Comparisons
			kk := k
			e.Status.AssessedIterations = &kk
			e.Status.LastUpdateTime = &now
			if res.RecommendedVersion != "" {
				e.SetRecommendedVersion(res.RecommendedVersion)
			}
			if len(res.Rollback) > 0 {
				e.Status.RolledBack = res.Rollback
				e.Status.MarkCondition(v2alpha1.ConditionCompleted, corev1.ConditionFalse, v2alpha1.ReasonRollback, rollbackMessage(e, k), now)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		d.logf("assess %d: %s", k, assessmentLine(exp))
		if written && len(exp.Status.RolledBack) > 0 {
			d.Store.Event(ctx, exp, corev1.EventTypeWarning, v2alpha1.ReasonRollback, rollbackMessage(exp, k))
		}
	} else {
		d.logf("assess %d: already assessed; completing its traffic change if needed", k)
	}

	if len(exp.Status.RolledBack) > 0 && !trafficChangedExternally(exp) {
		// Restore the baseline now rather than in finalize, a pod start later: the time a
		// bad candidate keeps its traffic is what a rollback is for. Finalize finds it done;
		// if this fails, finalize tries again.
		if err := d.restoreBaseline(ctx, exp); errors.Is(err, ErrGone) {
			return nil, err
		} else if err != nil {
			d.logf("assess %d: restoring traffic to the baseline: %v; finalize will try again", k, err)
		}
		if fresh, err := d.Store.Get(ctx); err == nil {
			exp = fresh
		}
	}

	if len(exp.Status.RolledBack) == 0 && exp.Spec.ShiftsTraffic() && d.Traffic != nil &&
		exp.Status.Analysis.Weights != nil && len(exp.Status.Analysis.Weights.Data) > 0 {
		if exp, err = d.applyWeights(ctx, exp, exp.Status.Analysis.Weights.Data); err != nil {
			return nil, err
		}
	}
	return assessResult(exp, k), nil
}

func assessed(exp *v2alpha1.Experiment) int32 {
	if exp.Status.AssessedIterations == nil {
		return 0
	}
	return *exp.Status.AssessedIterations
}

func assessResult(exp *v2alpha1.Experiment, k int32) *AssessResult {
	r := &AssessResult{Iteration: k, Recommended: exp.Status.RecommendedVersion(), Winner: exp.Status.Winner()}
	r.Continue = exp.Status.GetStage() == v2alpha1.StageRunning &&
		!exp.Status.IsTrue(v2alpha1.ConditionCompleted) && !exp.Status.IsTrue(v2alpha1.ConditionFailed) &&
		len(exp.Status.RolledBack) == 0 && assessed(exp) >= k && k < exp.Spec.TotalIterations()
	return r
}

// applyWeights moves traffic to desired, unless someone else changed it since the stages
// last wrote it: then the experiment fails and the other writer's weights are kept.
func (d *Deps) applyWeights(ctx context.Context, exp *v2alpha1.Experiment, desired []v2alpha1.WeightData) (*v2alpha1.Experiment, error) {
	observed, err := d.Traffic.Observe(ctx, exp)
	if err != nil {
		return nil, d.fail(ctx, v2alpha1.ReasonWeightRedistributionFailed, "reading version weights: "+err.Error())
	}
	if sameWeights(observed, desired) {
		return d.recordWeights(ctx, observed)
	}
	if last := exp.Status.CurrentWeightDistribution; last != nil && !sameWeights(observed, last) {
		return nil, d.fail(ctx, v2alpha1.ReasonTrafficChangedExternally, fmt.Sprintf(
			"weights are %s but the experiment last set %s; someone else changed them, so the experiment stops and leaves them as they are",
			formatWeights(observed), formatWeights(last)))
	}
	// The experiment may have been deleted since the decision was recorded: a deleted
	// experiment moves no traffic.
	if _, err := d.Store.Get(ctx); err != nil {
		return nil, err
	}
	applied, err := d.Traffic.Apply(ctx, exp, observed, desired)
	if errors.Is(err, traffic.ErrExternalChange) {
		return nil, d.fail(ctx, v2alpha1.ReasonTrafficChangedExternally, err.Error())
	}
	if err != nil {
		return nil, d.fail(ctx, v2alpha1.ReasonWeightRedistributionFailed, "setting version weights: "+err.Error())
	}
	d.logf("traffic: %s -> %s", formatWeights(observed), formatWeights(applied))
	return d.recordWeights(ctx, applied)
}

func (d *Deps) recordWeights(ctx context.Context, weights []v2alpha1.WeightData) (*v2alpha1.Experiment, error) {
	return d.Store.UpdateStatus(ctx, func(e *v2alpha1.Experiment) error {
		if sameWeights(e.Status.CurrentWeightDistribution, weights) {
			return ErrNoChange
		}
		e.Status.RecordWeights(weights)
		return nil
	})
}

func sameWeights(a, b []v2alpha1.WeightData) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int32{}
	for _, w := range a {
		m[w.Name] = w.Value
	}
	for _, w := range b {
		if v, ok := m[w.Name]; !ok || v != w.Value {
			return false
		}
	}
	return true
}

func rollbackMessage(exp *v2alpha1.Experiment, k int32) string {
	return fmt.Sprintf("Iteration %d: %s %s (%s); rolling back",
		k, strings.Join(exp.Status.RolledBack, ", "), rollbackVerb(exp), strings.Join(analytics.RollbackReasons(exp, exp.Status.Analysis.VersionAssessments.Data, exp.Status.Analysis.VersionAssessments.Reasons), "; "))
}

func assessmentLine(exp *v2alpha1.Experiment) string {
	a := exp.Status.Analysis
	var parts []string
	for _, v := range exp.Spec.VersionNames() {
		verdicts := a.VersionAssessments.Data[v]
		ok := 0
		for _, b := range verdicts {
			if b {
				ok++
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d objectives", v, ok, len(verdicts)))
	}
	w := "no winner"
	if winner := exp.Status.Winner(); winner != "" {
		w = "winner " + winner
	}
	if a.WinnerAssessment != nil && a.WinnerAssessment.Message != nil {
		w += " (" + *a.WinnerAssessment.Message + ")"
	}
	line := strings.Join(parts, ", ") + "; " + w + "; recommended " + exp.Status.RecommendedVersion()
	if a.Weights != nil && exp.Spec.ShiftsTraffic() {
		line += "; weights " + formatWeights(a.Weights.Data)
	}
	if len(exp.Status.RolledBack) > 0 {
		line += "; ROLLBACK " + strings.Join(exp.Status.RolledBack, ",")
	}
	return line
}

// trafficChangedExternally reports whether a person changed the traffic mid-run: then the
// traffic is theirs, and no stage moves it again.
func trafficChangedExternally(exp *v2alpha1.Experiment) bool {
	c := exp.Status.Condition(v2alpha1.ConditionFailed)
	return c != nil && c.Status == corev1.ConditionTrue && c.Reason != nil && *c.Reason == v2alpha1.ReasonTrafficChangedExternally
}
