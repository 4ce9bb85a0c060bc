//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/iter8-tools/iter8-tekton/pipelines"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/tekton"
	"github.com/iter8-tools/iter8-tekton/tasks"
)

// TestPipelineShape runs the generated Pipeline and the installed catalog Pipeline through
// the real Tekton controller with the fake stages (test/e2e/fakestage), which honour the
// stages' flags and result contract: it proves the loop (when guards, early stop, finally
// with $(tasks.status), the failing finalize) independently of the stages' logic.
func TestPipelineShape(t *testing.T) {
	t.Parallel()
	afterSeedResolution(t)
	const ns = "default" // where kubectl apply -k config/ installs the Tasks, the Pipeline and the ServiceAccount
	// The runs' timeouts grant what a loaded node needs: .ci/run runs the e2e beside the
	// integration tests, where a cold run saw an iteration's two pod starts take two
	// minutes and the 1-minute allowance time the catalog run out with every task
	// succeeded. They stay below waitDone's limit, so that a stuck run ends with Tekton's
	// own timeout condition.
	allowance := pipelines.Allowance{Init: 5 * time.Minute, PerIteration: 3 * time.Minute, Finalize: 2 * time.Minute}
	sized := func(name string, n int32) *v1.PipelineRun {
		exp := &v2alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v2alpha1.ExperimentSpec{Duration: &v2alpha1.Duration{
				IntervalSeconds: ptr.To[int32](30), IterationsPerLoop: ptr.To(n),
			}},
		}
		pr, err := pipelines.PipelineRun(exp, pipelines.Options{Image: fakeImage, ImagePullPolicy: "Never", IntervalSeconds: 1, Allowance: allowance})
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	catalog := &v1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "shape-catalog-", Namespace: ns},
		Spec: v1.PipelineRunSpec{
			PipelineRef: &v1.PipelineRef{Name: pipelines.Name},
			Params: v1.Params{
				{Name: "experiment", Value: *v1.NewStructuredValues("shape-catalog-stop2")},
				{Name: "image", Value: *v1.NewStructuredValues(fakeImage)},
				{Name: "image-pull-policy", Value: *v1.NewStructuredValues("Never")},
			},
			Timeouts:        pipelines.Timeouts(2, time.Second, allowance),
			TaskRunTemplate: v1.PipelineTaskRunTemplate{ServiceAccountName: tekton.ServiceAccount},
		},
	}
	var catalogSkipped []string
	for k := 3; k <= pipelines.CatalogIterations; k++ {
		catalogSkipped = append(catalogSkipped, pipelines.IterateTask(k), pipelines.AssessTask(k))
	}

	tests := []struct {
		name        string
		pr          *v1.PipelineRun
		wantCond    string
		wantRan     map[string]string // pipeline task -> TaskRun status
		wantSkipped []string
		wantStatus  string // $(tasks.status) as finalize saw it
		wantAssess  string // the interval-seconds assess saw
	}{{
		name:     "sized to 3 iterations, all run",
		pr:       sized("shape-full-stop3", 3),
		wantCond: "True/Succeeded",
		wantRan: map[string]string{"init-experiment": "Succeeded", "iterate-1": "Succeeded", "assess-1": "Succeeded",
			"iterate-2": "Succeeded", "assess-2": "Succeeded", "iterate-3": "Succeeded", "assess-3": "Succeeded", "finalize": "Succeeded"},
		wantStatus: "Succeeded",
		wantAssess: "interval=1",
	}, {
		name:     "sized to 4 iterations, assess-2 stops it",
		pr:       sized("shape-early-stop2", 4),
		wantCond: "True/Completed",
		wantRan: map[string]string{"init-experiment": "Succeeded", "iterate-1": "Succeeded", "assess-1": "Succeeded",
			"iterate-2": "Succeeded", "assess-2": "Succeeded", "finalize": "Succeeded"},
		wantSkipped: []string{"iterate-3", "assess-3", "iterate-4", "assess-4"},
		wantStatus:  "Completed",
		wantAssess:  "interval=1",
	}, {
		name:     "rollback at iteration 1: finalize fails the run",
		pr:       sized("shape-rollback-stop1-rollback", 3),
		wantCond: "False/Failed",
		wantRan: map[string]string{"init-experiment": "Succeeded", "iterate-1": "Succeeded", "assess-1": "Succeeded",
			"finalize": "Failed:Failed"},
		wantSkipped: []string{"iterate-2", "assess-2", "iterate-3", "assess-3"},
		wantStatus:  "Completed",
		wantAssess:  "interval=1",
	}, {
		name:     "installed catalog Pipeline, defaults, stops after 2 of 30",
		pr:       catalog,
		wantCond: "True/Completed",
		wantRan: map[string]string{"init-experiment": "Succeeded", "iterate-1": "Succeeded", "assess-1": "Succeeded",
			"iterate-2": "Succeeded", "assess-2": "Succeeded", "finalize": "Succeeded"},
		wantSkipped: catalogSkipped,
		wantStatus:  "Completed",
		wantAssess:  "interval=",
	}}
	// The PipelineRuns run at once: the node runs their pods side by side.
	names := make([]string, len(tests))
	for i, tt := range tests {
		names[i] = createPipelineRun(t, tt.pr)
	}
	var wg sync.WaitGroup
	done := make([]*v1.PipelineRun, len(tests))
	errs := make([]error, len(tests))
	for i := range tests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done[i], errs[i] = waitDone(ns, names[i], 25*time.Minute)
		}()
	}
	wg.Wait()

	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := done[i]
			if errs[i] != nil {
				logTaskRuns(t, ns, names[i])
				t.Fatal(errs[i])
			}
			if got := condition(pr); got != tt.wantCond {
				t.Errorf("condition = %s, want %s", got, tt.wantCond)
			}
			trs := taskRuns(t, ns, names[i])
			got := map[string]string{}
			for name, tr := range trs {
				got[name] = trStatus(tr)
			}
			if d := cmp.Diff(tt.wantRan, got); d != "" {
				t.Errorf("TaskRuns (-want +got):\n%s", d)
			}
			wantSkipped := map[string]string{}
			for _, s := range tt.wantSkipped {
				wantSkipped[s] = skipped(pr)[s]
			}
			if d := cmp.Diff(sortedKeys(wantSkipped), sortedKeys(skipped(pr))); d != "" {
				t.Errorf("skipped tasks (-want +got):\n%s", d)
			}
			if len(tt.wantSkipped) > 0 {
				if r := skipped(pr)[tt.wantSkipped[0]]; r != string(v1.WhenExpressionsSkip) {
					t.Errorf("%s skipped because %q, want %q", tt.wantSkipped[0], r, v1.WhenExpressionsSkip)
				}
			}
			if fin := trs["finalize"]; fin != nil {
				if got := trResults(fin)["winner"]; got != "status="+tt.wantStatus {
					t.Errorf("finalize saw pipeline-status %q, want %q", got, tt.wantStatus)
				}
			}
			if init := trs["init-experiment"]; init != nil {
				want := fmt.Sprintf("namespace=%s uid=65532 readonly=true", ns)
				if got := trResults(init)["target"]; got != want {
					t.Errorf("init-experiment saw %q, want %q (namespace param, image user, read-only root)", got, want)
				}
			}
			if a := trs["assess-1"]; a != nil {
				if got := trResults(a)["winner"]; got != tt.wantAssess {
					t.Errorf("assess-1 saw %q, want %q", got, tt.wantAssess)
				}
			}
			if pr.Spec.Timeouts == nil || pr.Spec.Timeouts.Pipeline == nil || pr.Spec.Timeouts.Pipeline.Duration != tt.pr.Spec.Timeouts.Pipeline.Duration {
				t.Errorf("timeouts = %+v, want the generated ones", pr.Spec.Timeouts)
			}
			if t.Failed() {
				logTaskRuns(t, ns, names[i])
			}
		})
	}
}

// TestTaskRunDefaults runs a Task alone with only its required params, as the catalog's
// samples do: the namespace param defaults to the TaskRun's namespace.
func TestTaskRunDefaults(t *testing.T) {
	t.Parallel()
	afterSeedResolution(t)
	const ns = "default"
	tr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"generateName": "defaults-", "namespace": ns},
		"spec": map[string]any{
			"taskRef":            map[string]any{"name": tasks.InitExperiment},
			"serviceAccountName": tekton.ServiceAccount,
			"params": []any{
				map[string]any{"name": "experiment", "value": "defaults-stop1"},
				map[string]any{"name": "image", "value": fakeImage},
				map[string]any{"name": "image-pull-policy", "value": "Never"},
			},
		},
	}}
	created, err := cluster.dyn.Resource(taskRunGVR).Namespace(ns).Create(context.Background(), tr, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		u, err := cluster.dyn.Resource(taskRunGVR).Namespace(ns).Get(context.Background(), created.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got v1.TaskRun
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &got); err != nil {
			t.Fatal(err)
		}
		if s := trStatus(&got); s != "Unknown" && s != "Running" {
			if s != "Succeeded" {
				t.Fatalf("TaskRun %s: %s", got.Name, s)
			}
			want := "namespace=default uid=65532 readonly=true"
			if r := trResults(&got)["target"]; r != want {
				t.Errorf("init-experiment saw %q, want %q", r, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("TaskRun %s not done", got.Name)
		}
		time.Sleep(2 * time.Second)
	}
}
