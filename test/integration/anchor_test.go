package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
)

// anchorExperiment is a Conformance test of one version on a mock metric, with an interval
// long enough that init always finishes within half of it. NS and NAME are replaced.
const anchorExperiment = `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: NAME
spec:
  target: NS/NAME
  strategy:
    testingPattern: Conformance
  criteria:
    objectives:
    - metric: mean-latency
      upperLimit: 100
  duration:
    intervalSeconds: 20
    iterationsPerLoop: 1
  versionInfo:
    baseline:
      name: sample-app-v1
`

var pipelineRunGVR = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}

// pipelineRun creates a PipelineRun object (no controller runs it here) whose status says it
// started at start, and returns its namespace/name.
func (e *env) pipelineRun(t *testing.T, ns, name string, start time.Time) string {
	t.Helper()
	ctx := context.Background()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "tekton.dev/v1",
		"kind":       "PipelineRun",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       map[string]any{"pipelineRef": map[string]any{"name": "iter8-experiment"}},
	}}
	r := e.dyn.Resource(pipelineRunGVR).Namespace(ns)
	created, err := r.Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating PipelineRun %s: %v", name, err)
	}
	if err := unstructured.SetNestedField(created.Object, start.UTC().Format(time.RFC3339), "status", "startTime"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the start of PipelineRun %s: %v", name, err)
	}
	return ns + "/" + name
}

// TestStartAnchoredToPipelineRun runs init-experiment as the Pipeline does, with the
// ServiceAccount of config/rbac and --pipelinerun: the experiment's clock starts when the
// PipelineRun started, unless that was more than half an interval ago or cannot be read.
func TestStartAnchoredToPipelineRun(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	e.installRBAC(t, ns)
	kubeconfig, _ := e.serviceAccountKubeconfig(t, ns, "iter8-tekton")
	e.apply(t, ns, decodeObject(t, fill(badInputMetric, ns, "mean-latency")))
	// The API keeps seconds: a start a few seconds back, on a whole second.
	recent := time.Now().Add(-3 * time.Second).Truncate(time.Second)

	for i, tc := range []struct {
		name    string
		run     func(name string) string // the --pipelinerun value
		want    func(started time.Time) bool
		logWant string
	}{{
		name:    "started 3s ago",
		run:     func(name string) string { return e.pipelineRun(t, ns, name, recent) },
		want:    func(got time.Time) bool { return got.Equal(recent) },
		logWant: "the experiment's clock starts with the run",
	}, {
		name:    "started a minute ago",
		run:     func(name string) string { return e.pipelineRun(t, ns, name, time.Now().Add(-time.Minute)) },
		want:    func(got time.Time) bool { return time.Since(got) < 15*time.Second },
		logWant: "more than half an interval; the experiment's clock starts now",
	}, {
		name:    "no such PipelineRun",
		run:     func(string) string { return ns + "/not-there" },
		want:    func(got time.Time) bool { return time.Since(got) < 15*time.Second },
		logWant: `the experiment's clock starts now: reading the start of PipelineRun ` + ns + `/not-there: pipelineruns.tekton.dev "not-there" not found`,
	}, {
		name:    "a PipelineRun in a namespace the Role does not cover",
		run:     func(string) string { return "default/elsewhere" },
		want:    func(got time.Time) bool { return time.Since(got) < 15*time.Second },
		logWant: "forbidden",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("anchor-%d", i)
			e.apply(t, ns, decodeObject(t, fill(anchorExperiment, ns, name)))
			ref := tc.run(name)
			_, out, err := e.stage(t, stagecmd.StageInit, ns, name, "--kubeconfig", kubeconfig, "--pipelinerun", ref)
			if err != nil {
				t.Fatalf("init-experiment: %v", err)
			}
			if !strings.Contains(out, tc.logWant) {
				t.Errorf("init-experiment said:\n%s\nwant it to say %q", out, tc.logWant)
			}
			exp := e.get(t, ns, name)
			if exp.Status.StartTime == nil || !tc.want(exp.Status.StartTime.Time) {
				t.Errorf("status.startTime = %v (PipelineRun %s)", exp.Status.StartTime, ref)
			}
		})
	}

	t.Run("a malformed --pipelinerun is a usage error", func(t *testing.T) {
		e.apply(t, ns, decodeObject(t, fill(anchorExperiment, ns, "anchor-bad")))
		code, out := e.stageMain(t, stagecmd.StageInit, ns, "anchor-bad", "--pipelinerun", "no-slash")
		if code != stagecmd.ExitUsage || !strings.Contains(out, `--pipelinerun "no-slash": want namespace/name`) {
			t.Errorf("exit %d, output:\n%s\nwant exit %d naming the flag and its value", code, out, stagecmd.ExitUsage)
		}
		if exp := e.get(t, ns, "anchor-bad"); exp.Status.StartTime != nil {
			t.Errorf("a usage error started the experiment: startTime %v", exp.Status.StartTime)
		}
	})
}
