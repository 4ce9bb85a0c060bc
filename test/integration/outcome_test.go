package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/experiment"
	"github.com/iter8-tools/iter8-tekton/pkg/iter8ctl"
	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
)

// verdict is what a CI job reads of an experiment's end: the outcome, the winner and the
// exit status of the command that ended it.
type verdict struct {
	Outcome, Winner string
	Exit            int
}

// TestOutcomeAgreesWithRun runs each experiment twice: as the Pipeline runs it (the stage
// commands against the real API server) and with iter8ctl run's local runner. Both must
// reach the same outcome, winner and exit status (docs/reference.md, "Outcomes and exit
// codes").
func TestOutcomeAgreesWithRun(t *testing.T) {
	e := cluster(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/api/v1/query"
	l.Close()

	mock := func(name, a, b string) string {
		return fmt.Sprintf("apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: %s}\nspec:\n  type: Gauge\n  mock: [{name: v1, level: %q}, {name: v2, level: %q}]\n", name, a, b)
	}
	ab := func(name string) string {
		return fmt.Sprintf(`apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: %s}
spec:
  target: app
  strategy: {testingPattern: A/B, deploymentPattern: FixedSplit}
  criteria:
    rewards: [{metric: engagement, preferredDirection: High}]
    objectives: [{metric: latency, upperLimit: 50}]
  duration: {intervalSeconds: 1, iterationsPerLoop: 2}
  versionInfo: {baseline: {name: v1}, candidates: [{name: v2}]}
`, name)
	}
	for _, tc := range []struct {
		name    string
		metrics []string
		want    verdict
	}{{
		name:    "succeeded",
		metrics: []string{mock("latency", "20", "25"), mock("engagement", "10", "12")},
		want:    verdict{Outcome: "Succeeded", Winner: "v2", Exit: stagecmd.ExitOK},
	}, {
		name:    "no winner",
		metrics: []string{mock("latency", "200", "250"), mock("engagement", "10", "12")},
		want:    verdict{Outcome: "NoWinner", Exit: stagecmd.ExitAimNotAchieved},
	}, {
		name: "unreadable",
		metrics: []string{mock("latency", "20", "25"), "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: engagement}\nspec:\n  type: Gauge\n  provider: prometheus\n  timeoutSeconds: 1\n" +
			"  urlTemplate: " + dead + "\n  params: [{name: query, value: 'e{v=\"$name\"}'}]\n"},
		want: verdict{Outcome: "Failed", Exit: stagecmd.ExitError},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, e)
			name := strings.ReplaceAll(tc.name, " ", "-")
			doc := strings.Replace(ab(name), "target: app", "target: "+ns+"/app", 1)

			// As the Pipeline runs it.
			for _, m := range tc.metrics {
				e.apply(t, ns, yamlObject(t, m))
			}
			e.apply(t, ns, yamlObject(t, doc))
			r := e.runStages(t, ns, name, nil)
			cluster := verdict{Outcome: r.final["outcome"], Winner: r.final["winner"], Exit: stageExit(r.finalErr)}

			// As iter8ctl run runs it, from files.
			dir := t.TempDir()
			expFile, metricsFile, out := filepath.Join(dir, "exp.yaml"), filepath.Join(dir, "metrics.yaml"), filepath.Join(dir, "out.yaml")
			if err := os.WriteFile(expFile, []byte(strings.Replace(doc, "metadata: {name: "+name+"}", "metadata: {name: "+name+", namespace: "+ns+"}", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(metricsFile, []byte(strings.Join(tc.metrics, "---\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr strings.Builder
			code := iter8ctl.Main(context.Background(), []string{"run", "-f", expFile, "-f", metricsFile, "--out", out}, strings.NewReader(""), &stdout, &stderr)
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("iter8ctl run wrote no experiment (exit %d): %v\n%s", code, err, stderr.String())
			}
			exp, err := v2alpha1.DecodeExperiment(b)
			if err != nil {
				t.Fatal(err)
			}
			fin := experiment.FinalResult(exp)
			local := verdict{Outcome: string(fin.Outcome), Winner: fin.Winner, Exit: code}

			if diff := cmp.Diff(tc.want, cluster); diff != "" {
				t.Errorf("the stages' verdict (-want +got):\n%s\nfinalize: %v", diff, r.finalErr)
			}
			if diff := cmp.Diff(cluster, local); diff != "" {
				t.Errorf("iter8ctl run disagrees with the stages (-stages +run):\n%s\nrun's stderr:\n%s", diff, stderr.String())
			}
		})
	}
}

// stageExit is the exit status stagecmd.Main gives finalize's error.
func stageExit(err error) int {
	switch {
	case err == nil:
		return stagecmd.ExitOK
	case errors.Is(err, stagecmd.ErrAimNotAchieved):
		return stagecmd.ExitAimNotAchieved
	default:
		return stagecmd.ExitError
	}
}
