// Package tasks builds the Tekton Tasks that run the four iter8 stages. The Go here is the
// single source of the Task YAML in catalog/ and config/tekton/ (see tasks/gen).
package tasks

import (
	"fmt"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/tekton"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Names of the Tasks.
const (
	InitExperiment = "iter8-init-experiment"
	Iterate        = "iter8-iterate"
	Assess         = "iter8-assess"
	Finalize       = "iter8-finalize"
)

// Names of the Task params. The Pipeline forwards its own params of the same names.
const (
	ParamExperiment      = "experiment"
	ParamNamespace       = "namespace"
	ParamIteration       = "iteration"
	ParamIntervalSeconds = "interval-seconds"
	ParamPipelineStatus  = "pipeline-status"
	ParamPipelineRun     = "pipelinerun"
	ParamImage           = "image"
	ParamImagePullPolicy = "image-pull-policy"
)

// WorkspaceKubeconfig is the optional workspace that points the stages at another cluster,
// as the Tekton catalog's Kubernetes tasks do: a Secret whose key kubeconfig holds a
// kubeconfig, mounted read-only. Bound, the Experiment, its Metrics, the traffic objects and
// the Events are in that cluster; the TaskRuns and their results stay in this one.
const WorkspaceKubeconfig = "kubeconfig"

var kubeconfigDescription = "Optional. A Secret whose key kubeconfig holds the kubeconfig of the cluster where the Experiment lives, when that is not the cluster running this Pipeline. Its credentials need the Role of config/rbac there; here the stages need nothing but to read the PipelineRun."

// KubeconfigWorkspace is the declaration of WorkspaceKubeconfig in a Task.
func KubeconfigWorkspace() v1.WorkspaceDeclaration {
	return v1.WorkspaceDeclaration{Name: WorkspaceKubeconfig, Description: kubeconfigDescription, ReadOnly: true, Optional: true}
}

// KubeconfigPipelineWorkspace is the declaration of WorkspaceKubeconfig in a Pipeline.
func KubeconfigPipelineWorkspace() v1.PipelineWorkspaceDeclaration {
	return v1.PipelineWorkspaceDeclaration{Name: WorkspaceKubeconfig, Description: kubeconfigDescription, Optional: true}
}

// WorkspaceReport is finalize's optional workspace for the experiment's report.
const WorkspaceReport = "report"

// Names of the Task results (the stage binaries' --result names).
const (
	ResultIterations  = "iterations"
	ResultTarget      = "target"
	ResultIteration   = "iteration"
	ResultContinue    = "continue"
	ResultWinner      = "winner"
	ResultRecommended = "recommended"
	ResultOutcome     = "outcome"
)

// stage describes one stage binary and the Task that runs it.
type stage struct {
	task        string
	binary      string
	displayName string
	description string
	// extra params beyond experiment, namespace, image and image-pull-policy, in order.
	params  []v1.ParamSpec
	results []v1.TaskResult
	// args beyond --experiment, --namespace and the --result flags.
	args []string
	// workspaces the Task declares.
	workspaces []v1.WorkspaceDeclaration
}

var (
	iterationParam = v1.ParamSpec{
		Name:        ParamIteration,
		Type:        v1.ParamTypeString,
		Description: "The 1-based number of the iteration this run performs. Running the same iteration twice counts it once.",
	}
	intervalParam = v1.ParamSpec{
		Name:        ParamIntervalSeconds,
		Type:        v1.ParamTypeString,
		Description: `Overrides spec.duration.intervalSeconds of the Experiment for this run (seconds). Meant for tests; empty (the default) keeps the Experiment's interval.`,
		Default:     v1.NewStructuredValues(""),
	}
)

func stages() []stage {
	return []stage{{
		task:        InitExperiment,
		binary:      "init-experiment",
		displayName: "iter8 init experiment",
		description: `Starts an iter8 Experiment: validates its spec, acquires its target and runs its start actions.

The Experiment is validated (every error names the field), the target is acquired (only one
running Experiment per spec.target), the referenced Metrics are embedded, the start actions
run (for example knative/init-experiment, which fills in versionInfo), and the Experiment
moves to the Running stage. The results say how many iterations the Experiment plans.

Given the PipelineRun it runs in (the iter8-experiment Pipeline passes it), the Experiment's
clock starts when that PipelineRun started, provided init finishes within half an interval
of it: start-up then counts against the first interval instead of lengthening the run. This
needs get on pipelineruns.tekton.dev (config/rbac); without it the clock starts when init
finishes.`,
		params: []v1.ParamSpec{{
			Name:        ParamPipelineRun,
			Type:        v1.ParamTypeString,
			Description: "The PipelineRun this Task runs in, as namespace/name, whose start time starts the Experiment's clock; empty (the default) starts it when init finishes.",
			Default:     v1.NewStructuredValues(""),
		}},
		args: []string{"--pipelinerun=$(params.pipelinerun)"},
		results: []v1.TaskResult{
			{Name: ResultIterations, Type: v1.ResultsTypeString, Description: "The number of iterations the Experiment plans (iterationsPerLoop × maxLoops)."},
			{Name: ResultTarget, Type: v1.ResultsTypeString, Description: "The Experiment's spec.target."},
		},
	}, {
		task:        Iterate,
		binary:      "iterate",
		displayName: "iter8 iterate",
		description: `Runs one iteration of an iter8 Experiment: waits for the iteration's time slot and collects its metrics.

The iteration starts at startTime + iteration × intervalSeconds, so pod start-up does not
stretch the Experiment. Every metric is queried for every version, the aggregated values are
written to the Experiment's status and completedIterations is incremented. Running the same
iteration twice counts it once.`,
		params:  []v1.ParamSpec{iterationParam, intervalParam},
		results: []v1.TaskResult{{Name: ResultIteration, Type: v1.ResultsTypeString, Description: "The iteration that was performed."}},
		args:    []string{"--iteration=$(params.iteration)", "--interval-seconds=$(params.interval-seconds)"},
	}, {
		task:        Assess,
		binary:      "assess",
		displayName: "iter8 assess",
		description: `Assesses the versions of an iter8 Experiment after an iteration and says whether to continue.

Objectives are checked for every version, the winner and the recommended version are
determined, and traffic weights are applied for Progressive and BlueGreen deployments. The
continue result is "false" once the last iteration is assessed or a version violated an
objective that rolls back, so a Pipeline guarding the next iteration with a when expression
stops early.`,
		params: []v1.ParamSpec{iterationParam, intervalParam},
		results: []v1.TaskResult{
			{Name: ResultContinue, Type: v1.ResultsTypeString, Description: `"true" when the Experiment should run another iteration, "false" otherwise.`},
			{Name: ResultWinner, Type: v1.ResultsTypeString, Description: "The winning version, or empty when there is none yet."},
			{Name: ResultRecommended, Type: v1.ResultsTypeString, Description: "The version recommended for promotion so far."},
			{Name: ResultIteration, Type: v1.ResultsTypeString, Description: "The iteration that was assessed."},
		},
		args: []string{"--iteration=$(params.iteration)", "--interval-seconds=$(params.interval-seconds)"},
	}, {
		task:        Finalize,
		binary:      "finalize",
		displayName: "iter8 finalize",
		description: `Finishes an iter8 Experiment: promotes the winner or restores traffic, and marks the Experiment Completed.

Run it in the finally section of a Pipeline with pipeline-status set to $(tasks.status). It
sets versionRecommendedForPromotion, runs the finish actions or, when the Experiment failed or
rolled back, restores traffic to the baseline, and marks the Experiment Completed. The step
fails (exit code 3), after doing all of that, when the Experiment did not achieve its aim
(conformance failed, the canary candidate lost, no A/B winner), so the PipelineRun fails and
can gate a CI pipeline; the outcome result says why.

When the optional workspace report is bound, finalize writes the Experiment's report there
as NAME.html (a self-contained page with a chart of every metric over the iterations) and
NAME.md (for a pull-request comment), as iter8ctl report writes them, so that a later Task
can archive or post them. The step runs as a non-root user: the volume must be writable by
it (for example a PersistentVolumeClaim, with fsGroup in the PipelineRun's podTemplate).
Failing to write the report is logged and changes neither the outcome nor the
exit code.`,
		params: []v1.ParamSpec{{
			Name:        ParamPipelineStatus,
			Type:        v1.ParamTypeString,
			Description: "The aggregate status of the Pipeline's tasks, $(tasks.status): Succeeded, Failed, Completed or None.",
			Default:     v1.NewStructuredValues("None"),
		}},
		results: []v1.TaskResult{
			{Name: ResultOutcome, Type: v1.ResultsTypeString, Description: "Succeeded, RolledBack or Failed."},
			{Name: ResultWinner, Type: v1.ResultsTypeString, Description: "The winning version, or empty."},
			{Name: ResultRecommended, Type: v1.ResultsTypeString, Description: "The version recommended for promotion (versionRecommendedForPromotion)."},
		},
		args: []string{"--pipeline-status=$(params.pipeline-status)", "--report-dir=$(workspaces.report.path)"},
		workspaces: []v1.WorkspaceDeclaration{{
			Name:        WorkspaceReport,
			Description: "Where to write the Experiment's report, NAME.html and NAME.md (iter8ctl report); without it, no report is written.",
			Optional:    true,
		}},
	}}
}

// Options are the knobs of the generated Tasks.
type Options struct {
	// Image is the default of the image param: the stages image holding /ko-app/<stage>.
	Image string
	// Version is the catalog version (app.kubernetes.io/version), semver without "v".
	Version string
}

// DefaultOptions are the options the committed catalog is generated with.
func DefaultOptions() Options {
	return Options{Image: tekton.DefaultImage, Version: tekton.Version}
}

// All returns the four Tasks in stage order.
func All(opts Options) []*v1.Task {
	var out []*v1.Task
	for _, s := range stages() {
		out = append(out, build(s, opts))
	}
	return out
}

// Get returns the Task of the given name.
func Get(name string, opts Options) (*v1.Task, error) {
	for _, s := range stages() {
		if s.task == name {
			return build(s, opts), nil
		}
	}
	return nil, fmt.Errorf("no task %q", name)
}

// Binary is the path of a Task's stage binary in the stages image.
func Binary(task string) (string, error) {
	for _, s := range stages() {
		if s.task == task {
			return "/ko-app/" + s.binary, nil
		}
	}
	return "", fmt.Errorf("no task %q", task)
}

func build(s stage, opts Options) *v1.Task {
	params := []v1.ParamSpec{{
		Name:        ParamExperiment,
		Type:        v1.ParamTypeString,
		Description: "The name of the Experiment.",
	}, {
		Name:        ParamNamespace,
		Type:        v1.ParamTypeString,
		Description: "The namespace of the Experiment.",
		Default:     v1.NewStructuredValues("$(context.taskRun.namespace)"),
	}}
	params = append(params, s.params...)
	params = append(params, v1.ParamSpec{
		Name:        ParamImage,
		Type:        v1.ParamTypeString,
		Description: "The image holding the iter8 stage binaries at /ko-app/<stage>.",
		Default:     v1.NewStructuredValues(opts.Image),
	}, v1.ParamSpec{
		Name:        ParamImagePullPolicy,
		Type:        v1.ParamTypeString,
		Description: "The step's imagePullPolicy: IfNotPresent, Always or Never.",
		Default:     v1.NewStructuredValues(string(corev1.PullIfNotPresent)),
	})

	// An unbound optional workspace's path is empty: the stage then uses its own cluster.
	args := []string{"--experiment=$(params.experiment)", "--namespace=$(params.namespace)",
		"--kubeconfig-dir=$(workspaces." + WorkspaceKubeconfig + ".path)"}
	args = append(args, s.args...)
	for _, r := range s.results {
		args = append(args, fmt.Sprintf("--result=%s=$(results.%s.path)", r.Name, r.Name))
	}

	return &v1.Task{
		TypeMeta: metav1.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: "Task"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        s.task,
			Labels:      tekton.CatalogLabels(opts.Version),
			Annotations: tekton.CatalogAnnotations(s.displayName, "iter8, experiment, canary, progressive-delivery, metrics"),
		},
		Spec: v1.TaskSpec{
			DisplayName: s.displayName,
			Description: s.description,
			Params:      params,
			Results:     s.results,
			Workspaces:  append([]v1.WorkspaceDeclaration{KubeconfigWorkspace()}, s.workspaces...),
			Steps: []v1.Step{{
				Name:            s.binary,
				Image:           "$(params.image)",
				ImagePullPolicy: corev1.PullPolicy("$(params.image-pull-policy)"),
				// command, never only args: without it Tekton asks the registry for the
				// image's entrypoint. The image has no shell, so no script either.
				Command: []string{"/ko-app/" + s.binary},
				Args:    args,
				// What common/exec and run: may execute is the cluster admin's to say: the
				// optional ConfigMap iter8-tekton-config, key exec-allowlist (nothing
				// when it is absent). docs/security.md.
				Env: []corev1.EnvVar{{
					Name: actions.ExecAllowlistEnv,
					ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName},
						Key:                  "exec-allowlist",
						Optional:             ptr.To(true),
					}},
				}},
				// The limits bound what a hostile or mistaken experiment can take from
				// the node. Measured peak RSS (docs/benchmarks.md): 20-23 MiB at 1x3 and
				// 10x10, 37-41 MiB at 50x50 versions x metrics; metrics/collect's load,
				// bounded by its own limits, adds its connections' buffers. 256 MiB is
				// six times the largest measured stage.
				ComputeResources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("10m"),
						corev1.ResourceMemory: resource.MustParse("32Mi"),
					},
					Limits: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("1"),
						corev1.ResourceMemory: resource.MustParse("256Mi"),
					},
				},
				SecurityContext: RestrictedSecurityContext(),
			}},
		},
	}
}

// ConfigMapName is the optional ConfigMap of the install's settings that the stages read
// (exec-allowlist).
const ConfigMapName = "iter8-tekton-config"

// RestrictedSecurityContext is the step securityContext of every stage: it satisfies the
// "restricted" Pod Security Standard; the binaries write only to result files.
func RestrictedSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}
