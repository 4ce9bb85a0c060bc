package v2alpha1

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const validCanary = `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: canary, namespace: default}
spec:
  target: default/app
  strategy:
    testingPattern: Canary
    weights: {maxCandidateWeight: 50, maxCandidateWeightIncrement: 10}
    actions:
      finish:
      - task: common/exec
        with: {cmd: /bin/true}
  criteria:
    objectives:
    - {metric: iter8-knative/mean-latency, upperLimit: 50, rollback_on_failure: true}
    - {metric: error-rate, lowerLimit: 0, upperLimit: "0.01"}
  duration: {intervalSeconds: 5, iterationsPerLoop: 3}
  versionInfo:
    baseline:
      name: v1
      weightObjRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: app, fieldPath: ".spec.traffic[0].percent"}
    candidates:
    - name: v2
      weightObjRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: app, fieldPath: ".spec.traffic[1].percent"}
`

func decodeOrDie(t *testing.T, doc string) *Experiment {
	t.Helper()
	exp, err := DecodeExperiment([]byte(doc))
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return exp
}

func TestValidateSuccess(t *testing.T) {
	for name, doc := range map[string]string{
		"canary":                   validCanary,
		"ab with reward":           strings.NewReplacer("testingPattern: Canary", "testingPattern: A/B", "criteria:\n", "criteria:\n    rewards: [{metric: revenue, preferredDirection: High}]\n").Replace(validCanary),
		"v2alpha1 singular reward": strings.NewReplacer("testingPattern: Canary", "testingPattern: A/B", "criteria:\n", "criteria:\n    reward: {metric: revenue, preferredDirection: Low}\n").Replace(validCanary),
		"fixed split needs no weightObjRef": `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: x}
spec:
  target: t
  strategy: {testingPattern: A/B/N, deploymentPattern: FixedSplit}
  criteria: {rewards: [{metric: r, preferredDirection: High}]}
  versionInfo: {baseline: {name: a}, candidates: [{name: b}, {name: c}]}
`,
	} {
		t.Run(name, func(t *testing.T) {
			if fe := decodeOrDie(t, doc).Validate(); fe != nil {
				t.Errorf("Validate() = %v, want no error", fe)
			}
		})
	}
}

// comparison is the replacements that add a comparison with the given fields (after
// metric: latency unless they name one) and more criteria.
func comparison(fields, more string) []string {
	objective := "    - {metric: error-rate, lowerLimit: 0, upperLimit: \"0.01\"}\n"
	if !strings.Contains(fields, "metric:") {
		fields = "metric: latency, " + fields
	}
	return []string{objective, objective + "    comparisons:\n    - {" + fields + "}\n" + more}
}

func TestValidateFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace []string
		want    []string // field paths
	}{
		{"testing pattern", []string{"testingPattern: Canary", "testingPattern: Blue"}, []string{"spec.strategy.testingPattern"}},
		{"deployment pattern", []string{"testingPattern: Canary", "testingPattern: Canary\n    deploymentPattern: Rolling"}, []string{"spec.strategy.deploymentPattern"}},
		{"canary without candidates", []string{"    candidates:\n    - name: v2\n      weightObjRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: app, fieldPath: \".spec.traffic[1].percent\"}\n", ""}, []string{"spec.versionInfo.candidates"}},
		{"duplicate version names", []string{"- name: v2", "- name: v1"}, []string{"spec.versionInfo.candidates[0].name"}},
		{"fieldPath without dot", []string{`fieldPath: ".spec.traffic[1].percent"`, `fieldPath: "spec.traffic[1].percent"`}, []string{"spec.versionInfo.candidates[0].weightObjRef.fieldPath"}},
		{"HTTPRoute weight path", []string{`{apiVersion: serving.knative.dev/v1, kind: Service, name: app, fieldPath: ".spec.traffic[1].percent"}`, `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, name: app, fieldPath: ".spec.rules[0].backendRefs[1].port"}`}, []string{"spec.versionInfo.candidates[0].weightObjRef.fieldPath"}},
		{"fieldPath with bad index", []string{`fieldPath: ".spec.traffic[1].percent"`, `fieldPath: ".spec.traffic[a].percent"`}, []string{"spec.versionInfo.candidates[0].weightObjRef.fieldPath"}},
		{"limit not a number", []string{`upperLimit: "0.01"`, `upperLimit: "low"`}, []string{"spec.criteria.objectives[1].upperLimit"}},
		{"lower above upper", []string{"lowerLimit: 0", "lowerLimit: 1"}, []string{"spec.criteria.objectives[1]"}},
		{"missing metric", []string{"metric: error-rate", `metric: ""`}, []string{"spec.criteria.objectives[1].metric"}},
		{"bad metric reference", []string{"metric: error-rate", "metric: a/b/c"}, []string{"spec.criteria.objectives[1].metric"}},
		{"interval below 1", []string{"intervalSeconds: 5", "intervalSeconds: 0"}, []string{"spec.duration.intervalSeconds"}},
		{"negative iterations", []string{"iterationsPerLoop: 3", "iterationsPerLoop: -1"}, []string{"spec.duration.iterationsPerLoop"}},
		{"canary with reward", []string{"criteria:\n", "criteria:\n    rewards: [{metric: r, preferredDirection: High}]\n"}, []string{"spec.criteria.rewards"}},
		{"unknown task", []string{"task: common/exec", "task: common/bash"}, []string{"spec.strategy.actions.finish[0].task"}},
		{"task and run", []string{"task: common/exec", "task: common/exec\n        run: ls"}, []string{"spec.strategy.actions.finish[0].run", "spec.strategy.actions.finish[0].task"}},
		{"unknown action", []string{"      finish:", "      rollback:"}, []string{"spec.strategy.actions"}},
		{"weight above 100", []string{"maxCandidateWeight: 50", "maxCandidateWeight: 150"}, []string{"spec.strategy.weights.maxCandidateWeight"}},
		{"empty target", []string{"target: default/app", `target: ""`}, []string{"spec.target"}},
		{"two missing weightObjRefs", []string{"      weightObjRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: app, fieldPath: \".spec.traffic[0].percent\"}\n", "", "      weightObjRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: app, fieldPath: \".spec.traffic[1].percent\"}\n", ""}, []string{"spec.versionInfo"}},
		{"version name that is a flag", []string{"- name: v2", "- name: --output=/some/file"}, []string{"spec.versionInfo.candidates[0].name"}},
		{"version name with a space", []string{"name: v1\n", "name: \"v 1\"\n"}, []string{"spec.versionInfo.baseline.name"}},
		{"version name in upper case", []string{"- name: v2", "- name: V2"}, []string{"spec.versionInfo.candidates[0].name"}},
		{"version name with a control character", []string{"- name: v2", "- name: \"v2\\u202e\""}, []string{"spec.versionInfo.candidates[0].name"}},
		{"version name too long", []string{"- name: v2", "- name: " + strings.Repeat("a", 64)}, []string{"spec.versionInfo.candidates[0].name"}},
		{"variable name that is not an identifier", []string{"- name: v2\n", "- name: v2\n      variables: [{name: \"a-b\", value: x}]\n"}, []string{"spec.versionInfo.candidates[0].variables[0].name"}},
		{"variable value too long", []string{"- name: v2\n", "- name: v2\n      variables: [{name: rev, value: " + strings.Repeat("x", 1025) + "}]\n"}, []string{"spec.versionInfo.candidates[0].variables[0].value"}},
		{"iterations overflow int32", []string{"iterationsPerLoop: 3", "iterationsPerLoop: 65536, maxLoops: 65536"}, []string{"spec.duration.iterationsPerLoop"}},
		{"too many iterations", []string{"iterationsPerLoop: 3", "iterationsPerLoop: 10001"}, []string{"spec.duration.iterationsPerLoop"}},
		{"interval above a day", []string{"intervalSeconds: 5", "intervalSeconds: 86401"}, []string{"spec.duration.intervalSeconds"}},
		{"comparison direction", comparison("direction: up", ""), []string{"spec.criteria.comparisons[0].direction"}},
		{"comparison confidence of 1", comparison("direction: increase, confidenceLevel: 1", ""), []string{"spec.criteria.comparisons[0].confidenceLevel"}},
		{"comparison confidence not a number", comparison("direction: increase, confidenceLevel: high", ""), []string{"spec.criteria.comparisons[0].confidenceLevel"}},
		{"comparison negative allowed increase", comparison("direction: increase, allowedIncrease: \"-0.1\"", ""), []string{"spec.criteria.comparisons[0].allowedIncrease"}},
		{"comparison allowed decrease above 100 %", comparison("direction: decrease, allowedDecrease: 2", ""), []string{"spec.criteria.comparisons[0].allowedDecrease"}},
		{"comparison with 2 samples", comparison("direction: increase, minSamples: 2", ""), []string{"spec.criteria.comparisons[0].minSamples"}},
		{"comparison weight of 0", comparison("direction: increase, weight: 0", ""), []string{"spec.criteria.comparisons[0].weight"}},
		{"comparison metric reference", comparison("direction: increase, metric: a/b/c", ""), []string{"spec.criteria.comparisons[0].metric"}},
		{"marginal above pass", comparison("direction: increase", "    scoreThresholds: {marginal: 90, pass: 80}\n"), []string{"spec.criteria.scoreThresholds"}},
		{"score above 100", comparison("direction: increase", "    scoreThresholds: {pass: 101}\n"), []string{"spec.criteria.scoreThresholds.pass"}},
		{"comparison in a conformance test", append(comparison("direction: increase", ""), "testingPattern: Canary", "testingPattern: Conformance", "    candidates:\n    - name: v2\n      weightObjRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: app, fieldPath: \".spec.traffic[1].percent\"}\n", "", "      weightObjRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: app, fieldPath: \".spec.traffic[0].percent\"}\n", ""), []string{"spec.criteria.comparisons"}},
		{"several at once", []string{"intervalSeconds: 5", "intervalSeconds: 0", `upperLimit: "0.01"`, `upperLimit: "low"`}, []string{"spec.criteria.objectives[1].upperLimit", "spec.duration.intervalSeconds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.NewReplacer(tc.replace...).Replace(validCanary)
			fe := decodeOrDie(t, doc).Validate()
			if fe == nil {
				t.Fatalf("Validate() = nil, want errors at %v", tc.want)
			}
			var got []string
			for _, e := range fe.WrappedErrors() {
				got = append(got, e.Paths...)
			}
			sort.Strings(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("field paths (-want +got):\n%s\nerror: %v", diff, fe)
			}
		})
	}
}

func TestValidateMetric(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"prometheus ok", "{provider: prometheus, params: [{name: query, value: up}]}", nil},
		{"mock ok", "{mock: [{name: v1, level: 15}]}", nil},
		{"no url no jq", "{provider: newrelic}", []string{"spec.urlTemplate", "spec.jqExpression"}},
		{"auth without secret", "{provider: prometheus, authType: Bearer}", []string{"spec.secret"}},
		{"bad mock level", "{mock: [{name: v1, level: high}]}", []string{"spec.mock[0].level"}},
		{"bad type", "{provider: prometheus, type: Histogram}", []string{"spec.type"}},
		{"bad policy", "{provider: prometheus, onMissingValue: Guess}", []string{"spec.onMissingValue"}},
		{"duplicate params", "{provider: prometheus, params: [{name: q, value: a}, {name: q, value: b}]}", []string{"spec.params[1].name"}},
		{"jq syntax error", "{provider: newrelic, urlTemplate: 'https://x/q', jqExpression: '.a | ['}", []string{"spec.jqExpression"}},
		{"jq undefined function", "{provider: newrelic, urlTemplate: 'https://x/q', jqExpression: 'nosuch(.a)'}", []string{"spec.jqExpression"}},
		{"file urlTemplate", "{provider: newrelic, urlTemplate: 'file:///etc/passwd', jqExpression: .a}", []string{"spec.urlTemplate"}},
		{"urlTemplate without host", "{provider: newrelic, urlTemplate: 'http:///q', jqExpression: .a}", []string{"spec.urlTemplate"}},
		{"prometheus urlTemplate of another scheme", "{provider: prometheus, urlTemplate: 'gopher://x', params: [{name: query, value: up}]}", []string{"spec.urlTemplate"}},
		{"timeout of a day", "{provider: prometheus, timeoutSeconds: 86400}", []string{"spec.timeoutSeconds"}},
		{"timeout at the bound", "{provider: prometheus, timeoutSeconds: 240}", nil},
		{"timeout of 0", "{provider: prometheus, timeoutSeconds: 0}", []string{"spec.timeoutSeconds"}},
		{"secret of three parts", "{provider: prometheus, authType: Bearer, secret: a/b/c}", []string{"spec.secret"}},
		{"secret with a bad name", "{provider: prometheus, authType: Bearer, secret: ns/Bad_Name}", []string{"spec.secret"}},
		{"secret with a bad namespace", "{provider: prometheus, authType: Bearer, secret: ../creds}", []string{"spec.secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := DecodeDocuments(strings.NewReader("apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: m}\nspec: " + tc.spec + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range docs[0].Metric.Validate().WrappedErrors() {
				got = append(got, e.Paths...)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("field paths (-want +got):\n%s", diff)
			}
		})
	}
}
