//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestIteratePodDeleted deletes the pod of iterate-2 while it waits for its slot: Tekton
// runs the stage again in a new pod (it recreates a deleted pod, or retries the TaskRun:
// the Pipeline gives iterate and assess one retry), the new pod finds the iteration still
// to do, and the experiment completes with every iteration counted once.
func TestIteratePodDeleted(t *testing.T) {
	t.Parallel()
	afterSeedResolution(t)
	const ns = "e2e-retry"
	installIn(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	metric := writeFile(t, "metric.yaml", `apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata:
  name: latency
  namespace: `+ns+`
spec:
  type: Gauge
  mock:
  - name: current
    level: "20"
`)
	expFile := writeFile(t, "experiment.yaml", `apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: retried
  namespace: `+ns+`
spec:
  target: `+ns+`/app
  strategy:
    testingPattern: Conformance
  criteria:
    objectives:
    - metric: latency
      upperLimit: 50
  duration:
    intervalSeconds: 8
    iterationsPerLoop: 3
  versionInfo:
    baseline:
      name: current
`)
	for _, f := range []string{metric, expFile} {
		if _, err := kubectl(ctx, nil, "apply", "-f", f); err != nil {
			t.Fatal(err)
		}
	}
	name, _ := runExperiment(t, expFile, ns, 0)

	// iterate-2 waits for its slot (startTime + 16 s) once it runs: delete its pod then.
	var deleted string
	var deletedUID types.UID
	for deleted == "" {
		if ctx.Err() != nil {
			t.Fatal("iterate-2 never ran")
		}
		if tr := taskRuns(t, ns, name)["iterate-2"]; tr != nil && tr.Status.PodName != "" {
			p, err := cluster.kube.CoreV1().Pods(ns).Get(ctx, tr.Status.PodName, metav1.GetOptions{})
			if err == nil && p.Status.Phase == corev1.PodRunning {
				time.Sleep(time.Second) // the step has started and is waiting for the slot
				if err := cluster.kube.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
					t.Fatal(err)
				}
				deleted, deletedUID = p.Name, p.UID
				t.Logf("deleted pod %s (%s) of iterate-2", deleted, deletedUID)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}

	pr := waitPipelineRun(t, ns, name, 8*time.Minute)
	logTaskRuns(t, ns, name)
	if got := condition(pr); got != "True/Succeeded" {
		t.Errorf("PipelineRun condition = %s, want True/Succeeded", got)
	}
	tr := taskRuns(t, ns, name)["iterate-2"]
	if tr == nil || trStatus(tr) != "Succeeded" {
		t.Fatalf("iterate-2 did not succeed: %+v", tr)
	}
	rerun := len(tr.Status.RetriesStatus) > 0
	if p, err := cluster.kube.CoreV1().Pods(ns).Get(ctx, tr.Status.PodName, metav1.GetOptions{}); err == nil && p.UID != deletedUID {
		rerun = true
		t.Logf("iterate-2 ran again in pod %s (%s); retries %d", p.Name, p.UID, len(tr.Status.RetriesStatus))
	}
	if !rerun {
		t.Errorf("iterate-2 succeeded without running again after its pod was deleted")
	}
	exp := getExperiment(t, ns, "retried")
	if got := exp.Status.GetCompletedIterations(); got != 3 {
		t.Errorf("completedIterations = %d, want 3: each iteration counted once", got)
	}
	if w := exp.Status.Winner(); w != "current" {
		t.Errorf("winner = %q, want current", w)
	}
}
