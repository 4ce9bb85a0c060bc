package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/analytics"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics"
	"github.com/iter8-tools/iter8-tekton/pkg/sampleapp"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// TestComparisonRollsBackAShiftedCandidate: two revisions whose latencies are 20-30 ms
// and 23-33 ms, scraped by the real Prometheus. Both satisfy every objective (mean latency
// under 50 ms, no errors); the comparison of their per-step latencies finds the candidate
// shifted by about +12 % and rolls it back, through the real stages and API server.
func TestComparisonRollsBackAShiftedCandidate(t *testing.T) {
	e := cluster(t)
	ns := harnessNamespace(t, e)
	v1 := startApp(t, sampleapp.Config{Version: "v1", Namespace: ns, Service: "sample-app", Revision: "sample-app-v1", Latency: 20 * time.Millisecond, LatencyJitter: 10 * time.Millisecond})
	v2 := startApp(t, sampleapp.Config{Version: "v2", Namespace: ns, Service: "sample-app", Revision: "sample-app-v2", Latency: 23 * time.Millisecond, LatencyJitter: 10 * time.Millisecond})
	prom := startPrometheus(t, v1, v2)
	load(t, 20*time.Millisecond, v1, v2)
	e.installMetrics(t, "config/metrics/knative.yaml", prom.URL())
	waitForRevisions(t, prom, ns, "sample-app-v1", "sample-app-v2")

	metric := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(harness.LatencySamplesMetric(prom.URL(), "")), &metric.Object); err != nil {
		t.Fatal(err)
	}
	e.apply(t, ns, metric)
	exp := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: shifted
spec:
  target: `+ns+`/sample-app
  strategy:
    testingPattern: Canary
    deploymentPattern: FixedSplit
  criteria:
    objectives:
    - metric: iter8-knative/mean-latency
      upperLimit: 50
    - metric: iter8-knative/error-rate
      upperLimit: "0.01"
      rollback_on_failure: true
    comparisons:
    - metric: latency-samples
      direction: increase
      allowedIncrease: "0.05"
      minSamples: 4
      critical: true
  duration:
    intervalSeconds: 4
    iterationsPerLoop: 6
`+knativeCanaryVersions), &exp.Object); err != nil {
		t.Fatal(err)
	}
	e.apply(t, ns, exp)

	k, res, err := e.runAll(t, ns, "shifted", 4)
	if err == nil {
		t.Fatalf("finalize succeeded; want the RolledBack outcome's error (results %v)", res)
	}
	if res["outcome"] != "RolledBack" {
		t.Fatalf("outcome = %q after %d iterations, want RolledBack", res["outcome"], k)
	}
	got := e.get(t, ns, "shifted")
	if fmt.Sprint(got.Status.RolledBack) != "[sample-app-v2]" {
		t.Errorf("rolled back %v, want [sample-app-v2]", got.Status.RolledBack)
	}
	// The objectives alone would have promoted the candidate.
	for v, verdicts := range got.Status.Analysis.VersionAssessments.Data {
		for i, ok := range verdicts {
			if !ok {
				t.Errorf("%s fails objective %d: %s", v, i, got.Status.Analysis.VersionAssessments.Reasons[v][i])
			}
		}
	}
	j := got.Status.Analysis.Comparisons.Data["sample-app-v2"]
	if j.Outcome != v2alpha1.JudgementFail || len(j.Comparisons) != 1 || j.Comparisons[0].Classification != v2alpha1.ClassificationHigh {
		t.Fatalf("judgement = %+v, want Fail with latency-samples High", j)
	}
	t.Logf("rolled back after %d iterations: %s", k, j.Comparisons[0].Reason)
	if rel := j.Comparisons[0].RelativeShift.Value(); rel < 0.05 || rel > 0.25 {
		t.Errorf("relative shift %v, want about +0.12", rel)
	}
	if msg := *got.Status.Message; !strings.Contains(msg, "High: latency-samples shifted +") {
		t.Errorf("status message %q does not say why", msg)
	}
}

// TestComparisonFalseRollbackRate measures how often the comparison rolls back a
// candidate that is the same as its baseline: ten revisions with the same latency
// distribution, scraped by the real Prometheus, compared in five independent pairs over
// four disjoint 10 s windows: 20 comparisons, each of 5 samples per version. With an
// allowed increase of 5 % none may fail; the rate of the significance test alone (allowed
// increase 0, one-sided at 95 %: 2.5 % expected) is logged for docs/reference.md.
func TestComparisonFalseRollbackRate(t *testing.T) {
	e := cluster(t)
	ns := harnessNamespace(t, e)
	const pairs, windows = 5, 4
	const window = 10 * time.Second
	var apps []*app
	var revisions []string
	for i := range 2 * pairs {
		rev := fmt.Sprintf("rev-%d", i)
		revisions = append(revisions, rev)
		apps = append(apps, startApp(t, sampleapp.Config{Version: rev, Namespace: ns, Service: "sample-app", Revision: rev, Latency: 20 * time.Millisecond, LatencyJitter: 10 * time.Millisecond}))
	}
	prom := startPrometheus(t, apps...)
	load(t, 40*time.Millisecond, apps...)
	waitForRevisions(t, prom, ns, revisions...)
	start := time.Now().Truncate(time.Second)
	time.Sleep(windows*window + 3*time.Second)

	metric := v2alpha1.Metric{}
	if err := yaml.Unmarshal([]byte(harness.LatencySamplesMetric(prom.URL(), "")), &metric); err != nil {
		t.Fatal(err)
	}
	metric.Namespace = ns
	gating, significant, runs := 0, 0, 0
	for w := range windows {
		from, to := start.Add(time.Duration(w)*window), start.Add(time.Duration(w+1)*window)
		for p := range pairs {
			exp := pairExperiment(ns, revisions[2*p], revisions[2*p+1], metric, from)
			c := &metrics.Collector{Now: func() time.Time { return to }}
			exp.Status.Analysis = &v2alpha1.Analysis{Samples: c.CollectSamples(context.Background(), exp)}
			j := analytics.Judge(exp)[revisions[2*p+1]]
			r := j.Comparisons[0]
			if r.Classification == v2alpha1.ClassificationNoData {
				t.Fatalf("window %d, pair %d: %s", w, p, r.Reason)
			}
			runs++
			if j.Outcome == v2alpha1.JudgementFail {
				gating++
				t.Errorf("window %d, pair %d: false rollback: %s", w, p, r.Reason)
			}
			exp.Spec.Criteria.Comparisons[0].AllowedIncrease = nil
			if analytics.Judge(exp)[revisions[2*p+1]].Outcome == v2alpha1.JudgementFail {
				significant++
			}
		}
	}
	t.Logf("false rollbacks: %d of %d with an allowed increase of 5 %%; %d of %d on significance alone (one-sided, 95 %%)", gating, runs, significant, runs)
}

func pairExperiment(ns, baseline, candidate string, metric v2alpha1.Metric, start time.Time) *v2alpha1.Experiment {
	ref := ns + "/latency-samples"
	version := func(rev string) v2alpha1.VersionDetail {
		return v2alpha1.VersionDetail{Name: rev, Variables: []v2alpha1.NamedValue{{Name: "revision", Value: rev}}}
	}
	st := metav1.NewTime(start)
	return &v2alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "pair", Namespace: ns},
		Spec: v2alpha1.ExperimentSpec{
			Target:      ns + "/sample-app",
			Strategy:    v2alpha1.Strategy{TestingPattern: v2alpha1.TestingPatternCanary},
			VersionInfo: &v2alpha1.VersionInfo{Baseline: version(baseline), Candidates: []v2alpha1.VersionDetail{version(candidate)}},
			Criteria: &v2alpha1.Criteria{Comparisons: []v2alpha1.Comparison{{
				Metric: ref, Direction: v2alpha1.DirectionIncrease, AllowedIncrease: v2alpha1.ParseNumber("0.05"), MinSamples: ptr(int32(4)),
			}}},
		},
		Status: v2alpha1.ExperimentStatus{StartTime: &st, Metrics: []v2alpha1.MetricInfo{{Name: ref, MetricObj: metric}}},
	}
}

func ptr[T any](v T) *T { return &v }

// waitForRevisions waits until Prometheus has scraped every revision's latencies.
func waitForRevisions(t *testing.T, prom *harness.Prometheus, ns string, revisions ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, rev := range revisions {
		if _, err := prom.WaitForSamples(ctx, fmt.Sprintf(`revision_app_request_latencies_count{namespace_name=%q,revision_name=%q}`, ns, rev)); err != nil {
			t.Fatalf("waiting for samples of %s: %v", rev, err)
		}
	}
}
