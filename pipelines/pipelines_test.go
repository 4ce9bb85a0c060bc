package pipelines

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/tekton"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// shape is what a pipeline task looks like, reduced to what the loop depends on.
type shape struct {
	Name, Task, Iteration string
	RunAfter              []string
	When                  string
}

func shapes(ts []v1.PipelineTask) []shape {
	var out []shape
	for _, t := range ts {
		s := shape{Name: t.Name, Task: t.TaskRef.Name, RunAfter: t.RunAfter}
		for _, p := range t.Params {
			switch p.Name {
			case "iteration":
				s.Iteration = p.Value.StringVal
			case "pipeline-status":
				s.Iteration = "status=" + p.Value.StringVal
			}
		}
		for _, w := range t.When {
			s.When = w.Input + " " + string(w.Operator) + " " + strings.Join(w.Values, ",")
		}
		out = append(out, s)
	}
	return out
}

func TestBuildShape(t *testing.T) {
	p, err := Build(3, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	want := []shape{
		{Name: "init-experiment", Task: "iter8-init-experiment"},
		{Name: "iterate-1", Task: "iter8-iterate", Iteration: "1", RunAfter: []string{"init-experiment"}},
		{Name: "assess-1", Task: "iter8-assess", Iteration: "1", RunAfter: []string{"iterate-1"}},
		{Name: "iterate-2", Task: "iter8-iterate", Iteration: "2", RunAfter: []string{"assess-1"}, When: "$(tasks.assess-1.results.continue) in true"},
		{Name: "assess-2", Task: "iter8-assess", Iteration: "2", RunAfter: []string{"iterate-2"}, When: "$(tasks.assess-1.results.continue) in true"},
		{Name: "iterate-3", Task: "iter8-iterate", Iteration: "3", RunAfter: []string{"assess-2"}, When: "$(tasks.assess-2.results.continue) in true"},
		{Name: "assess-3", Task: "iter8-assess", Iteration: "3", RunAfter: []string{"iterate-3"}, When: "$(tasks.assess-2.results.continue) in true"},
	}
	if d := cmp.Diff(want, shapes(p.Spec.Tasks)); d != "" {
		t.Errorf("tasks (-want +got):\n%s", d)
	}
	wantFinally := []shape{{Name: "finalize", Task: "iter8-finalize", Iteration: "status=$(tasks.status)"}}
	if d := cmp.Diff(wantFinally, shapes(p.Spec.Finally)); d != "" {
		t.Errorf("finally (-want +got):\n%s", d)
	}
	if got := p.Labels["app.kubernetes.io/version"]; got != "1.2.3" {
		t.Errorf("version label = %q, want 1.2.3", got)
	}
	for _, a := range []string{"tekton.dev/pipelines.minVersion", "tekton.dev/categories", "tekton.dev/tags", "tekton.dev/displayName", "tekton.dev/platforms", "artifacthub.io/category", "artifacthub.io/links"} {
		if p.Annotations[a] == "" {
			t.Errorf("annotation %s missing", a)
		}
	}
}

// TestBuildForwardsParams checks that every stage gets every Pipeline param it declares.
func TestBuildForwardsParams(t *testing.T) {
	p, err := Build(2, tekton.Version)
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range append(p.Spec.Tasks, p.Spec.Finally...) {
		got := map[string]string{}
		for _, prm := range pt.Params {
			got[prm.Name] = prm.Value.StringVal
		}
		for _, name := range []string{"experiment", "namespace", "image", "image-pull-policy"} {
			if got[name] != "$(params."+name+")" {
				t.Errorf("%s: param %s = %q", pt.Name, name, got[name])
			}
		}
		if strings.HasPrefix(pt.Name, "iterate-") || strings.HasPrefix(pt.Name, "assess-") {
			if got["interval-seconds"] != "$(params.interval-seconds)" {
				t.Errorf("%s: param interval-seconds = %q", pt.Name, got["interval-seconds"])
			}
		}
	}
}

func TestBuildValidates(t *testing.T) {
	for _, n := range []int{1, 7, CatalogIterations, MaxIterations} {
		p, err := Build(n, tekton.Version)
		if err != nil {
			t.Fatalf("Build(%d): %v", n, err)
		}
		if got := len(p.Spec.Tasks); got != 1+2*n {
			t.Errorf("Build(%d) has %d tasks, want %d", n, got, 1+2*n)
		}
		if err := tekton.ValidatePipeline(p); err != nil {
			t.Errorf("Build(%d): %v", n, err)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	for _, n := range []int{0, -1, MaxIterations + 1} {
		if _, err := Build(n, tekton.Version); err == nil {
			t.Errorf("Build(%d) succeeded, want an error", n)
		}
	}
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		interval time.Duration
		a        Allowance
		want     [3]time.Duration // pipeline, tasks, finally
	}{{
		name: "seed: 7 × 10s, default allowance", n: 7, interval: 10 * time.Second,
		want: [3]time.Duration{10*time.Minute + 7*70*time.Second + 10*time.Minute, 10*time.Minute + 7*70*time.Second, 10 * time.Minute},
	}, {
		name: "long experiment exceeds Tekton's 60 minute default", n: 100, interval: time.Minute,
		want: [3]time.Duration{10*time.Minute + 200*time.Minute + 10*time.Minute, 210 * time.Minute, 10 * time.Minute},
	}, {
		name: "custom allowance", n: 2, interval: time.Second, a: Allowance{Init: time.Minute, PerIteration: 2 * time.Second, Finalize: 30 * time.Second},
		want: [3]time.Duration{time.Minute + 6*time.Second + 30*time.Second, time.Minute + 6*time.Second, 30 * time.Second},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Timeouts(tt.n, tt.interval, tt.a)
			if d := cmp.Diff(tt.want, [3]time.Duration{got.Pipeline.Duration, got.Tasks.Duration, got.Finally.Duration}); d != "" {
				t.Errorf("timeouts (-want +got):\n%s", d)
			}
		})
	}
}

func seed(t *testing.T) *v2alpha1.Experiment {
	t.Helper()
	exp, err := v2alpha1.DecodeExperiment([]byte(`apiVersion: iter8.tools/v2alpha1
kind: Experiment
metadata:
  name: mirroring
spec:
  target: default/sample-app
  strategy:
    testingPattern: Conformance
  duration:
    intervalSeconds: 10
    iterationsPerLoop: 7
  versionInfo:
    baseline:
      name: current
`))
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func paramMap(ps v1.Params) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		m[p.Name] = p.Value.StringVal
	}
	return m
}

func TestPipelineRun(t *testing.T) {
	tests := []struct {
		name       string
		exp        func(*v2alpha1.Experiment)
		opts       Options
		wantNS     string
		wantSA     string
		wantParams map[string]string
		wantTasks  int
		wantTasksT time.Duration
	}{{
		name:       "seed defaults",
		wantNS:     "default",
		wantSA:     "iter8-tekton",
		wantParams: map[string]string{"experiment": "mirroring", "namespace": "default"},
		wantTasks:  1 + 2*7,
		wantTasksT: 10*time.Minute + 7*(10*time.Second+time.Minute),
	}, {
		name:   "experiment namespace, test overrides",
		exp:    func(e *v2alpha1.Experiment) { e.Namespace = "apps" },
		opts:   Options{ServiceAccount: "ci", Image: "localhost/stages:e2e", ImagePullPolicy: "Never", IntervalSeconds: 1},
		wantNS: "apps", wantSA: "ci",
		wantParams: map[string]string{"experiment": "mirroring", "namespace": "apps", "interval-seconds": "1", "image": "localhost/stages:e2e", "image-pull-policy": "Never"},
		wantTasks:  1 + 2*7,
		wantTasksT: 10*time.Minute + 7*(time.Second+time.Minute),
	}, {
		name: "PipelineRun in another namespace than the experiment, loops",
		exp: func(e *v2alpha1.Experiment) {
			e.Namespace = "apps"
			e.Spec.Duration.MaxLoops = ptr.To[int32](3)
		},
		opts:       Options{Namespace: "ci"},
		wantNS:     "ci",
		wantSA:     "iter8-tekton",
		wantParams: map[string]string{"experiment": "mirroring", "namespace": "apps"},
		wantTasks:  1 + 2*21,
		wantTasksT: 10*time.Minute + 21*(10*time.Second+time.Minute),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := seed(t)
			if tt.exp != nil {
				tt.exp(exp)
			}
			pr, err := PipelineRun(exp, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if pr.Namespace != tt.wantNS || pr.GenerateName != "mirroring-" || pr.Labels[LabelExperiment] != "mirroring" {
				t.Errorf("metadata = %s/%s labels %v", pr.Namespace, pr.GenerateName, pr.Labels)
			}
			if pr.Spec.TaskRunTemplate.ServiceAccountName != tt.wantSA {
				t.Errorf("serviceAccountName = %q, want %q", pr.Spec.TaskRunTemplate.ServiceAccountName, tt.wantSA)
			}
			if d := cmp.Diff(tt.wantParams, paramMap(pr.Spec.Params)); d != "" {
				t.Errorf("params (-want +got):\n%s", d)
			}
			if pr.Spec.PipelineRef != nil || pr.Spec.PipelineSpec == nil || len(pr.Spec.PipelineSpec.Tasks) != tt.wantTasks {
				t.Errorf("want an embedded pipelineSpec with %d tasks", tt.wantTasks)
			}
			to := pr.Spec.Timeouts
			if to.Tasks.Duration != tt.wantTasksT || to.Finally.Duration != DefaultAllowance.Finalize || to.Pipeline.Duration != to.Tasks.Duration+to.Finally.Duration {
				t.Errorf("timeouts = %v/%v/%v, want tasks %v", to.Pipeline, to.Tasks, to.Finally, tt.wantTasksT)
			}
		})
	}
}

// TestPipelineRunReportClaim: --report-claim binds finalize's report workspace to the
// claim, with the stage image's group as fsGroup, and the PipelineRun validates.
func TestPipelineRunReportClaim(t *testing.T) {
	for _, ref := range []bool{false, true} {
		pr, err := PipelineRun(seed(t), Options{ReportClaim: "reports", PipelineRef: ref})
		if err != nil {
			t.Fatal(err)
		}
		want := []v1.WorkspaceBinding{{Name: "report", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "reports"}}}
		if d := cmp.Diff(want, pr.Spec.Workspaces); d != "" {
			t.Errorf("workspaces (-want +got):\n%s", d)
		}
		if pt := pr.Spec.TaskRunTemplate.PodTemplate; pt == nil || pt.SecurityContext == nil || pt.SecurityContext.FSGroup == nil || *pt.SecurityContext.FSGroup != StageGroup {
			t.Errorf("podTemplate = %+v, want fsGroup %d", pt, StageGroup)
		}
	}
	pr, err := PipelineRun(seed(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Spec.Workspaces != nil || pr.Spec.TaskRunTemplate.PodTemplate != nil {
		t.Errorf("without a claim: workspaces %v, podTemplate %v", pr.Spec.Workspaces, pr.Spec.TaskRunTemplate.PodTemplate)
	}
}

// TestPipelineRunBundle: with a release's Pipeline bundle the PipelineRun carries no
// pipelineSpec and references the catalog Pipeline through Tekton's bundles resolver.
func TestPipelineRunBundle(t *testing.T) {
	const ref = "10.244.0.1:5000/iter8-tekton/pipeline@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pr, err := PipelineRun(seed(t), Options{Bundle: ref})
	if err != nil {
		t.Fatal(err)
	}
	want := &v1.PipelineRef{ResolverRef: v1.ResolverRef{Resolver: "bundles", Params: v1.Params{
		param("bundle", ref), param("name", "iter8-experiment"), param("kind", "pipeline"),
	}}}
	if d := cmp.Diff(want, pr.Spec.PipelineRef); d != "" {
		t.Errorf("pipelineRef (-want +got):\n%s", d)
	}
	if pr.Spec.PipelineSpec != nil {
		t.Error("a PipelineRun of a bundle carries a pipelineSpec")
	}
	// The seed's 7 iterations of 10 s, whatever the bundle's Pipeline could run.
	if got, want := pr.Spec.Timeouts.Tasks.Duration, Timeouts(7, 10*time.Second, Allowance{}).Tasks.Duration; got != want {
		t.Errorf("tasks timeout = %v, want %v", got, want)
	}
}

func TestPipelineRunErrors(t *testing.T) {
	tests := []struct {
		name string
		exp  func(*v2alpha1.Experiment)
		opts Options
	}{{
		name: "bundle of a Pipeline shorter than the experiment",
		exp:  func(e *v2alpha1.Experiment) { e.Spec.Duration.IterationsPerLoop = ptr.To[int32](CatalogIterations + 1) },
		opts: Options{Bundle: "r/pipeline@sha256:00"},
	}, {
		name: "bundle and sized Pipeline",
		exp:  func(*v2alpha1.Experiment) {},
		opts: Options{Bundle: "r/pipeline@sha256:00", PipelineRef: true},
	}, {
		name: "no name",
		exp:  func(e *v2alpha1.Experiment) { e.ObjectMeta = metav1.ObjectMeta{} },
	}, {
		name: "too many iterations",
		exp:  func(e *v2alpha1.Experiment) { e.Spec.Duration.IterationsPerLoop = ptr.To[int32](MaxIterations + 1) },
	}, {
		name: "name that makes an invalid PipelineRun name",
		exp:  func(e *v2alpha1.Experiment) { e.Name = strings.Repeat("x", 80) },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := seed(t)
			tt.exp(exp)
			if pr, err := PipelineRun(exp, tt.opts); err == nil {
				t.Errorf("PipelineRun() = %v, want an error", pr.GenerateName)
			}
		})
	}
}

// TestRetries: Tekton retries iterate and assess, which are idempotent, and not init or
// finalize, whose failures are verdicts.
func TestRetries(t *testing.T) {
	p, err := Build(3, "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, pt := range append(p.Spec.Tasks, p.Spec.Finally...) {
		got[pt.Name] = pt.Retries
	}
	want := map[string]int{TaskInit: 0, TaskFinalize: 0}
	for k := 1; k <= 3; k++ {
		want[IterateTask(k)], want[AssessTask(k)] = StageRetries, StageRetries
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("retries (-want +got):\n%s", diff)
	}
}

// TestKubeconfigWorkspace: every stage takes the optional kubeconfig workspace from the
// Pipeline, and --kubeconfig-secret binds it to the Secret; without it nothing is bound.
func TestKubeconfigWorkspace(t *testing.T) {
	exp := &v2alpha1.Experiment{}
	exp.Name, exp.Namespace = "remote", "apps"
	exp.Spec.Strategy.TestingPattern = v2alpha1.TestingPatternConformance
	pr, err := PipelineRun(exp, Options{Namespace: "ci", KubeconfigSecret: "target-kubeconfig"})
	if err != nil {
		t.Fatal(err)
	}
	want := []v1.WorkspaceBinding{{Name: "kubeconfig", Secret: &corev1.SecretVolumeSource{SecretName: "target-kubeconfig"}}}
	if d := cmp.Diff(want, pr.Spec.Workspaces); d != "" {
		t.Errorf("workspaces (-want +got):\n%s", d)
	}
	spec := pr.Spec.PipelineSpec
	if len(spec.Workspaces) == 0 || spec.Workspaces[0].Name != "kubeconfig" || !spec.Workspaces[0].Optional {
		t.Errorf("pipeline workspaces = %+v, want the optional kubeconfig first", spec.Workspaces)
	}
	for _, task := range append(spec.Tasks, spec.Finally...) {
		if len(task.Workspaces) == 0 || task.Workspaces[0] != (v1.WorkspacePipelineTaskBinding{Name: "kubeconfig", Workspace: "kubeconfig"}) {
			t.Errorf("%s workspaces = %+v, want kubeconfig bound to kubeconfig first", task.Name, task.Workspaces)
		}
	}
	if got := pr.Spec.Params; got[1].Value.StringVal != "apps" || pr.Namespace != "ci" {
		t.Errorf("PipelineRun in %q with namespace param %q, want ci and apps", pr.Namespace, got[1].Value.StringVal)
	}
	pr, err = PipelineRun(exp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Spec.Workspaces) != 0 {
		t.Errorf("workspaces bound without --kubeconfig-secret: %+v", pr.Spec.Workspaces)
	}
}
