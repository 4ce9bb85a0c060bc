// Package localrun runs a whole experiment in one process, without a cluster: the same
// stage functions the Tekton tasks call (pkg/experiment), against a FileStore, with metrics
// from the builtin load generator, mock levels or a Prometheus URL. It is iter8ctl run.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/experiment"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics/builtin"
)

// DefaultNamespace is the namespace of an experiment that names none, as kubectl would
// create it.
const DefaultNamespace = "default"

// MetricNamespaces are searched, in order, for a bare metric name that is not in the
// experiment's namespace: the same order as the stage binaries' default.
var MetricNamespaces = []string{"iter8-knative", "iter8-istio", builtin.Namespace}

// PipelineStatusCancelled is what finalize is told when the run was interrupted, in the
// words Tekton uses for a cancelled PipelineRun's $(tasks.status).
const PipelineStatusCancelled = "Cancelled"

// finalizeTimeout bounds the finalize stage that runs after an interruption, so that a
// finish action that hangs cannot keep an interrupted run alive for ever.
const finalizeTimeout = 2 * time.Minute

// Options is one local run.
type Options struct {
	// Experiment is run; it is not modified. An empty namespace is DefaultNamespace.
	Experiment *v2alpha1.Experiment
	// Metrics are the Metric objects of the files. One without a namespace lives in the
	// experiment's namespace, as if applied there. The builtin metrics are always there.
	Metrics []*v2alpha1.Metric
	// PrometheusURL is the base URL of prometheus metrics without urlTemplate.
	PrometheusURL string
	// Interval overrides spec.duration.intervalSeconds when positive.
	Interval time.Duration
	// Path, when set, receives the experiment with its status after every change.
	Path string
	// Log receives one line per decision (stages and actions).
	Log io.Writer
	// Exec says which commands common/exec and run: may execute; the zero policy allows
	// none (iter8ctl run --allow-exec sets it).
	Exec actions.ExecPolicy
}

// Result is how the run ended.
type Result struct {
	// Experiment is the experiment with its final status.
	Experiment *v2alpha1.Experiment
	// Final is finalize's result; nil when finalize itself failed.
	Final *experiment.FinalizeResult
	// Iterations is the number of completed iterations.
	Iterations int32
	// Interrupted says the context was cancelled before the experiment ended.
	Interrupted bool
}

// ErrAimNotAchieved is returned, wrapped with the outcome and finalize's reason, when the
// experiment ran and judged without achieving its aim (outcome NoWinner or RolledBack).
var ErrAimNotAchieved = errors.New("experiment did not achieve its aim")

// ErrExperimentFailed is returned, wrapped with finalize's reason, when the experiment
// could not run to its end or could not be judged (outcome Failed).
var ErrExperimentFailed = errors.New("experiment failed")

// ErrInterrupted is returned, wrapped, when ctx was cancelled during the run; the
// experiment was finalized nonetheless.
var ErrInterrupted = errors.New("interrupted")

// Run runs init, then iterate and assess for k = 1, 2, ... while assess says to continue,
// then finalize, which always runs: when ctx is cancelled, the running stage stops and
// finalize runs with a fresh context and the pipeline status Cancelled, so the experiment
// ends Completed and Failed with the number of iterations it ran. The returned Result is
// non-nil whenever the experiment was started. The error is nil only when the experiment
// achieved its aim.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Experiment == nil {
		return nil, errors.New("no experiment to run")
	}
	exp := o.Experiment.DeepCopy()
	if exp.Namespace == "" {
		exp.Namespace = DefaultNamespace
	}
	ModelTraffic(exp)
	store := experiment.NewFileStore(exp, o.Path)
	d := Deps(store, exp.Namespace, o)

	stageErr := runStages(ctx, d, o.PrometheusURL)
	interrupted := ctx.Err() != nil

	status := ""
	fctx := ctx
	if interrupted {
		status = PipelineStatusCancelled
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), finalizeTimeout)
		defer cancel()
	}
	final, ferr := experiment.Finalize(fctx, d, status)
	res := &Result{Final: final, Interrupted: interrupted}
	if got, err := store.Get(fctx); err == nil {
		res.Experiment = got
		res.Iterations = got.Status.GetCompletedIterations()
	}

	switch {
	case interrupted:
		reason := "the experiment was stopped"
		if final != nil && final.Reason != "" {
			reason = final.Reason
		}
		return res, fmt.Errorf("%w: %s", ErrInterrupted, reason)
	case stageErr != nil:
		return res, stageErr
	case ferr != nil:
		return res, fmt.Errorf("finalize: %w", ferr)
	case final.Outcome == experiment.OutcomeFailed:
		return res, fmt.Errorf("%w: %s", ErrExperimentFailed, final.Reason)
	case !final.AimAchieved:
		return res, fmt.Errorf("%w (%s): %s", ErrAimNotAchieved, final.Outcome, final.Reason)
	}
	return res, nil
}

// runStages runs init and the iterations; it returns the first stage error, named after
// its stage.
func runStages(ctx context.Context, d *experiment.Deps, prometheusURL string) error {
	r, err := experiment.Init(ctx, d)
	if err != nil {
		return fmt.Errorf("init-experiment: %w", err)
	}
	exp, err := d.Store.Get(ctx)
	if err != nil {
		return fmt.Errorf("init-experiment: %w", err)
	}
	if err := checkPrometheus(exp, prometheusURL); err != nil {
		return err
	}
	for k := int32(1); k <= r.Iterations; k++ {
		if _, err := experiment.Iterate(ctx, d, k); err != nil {
			return fmt.Errorf("iterate %d: %w", k, err)
		}
		a, err := experiment.Assess(ctx, d, k)
		if err != nil {
			return fmt.Errorf("assess %d: %w", k, err)
		}
		if !a.Continue {
			return nil
		}
	}
	return nil
}

// Deps wires the stages for a run without a cluster, as pkg/stagecmd wires them for the
// cluster: a FileStore, the metrics of the files and the builtin set, no traffic (nothing
// to shift), and actions without a Kubernetes client, so that knative/* and
// common/readiness fail with an error that names the task.
func Deps(store experiment.Store, namespace string, o Options) *experiment.Deps {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	collector := &metrics.Collector{PrometheusURL: o.PrometheusURL}
	env := actions.Env{Out: log, Collect: CollectByWeights(experiment.CollectBuiltin), Exec: o.Exec}
	return &experiment.Deps{
		Store:            store,
		Metrics:          LocalMetrics(namespace, o.Metrics),
		MetricNamespaces: MetricNamespaces,
		Measure:          experiment.MeasureWith(collector, metav1.Now),
		Sample:           collector.CollectSamples,
		RunActions: func(ctx context.Context, exp *v2alpha1.Experiment, action string) error {
			return actions.Run(ctx, env, exp, action)
		},
		ValidateActions: func(exp *v2alpha1.Experiment) *apis.FieldError {
			return actions.Validate(exp).Also(actions.CheckExec(exp, o.Exec))
		},
		Lease:    &experiment.LocalLease{},
		Traffic:  &Traffic{},
		Interval: o.Interval,
		Log:      log,
	}
}

// LocalMetrics holds the builtin metrics and ms; a metric of ms without a namespace is
// kept in namespace, and ms take precedence over the builtin ones.
func LocalMetrics(namespace string, ms []*v2alpha1.Metric) experiment.LocalMetrics {
	l := experiment.LocalMetrics{}
	for _, m := range builtin.Metrics() {
		l.Add(m.DeepCopy())
	}
	for _, m := range ms {
		m = m.DeepCopy()
		if m.Namespace == "" {
			m.Namespace = namespace
		}
		l.Add(m)
	}
	return l
}

// ElapsedWriter prefixes every line written to W with the time elapsed since Start, so
// that progress reads as a timeline. Stages and actions may write from several
// goroutines, so writes are serialized.
type ElapsedWriter struct {
	W     io.Writer
	Start time.Time
	Now   func() time.Time

	mu      sync.Mutex
	partial strings.Builder
}

func (e *ElapsedWriter) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	e.partial.Write(p)
	s := e.partial.String()
	last := strings.LastIndexByte(s, '\n')
	if last < 0 {
		return len(p), nil
	}
	e.partial.Reset()
	e.partial.WriteString(s[last+1:])
	var b strings.Builder
	prefix := fmt.Sprintf("[%6.1fs] ", now().Sub(e.Start).Seconds())
	for _, line := range strings.Split(s[:last], "\n") {
		b.WriteString(prefix)
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(e.W, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}
