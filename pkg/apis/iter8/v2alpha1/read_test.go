package v2alpha1

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readHeader starts every test object of this file.
const readHeader = "apiVersion: iter8.tools/v2alpha1\nkind: Experiment\nmetadata: {name: e, namespace: ns}\n"

func mustRead(t *testing.T, doc string) (*Experiment, []string) {
	t.Helper()
	exp, ignored, err := ReadExperiment([]byte(doc))
	if err != nil {
		t.Fatalf("ReadExperiment: %v", err)
	}
	return exp, ignored
}

// What DecodeExperiment refuses, ReadExperiment reads; the strict decoder is unchanged.
func TestReadExperimentToleratesUnknownFields(t *testing.T) {
	doc := readHeader + `spec:
  target: ns/app
  strategy: {testingPattern: Canary, handlers: {start: start, finish: none}}
  versionInfo:
    baseline: {name: v1, tags: {revision: v1}}
    candidates: [{name: v2, tags: {revision: v2}}]
status:
  endTime: "2021-01-01T00:00:00Z"
  completedIterations: 3
  conditions:
  - {type: Completed, status: "False", observedGeneration: 2}
  - {type: Failed, status: "False", observedGeneration: 2}
`
	if _, err := DecodeExperiment([]byte(doc)); err == nil {
		t.Fatal("DecodeExperiment accepted unknown fields; validate must stay strict")
	}
	exp, ignored := mustRead(t, doc)
	want := []string{
		"spec.strategy.handlers",
		"spec.versionInfo.baseline.tags",
		"spec.versionInfo.candidates[*].tags",
		"status.conditions[*].observedGeneration",
		"status.endTime",
	}
	if d := cmp.Diff(want, ignored); d != "" {
		t.Errorf("ignored fields (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"v1", "v2"}, exp.Spec.VersionNames()); d != "" {
		t.Errorf("versions (-want +got):\n%s", d)
	}
	if got := exp.Status.GetCompletedIterations(); got != 3 {
		t.Errorf("completed iterations = %d, want 3", got)
	}
	if len(exp.Status.Conditions) != 2 {
		t.Errorf("conditions = %d, want 2", len(exp.Status.Conditions))
	}
}

// Renamed and reshaped fields are read in their later spelling, and not reported as ignored.
func TestReadExperimentReadsLegacySpellings(t *testing.T) {
	doc := readHeader + `spec:
  target: ns/app
  strategy:
    type: Canary
    weights: {algorithm: FixedSplit, maxCandidateWeight: 50}
    actions:
      finish:
      - {condition: CandidateWon(), task: common/exec, with: {cmd: kubectl}}
  duration: {intervalSeconds: 5, maxIterations: 4}
  criteria:
    support: {confidence: 0.9}
    objectives: [{metric: mean-latency, upperLimit: 1k}]
  metrics:
  - name: mean-latency
    metricObj:
      apiVersion: iter8.tools/v2alpha1
      kind: Metric
      metadata: {name: mean-latency, namespace: iter8-system}
      spec: {units: milliseconds, sampleSize: {name: request-count, namespace: iter8-system}}
  - name: error-rate
    metricObj:
      metadata: {name: error-rate}
      spec: {sample_size: {name: request-count}}
status:
  conditions:
  - {type: ExperimentCompleted, status: "True", reason: ExperimentCompleted}
  - {type: ExperimentFailed, status: "False"}
`
	exp, ignored := mustRead(t, doc)
	if len(ignored) != 0 {
		t.Errorf("ignored %v, want nothing: every field has a later spelling", ignored)
	}
	s := exp.Spec
	if s.Strategy.TestingPattern != TestingPatternCanary {
		t.Errorf("testing pattern = %q, want Canary (from strategy.type)", s.Strategy.TestingPattern)
	}
	if s.DeploymentPattern() != DeploymentPatternFixedSplit {
		t.Errorf("deployment pattern = %q, want FixedSplit (from weights.algorithm)", s.DeploymentPattern())
	}
	if got := s.TotalIterations(); got != 4 {
		t.Errorf("total iterations = %d, want 4 (from duration.maxIterations)", got)
	}
	if s.Criteria.Strength == nil {
		t.Error("criteria.support was not read as strength")
	}
	if f := s.Strategy.Actions["finish"]; len(f) != 1 || f[0].If == nil || *f[0].If != "CandidateWon()" {
		t.Errorf("finish task condition was not read as if: %+v", f)
	}
	if !exp.Status.IsTrue(ConditionCompleted) || exp.Status.Condition(ConditionFailed) == nil {
		t.Errorf("ExperimentCompleted/ExperimentFailed were not read as Completed/Failed: %+v", exp.Status.Conditions)
	}
	var sizes []string
	for _, m := range exp.Status.Metrics {
		sizes = append(sizes, m.Name+" "+*m.MetricObj.Spec.SampleSize)
	}
	want := []string{"mean-latency iter8-system/request-count", "error-rate request-count"}
	if d := cmp.Diff(want, sizes); d != "" {
		t.Errorf("spec.metrics were not read as status.metrics with string sampleSize (-want +got):\n%s", d)
	}
	if u := exp.Status.Metrics[0].MetricObj.Spec.Units; u == nil || *u != "milliseconds" {
		t.Errorf("units = %v, want milliseconds", u)
	}
}

// A later spelling that is present wins, and the earlier one is reported, not merged.
func TestReadExperimentLaterSpellingWins(t *testing.T) {
	doc := readHeader + "spec:\n  target: t\n  strategy: {type: A/B, testingPattern: Canary}\n"
	exp, ignored := mustRead(t, doc)
	if exp.Spec.Strategy.TestingPattern != TestingPatternCanary {
		t.Errorf("testing pattern = %q, want Canary", exp.Spec.Strategy.TestingPattern)
	}
	if d := cmp.Diff([]string{"spec.strategy.type"}, ignored); d != "" {
		t.Errorf("ignored (-want +got):\n%s", d)
	}
}

// A wrong-typed field that describe does not report is dropped and named with its type.
func TestReadExperimentDropsWrongTypedUnreportedFields(t *testing.T) {
	doc := readHeader + `spec:
  target: t
  strategy:
    testingPattern: Canary
    weights: {maxCandidateWeight: "fifty"}
    actions: {start: {task: knative/init-experiment}}
  versionInfo:
    baseline: {name: v1, weightObjRef: /spec/traffic/0/percent}
status:
  initTime: yesterday
  currentWeightDistribution: [{name: v1, value: 100}, 7]
  metrics:
  - name: iter8-system/mean-latency
    metricObj:
      metadata: {name: mean-latency}
      spec: {params: {query: "sum(x)"}, units: ms}
`
	exp, ignored := mustRead(t, doc)
	want := []string{
		"spec.strategy.actions[*] (want list, got object)",
		"spec.strategy.weights.maxCandidateWeight (want integer, got string)",
		"spec.versionInfo.baseline.weightObjRef (want object, got string)",
		"status.currentWeightDistribution[*] (want object, got number)",
		"status.initTime (not a valid time)",
		"status.metrics[*].metricObj.spec.params (want list, got object)",
	}
	if d := cmp.Diff(want, ignored); d != "" {
		t.Errorf("ignored (-want +got):\n%s", d)
	}
	if len(exp.Status.CurrentWeightDistribution) != 1 {
		t.Errorf("weights = %+v, want the one readable entry", exp.Status.CurrentWeightDistribution)
	}
	if u := exp.Status.Metrics[0].MetricObj.Spec.Units; u == nil || *u != "ms" {
		t.Errorf("units = %v, want ms", u)
	}
}

// A wrong-typed field that describe reports is an error naming the field, never a panic
// and never a report with the field silently missing.
func TestReadExperimentWrongTypedReportedFieldIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{{
		name: "stage",
		doc:  readHeader + "spec: {target: t, strategy: {testingPattern: Canary}}\nstatus: {stage: [Completed]}\n",
		want: "document 0: reading Experiment: field status.stage: want string, got list",
	}, {
		name: "metric value",
		doc: readHeader + "spec: {target: t, strategy: {testingPattern: Canary}}\n" +
			"status: {analysis: {aggregatedMetrics: {data: {mean-latency: {data: {v1: {value: {x: 1}}}}}}}}\n",
		want: `document 0: reading Experiment: field status.analysis.aggregatedMetrics.data[mean-latency].data[v1].value: {"x":1} is not a valid number: {"x":1} is neither a number nor a string`,
	}, {
		name: "verdict",
		doc: readHeader + "spec: {target: t, strategy: {testingPattern: Canary}}\n" +
			"status: {analysis: {versionAssessments: {data: {v1: [true, maybe]}}}}\n",
		want: `document 0: reading Experiment: field status.analysis.versionAssessments.data[v1][1]: want boolean, got string "maybe"`,
	}, {
		name: "objective limit",
		doc:  readHeader + "spec: {target: t, strategy: {testingPattern: Canary}, criteria: {objectives: [{metric: m, upperLimit: [1]}]}}\n",
		want: `document 0: reading Experiment: field spec.criteria.objectives[0].upperLimit: [1] is not a valid number: [1] is neither a number nor a string`,
	}, {
		name: "spec is not an object",
		doc:  readHeader + "spec: canary\n",
		want: `document 0: reading Experiment: field spec: want object, got string "canary"`,
	}, {
		name: "status is a list",
		doc:  readHeader + "spec: {target: t}\nstatus: []\n",
		want: `document 0: reading Experiment: field status: want object, got list`,
	}, {
		name: "name",
		doc:  "apiVersion: iter8.tools/v2alpha2\nkind: Experiment\nmetadata: {name: 7}\nspec: {target: t}\n",
		want: `document 0: reading Experiment: field metadata.name: want string, got number 7`,
	}, {
		name: "iterations out of range",
		doc:  readHeader + "spec: {target: t}\nstatus: {completedIterations: 3000000000}\n",
		want: `document 0: reading Experiment: field status.completedIterations: 3000000000 is not a 32-bit integer`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadExperiment([]byte(tc.doc))
			if err == nil {
				t.Fatal("ReadExperiment succeeded, want an error")
			}
			if d := cmp.Diff(tc.want, err.Error()); d != "" {
				t.Errorf("error (-want +got):\n%s", d)
			}
		})
	}
}

// kubectl get experiments -o yaml prints a List; one Experiment in it is read.
func TestReadExperimentFromAList(t *testing.T) {
	seed, err := os.ReadFile("testdata/seed-experiment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(string(seed)), "\n", "\n    ")
	doc := "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n  -\n" + indented + "\n"
	exp, ignored := mustRead(t, doc)
	if exp.Name != "mirroring" || len(ignored) != 0 {
		t.Errorf("read %q, ignored %v; want mirroring and nothing ignored", exp.Name, ignored)
	}
	if _, _, err := ReadExperiment([]byte(doc + "---\n" + string(seed))); err == nil || !strings.Contains(err.Error(), "more than one Experiment") {
		t.Errorf("two Experiments: err = %v, want more than one Experiment", err)
	}
}

// FuzzReadExperiment: reading never panics, and what it reads it reads again the same way.
func FuzzReadExperiment(f *testing.F) {
	seed, err := os.ReadFile("testdata/seed-experiment.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(validCanary))
	f.Add([]byte(readHeader + "spec: {metrics: [{metricObj: {spec: {sampleSize: {name: x}}}}], strategy: {type: Canary}}\nstatus: {conditions: [{type: ExperimentFailed}]}\n"))
	f.Add([]byte(readHeader + "spec: [1]\nstatus: {metrics: 3}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		exp, _, err := ReadExperiment(b)
		if err != nil {
			return
		}
		if exp == nil {
			t.Fatal("no experiment and no error")
		}
	})
}
