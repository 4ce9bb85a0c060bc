package experiment

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/analytics"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics"
)

// HistoryProvenance is written into status.analysis.history.
const HistoryProvenance = "iter8-tekton iterate"

// IterateResult is what iterate reports.
type IterateResult struct {
	// Iteration is the number of completed iterations after the stage.
	Iteration int32
	// Skipped says the experiment was not running, so nothing was measured.
	Skipped bool
}

// Iterate runs iteration k (1-based): it runs the loop action at the start of each loop,
// waits for the iteration's time slot (startTime + k·interval, so that slow pod start-up
// does not stretch the experiment), queries every metric of every version and stores the
// values. Running iteration k again after it completed changes nothing.
func Iterate(ctx context.Context, d *Deps, k int32) (*IterateResult, error) {
	exp, err := d.readToIterate(ctx, k)
	if err != nil {
		return nil, err
	}
	done := exp.Status.GetCompletedIterations()
	if !running(exp) {
		d.logf("iterate %d: experiment is %s; nothing to measure", k, exp.Status.GetStage())
		return &IterateResult{Iteration: done, Skipped: true}, nil
	}
	if done >= k {
		d.logf("iterate %d: already completed", k)
		return &IterateResult{Iteration: done}, nil
	}
	if done != k-1 {
		return nil, fmt.Errorf("iteration %d cannot run: %d iterations are complete", k, done)
	}
	if k > exp.Spec.TotalIterations() {
		return nil, fmt.Errorf("iteration %d is beyond the experiment's %d iterations", k, exp.Spec.TotalIterations())
	}
	if err := d.renewTarget(ctx, exp, int(k)); err != nil {
		var se *StageError
		if errors.As(err, &se) {
			return nil, d.fail(ctx, se.Reason, se.Message)
		}
		return nil, err
	}

	if d.loopActionDue(exp, k) {
		// The loop action (typically metrics/collect) runs at the start of each loop, so its
		// data is there for the loop's measurements.
		if exp, err = d.runLoopAction(ctx, exp, (k-1)/exp.Spec.IterationsPerLoop()+1); err != nil {
			return nil, err
		}
	}

	if exp.Status.StartTime != nil {
		slot := exp.Status.StartTime.Add(time.Duration(k) * d.interval(exp))
		if wait := slot.Sub(d.now()); wait > 0 {
			d.logf("iterate %d: waiting %s for the iteration's slot", k, wait.Round(1e6))
			if err := d.sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
	}

	if d.Measure == nil {
		return nil, fmt.Errorf("iterate %d: no metrics collector configured", k)
	}
	agg, err := d.Measure(ctx, exp)
	if err != nil {
		return nil, fmt.Errorf("iterate %d: measuring: %w", k, err)
	}
	var samples *v2alpha1.SamplesAnalysis
	if len(exp.Spec.Comparisons()) > 0 {
		if d.Sample == nil {
			return nil, fmt.Errorf("iterate %d: the experiment compares samples and no sample collector is configured", k)
		}
		samples = d.Sample(ctx, exp)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("iterate %d: sampling: %w", k, err)
		}
	}
	now := metav1.NewTime(d.now())
	msg := fmt.Sprintf("Completed Iteration %d", k)
	exp, written, err := d.updateStatus(ctx, func(e *v2alpha1.Experiment) error {
		if !running(e) || e.Status.GetCompletedIterations() != k-1 {
			// Another run of this stage got there first, or the experiment ended meanwhile
			// (the read this iteration began with may also have been a stale cached copy).
			return ErrNoChange
		}
		if e.Status.Analysis == nil {
			e.Status.Analysis = &v2alpha1.Analysis{}
		}
		e.Status.Analysis.AggregatedMetrics = agg
		// The history is appended to on the latest status, inside the write, so that a
		// conflict's retry keeps what another writer recorded.
		e.Status.Analysis.History = v2alpha1.RecordHistory(e.Status.Analysis.History, k, agg,
			v2alpha1.AnalysisMetaData{Provenance: HistoryProvenance, Timestamp: now})
		if samples != nil {
			e.Status.Analysis.Samples = samples
		}
		kk := k
		e.Status.CompletedIterations = &kk
		e.Status.LastUpdateTime = &now
		e.Status.MarkCondition(v2alpha1.ConditionCompleted, corev1.ConditionFalse, v2alpha1.ReasonIterationUpdate, msg, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if written {
		d.Store.Event(ctx, exp, corev1.EventTypeNormal, v2alpha1.ReasonIterationUpdate, msg)
		d.logf("iterate %d: %s", k, summarizeMetrics(exp, agg))
		if samples != nil {
			d.logf("iterate %d: %s", k, metrics.SummarizeSamples(samples, exp.Spec.VersionNames()))
		}
	} else if exp.Status.GetCompletedIterations() >= k {
		d.logf("iterate %d: completed by another run meanwhile", k)
	} else {
		d.logf("iterate %d: not recorded: the experiment is %s meanwhile, with %d iterations complete", k, exp.Status.GetStage(), exp.Status.GetCompletedIterations())
	}
	if exp.Status.GetCompletedIterations() == k && running(exp) {
		if exp, err = d.restoreOnBreach(ctx, exp, k); err != nil {
			return nil, err
		}
	}
	return &IterateResult{Iteration: exp.Status.GetCompletedIterations()}, nil
}

// restoreOnBreach sends all traffic back to the baseline as soon as the values iteration k
// measured break a rollback criterion, without waiting for assess (a pod start later):
// the time a bad candidate keeps its traffic is what a rollback is for. Assess then judges
// the same values, records the rollback and finds the traffic restored; its verdicts are
// the ones that count (analytics is pure, so they cannot differ). Traffic that a person
// changed mid-run is theirs, as in finalize.
func (d *Deps) restoreOnBreach(ctx context.Context, exp *v2alpha1.Experiment, k int32) (*v2alpha1.Experiment, error) {
	if d.Traffic == nil || !exp.Spec.ShiftsTraffic() || trafficChangedExternally(exp) {
		return exp, nil
	}
	data, _ := analytics.VersionAssessments(exp)
	breach := analytics.Rollback(exp, data)
	if len(breach) == 0 {
		return exp, nil
	}
	d.logf("iterate %d: %s broke a rollback criterion; restoring the baseline now (assess records the rollback)", k, strings.Join(breach, ", "))
	if err := d.restoreBaseline(ctx, exp); errors.Is(err, ErrGone) {
		return nil, err
	} else if err != nil {
		d.logf("iterate %d: restoring traffic to the baseline: %v; assess and finalize will try again", k, err)
	}
	if fresh, err := d.Store.Get(ctx); err == nil {
		return fresh, nil
	}
	return exp, nil
}

// readToIterate reads the experiment for iteration k: from the store's cache when it has
// one and the cached copy says the iteration is due, else the latest. Measuring on a
// cached copy is safe because all it leads to is the status write, which conflicts if
// the copy was stale, and the write's mutate checks again on the latest. Skipping,
// refusing or running the loop action write nothing that would check them, so they are
// decided on the latest.
func (d *Deps) readToIterate(ctx context.Context, k int32) (*v2alpha1.Experiment, error) {
	if c, ok := d.Store.(CachedReader); ok {
		exp, err := c.GetCached(ctx)
		if err == nil && running(exp) && exp.Status.GetCompletedIterations() == k-1 &&
			k <= exp.Spec.TotalIterations() && !d.loopActionDue(exp, k) {
			return exp, nil
		}
	}
	return d.Store.Get(ctx)
}

// loopActionDue says whether iteration k starts a loop that has a loop action to run.
func (d *Deps) loopActionDue(exp *v2alpha1.Experiment, k int32) bool {
	return d.RunActions != nil && len(exp.Spec.Strategy.Actions[v2alpha1.ActionLoop]) > 0 &&
		(k-1)%exp.Spec.IterationsPerLoop() == 0
}

func (d *Deps) runLoopAction(ctx context.Context, exp *v2alpha1.Experiment, loop int32) (*v2alpha1.Experiment, error) {
	work := exp.DeepCopy()
	if err := d.RunActions(ctx, work, v2alpha1.ActionLoop); err != nil {
		return nil, d.fail(ctx, v2alpha1.ReasonHandlerFailed, fmt.Sprintf("loop %d actions failed: %v", loop, err))
	}
	d.logf("iterate: loop %d actions completed", loop)
	return d.keepBuiltinHists(ctx, exp, work)
}

// summarizeMetrics is one log line: every metric's value per version, or why there is none.
func summarizeMetrics(exp *v2alpha1.Experiment, agg *v2alpha1.AggregatedMetricsAnalysis) string {
	if agg == nil {
		return "no metrics"
	}
	var parts []string
	for ref, md := range agg.Data {
		var vs []string
		for _, v := range exp.Spec.VersionNames() {
			vd, ok := md.Data[v]
			switch {
			case !ok:
				vs = append(vs, v+"=none")
			case vd.Value != nil && vd.State == v2alpha1.MetricStateValue:
				vs = append(vs, fmt.Sprintf("%s=%.3f", v, vd.Value.Value()))
			case vd.Value != nil:
				vs = append(vs, fmt.Sprintf("%s=%.3f(stale: %s)", v, vd.Value.Value(), vd.Reason))
			default:
				vs = append(vs, fmt.Sprintf("%s=%s(%s)", v, strings.ToLower(string(vd.State)), vd.Reason))
			}
		}
		parts = append(parts, ref+" "+strings.Join(vs, " "))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}
