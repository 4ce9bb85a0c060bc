//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// TestCanaryComparisonRollback runs, on the real Tekton and the real Knative Serving
// control plane (as TestCanaryRollback: only the networking layer is played), a
// Progressive Canary whose candidate revision is about 12 % slower than its baseline
// (20-30 ms against 23-33 ms) yet satisfies every objective. The comparison of the two
// revisions' per-step latencies, from the Prometheus scraping their queue-proxies,
// classifies the candidate High; the comparison is critical, so assess stops the run and
// finalize restores all traffic to the baseline, which Knative carries out.
func TestCanaryComparisonRollback(t *testing.T) {
	t.Parallel()
	afterSeedResolution(t)
	const ns = "e2e-comparison"
	installIn(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	base := &revision{name: "sample-app-v1", version: "v1", latency: 20 * time.Millisecond, jitter: 10 * time.Millisecond}
	cand := &revision{name: "sample-app-v2", version: "v2", latency: 23 * time.Millisecond, jitter: 10 * time.Millisecond}
	// Half the traffic on the candidate from the start: the load follows the split, and
	// the comparison needs the candidate's per-step samples, which a small share (and
	// the Progressive weights that move away from it while it does not win) makes sparse.
	applyCanaryService(t, ns, base, cand, 50)
	gen := loadBySplit(t, ns, "sample-app")
	promURL := scrapeQueueProxies(t, ns, base.name, cand.name)
	knativeMetricsIn(t, ns, promURL)

	metric := writeFile(t, "metric.yaml", harness.LatencySamplesMetric(promURL, ns))
	expFile := writeFile(t, "experiment.yaml", `apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: comparison
  namespace: `+ns+`
spec:
  target: `+ns+`/sample-app
  strategy:
    testingPattern: Canary
    deploymentPattern: Progressive
    actions:
      start:
      - task: knative/init-experiment
  criteria:
    objectives:
    - metric: `+ns+`/mean-latency
      upperLimit: 50
      rollback_on_failure: true
    - metric: `+ns+`/error-rate
      upperLimit: "0.01"
    comparisons:
    - metric: latency-samples
      direction: increase
      allowedIncrease: "0.05"
      minSamples: 4
      critical: true
  duration:
    intervalSeconds: 4
    iterationsPerLoop: 8
  versionInfo:
    baseline:
      name: sample-app-v1
      variables:
      - name: revision
        value: sample-app-v1
    candidates:
    - name: sample-app-v2
      variables:
      - name: revision
        value: sample-app-v2
`)
	for _, f := range []string{metric, expFile} {
		if _, err := kubectl(ctx, nil, "apply", "-f", f); err != nil {
			t.Fatal(err)
		}
	}
	name, _ := runExperiment(t, expFile, ns, 0)
	t.Logf("PipelineRun %s", name)
	pr := waitPipelineRun(t, ns, name, 10*time.Minute)
	logTaskRuns(t, ns, name)

	if got := condition(pr); got != "False/Failed" {
		t.Errorf("PipelineRun condition = %s, want False/Failed (finalize reports the rollback)", got)
	}
	if fin := taskRuns(t, ns, name)["finalize"]; fin == nil || trResults(fin)["outcome"] != "RolledBack" {
		t.Errorf("finalize outcome is not RolledBack")
	}
	exp := getExperiment(t, ns, "comparison")
	k := exp.Status.GetCompletedIterations()
	if k < 1 || k >= 8 {
		t.Errorf("completedIterations = %d, want the run stopped early", k)
	}
	if d := cmp.Diff([]string{"sample-app-v2"}, exp.Status.RolledBack); d != "" {
		t.Errorf("rolledBack (-want +got):\n%s", d)
	}
	// The objectives alone would have promoted the candidate.
	for v, verdicts := range exp.Status.Analysis.VersionAssessments.Data {
		for i, ok := range verdicts {
			if !ok {
				t.Errorf("%s fails objective %d: %s", v, i, exp.Status.Analysis.VersionAssessments.Reasons[v][i])
			}
		}
	}
	j := exp.Status.Analysis.Comparisons.Data["sample-app-v2"]
	if j.Outcome != v2alpha1.JudgementFail || len(j.Comparisons) != 1 || j.Comparisons[0].Classification != v2alpha1.ClassificationHigh {
		t.Fatalf("judgement = %+v, want Fail with latency-samples High", j)
	}
	if d := cmp.Diff([]int64{100, 0}, ksvcWeights(t, ns)); d != "" {
		t.Errorf("traffic after finalize (-want +got):\n%s", d)
	}
	checkRolledBack(t, ns, base.name, cand.name, gen)

	// describe says why in one line.
	out, err := iter8ctl(ctx, nil, "describe", "comparison", "-n", ns, "--kubeconfig", cluster.kubeconfig)
	if err != nil {
		t.Fatalf("iter8ctl describe: %v\n%s", err, out)
	}
	if !strings.Contains(out, "\n- High: latency-samples shifted +") {
		t.Errorf("describe does not say why the candidate was rolled back:\n%s", out)
	}
	t.Logf("rolled back after %d iterations: %s", k, j.Comparisons[0].Reason)
}
