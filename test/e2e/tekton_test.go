//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"knative.dev/pkg/apis"
)

var (
	pipelineRunGVR = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}
	taskRunGVR     = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "taskruns"}
)

// createPipelineRun creates pr and returns its name.
func createPipelineRun(t *testing.T, pr *v1.PipelineRun) string {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pr)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion("tekton.dev/v1")
	u.SetKind("PipelineRun")
	created, err := cluster.dyn.Resource(pipelineRunGVR).Namespace(pr.Namespace).Create(context.Background(), u, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the PipelineRun: %v", err)
	}
	return created.GetName()
}

func fetchPipelineRun(ns, name string) (*v1.PipelineRun, error) {
	u, err := cluster.dyn.Resource(pipelineRunGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var pr v1.PipelineRun
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &pr); err != nil {
		return nil, fmt.Errorf("decoding PipelineRun %s/%s: %w", ns, name, err)
	}
	return &pr, nil
}

// waitDone waits until the PipelineRun is done and returns it. It is safe in goroutines.
func waitDone(ns, name string, timeout time.Duration) (*v1.PipelineRun, error) {
	deadline := time.Now().Add(timeout)
	for {
		pr, err := fetchPipelineRun(ns, name)
		if err == nil {
			if c := pr.Status.GetCondition(apis.ConditionSucceeded); c != nil && c.Status != corev1.ConditionUnknown {
				return pr, nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("not done after %v: %+v", timeout, pr.Status.Conditions)
			}
			return nil, fmt.Errorf("PipelineRun %s/%s: %w", ns, name, err)
		}
		time.Sleep(2 * time.Second)
	}
}

// waitPipelineRun is waitDone for a test's own goroutine.
func waitPipelineRun(t *testing.T, ns, name string, timeout time.Duration) *v1.PipelineRun {
	t.Helper()
	pr, err := waitDone(ns, name, timeout)
	if err != nil {
		logTaskRuns(t, ns, name)
		t.Fatal(err)
	}
	return pr
}

// waitFirstTaskRun waits until the PipelineRun has a TaskRun (Tekton resolved its Pipeline
// and Tasks), it ended, or the timeout passed.
func waitFirstTaskRun(ns, pipelineRun string, timeout time.Duration) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Second) {
		l, err := cluster.dyn.Resource(taskRunGVR).Namespace(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "tekton.dev/pipelineRun=" + pipelineRun, Limit: 1})
		if err == nil && len(l.Items) > 0 {
			return
		}
		if pr, err := fetchPipelineRun(ns, pipelineRun); err == nil && pr.IsDone() {
			return
		}
	}
}

// taskRuns returns the TaskRuns of a PipelineRun by pipeline task name.
func taskRuns(t testing.TB, ns, pipelineRun string) map[string]*v1.TaskRun {
	t.Helper()
	l, err := cluster.dyn.Resource(taskRunGVR).Namespace(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "tekton.dev/pipelineRun=" + pipelineRun})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*v1.TaskRun{}
	for _, u := range l.Items {
		var tr v1.TaskRun
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &tr); err != nil {
			t.Fatal(err)
		}
		out[tr.Labels["tekton.dev/pipelineTask"]] = &tr
	}
	return out
}

// trResults are a TaskRun's results.
func trResults(tr *v1.TaskRun) map[string]string {
	m := map[string]string{}
	for _, r := range tr.Status.Results {
		m[r.Name] = r.Value.StringVal
	}
	return m
}

// trStatus is "Succeeded" or "Failed" (the reason of a failed TaskRun is appended).
func trStatus(tr *v1.TaskRun) string {
	c := tr.Status.GetCondition(apis.ConditionSucceeded)
	switch {
	case c == nil:
		return "Unknown"
	case c.Status == corev1.ConditionTrue:
		return "Succeeded"
	case c.Status == corev1.ConditionFalse:
		return "Failed:" + c.Reason
	}
	return "Running"
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// logTaskRuns logs every TaskRun of a PipelineRun with its status, results and pod log.
func logTaskRuns(t *testing.T, ns, pipelineRun string) {
	t.Helper()
	trs := taskRuns(t, ns, pipelineRun)
	for _, name := range sortedKeys(trs) {
		tr := trs[name]
		var msg string
		if c := tr.Status.GetCondition(apis.ConditionSucceeded); c != nil {
			msg = c.Message
		}
		t.Logf("TaskRun %s (%s): %s %v %s", name, tr.Name, trStatus(tr), trResults(tr), msg)
		if tr.Status.PodName != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			logs, err := kubectl(ctx, nil, "logs", "-n", ns, tr.Status.PodName, "--all-containers")
			cancel()
			if err == nil {
				t.Logf("  log:\n%s", indent(logs))
			}
		}
	}
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

func condition(pr *v1.PipelineRun) string {
	c := pr.Status.GetCondition(apis.ConditionSucceeded)
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("%s/%s", c.Status, c.Reason)
}

func skipped(pr *v1.PipelineRun) map[string]string {
	m := map[string]string{}
	for _, s := range pr.Status.SkippedTasks {
		m[s.Name] = string(s.Reason)
	}
	return m
}

// logTimeline logs when each TaskRun of a PipelineRun was created, started its step and
// finished, in seconds from the PipelineRun's start: where the pipeline's overhead goes.
func logTimeline(t *testing.T, pr *v1.PipelineRun) {
	t.Helper()
	if pr.Status.StartTime == nil {
		return
	}
	at := func(tm time.Time) string {
		if tm.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%6.2f", tm.Sub(pr.Status.StartTime.Time).Seconds())
	}
	trs := taskRuns(t, pr.Namespace, pr.Name)
	names := sortedKeys(trs)
	sort.SliceStable(names, func(i, j int) bool {
		return trs[names[i]].CreationTimestamp.Before(&trs[names[j]].CreationTimestamp)
	})
	t.Logf("timeline of %s (s from its start): created / pod started / step started / step finished / completed", pr.Name)
	for _, name := range names {
		tr := trs[name]
		var stepStart, stepEnd, started, done time.Time
		if tr.Status.StartTime != nil {
			started = tr.Status.StartTime.Time
		}
		if tr.Status.CompletionTime != nil {
			done = tr.Status.CompletionTime.Time
		}
		for _, s := range tr.Status.Steps {
			if s.Terminated != nil {
				stepStart, stepEnd = s.Terminated.StartedAt.Time, s.Terminated.FinishedAt.Time
			}
		}
		t.Logf("  %-16s %s %s %s %s %s", name, at(tr.CreationTimestamp.Time), at(started), at(stepStart), at(stepEnd), at(done))
	}
	if pr.Status.CompletionTime != nil {
		t.Logf("  %-16s %s", "(PipelineRun)", at(pr.Status.CompletionTime.Time))
	}
}
