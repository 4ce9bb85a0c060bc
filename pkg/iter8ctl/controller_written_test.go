package iter8ctl

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// An Experiment an early controller wrote is described, with the fields iter8ctl ignored
// named once on standard error; validate still refuses it, naming the field (issue 20).
func TestControllerWrittenExperiment(t *testing.T) {
	const file = "../describe/testdata/controller/v2alpha1-2020-12-canary-running.yaml"
	got := runMain([]string{"describe", "-f", "-"}, mustRead(t, file))
	want := result{
		code:   ExitOK,
		stdout: mustRead(t, "../describe/testdata/controller/v2alpha1-2020-12-canary-running.golden"),
		stderr: "Warning: stdin: ignored 1 field that this iter8ctl does not read: spec.strategy.handlers\n",
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(result{})); d != "" {
		t.Errorf("describe (-want +got):\n%s", d)
	}

	got = runMain([]string{"assert", "-f", file, "-c", "winnerFound", "-c", "candidateWon"}, "")
	want = result{
		code:   ExitOK,
		stdout: "All conditions satisfied.\n",
		stderr: "Warning: " + file + ": ignored 1 field that this iter8ctl does not read: spec.strategy.handlers\n",
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(result{})); d != "" {
		t.Errorf("assert (-want +got):\n%s", d)
	}

	got = runMain([]string{"validate", "-f", file}, "")
	if got.code != ExitError || !cmp.Equal(got.stdout, file+`: document 0: decoding Experiment: unknown field "spec.metrics"; unknown field "spec.strategy.handlers"; unknown field "spec.strategy.type"; unknown field "spec.strategy.weights.algorithm"`+"\n") {
		t.Errorf("validate must stay strict; got %+v", got)
	}
}
