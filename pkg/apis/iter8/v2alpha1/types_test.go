package v2alpha1

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func TestSeedDecodesStrictlyAndRoundTrips(t *testing.T) {
	b, err := os.ReadFile("testdata/seed-experiment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := DecodeExperiment(b)
	if err != nil {
		t.Fatalf("decoding the seed: %v", err)
	}
	if fe := exp.Validate(); fe != nil {
		t.Fatalf("the seed does not validate: %v", fe)
	}
	if got := exp.Spec.Strategy.Actions[ActionStart][0].Name(); got != "knative/init-experiment" {
		t.Errorf("start task = %q, want knative/init-experiment", got)
	}
	if got := exp.Spec.TotalIterations(); got != 7 {
		t.Errorf("total iterations = %d, want 7", got)
	}
	limits := map[string]float64{}
	for _, o := range exp.Spec.Objectives() {
		f, err := o.UpperLimit.Float()
		if err != nil {
			t.Fatal(err)
		}
		limits[o.Metric] = f
	}
	if diff := cmp.Diff(map[string]float64{"mean-latency": 50, "95th-percentile-tail-latency": 100, "error-rate": 0.01}, limits); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}

	// Round trip: encoding and decoding again gives the same object, with the limits
	// written as they were (50 as a number, "0.01" as a string).
	out, err := yaml.Marshal(exp)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeExperiment(out)
	if err != nil {
		t.Fatalf("decoding the encoded seed: %v\n%s", err, out)
	}
	if diff := cmp.Diff(exp, again, cmp.AllowUnexported(Number{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, want := range []string{"upperLimit: 50\n", "upperLimit: \"0.01\"\n", "library: knative\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("encoded seed lacks %q:\n%s", want, out)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown field", "apiVersion: iter8.tools/v2alpha1\nkind: Experiment\nmetadata: {name: x}\nspec: {target: a, strategy: {testingPattern: Conformance}, bogus: 1}\n", `unknown field "spec.bogus"`},
		{"wrong apiVersion", "apiVersion: iter8.tools/v1\nkind: Experiment\nmetadata: {name: x}\n", `apiVersion "iter8.tools/v1" is not`},
		{"wrong kind", "apiVersion: iter8.tools/v2alpha2\nkind: Pod\nmetadata: {name: x}\n", `kind "Pod" is not Experiment or Metric`},
		{"no experiment", "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: m}\nspec: {provider: prometheus}\n", "no Experiment found"},
		{"limit is an object", "apiVersion: iter8.tools/v2alpha2\nkind: Experiment\nmetadata: {name: x}\nspec: {target: a, strategy: {testingPattern: Conformance}, criteria: {objectives: [{metric: m, upperLimit: {a: 1}}]}}\n", "neither a number nor a string"},
		{"two experiments", "apiVersion: iter8.tools/v2alpha2\nkind: Experiment\nmetadata: {name: x}\nspec: {target: a, strategy: {testingPattern: Conformance}}\n---\napiVersion: iter8.tools/v2alpha2\nkind: Experiment\nmetadata: {name: second}\nspec: {target: a, strategy: {testingPattern: Conformance}}\n", "more than one Experiment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeExperiment([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		json string
		want float64
	}{
		{`50`, 50}, {`"0.01"`, 0.01}, {`"10m"`, 0.01}, {`0.5`, 0.5}, {`"1e3"`, 1000}, {`-2`, -2},
	} {
		var n Number
		if err := json.Unmarshal([]byte(tc.json), &n); err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		got, err := n.Float()
		if err != nil || got != tc.want {
			t.Errorf("%s: Float() = %v, %v; want %v", tc.json, got, err, tc.want)
		}
		b, _ := json.Marshal(n)
		if string(b) != tc.json {
			t.Errorf("%s: re-encoded as %s", tc.json, b)
		}
	}
	for _, bad := range []string{`"fast"`, `"NaN"`, `"+Inf"`, `""`} {
		var n Number
		if err := json.Unmarshal([]byte(bad), &n); err != nil {
			t.Fatalf("%s: decoding must keep the text for Validate: %v", bad, err)
		}
		if _, err := n.Float(); err == nil {
			t.Errorf("%s: Float() succeeded, want an error", bad)
		}
	}
}
