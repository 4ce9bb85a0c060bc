package v2alpha1

import (
	"strings"
	"testing"
)

// TestErrorsQuoteBoundedValues: an Experiment or a Metric whose strings are a megabyte
// each is rejected with errors that name each field and quote at most a bounded excerpt.
func TestErrorsQuoteBoundedValues(t *testing.T) {
	huge := strings.Repeat("Z", 1<<20)
	exp := strings.NewReplacer("HUGE", huge).Replace(`apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: HUGE, namespace: HUGE}
spec:
  target: HUGE
  strategy: {testingPattern: HUGE, deploymentPattern: HUGE}
  criteria:
    objectives: [{metric: HUGE, upperLimit: 1}]
    rewards: [{metric: m, preferredDirection: HUGE}]
    indicators: [HUGE]
  versionInfo:
    baseline: {name: HUGE, variables: [{name: HUGE, value: HUGE}]}
`)
	metric := strings.NewReplacer("HUGE", huge).Replace(`apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: HUGE, namespace: HUGE}
spec: {type: HUGE, authType: HUGE, secret: HUGE, method: HUGE, onMissingValue: HUGE, provider: prometheus, mock: [{name: v, level: HUGE}]}
`)
	for name, doc := range map[string]string{"experiment": exp, "metric": metric} {
		docs, err := DecodeDocuments(strings.NewReader(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var msg string
		var n int
		if d := docs[0]; d.Experiment != nil {
			ferr := d.Experiment.Validate()
			msg, n = ferr.Error(), len(ferr.WrappedErrors())
		} else {
			ferr := d.Metric.Validate()
			msg, n = ferr.Error(), len(ferr.WrappedErrors())
		}
		if n < 5 {
			t.Errorf("%s: %d errors, want one per field:\n%s", name, n, msg)
		}
		if len(msg) > 8192 {
			t.Errorf("%s: the errors are %d bytes: a value was quoted whole", name, len(msg))
		}
		if strings.Contains(msg, strings.Repeat("Z", 65)) {
			t.Errorf("%s: an error quotes more than 64 bytes of a value", name)
		}
	}
}

// TestNumberErrorsNameTheField: a limit or a level written as an object or a list is an
// error that names its field.
func TestNumberErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"kind: Experiment\nmetadata: {name: e}\nspec:\n  target: t\n  criteria:\n    objectives: [{metric: a, upperLimit: 1}, {metric: m, upperLimit: {value: 5}}]\n",
			`decoding Experiment: spec.criteria.objectives[1].upperLimit: {"value":5} is neither a number nor a string`},
		{"kind: Metric\nmetadata: {name: m}\nspec: {mock: [{name: v1, level: [1, 2]}]}\n",
			`decoding Metric: spec.mock[0].level: [1,2] is neither a number nor a string`},
		{"kind: Experiment\nmetadata: {name: e}\nspec:\n  target: t\n  criteria:\n    objectives: [{metric: m, lowerLimit: true}]\n",
			`decoding Experiment: spec.criteria.objectives[0].lowerLimit: true is neither a number nor a string`},
	} {
		_, err := DecodeDocuments(strings.NewReader("apiVersion: iter8.tools/v2alpha2\n" + tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to contain %q", err, tc.want)
		}
	}
}
