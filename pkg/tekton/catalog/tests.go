package catalog

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/iter8-tools/iter8-tekton/pipelines"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/tekton"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// testExperiment is the Experiment of the catalog's tests/: a one-iteration Conformance
// experiment without criteria, so it needs no metrics backend. Its target is made up, and
// named without a namespace: it is in the experiment's, where the stages may hold its
// Lease.
const testExperiment = "iter8-catalog-test"

func testExperimentObject(name string) *v2alpha1.Experiment {
	return &v2alpha1.Experiment{
		TypeMeta:   metav1.TypeMeta{APIVersion: v2alpha1.SchemeGroupVersion.String(), Kind: "Experiment"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v2alpha1.ExperimentSpec{
			Target:   name,
			Strategy: v2alpha1.Strategy{TestingPattern: v2alpha1.TestingPatternConformance},
			Duration: &v2alpha1.Duration{IntervalSeconds: ptr.To[int32](1), IterationsPerLoop: ptr.To[int32](1)},
			VersionInfo: &v2alpha1.VersionInfo{
				Baseline: v2alpha1.VersionDetail{Name: "baseline"},
			},
		},
	}
}

func testExperimentFile() ([]byte, error) {
	return yamlFile(testExperimentObject(testExperiment))
}

// taskTests are the tests/ of every Task: each runs the one-iteration loop (init, iterate,
// assess, finalize) on its own test Experiment, because no stage can run without the ones
// before it. They expect `kubectl apply -k config/` to have been run in the namespace.
func taskTests(ts []*v1.Task) (map[string][]byte, error) {
	files := map[string][]byte{}
	p, err := pipelines.Build(1, tekton.Version)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		name := testExperiment + "-" + strings.TrimPrefix(t.Name, "iter8-")
		dir := path.Join("catalog/task", t.Name, "tests")
		var err error
		if files[path.Join(dir, "resources.yaml")], err = yamlFile(testExperimentObject(name)); err != nil {
			return nil, err
		}
		pr := pipelineRun(name, "", pipelines.Timeouts(1, time.Second, pipelines.Allowance{Init: 3 * time.Minute, PerIteration: 3 * time.Minute, Finalize: 3 * time.Minute}), nil)
		pr.Spec.PipelineRef = nil
		pr.Spec.PipelineSpec = p.Spec.DeepCopy()
		if err := tekton.ValidatePipelineRun(pr); err != nil {
			return nil, fmt.Errorf("test of task %s: %w", t.Name, err)
		}
		if files[path.Join(dir, "run.yaml")], err = yamlFile(pr); err != nil {
			return nil, err
		}
	}
	return files, nil
}
