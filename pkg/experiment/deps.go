package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Traffic reads and writes version weights through the weightObjRefs (pkg/traffic).
type Traffic interface {
	Observe(ctx context.Context, exp *v2alpha1.Experiment) ([]v2alpha1.WeightData, error)
	Apply(ctx context.Context, exp *v2alpha1.Experiment, observed, desired []v2alpha1.WeightData) ([]v2alpha1.WeightData, error)
}

// Deps is what the stages need from the world. The binaries fill it with cluster clients,
// the local runner with files and loopback services.
type Deps struct {
	Store   Store
	Metrics MetricGetter
	// MetricNamespaces are searched, in order, for a bare metric name that is not in the
	// experiment's namespace.
	MetricNamespaces []string
	// Measure queries every metric for every version and folds the values into the
	// previous aggregated metrics (pkg/metrics).
	Measure func(ctx context.Context, exp *v2alpha1.Experiment) (*v2alpha1.AggregatedMetricsAnalysis, error)
	// Sample gathers the samples of criteria.comparisons' metrics (pkg/metrics); nil
	// when nothing compares samples. It returns nil for an experiment without comparisons.
	Sample func(ctx context.Context, exp *v2alpha1.Experiment) *v2alpha1.SamplesAnalysis
	// Traffic is nil where nothing may change traffic.
	Traffic Traffic
	// RunActions runs the tasks of an action (pkg/actions); it may change exp in memory.
	RunActions func(ctx context.Context, exp *v2alpha1.Experiment, action string) error
	// ValidateActions checks the actions' inputs and conditions without running them.
	ValidateActions func(exp *v2alpha1.Experiment) *apis.FieldError
	// CheckMirroring says, for an experiment whose version receives mirrored traffic only,
	// whether the mirroring could be verified; a non-empty warning is reported, not fatal.
	CheckMirroring func(ctx context.Context, exp *v2alpha1.Experiment) (warning string)

	// StartedAt, when set, says when the run carrying the experiment started (its
	// PipelineRun). Init then starts the experiment's clock at that time rather than when
	// init itself finishes, so that pod start-up and the start actions count against the
	// first interval instead of lengthening the run; see startTime for when it is not used.
	StartedAt func(ctx context.Context) (time.Time, error)

	// Interval overrides spec.duration.intervalSeconds when positive (tests, demos).
	Interval time.Duration
	// Lease makes one experiment at a time the holder of a target: ClusterLease in the
	// cluster, LocalLease in one process. Nil for Deps made for one experiment alone.
	Lease TargetLease
	// TargetWait bounds how long init waits for another experiment to release the target.
	TargetWait time.Duration
	// TargetPoll is the pause between looks at the target's holder.
	TargetPoll time.Duration

	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Log gets one line per decision.
	Log io.Writer
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deps) sleep(ctx context.Context, dur time.Duration) error {
	if d.Sleep != nil {
		return d.Sleep(ctx, dur)
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// updateStatus is Store.UpdateStatus that also says whether this change was written: not
// when mutate, on the experiment as it last read it, returned ErrNoChange because another
// run of the stage got there first. An event announces a change this run made; iter8
// records events only when a condition actually changes, so a change someone else made
// is not announced twice.
func (d *Deps) updateStatus(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (exp *v2alpha1.Experiment, written bool, err error) {
	var sent *v2alpha1.ExperimentStatus
	// The store calls mutate again after a conflict or a failed write; its last call
	// decides.
	exp, err = d.Store.UpdateStatus(ctx, func(e *v2alpha1.Experiment) error {
		err := mutate(e)
		switch {
		case err == nil:
			written, sent = true, e.Status.DeepCopy()
		case errors.Is(err, ErrNoChange) && sent != nil:
			// A write whose answer was lost may have landed: then the experiment holds
			// what this run sent, and the change is this run's.
			written = sameStatus(sent, &e.Status)
		default:
			written = false
		}
		return err
	})
	return exp, written && err == nil, err
}

// sameStatus compares two statuses as the API server stores them: as JSON, where times
// have whole seconds.
func sameStatus(a, b *v2alpha1.ExperimentStatus) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// running says whether the experiment is in its Running stage and has neither completed
// nor failed.
func running(exp *v2alpha1.Experiment) bool {
	return exp.Status.GetStage() == v2alpha1.StageRunning &&
		!exp.Status.IsTrue(v2alpha1.ConditionCompleted) && !exp.Status.IsTrue(v2alpha1.ConditionFailed)
}

func (d *Deps) logf(format string, args ...any) {
	if d.Log != nil {
		fmt.Fprintf(d.Log, format+"\n", args...)
	}
}

// startTime is the experiment's status.startTime, chosen when init starts it: the run's
// start when StartedAt knows it and init finished within half an interval of it, else now.
// The bound keeps at least half an interval between the start actions (which may shift
// traffic or wait for readiness) and the first iteration, and keeps a run that waited long
// for its target from firing its first iterations back to back.
func (d *Deps) startTime(ctx context.Context, exp *v2alpha1.Experiment) time.Time {
	now := d.now()
	if d.StartedAt == nil {
		return now
	}
	at, err := d.StartedAt(ctx)
	switch since := now.Sub(at); {
	case err != nil:
		d.logf("init: the experiment's clock starts now: %v", err)
		return now
	case at.IsZero() || since < 0:
		return now
	case since > d.interval(exp)/2:
		d.logf("init: the run started %s ago, more than half an interval; the experiment's clock starts now", since.Round(time.Millisecond))
		return now
	default:
		d.logf("init: the experiment's clock starts with the run, %s ago", since.Round(time.Millisecond))
		return at
	}
}

func (d *Deps) interval(exp *v2alpha1.Experiment) time.Duration {
	if d.Interval > 0 {
		return d.Interval
	}
	return time.Duration(exp.Spec.IntervalSeconds()) * time.Second
}
