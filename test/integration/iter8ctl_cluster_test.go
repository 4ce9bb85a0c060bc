package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/iter8ctl"
)

// TestIter8ctlReadsTheCluster: describe NAME, report NAME, assert NAME and get read Experiments from the
// real API server with kubectl's flags, and describe NAME (and report NAME) says what
// describe -f (report -f) says of the same object.
func TestIter8ctlReadsTheCluster(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	istioVS(t, e, ns, 100, 0)
	e.apply(t, ns, healthyLatency(t), vsCanaryExperiment(t, "canary", ns+"/sample-app", ns, 2))
	if _, res, err := e.runAll(t, ns, "canary", 1); err != nil || res["outcome"] != "Succeeded" {
		t.Fatalf("the experiment: %v %v", res, err)
	}
	kc := e.cp.Kubeconfig()
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := iter8ctl.Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, fromCluster, stderr := run("describe", "canary", "--kubeconfig", kc, "-n", ns)
	if code != iter8ctl.ExitOK {
		t.Fatalf("describe canary: exit %d: %s", code, stderr)
	}
	u, err := e.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns).Get(context.Background(), "canary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := iter8ctl.Main(context.Background(), []string{"describe", "-f", "-"}, bytes.NewReader(b), &out, &errOut); code != iter8ctl.ExitOK {
		t.Fatalf("describe -f -: exit %d: %s", code, errOut.String())
	}
	if fromCluster != out.String() {
		t.Errorf("describe canary and describe -f of the same object differ:\n%s\n---\n%s", fromCluster, out.String())
	}

	// report NAME renders what report -f renders of the same object, and the history the
	// stages recorded went through the CRD's schema.
	if h, found, err := unstructured.NestedMap(u.Object, "status", "analysis", "history"); !found || err != nil || len(h) == 0 {
		t.Errorf("status.analysis.history is not in the object the API server returned (%v)", err)
	}
	code, reportFromCluster, stderr := run("report", "canary", "--kubeconfig", kc, "-n", ns, "-o", "markdown")
	if code != iter8ctl.ExitOK {
		t.Fatalf("report canary: exit %d: %s", code, stderr)
	}
	out.Reset()
	errOut.Reset()
	if code := iter8ctl.Main(context.Background(), []string{"report", "-f", "-", "-o", "markdown"}, bytes.NewReader(b), &out, &errOut); code != iter8ctl.ExitOK {
		t.Fatalf("report -f -: exit %d: %s", code, errOut.String())
	}
	if reportFromCluster != out.String() || !strings.Contains(reportFromCluster, ": Succeeded\n") {
		t.Errorf("report canary and report -f of the same object differ, or do not say Succeeded:\n%s\n---\n%s", reportFromCluster, out.String())
	}

	if code, stdout, stderr := run("assert", "canary", "--kubeconfig", kc, "-n", ns, "-c", "completed", "-c", "candidateWon"); code != iter8ctl.ExitOK {
		t.Errorf("assert canary: exit %d: %s%s", code, stdout, stderr)
	}
	if code, _, _ := run("assert", "canary", "--kubeconfig", kc, "-n", ns, "-c", "baselineWon"); code == iter8ctl.ExitOK {
		t.Error("assert canary -c baselineWon held")
	}

	code, stdout, stderr := run("get", "--kubeconfig", kc, "-n", ns)
	if code != iter8ctl.ExitOK {
		t.Fatalf("get: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[1], "canary") || !strings.Contains(lines[1], "Completed") {
		t.Errorf("get:\n%s", stdout)
	}

	code, _, stderr = run("describe", "nosuch", "--kubeconfig", kc, "-n", ns)
	if code != iter8ctl.ExitError || !strings.Contains(stderr, `experiments.iter8.tools "nosuch" not found`) {
		t.Errorf("describe nosuch: exit %d, stderr %q", code, stderr)
	}
}

// TestDescribeWatch: describe -w describes the experiment at every change the API server
// reports, and returns once it is Completed; it fails when the experiment is deleted.
func TestDescribeWatch(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	e.apply(t, ns, healthyLatency(t), vsCanaryExperiment(t, "watched", ns+"/sample-app", ns, 3))
	ri := e.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns)
	setStatus := func(stage string, iterations int64) {
		t.Helper()
		ctx := context.Background()
		u, err := ri.Get(ctx, "watched", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		unstructured.SetNestedField(u.Object, stage, "status", "stage")
		unstructured.SetNestedField(u.Object, iterations, "status", "completedIterations")
		if _, err := ri.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		code        int
		out, stderr string
	}
	watch := func(name string) chan result {
		done := make(chan result, 1)
		go func() {
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			code := iter8ctl.Main(ctx, []string{"describe", name, "-w", "--kubeconfig", e.cp.Kubeconfig(), "-n", ns}, strings.NewReader(""), &out, &errOut)
			done <- result{code, out.String(), errOut.String()}
		}()
		return done
	}
	renders := func(s string) int { return strings.Count(s, "****** Overview ******") }

	done := watch("watched")
	time.Sleep(time.Second) // the first describe, and the watch open
	setStatus("Running", 1)
	time.Sleep(500 * time.Millisecond)
	setStatus("Running", 2)
	time.Sleep(500 * time.Millisecond)
	setStatus("Completed", 3)
	select {
	case r := <-done:
		if r.code != iter8ctl.ExitOK {
			t.Fatalf("describe -w: exit %d: %s", r.code, r.stderr)
		}
		if n := renders(r.out); n != 4 {
			t.Errorf("describe -w described the experiment %d times, want 4 (as created, then 3 changes):\n%s", n, r.out)
		}
		if last := r.out[strings.LastIndex(r.out, "****** Overview ******"):]; !strings.Contains(last, "Experiment stage: Completed") {
			t.Errorf("the last description is not the completed experiment:\n%s", r.out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("describe -w did not return after the experiment completed")
	}

	e.apply(t, ns, vsCanaryExperiment(t, "deleted", ns+"/sample-app", ns, 3))
	done = watch("deleted")
	time.Sleep(time.Second)
	if err := ri.Delete(context.Background(), "deleted", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.code != iter8ctl.ExitError || !strings.Contains(r.stderr, "the experiment was deleted") {
			t.Errorf("describe -w of a deleted experiment: exit %d, stderr %q", r.code, r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("describe -w did not return after the experiment was deleted")
	}

	var out, errOut bytes.Buffer
	if code := iter8ctl.Main(context.Background(), []string{"describe", "-w", "-f", "x.yaml"}, strings.NewReader(""), &out, &errOut); code != iter8ctl.ExitUsage {
		t.Errorf("describe -w -f: exit %d, want usage (%s)", code, errOut.String())
	}
}
