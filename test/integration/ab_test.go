package integration

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// mockMetric is a Gauge Metric with a mocked level per version: no backend is queried,
// so the assessments are exact and the tests need no Prometheus.
func mockMetric(t *testing.T, name string, levels map[string]string) *unstructured.Unstructured {
	t.Helper()
	var versions []string
	for v := range levels {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	var mock []any
	for _, v := range versions {
		mock = append(mock, map[string]any{"name": v, "level": levels[v]})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "iter8.tools/v2alpha2", "kind": "Metric",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"type": "Gauge", "mock": mock},
	}}
}

func yamlObject(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("YAML: %v\n%s", err, doc)
	}
	return u
}

// abExperiment is an A/B experiment between v1 and v2 of target with a FixedSplit: it
// judges and picks, never moves traffic. Its reward is user-engagement and its one
// objective latency <= 50, both mocked metrics of the experiment's namespace.
func abExperiment(t *testing.T, name, target, direction string, iterations int) *unstructured.Unstructured {
	t.Helper()
	return yamlObject(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: `+name+`
spec:
  target: `+target+`
  strategy:
    testingPattern: A/B
    deploymentPattern: FixedSplit
  criteria:
    rewards:
    - metric: user-engagement
      preferredDirection: `+direction+`
    objectives:
    - metric: latency
      upperLimit: 50
  duration:
    intervalSeconds: 1
    iterationsPerLoop: `+fmt.Sprint(iterations)+`
  versionInfo:
    baseline:
      name: v1
    candidates:
    - name: v2
`)
}

func TestABReward(t *testing.T) {
	tests := []struct {
		name       string
		direction  string
		engagement map[string]string
		latency    map[string]string
		// want is the winner, also recommended and reported by finalize.
		want string
		// assessments is each version's verdict on the latency objective.
		assessments map[string][]bool
	}{{
		name:        "both feasible, the higher reward wins",
		direction:   "High",
		engagement:  map[string]string{"v1": "15", "v2": "20"},
		latency:     map[string]string{"v1": "10", "v2": "12"},
		want:        "v2",
		assessments: map[string][]bool{"v1": {true}, "v2": {true}},
	}, {
		name:        "both feasible, the lower reward wins when Low is preferred",
		direction:   "Low",
		engagement:  map[string]string{"v1": "15", "v2": "20"},
		latency:     map[string]string{"v1": "10", "v2": "12"},
		want:        "v1",
		assessments: map[string][]bool{"v1": {true}, "v2": {true}},
	}, {
		name:        "the better reward is infeasible, the other wins",
		direction:   "High",
		engagement:  map[string]string{"v1": "15", "v2": "20"},
		latency:     map[string]string{"v1": "10", "v2": "80"},
		want:        "v1",
		assessments: map[string][]bool{"v1": {true}, "v2": {false}},
	}, {
		name:        "the baseline has the better reward but is infeasible",
		direction:   "High",
		engagement:  map[string]string{"v1": "30", "v2": "20"},
		latency:     map[string]string{"v1": "90", "v2": "12"},
		want:        "v2",
		assessments: map[string][]bool{"v1": {false}, "v2": {true}},
	}}
	e := cluster(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, e)
			e.apply(t, ns, mockMetric(t, "user-engagement", tc.engagement), mockMetric(t, "latency", tc.latency))
			e.apply(t, ns, abExperiment(t, "ab", ns+"/sample-app", tc.direction, 2))

			k, res, err := e.runAll(t, ns, "ab", 1)
			if err != nil {
				t.Fatalf("the experiment did not achieve its aim: %v", err)
			}
			if k != 2 {
				t.Errorf("ran %d iterations, want 2", k)
			}
			if diff := cmp.Diff(map[string]string{"outcome": "Succeeded", "winner": tc.want, "recommended": tc.want}, res); diff != "" {
				t.Errorf("finalize results (-want +got):\n%s", diff)
			}
			exp := e.get(t, ns, "ab")
			a := exp.Status.Analysis
			if a == nil || a.WinnerAssessment == nil || a.VersionAssessments == nil {
				t.Fatalf("analysis = %s, want winner and version assessments", mustJSON(a))
			}
			wantWinner := v2alpha1.WinnerAssessmentData{WinnerFound: true, Winner: &tc.want, BestVersions: []string{tc.want}}
			if diff := cmp.Diff(wantWinner, a.WinnerAssessment.Data); diff != "" {
				t.Errorf("winner assessment (-want +got):\n%s\nmessage: %v", diff, a.WinnerAssessment.Message)
			}
			if diff := cmp.Diff(tc.assessments, a.VersionAssessments.Data); diff != "" {
				t.Errorf("version assessments (-want +got):\n%s", diff)
			}
			if a.WinnerAssessment.Message == nil || !strings.Contains(*a.WinnerAssessment.Message, "user-engagement") {
				t.Errorf("winner message = %v, want it to name the reward", a.WinnerAssessment.Message)
			}
			if exp.Status.GetStage() != v2alpha1.StageCompleted || exp.Status.IsTrue(v2alpha1.ConditionFailed) {
				t.Errorf("stage %s, conditions %s; want Completed, not Failed", exp.Status.GetStage(), mustJSON(exp.Status.Conditions))
			}
			if exp.Status.CurrentWeightDistribution != nil {
				t.Errorf("currentWeightDistribution = %v, want none: a FixedSplit moves no traffic", exp.Status.CurrentWeightDistribution)
			}
		})
	}
}
