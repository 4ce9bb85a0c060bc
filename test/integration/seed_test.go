package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/describe"
	"github.com/iter8-tools/iter8-tekton/pkg/sampleapp"
)

// TestSeedScenario applies the seed tutorial's service.yaml, routing-rules.yaml and
// experiment.yaml unchanged and runs the stages in order, with Prometheus scraping the
// sample app's two revisions while load runs.
func TestSeedScenario(t *testing.T) {
	e := cluster(t)
	const ns = "default" // the seed's objects name no namespace; its target is default/sample-app

	v1 := startApp(t, sampleapp.Config{Version: "blue", Namespace: ns, Service: "sample-app", Revision: "sample-app-v1", Latency: 2 * time.Millisecond})
	v2 := startApp(t, sampleapp.Config{Version: "green", Namespace: ns, Service: "sample-app", Revision: "sample-app-v2", Latency: 3 * time.Millisecond})
	prom := startPrometheus(t, v1, v2)
	load(t, 20*time.Millisecond, v1, v2)
	e.installMetrics(t, "config/metrics/knative.yaml", prom.URL())

	for _, o := range readObjects(t, "testdata/service.yaml") { // v1, then the update to v2 with traffic
		e.apply(t, ns, o)
	}
	e.ksvcReady(t, ns, "sample-app", []map[string]any{
		{"revisionName": "sample-app-v1", "percent": int64(100)},
		{"revisionName": "sample-app-v2", "latestRevision": true, "percent": int64(0)},
	}, "sample-app-v2")
	e.apply(t, ns, readObjects(t, "testdata/routing-rules.yaml")...)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := prom.WaitForSamples(ctx, `revision_app_request_latencies_count{revision_name="sample-app-v2"}`); err != nil {
		t.Fatalf("waiting for the sample app's samples: %v", err)
	}
	time.Sleep(3 * time.Second) // a few scrapes, so that increase() over the first window has two points

	e.apply(t, ns, readObjects(t, "testdata/experiment.yaml")...)
	iterations, res, err := e.runAll(t, ns, "mirroring", 2)
	if err != nil {
		t.Fatalf("the experiment did not achieve its aim: %v", err)
	}
	if iterations != 7 {
		t.Errorf("ran %d iterations, want 7", iterations)
	}
	if diff := cmp.Diff(map[string]string{"outcome": "Succeeded", "winner": "current", "recommended": "current"}, res); diff != "" {
		t.Errorf("finalize results (-want +got):\n%s", diff)
	}

	exp := e.get(t, ns, "mirroring")
	if got := exp.Status.GetStage(); got != v2alpha1.StageCompleted {
		t.Errorf("stage = %s, want Completed", got)
	}
	if got := exp.Status.GetCompletedIterations(); got != 7 {
		t.Errorf("completedIterations = %d, want 7", got)
	}
	if !exp.Status.IsTrue(v2alpha1.ConditionCompleted) || exp.Status.IsTrue(v2alpha1.ConditionFailed) {
		t.Errorf("conditions = %s, want Completed and not Failed", mustJSON(exp.Status.Conditions))
	}
	if diff := cmp.Diff(map[string][]bool{"current": {true, true, true}}, exp.Status.Analysis.VersionAssessments.Data); diff != "" {
		t.Errorf("version assessments (-want +got):\n%s\nreasons: %v", diff, exp.Status.Analysis.VersionAssessments.Reasons)
	}
	// The dark revision got requests, and each metric has a real value for it. The
	// request count is v2alpha1's implicit requestCount, found in iter8-knative.
	for _, ref := range []string{"iter8-knative/request-count", "mean-latency", "95th-percentile-tail-latency", "error-rate"} {
		d, ok := exp.Status.Analysis.AggregatedMetrics.Data[ref].Data["current"]
		if !ok || d.Value == nil || d.State != v2alpha1.MetricStateValue {
			t.Errorf("metric %s for current = %s, want a value", ref, mustJSON(d))
			continue
		}
		if !strings.Contains(d.Query, "sample-app-v2") {
			t.Errorf("metric %s query %q does not select the revision sample-app-v2", ref, d.Query)
		}
	}
	if rc := exp.Status.Analysis.AggregatedMetrics.Data["iter8-knative/request-count"].Data["current"]; rc.Value == nil || rc.Value.Value() <= 0 {
		t.Errorf("request-count for current = %v, want > 0", rc.Value)
	}
	if ml := exp.Status.Analysis.AggregatedMetrics.Data["mean-latency"].Data["current"]; ml.Value == nil || ml.Value.Value() < 3 || ml.Value.Value() > 50 {
		t.Errorf("mean-latency for current = %v ms, want the injected 3 ms and under 50", ml.Value)
	}

	var out bytes.Buffer
	if err := describe.Write(&out, exp, describe.FormatText); err != nil {
		t.Fatal(err)
	}
	t.Logf("iter8ctl describe:\n%s", out.String())
	for _, want := range []string{
		"****** Overview ******", "Experiment name: mirroring", "Experiment namespace: default", "Target: default/sample-app",
		"Testing pattern: Conformance", "Deployment pattern: Progressive",
		"****** Progress Summary ******", "Experiment stage: Completed", "Number of completed iterations: 7",
		"****** Winner Assessment ******", "Winning version: current", "Recommended baseline: current",
		"****** Objective Assessment ******", "| mean-latency <= 50.000         | true    |",
		"****** Metrics Assessment ******", "| request-count                  |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe output lacks %q", want)
		}
	}

	// kubectl get experiment prints the seed's columns: ask the server for its table.
	table := e.kube.CoreV1().RESTClient().Get().AbsPath("/apis/iter8.tools/v2alpha1/namespaces/default/experiments").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(context.Background())
	var tbl metav1.Table
	if err := table.Into(&tbl); err != nil {
		t.Fatalf("getting the experiments table: %v", err)
	}
	var cols []string
	for _, c := range tbl.ColumnDefinitions {
		cols = append(cols, strings.ToUpper(c.Name))
	}
	if diff := cmp.Diff([]string{"NAME", "TYPE", "TARGET", "STAGE", "COMPLETED ITERATIONS", "MESSAGE", "AGE"}, cols); diff != "" {
		t.Errorf("kubectl get experiment columns (-want +got):\n%s", diff)
	}
}
