package iter8ctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestValidateMetricReferences: given Metrics, validate reports each criteria reference
// into a namespace the files speak for (not the shared sets' namespaces, which the install
// fills) that none of them provides, by its field; given none, it checks no reference.
func TestValidateMetricReferences(t *testing.T) {
	dir := t.TempDir()
	exp := filepath.Join(dir, "experiment.yaml")
	metrics := filepath.Join(dir, "metrics.yaml")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(exp, `apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: e, namespace: team}
spec:
  target: team/app
  strategy: {testingPattern: Conformance}
  criteria:
    objectives:
    - {metric: latency, upperLimit: 5}
    - {metric: iter8-system/error-rate, upperLimit: 0.1}
    - {metric: other/m, upperLimit: 1}
    - {metric: shared, upperLimit: 1}
    - {metric: team/gone, upperLimit: 1}
    - {metric: iter8-knative/in-the-cluster, upperLimit: 1}
    indicators: [nosuch]
  duration: {intervalSeconds: 1, iterationsPerLoop: 1}
  versionInfo:
    baseline: {name: v1}
`)
	write(metrics, `apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: latency}
spec: {mock: [{name: v1, level: 3}]}
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: shared, namespace: iter8-knative}
spec: {mock: [{name: v1, level: 3}]}
`)
	r := runMain([]string{"validate", "-f", exp, "-f", metrics}, "")
	want := []string{
		exp + `: Experiment/e: spec.criteria.objectives[2].metric: metric "other/m" is in none of the given files`,
		exp + `: Experiment/e: spec.criteria.objectives[4].metric: metric "team/gone" is in none of the given files`,
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(r.stdout), "\n")); diff != "" {
		t.Errorf("validate (-want +got):\n%s", diff)
	}
	if r.code != ExitError || !strings.Contains(r.stderr, "2 problems found") {
		t.Errorf("exit %d, stderr %q; want 1 and 2 problems", r.code, r.stderr)
	}

	// The Experiment alone: its references are the cluster's to resolve.
	if r := runMain([]string{"validate", "-f", exp}, ""); r.code != ExitOK {
		t.Errorf("the experiment alone: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
}

// TestValidateWarnsOfLiteralPlaceholders: a $x that would go out as it is written is a
// warning naming the field, not an error.
func TestValidateWarnsOfLiteralPlaceholders(t *testing.T) {
	file := filepath.Join(t.TempDir(), "files.yaml")
	if err := os.WriteFile(file, []byte(`apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: e}
spec:
  target: default/x
  strategy: {testingPattern: Canary, deploymentPattern: FixedSplit}
  criteria:
    objectives: [{metric: nr, upperLimit: 5}]
  duration: {intervalSeconds: 1, iterationsPerLoop: 1}
  versionInfo:
    baseline: {name: v1, variables: [{name: app, value: a1}]}
    candidates: [{name: v2}]
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: nr}
spec:
  provider: newrelic
  urlTemplate: https://api.example.com/${name}.json
  jqExpression: .v
  params: [{name: q, value: "SELECT x WHERE app='$app' AND rev='$name' SINCE $elapsedTime seconds ago, $$5"}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runMain([]string{"validate", "-f", file}, "")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	want := []string{
		"warning: " + file + ": Metric/nr: spec.urlTemplate: $name is sent as it is: urlTemplate is not templated (docs/reference.md, Templated fields)",
		"warning: " + file + ": Metric/nr: spec.params[0].value: $app is sent as it is for version v2 of Experiment e, which has no variable app",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(r.stderr), "\n")); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
