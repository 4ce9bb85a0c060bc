package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics"
)

// StageError is a failure the stage recorded on the experiment (reason and message), so
// the caller exits non-zero without recording it again.
type StageError struct {
	Reason  string
	Message string
}

func (e *StageError) Error() string { return e.Reason + ": " + e.Message }

// InitResult is what init-experiment reports.
type InitResult struct {
	Iterations int32
	Target     string
}

// defaultV2alpha1RequestCount is the metric v2alpha1 experiments report as requestCount
// when they name none (etc3's install-time default); it is optional.
const defaultV2alpha1RequestCount = "request-count"

// Init validates the experiment, acquires its target, runs the start actions, embeds the
// metrics, observes the weights and moves the experiment to Running. Run again on an
// experiment that is already running, it changes nothing.
func Init(ctx context.Context, d *Deps) (*InitResult, error) {
	exp, err := d.Store.Get(ctx)
	if err != nil {
		return nil, err
	}
	res := &InitResult{Iterations: exp.Spec.TotalIterations(), Target: exp.Spec.Target}
	switch stage := exp.Status.GetStage(); {
	case exp.Status.IsTrue(v2alpha1.ConditionCompleted):
		return nil, fmt.Errorf("experiment %s/%s has already completed", exp.Namespace, exp.Name)
	case stage == v2alpha1.StageRunning || stage == v2alpha1.StageFinishing:
		d.logf("init: experiment is %s already; nothing to do", stage)
		return res, nil
	}

	now := metav1.NewTime(d.now())
	exp, err = d.Store.UpdateStatus(ctx, func(e *v2alpha1.Experiment) error {
		changed := e.Status.InitTime == nil
		e.Status.InitializeStatus(now)
		if c := e.Status.Condition(v2alpha1.ConditionFailed); c != nil && c.Status == corev1.ConditionTrue && c.Reason != nil && *c.Reason == v2alpha1.ReasonTargetWaiting {
			// Giving up on a held target is the one failure a new run of init retries:
			// left in place, the experiment would hold the target while Failed.
			c.Status, c.Reason, c.Message, c.LastTransitionTime = corev1.ConditionFalse, nil, nil, &now
			changed = true
		}
		if !changed {
			return ErrNoChange
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	if fe := validate(exp, d); fe != nil {
		return nil, d.fail(ctx, v2alpha1.ReasonInvalidExperiment, describeFieldError(fe))
	}
	if err := d.acquireTarget(ctx, exp); err != nil {
		var se *StageError
		if errors.As(err, &se) {
			return nil, d.fail(ctx, se.Reason, se.Message)
		}
		return nil, err
	}
	exp, err = d.setStage(ctx, v2alpha1.StageInitializing, "Experiment initializing")
	if err != nil {
		return nil, err
	}

	if len(exp.Spec.Strategy.Actions[v2alpha1.ActionStart]) > 0 {
		if exp, err = d.runStartActions(ctx, exp); err != nil {
			return nil, err
		}
	}
	if fe := exp.Spec.ValidateVersionInfo(); fe != nil {
		return nil, d.fail(ctx, v2alpha1.ReasonInvalidExperiment, describeFieldError(fe.ViaField("spec")))
	}

	infos, err := d.resolveMetrics(ctx, exp)
	if err != nil {
		var se *StageError
		if errors.As(err, &se) {
			return nil, d.fail(ctx, se.Reason, se.Message)
		}
		return nil, err
	}

	var weights []v2alpha1.WeightData
	if d.Traffic != nil && exp.Spec.ShiftsTraffic() {
		if weights, err = d.Traffic.Observe(ctx, exp); err != nil {
			return nil, d.fail(ctx, v2alpha1.ReasonWeightRedistributionFailed, "reading version weights: "+err.Error())
		}
		d.logf("init: observed weights %s", formatWeights(weights))
	}
	warning := ""
	if d.CheckMirroring != nil && exp.Spec.Strategy.TestingPattern == v2alpha1.TestingPatternConformance {
		warning = d.CheckMirroring(ctx, exp)
	}

	start := metav1.NewTime(d.startTime(ctx, exp))
	now = metav1.NewTime(d.now())
	exp, err = d.Store.UpdateStatus(ctx, func(e *v2alpha1.Experiment) error {
		e.Status.Metrics = infos
		if weights != nil && !sameWeights(e.Status.CurrentWeightDistribution, weights) {
			e.Status.RecordWeights(weights)
		}
		if e.Status.StartTime == nil {
			e.Status.StartTime = &start
		}
		e.Status.LastUpdateTime = &now
		running := v2alpha1.StageRunning
		e.Status.Stage = &running
		e.SetRecommendedVersion(e.Spec.VersionInfo.Baseline.Name)
		msg := "Experiment started"
		if warning != "" {
			msg += "; " + warning
		}
		e.Status.MarkCondition(v2alpha1.ConditionCompleted, corev1.ConditionFalse, v2alpha1.ReasonStageAdvanced, msg, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if warning != "" {
		d.logf("init: warning: %s", warning)
		d.Store.Event(ctx, exp, corev1.EventTypeWarning, v2alpha1.ReasonMirroringUnverified, warning)
	}
	d.Store.Event(ctx, exp, corev1.EventTypeNormal, v2alpha1.ReasonStageAdvanced, "Experiment started: "+fmt.Sprintf("%d iterations of %s", res.Iterations, d.interval(exp)))
	d.logf("init: experiment %s/%s running: %d iterations, interval %s, versions %v, metrics %d",
		exp.Namespace, exp.Name, res.Iterations, d.interval(exp), exp.Spec.VersionNames(), len(infos))
	return res, nil
}

// validate runs the spec's checks and the actions' (d.ValidateActions: in the stages and
// iter8ctl run, actions.Validate and the exec policy), which together are what
// actions.ValidateExperiment, and so iter8ctl validate, checks.
func validate(exp *v2alpha1.Experiment, d *Deps) *apis.FieldError {
	fe := exp.Validate()
	if d.ValidateActions != nil {
		fe = fe.Also(d.ValidateActions(exp))
	}
	return fe
}

// describeFieldError lists every problem, one per line, field path first.
func describeFieldError(fe *apis.FieldError) string {
	var lines []string
	for _, e := range fe.WrappedErrors() {
		msg := e.Message
		if e.Details != "" {
			msg += ": " + e.Details
		}
		lines = append(lines, strings.Join(e.Paths, ", ")+": "+msg)
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

func (d *Deps) runStartActions(ctx context.Context, exp *v2alpha1.Experiment) (*v2alpha1.Experiment, error) {
	if d.RunActions == nil {
		return nil, d.fail(ctx, v2alpha1.ReasonHandlerFailed, "start actions are defined but no task runner is configured")
	}
	work := exp.DeepCopy()
	if err := d.RunActions(ctx, work, v2alpha1.ActionStart); err != nil {
		return nil, d.fail(ctx, v2alpha1.ReasonHandlerFailed, "start actions failed: "+err.Error())
	}
	d.logf("init: start actions completed")
	changed, err := specChanged(exp.Spec, work.Spec)
	if err != nil {
		return nil, d.fail(ctx, v2alpha1.ReasonHandlerFailed, "start actions: "+err.Error())
	}
	if changed {
		exp, err = d.Store.UpdateSpec(ctx, func(e *v2alpha1.Experiment) error {
			e.Spec = work.Spec
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return d.keepBuiltinHists(ctx, exp, work)
}

// specChanged compares two specs by what would be written to the API server. A
// reflection-based comparison (equality.Semantic) panics on types with unexported fields,
// such as v2alpha1.Number, and the wire form is what an update would change anyway.
func specChanged(before, after v2alpha1.ExperimentSpec) (bool, error) {
	b, err := json.Marshal(before)
	if err != nil {
		return false, fmt.Errorf("encoding the spec: %w", err)
	}
	a, err := json.Marshal(after)
	if err != nil {
		return false, fmt.Errorf("encoding the spec after the start actions: %w", err)
	}
	return !bytes.Equal(a, b), nil
}

// keepBuiltinHists writes the load histograms that an action (metrics/collect) recorded
// in work, the copy it ran on, into the stored status; exp is returned when there are none.
func (d *Deps) keepBuiltinHists(ctx context.Context, exp, work *v2alpha1.Experiment) (*v2alpha1.Experiment, error) {
	a := work.Status.Analysis
	if a == nil || a.AggregatedBuiltinHists == nil {
		return exp, nil
	}
	return d.Store.UpdateStatus(ctx, func(e *v2alpha1.Experiment) error {
		if e.Status.Analysis == nil {
			e.Status.Analysis = &v2alpha1.Analysis{}
		}
		e.Status.Analysis.AggregatedBuiltinHists = a.AggregatedBuiltinHists
		return nil
	})
}

// resolveMetrics reads every referenced metric and, recursively, their sampleSize metrics.
// A bare name is looked up in the experiment's namespace, then in MetricNamespaces.
func (d *Deps) resolveMetrics(ctx context.Context, exp *v2alpha1.Experiment) ([]v2alpha1.MetricInfo, error) {
	refs := exp.Spec.MetricRefs()
	optional := map[string]bool{}
	if exp.IsV2alpha1() && (exp.Spec.Criteria == nil || exp.Spec.Criteria.RequestCount == nil) {
		refs = append([]string{defaultV2alpha1RequestCount}, refs...)
		optional[defaultV2alpha1RequestCount] = true
	}
	var infos []v2alpha1.MetricInfo
	seen := map[string]bool{}
	for len(refs) > 0 {
		ref := refs[0]
		refs = refs[1:]
		if seen[ref] {
			continue
		}
		seen[ref] = true
		m, key, err := d.getMetric(ctx, ref, exp.Namespace)
		if optional[ref] && (errors.Is(err, ErrMetricNotFound) || apierrors.IsForbidden(err)) {
			// The v2alpha1 default request count is reported when it can be read, and
			// the shared metric namespaces need not be readable (another cluster's, say).
			continue
		}
		if errors.Is(err, ErrMetricNotFound) {
			return nil, &StageError{Reason: v2alpha1.ReasonMetricUnavailable, Message: fmt.Sprintf("unable to find metric %s (looked in %s)", ref, strings.Join(d.lookupNamespaces(ref, exp.Namespace), ", "))}
		}
		if err != nil {
			return nil, &StageError{Reason: v2alpha1.ReasonMetricsUnreadable, Message: err.Error()}
		}
		if fe := m.Validate(); fe != nil {
			return nil, &StageError{Reason: v2alpha1.ReasonInvalidExperiment, Message: fmt.Sprintf("metric %s: %s", key, describeFieldError(fe))}
		}
		for i, c := range exp.Spec.Comparisons() {
			if c.Metric != ref {
				continue
			}
			if err := metrics.CheckSamples(m); err != nil {
				return nil, &StageError{Reason: v2alpha1.ReasonInvalidExperiment, Message: fmt.Sprintf("spec.criteria.comparisons[%d].metric: metric %s: %v", i, key, err)}
			}
		}
		if ref != key && seen[key] {
			continue
		}
		seen[key] = true
		m.ManagedFields = nil
		m.ResourceVersion = ""
		m.UID = ""
		m.Generation = 0
		m.CreationTimestamp = metav1.Time{}
		delete(m.Annotations, "kubectl.kubernetes.io/last-applied-configuration")
		infos = append(infos, v2alpha1.MetricInfo{Name: key, MetricObj: *m})
		if ss := m.Spec.SampleSize; ss != nil && *ss != "" {
			// A bare sampleSize name means the metric's own namespace.
			r := *ss
			if !strings.Contains(r, "/") {
				r = m.Namespace + "/" + r
			}
			refs = append(refs, r)
		}
	}
	return infos, nil
}

func (d *Deps) lookupNamespaces(ref, expNamespace string) []string {
	if ns, _, ok := strings.Cut(ref, "/"); ok {
		return []string{ns}
	}
	return append([]string{expNamespace}, d.MetricNamespaces...)
}

func (d *Deps) getMetric(ctx context.Context, ref, expNamespace string) (*v2alpha1.Metric, string, error) {
	if d.Metrics == nil {
		return nil, "", fmt.Errorf("metric %s: %w", ref, ErrMetricNotFound)
	}
	name := ref
	if _, n, ok := strings.Cut(ref, "/"); ok {
		name = n
	}
	for _, ns := range d.lookupNamespaces(ref, expNamespace) {
		m, err := d.Metrics.GetMetric(ctx, ns, name)
		if errors.Is(err, ErrMetricNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if m.Namespace == "" {
			m.Namespace = ns
		}
		return m, ns + "/" + name, nil
	}
	return nil, "", fmt.Errorf("metric %s: %w", ref, ErrMetricNotFound)
}

// acquireTarget makes this experiment the one holder of its target, through the target's
// lease (TargetLease), taken for the experiment's planned duration and LeaseGrace.
// Another experiment that holds an unexpired lease makes it wait, up to TargetWait.
func (d *Deps) acquireTarget(ctx context.Context, exp *v2alpha1.Experiment) error {
	lease := d.Lease
	if lease == nil {
		// Deps made for one experiment alone (tests): it holds its target.
		lease = &LocalLease{Now: d.now}
	}
	deadline := d.now().Add(d.TargetWait)
	poll := d.TargetPoll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	ttl := d.leaseTTL(exp, exp.Spec.TotalIterations())
	announced := false
	for {
		holder, err := lease.Acquire(ctx, exp, ttl)
		if err != nil {
			return err
		}
		if holder == "" {
			now := metav1.NewTime(d.now())
			if _, err := d.Store.UpdateStatus(ctx, func(e *v2alpha1.Experiment) error {
				e.Status.MarkCondition(v2alpha1.ConditionTargetAcquired, corev1.ConditionTrue, v2alpha1.ReasonTargetAcquired, "Target "+e.Spec.Target+" acquired", now)
				return nil
			}); err != nil {
				return err
			}
			d.logf("init: target %s acquired", exp.Spec.Target)
			d.Store.Event(ctx, exp, corev1.EventTypeNormal, v2alpha1.ReasonTargetAcquired, "Target "+exp.Spec.Target+" acquired")
			return nil
		}
		if !d.now().Before(deadline) {
			return &StageError{Reason: v2alpha1.ReasonTargetWaiting, Message: fmt.Sprintf("target %s is held by experiment %s; gave up after %s", exp.Spec.Target, holder, d.TargetWait)}
		}
		if !announced {
			announced = true
			d.logf("init: target %s is held by %s; waiting up to %s", exp.Spec.Target, holder, d.TargetWait)
			now := metav1.NewTime(d.now())
			if _, err := d.Store.UpdateStatus(ctx, func(e *v2alpha1.Experiment) error {
				e.Status.MarkCondition(v2alpha1.ConditionTargetAcquired, corev1.ConditionFalse, v2alpha1.ReasonTargetWaiting, "Waiting for target "+e.Spec.Target+" held by "+holder, now)
				return nil
			}); err != nil {
				return err
			}
		}
		if err := d.sleep(ctx, poll); err != nil {
			return err
		}
	}
}

// fail records a failure on the experiment and returns it as a StageError.
func (d *Deps) fail(ctx context.Context, reason, message string) error {
	now := metav1.NewTime(d.now())
	exp, err := d.Store.UpdateStatus(ctx, func(e *v2alpha1.Experiment) error {
		e.Status.InitializeStatus(now)
		e.Status.MarkCondition(v2alpha1.ConditionFailed, corev1.ConditionTrue, reason, message, now)
		return nil
	})
	d.logf("failed: %s: %s", reason, message)
	if err == nil {
		d.Store.Event(ctx, exp, corev1.EventTypeWarning, reason, message)
	}
	se := &StageError{Reason: reason, Message: message}
	if err != nil {
		return fmt.Errorf("%w (and recording it failed: %v)", se, err)
	}
	return se
}

func (d *Deps) setStage(ctx context.Context, stage v2alpha1.ExperimentStageType, message string) (*v2alpha1.Experiment, error) {
	now := metav1.NewTime(d.now())
	exp, written, err := d.updateStatus(ctx, func(e *v2alpha1.Experiment) error {
		// A completed experiment stays so: marking a stage would set Completed false again.
		if e.Status.IsTrue(v2alpha1.ConditionCompleted) || e.Status.Stage != nil && *e.Status.Stage == stage {
			return ErrNoChange
		}
		e.Status.Stage = &stage
		e.Status.LastUpdateTime = &now
		e.Status.MarkCondition(v2alpha1.ConditionCompleted, corev1.ConditionFalse, v2alpha1.ReasonStageAdvanced, message, now)
		return nil
	})
	if written {
		d.Store.Event(ctx, exp, corev1.EventTypeNormal, v2alpha1.ReasonStageAdvanced, message)
	}
	return exp, err
}

func formatWeights(ws []v2alpha1.WeightData) string {
	var parts []string
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("%s=%d", w.Name, w.Value))
	}
	return strings.Join(parts, ",")
}
