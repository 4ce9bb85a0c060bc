// Package pipelines builds the Tekton Pipeline that loops the iter8 stages, and the
// PipelineRun sized to one Experiment. Tekton has no loops, so the Pipeline is unrolled:
//
//	init-experiment → iterate-1 → assess-1 → iterate-2 → assess-2 → … → assess-N
//	finally: finalize --pipeline-status=$(tasks.status)
//
// iterate-k and assess-k (k ≥ 2) run only when assess-(k-1) wrote continue=true, so the
// run stops early when the Experiment is done or a version must be rolled back.
package pipelines

import (
	"fmt"
	"strconv"
	"time"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/tekton"
	"github.com/iter8-tools/iter8-tekton/tasks"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/pod"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/ptr"
)

const (
	// Name is the name of the catalog Pipeline.
	Name = "iter8-experiment"
	// CatalogIterations is the number of iterations the catalog Pipeline is unrolled to:
	// it runs Experiments of up to that many iterations (iterationsPerLoop × maxLoops).
	CatalogIterations = 30
	// MaxIterations bounds the size of a generated Pipeline (2 tasks per iteration); past
	// it the object and Tekton's scheduling of it grow unreasonably large.
	MaxIterations = 200

	// Names of the pipeline tasks.
	TaskInit     = "init-experiment"
	TaskFinalize = "finalize"

	// LabelExperiment on a PipelineRun names the Experiment it runs.
	LabelExperiment = "iter8.tools/experiment"

	// StageRetries is how many times Tekton runs iterate and assess again when their pod
	// fails (evicted, its node lost). Both are idempotent: a second run of an iteration
	// that was recorded changes nothing (TestRestartIdempotent), so the iteration counts once.
	// init and finalize are not retried: their failures are the experiment's verdicts.
	StageRetries = 1
)

// IterateTask is the name of the pipeline task of iteration k.
func IterateTask(k int) string { return "iterate-" + strconv.Itoa(k) }

// AssessTask is the name of the pipeline task that assesses iteration k.
func AssessTask(k int) string { return "assess-" + strconv.Itoa(k) }

// Build returns the Pipeline for experiments of up to n iterations. Its tasks reference
// the Tasks of package tasks by name, so those must be installed in the PipelineRun's
// namespace (config/ does that).
func Build(n int, version string) (*v1.Pipeline, error) {
	if n < 1 || n > MaxIterations {
		return nil, fmt.Errorf("iterations must be between 1 and %d, not %d", MaxIterations, n)
	}
	p := &v1.Pipeline{
		TypeMeta: metav1.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: "Pipeline"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        Name,
			Labels:      tekton.CatalogLabels(version),
			Annotations: tekton.CatalogAnnotations("iter8 experiment", "iter8, experiment, canary, progressive-delivery, conformance, ab-testing"),
		},
		Spec: spec(n),
	}
	return p, nil
}

func spec(n int) v1.PipelineSpec {
	s := v1.PipelineSpec{
		Description: fmt.Sprintf(`Runs an iter8 Experiment of up to %d iterations: init-experiment, then iterate and assess per iteration, then finalize.

Each iteration after the first runs only when the previous assess wrote continue=true, so the
run stops early when the Experiment is done or a version violated an objective that rolls
back. finalize runs in finally: it promotes the winner or restores traffic, marks the
Experiment Completed, and fails the PipelineRun when the Experiment did not achieve its aim.
An Experiment with more iterations runs only its first %d here; iter8ctl pipelinerun
generates a PipelineRun sized to any Experiment.`, n, n),
		Params: v1.ParamSpecs{{
			Name:        tasks.ParamExperiment,
			Type:        v1.ParamTypeString,
			Description: "The name of the Experiment.",
		}, {
			Name:        tasks.ParamNamespace,
			Type:        v1.ParamTypeString,
			Description: "The namespace of the Experiment.",
			Default:     v1.NewStructuredValues("$(context.pipelineRun.namespace)"),
		}, {
			Name:        tasks.ParamIntervalSeconds,
			Type:        v1.ParamTypeString,
			Description: "Overrides spec.duration.intervalSeconds of the Experiment (seconds). Meant for tests; empty keeps the Experiment's interval.",
			Default:     v1.NewStructuredValues(""),
		}, {
			Name:        tasks.ParamImage,
			Type:        v1.ParamTypeString,
			Description: "The image holding the iter8 stage binaries at /ko-app/<stage>.",
			Default:     v1.NewStructuredValues(tekton.DefaultImage),
		}, {
			Name:        tasks.ParamImagePullPolicy,
			Type:        v1.ParamTypeString,
			Description: "The imagePullPolicy of the stage steps: IfNotPresent, Always or Never.",
			Default:     v1.NewStructuredValues("IfNotPresent"),
		}},
		Workspaces: []v1.PipelineWorkspaceDeclaration{tasks.KubeconfigPipelineWorkspace(), {
			Name:        tasks.WorkspaceReport,
			Description: "finalize writes the Experiment's report into it, NAME.html and NAME.md (iter8ctl report), for a later Task to archive or post; without it, no report is written.",
			Optional:    true,
		}},
		Results: []v1.PipelineResult{{
			Name:        tasks.ResultIterations,
			Type:        v1.ResultsTypeString,
			Description: "The number of iterations the Experiment plans.",
			Value:       *v1.NewStructuredValues(resultRef("tasks", TaskInit, tasks.ResultIterations)),
		}, {
			Name:        tasks.ResultOutcome,
			Type:        v1.ResultsTypeString,
			Description: "Succeeded when the Experiment achieved its aim. Tekton emits no result of a failed task, so it is missing when finalize failed, which includes a rollback or a failed Experiment (finalize exits 3): the finalize TaskRun's outcome result and the Experiment's status say why.",
			Value:       *v1.NewStructuredValues(resultRef("finally", TaskFinalize, tasks.ResultOutcome)),
		}, {
			Name:        tasks.ResultRecommended,
			Type:        v1.ResultsTypeString,
			Description: "The version recommended for promotion (missing when finalize failed, like outcome).",
			Value:       *v1.NewStructuredValues(resultRef("finally", TaskFinalize, tasks.ResultRecommended)),
		}},
	}

	common := func(extra ...v1.Param) v1.Params {
		ps := v1.Params{
			param(tasks.ParamExperiment, "$(params.experiment)"),
			param(tasks.ParamNamespace, "$(params.namespace)"),
		}
		ps = append(ps, extra...)
		return append(ps,
			param(tasks.ParamImage, "$(params.image)"),
			param(tasks.ParamImagePullPolicy, "$(params.image-pull-policy)"))
	}

	// Each stage gets the kubeconfig workspace; unbound, it is unbound in the tasks too.
	ws := []v1.WorkspacePipelineTaskBinding{{Name: tasks.WorkspaceKubeconfig, Workspace: tasks.WorkspaceKubeconfig}}
	s.Tasks = append(s.Tasks, v1.PipelineTask{
		Name:        TaskInit,
		Workspaces:  ws,
		DisplayName: "init experiment",
		TaskRef:     &v1.TaskRef{Name: tasks.InitExperiment},
		Params:      common(param(tasks.ParamPipelineRun, "$(context.pipelineRun.namespace)/$(context.pipelineRun.name)")),
	})
	prev := TaskInit
	for k := 1; k <= n; k++ {
		iter := func() v1.Params {
			return common(param(tasks.ParamIteration, strconv.Itoa(k)),
				param(tasks.ParamIntervalSeconds, "$(params.interval-seconds)"))
		}
		var when v1.WhenExpressions
		if k > 1 {
			// The result reference also orders the task after assess-(k-1), and makes it
			// skipped, not run, when assess-(k-1) was skipped.
			when = v1.WhenExpressions{{
				Input:    resultRef("tasks", AssessTask(k-1), tasks.ResultContinue),
				Operator: selection.In,
				Values:   []string{"true"},
			}}
		}
		s.Tasks = append(s.Tasks, v1.PipelineTask{
			Name:        IterateTask(k),
			DisplayName: fmt.Sprintf("iteration %d: iterate", k),
			TaskRef:     &v1.TaskRef{Name: tasks.Iterate},
			Workspaces:  ws,
			Retries:     StageRetries,
			Params:      iter(),
			When:        when,
			RunAfter:    []string{prev},
		}, v1.PipelineTask{
			Name:        AssessTask(k),
			DisplayName: fmt.Sprintf("iteration %d: assess", k),
			TaskRef:     &v1.TaskRef{Name: tasks.Assess},
			Workspaces:  ws,
			Retries:     StageRetries,
			Params:      iter(),
			When:        when,
			RunAfter:    []string{IterateTask(k)},
		})
		prev = AssessTask(k)
	}
	s.Finally = []v1.PipelineTask{{
		Name:        TaskFinalize,
		DisplayName: "finalize",
		TaskRef:     &v1.TaskRef{Name: tasks.Finalize},
		Params:      common(param(tasks.ParamPipelineStatus, "$(tasks.status)")),
		// Unbound (the default), Tekton binds nothing: finalize then uses its own cluster
		// and writes no report.
		Workspaces: append(ws, v1.WorkspacePipelineTaskBinding{Name: tasks.WorkspaceReport, Workspace: tasks.WorkspaceReport}),
	}}
	return s
}

func param(name, value string) v1.Param {
	return v1.Param{Name: name, Value: *v1.NewStructuredValues(value)}
}

func resultRef(section, task, result string) string {
	return fmt.Sprintf("$(%s.%s.results.%s)", section, task, result)
}

// Options shape the PipelineRun of an Experiment. The zero value is usable.
type Options struct {
	// Namespace of the PipelineRun; default: the Experiment's namespace, else "default".
	Namespace string
	// ServiceAccount the TaskRuns run as; default tekton.ServiceAccount.
	ServiceAccount string
	// Image of the stages; empty keeps the Pipeline's default.
	Image string
	// ImagePullPolicy of the stage steps; empty keeps the Pipeline's default.
	ImagePullPolicy string
	// IntervalSeconds overrides the Experiment's interval when > 0 (tests).
	IntervalSeconds int32
	// Allowance is the time budget the timeouts grant; zero fields take DefaultAllowance.
	Allowance Allowance
	// KubeconfigSecret, when set, binds the kubeconfig workspace to this Secret (key
	// kubeconfig): the Experiment lives in the cluster it points at.
	KubeconfigSecret string
	// PipelineRef makes the PipelineRun reference the Pipeline of SizedPipeline by name
	// instead of carrying it inline, for clusters whose disable-inline-spec forbids
	// pipelineSpec in PipelineRuns.
	PipelineRef bool
	// Bundle, a reference to the Pipeline bundle of a release (REGISTRY/pipeline@sha256:…,
	// docs/release.md), makes the PipelineRun reference the catalog Pipeline through
	// Tekton's bundles resolver instead of carrying it inline: the Pipeline and its Tasks
	// then come from the bundles, nothing from the cluster. The catalog Pipeline runs at most
	// CatalogIterations iterations.
	Bundle string
	// ReportClaim binds the report workspace to this PersistentVolumeClaim: finalize
	// writes the Experiment's report into it. The TaskRuns' pods get fsGroup StageGroup,
	// so that the non-root step may write to the volume.
	ReportClaim string
}

// StageGroup is the group of the stage image's user (hack/images.sh: 65532:65532).
const StageGroup = 65532

// Allowance is the time, beyond the Experiment's own duration, that the PipelineRun's
// timeouts grant its tasks.
type Allowance struct {
	// Init is the budget of init-experiment: pod start, validation, target acquisition
	// and start actions (for example waiting for a Knative Service to become ready).
	Init time.Duration
	// PerIteration is the budget per iteration beyond the interval: two pod starts and
	// the metric queries of iterate and assess.
	PerIteration time.Duration
	// Finalize is the budget of the finally section: restoring traffic and finish actions.
	Finalize time.Duration
}

// DefaultAllowance is generous on purpose: a timeout that cuts an experiment short leaves
// it unfinished, while one that is too long only delays noticing a stuck pod.
var DefaultAllowance = Allowance{Init: 10 * time.Minute, PerIteration: time.Minute, Finalize: 10 * time.Minute}

// Timeouts returns the PipelineRun timeouts for an Experiment of n iterations of the
// given interval: tasks = init + n × (interval + per-iteration allowance), finally =
// finalize allowance, pipeline = tasks + finally. Tekton's 60-minute default never applies.
func Timeouts(n int, interval time.Duration, a Allowance) *v1.TimeoutFields {
	a = a.withDefaults()
	tasksTimeout := a.Init + time.Duration(n)*(interval+a.PerIteration)
	return &v1.TimeoutFields{
		Pipeline: &metav1.Duration{Duration: tasksTimeout + a.Finalize},
		Tasks:    &metav1.Duration{Duration: tasksTimeout},
		Finally:  &metav1.Duration{Duration: a.Finalize},
	}
}

func (a Allowance) withDefaults() Allowance {
	if a.Init <= 0 {
		a.Init = DefaultAllowance.Init
	}
	if a.PerIteration <= 0 {
		a.PerIteration = DefaultAllowance.PerIteration
	}
	if a.Finalize <= 0 {
		a.Finalize = DefaultAllowance.Finalize
	}
	return a
}

// PipelineRun returns a PipelineRun that runs exp to its end: it embeds the Pipeline of
// Build unrolled to exactly spec.TotalIterations(), so it needs only the four Tasks
// installed, works for Experiments longer than the catalog Pipeline, and ends Succeeded
// (not Completed with skipped tasks) when every iteration ran. It has generateName, for
// `kubectl create`. It is validated with Tekton's validation.
func PipelineRun(exp *v2alpha1.Experiment, opts Options) (*v1.PipelineRun, error) {
	if exp.Name == "" {
		return nil, fmt.Errorf("experiment has no metadata.name")
	}
	n := int(exp.Spec.TotalIterations())
	p, err := Build(n, tekton.Version)
	if err != nil {
		return nil, fmt.Errorf("experiment %q: %w", exp.Name, err)
	}
	interval := exp.Spec.IntervalSeconds()
	if opts.IntervalSeconds > 0 {
		interval = opts.IntervalSeconds
	}
	ns := opts.Namespace
	if ns == "" {
		ns = exp.Namespace
	}
	if ns == "" {
		ns = "default"
	}
	expNS := exp.Namespace
	if expNS == "" {
		expNS = ns
	}
	sa := opts.ServiceAccount
	if sa == "" {
		sa = tekton.ServiceAccount
	}
	params := v1.Params{param(tasks.ParamExperiment, exp.Name), param(tasks.ParamNamespace, expNS)}
	if opts.IntervalSeconds > 0 {
		params = append(params, param(tasks.ParamIntervalSeconds, strconv.Itoa(int(opts.IntervalSeconds))))
	}
	if opts.Image != "" {
		params = append(params, param(tasks.ParamImage, opts.Image))
	}
	if opts.ImagePullPolicy != "" {
		params = append(params, param(tasks.ParamImagePullPolicy, opts.ImagePullPolicy))
	}
	pr := &v1.PipelineRun{
		TypeMeta: metav1.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: "PipelineRun"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: exp.Name + "-",
			Namespace:    ns,
			Labels: map[string]string{
				LabelExperiment:                exp.Name,
				"app.kubernetes.io/managed-by": "iter8ctl",
			},
		},
		Spec: v1.PipelineRunSpec{
			PipelineSpec:    &p.Spec,
			Params:          params,
			Timeouts:        Timeouts(n, time.Duration(interval)*time.Second, opts.Allowance),
			TaskRunTemplate: v1.PipelineTaskRunTemplate{ServiceAccountName: sa},
		},
	}
	if opts.KubeconfigSecret != "" {
		pr.Spec.Workspaces = append(pr.Spec.Workspaces, v1.WorkspaceBinding{Name: tasks.WorkspaceKubeconfig, Secret: &corev1.SecretVolumeSource{SecretName: opts.KubeconfigSecret}})
	}
	if opts.ReportClaim != "" {
		pr.Spec.Workspaces = append(pr.Spec.Workspaces, v1.WorkspaceBinding{
			Name:                  tasks.WorkspaceReport,
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: opts.ReportClaim},
		})
		pr.Spec.TaskRunTemplate.PodTemplate = &pod.Template{SecurityContext: &corev1.PodSecurityContext{FSGroup: ptr.To[int64](StageGroup)}}
	}
	switch {
	case opts.Bundle != "" && opts.PipelineRef:
		return nil, fmt.Errorf("a bundle and a reference to the sized Pipeline exclude each other")
	case opts.Bundle != "":
		if n > CatalogIterations {
			return nil, fmt.Errorf("experiment %q has %d iterations: the Pipeline of the bundle runs at most %d; reference the Pipeline of the experiment's size instead", exp.Name, n, CatalogIterations)
		}
		pr.Spec.PipelineSpec = nil
		pr.Spec.PipelineRef = &v1.PipelineRef{ResolverRef: v1.ResolverRef{
			Resolver: "bundles",
			Params:   v1.Params{param("bundle", opts.Bundle), param("name", Name), param("kind", "pipeline")},
		}}
	case opts.PipelineRef:
		pr.Spec.PipelineSpec = nil
		pr.Spec.PipelineRef = &v1.PipelineRef{Name: SizedName(n)}
	}
	if err := tekton.ValidatePipelineRun(pr); err != nil {
		return nil, fmt.Errorf("generated PipelineRun of experiment %q is invalid: %w", exp.Name, err)
	}
	return pr, nil
}

// SizedName is the name of the Pipeline unrolled to n iterations, as SizedPipeline writes
// it for clusters that forbid inline pipelineSpecs.
func SizedName(n int) string { return fmt.Sprintf("%s-%d", Name, n) }

// SizedPipeline returns the Pipeline unrolled to the experiment's iterations, named
// SizedName, in the namespace the experiment's PipelineRun would run in: what a
// PipelineRun made with Options.PipelineRef references.
func SizedPipeline(exp *v2alpha1.Experiment, opts Options) (*v1.Pipeline, error) {
	n := int(exp.Spec.TotalIterations())
	p, err := Build(n, tekton.Version)
	if err != nil {
		return nil, fmt.Errorf("experiment %q: %w", exp.Name, err)
	}
	p.Name = SizedName(n)
	p.Namespace = opts.Namespace
	if p.Namespace == "" {
		p.Namespace = exp.Namespace
	}
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	return p, nil
}
