package describe

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gotest.tools/v3/golden"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// seedOutput is the iter8ctl output block of the seed tutorial
// (shared/seed/000_2548c7d357aeaaf1.txt, "5. Observe experiment"), with the tutorial's
// 8-space indentation removed. It is the compatibility contract: it is never regenerated.
const seedOutput = `****** Overview ******
Experiment name: mirroring
Experiment namespace: default
Target: default/sample-app
Testing pattern: Conformance
Deployment pattern: Progressive

****** Progress Summary ******
Experiment stage: Completed
Number of completed iterations: 7

****** Winner Assessment ******
Winning version: not found
Recommended baseline: current

****** Objective Assessment ******
+--------------------------------+---------+
|           OBJECTIVE            | CURRENT |
+--------------------------------+---------+
| mean-latency <= 50.000         | true    |
+--------------------------------+---------+
| 95th-percentile-tail-latency   | true    |
| <= 100.000                     |         |
+--------------------------------+---------+
| error-rate <= 0.010            | true    |
+--------------------------------+---------+

****** Metrics Assessment ******
+--------------------------------+---------+
|             METRIC             | CURRENT |
+--------------------------------+---------+
| request-count                  | 136.084 |
+--------------------------------+---------+
| mean-latency (milliseconds)    |   0.879 |
+--------------------------------+---------+
| 95th-percentile-tail-latency   |   4.835 |
| (milliseconds)                 |         |
+--------------------------------+---------+
| error-rate                     |   0.000 |
+--------------------------------+---------+
`

func readExperiment(t *testing.T, name string) *v2alpha1.Experiment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	exp, err := v2alpha1.DecodeExperiment(b)
	if err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return exp
}

func TestSeedIsReproducedExactly(t *testing.T) {
	exp := readExperiment(t, "seed-experiment.yaml")
	var out bytes.Buffer
	if err := Write(&out, exp, FormatText); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(seedOutput, out.String()); d != "" {
		t.Errorf("describe differs from the seed (-want +got):\n%s", d)
	}
	// The golden file is the same block, kept by hand; -update must not be able to rewrite
	// the contract, so it is compared here rather than through golden.Assert.
	want, err := os.ReadFile(filepath.Join("testdata", "seed.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), out.String()); d != "" {
		t.Errorf("describe differs from testdata/seed.golden (-want +got):\n%s", d)
	}
}

func TestGolden(t *testing.T) {
	for _, name := range []string{
		"canary-rollback",
		"ab-rewards",
		"v2alpha2",
		"missing-values",
		"not-started",
		"failed-at-init",
		"aborted",
		"reward-infeasible",
		// iter8ctl run of examples/progressive.yaml: the weights' history.
		"progressive-history",
	} {
		t.Run(name, func(t *testing.T) {
			exp := readExperiment(t, name+".yaml")
			var out bytes.Buffer
			if err := Write(&out, exp, FormatText); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, out.String(), name+".golden")
		})
	}
}
