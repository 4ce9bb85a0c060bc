package describe

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gotest.tools/v3/golden"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// The corpus of testdata/controller holds Experiments as iter8's own v2 controllers wrote
// them, v2alpha1 and v2alpha2 from December 2020 to October 2021, in every testing
// pattern and in several stages (issue 20). Each file says which release and shape it
// stands for.
const corpusDir = "testdata/controller"

func corpus(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("the corpus has %d Experiments, want at least 10", len(files))
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	return names
}

func readControllerWritten(t *testing.T, name string) *v2alpha1.Experiment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	exp, _, err := v2alpha1.ReadExperiment(b)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return exp
}

// Every controller-written Experiment is described; go test ./pkg/describe/ -update
// rewrites the golden files.
func TestControllerWrittenGolden(t *testing.T) {
	for _, name := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Write(&out, readControllerWritten(t, name), FormatText); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, out.String(), filepath.Join("controller", name+".golden"))
		})
	}
}

// The facts iter8ctl of the time printed, checked apart from the layout: stage, completed
// iterations, winner, recommended version, every verdict and the number of metric rows.
func TestControllerWrittenFacts(t *testing.T) {
	type facts struct {
		Stage       string
		Completed   int32
		Winner      string
		Recommended string
		Verdicts    []string
		Metrics     int
	}
	want := map[string]facts{
		"v2alpha1-2020-12-canary-running": {
			Completed: 4, Winner: "canary", Recommended: "canary",
			Verdicts: []string{"default true", "canary true", "default true", "canary true"}, Metrics: 4,
		},
		"v2alpha1-2020-12-canary-completed": {
			Completed: 10, Recommended: "default",
			Verdicts: []string{"default true", "canary true", "default true", "canary true"}, Metrics: 4,
		},
		"v2alpha1-2021-01-fixedsplit": {
			Completed: 5, Winner: "reviews-v2", Recommended: "reviews-v2",
			Verdicts: []string{"reviews-v2 true", "reviews-v3 true", "reviews-v2 true", "reviews-v3 false"}, Metrics: 3,
		},
		"v2alpha1-2021-02-canary-knative": {
			Stage: "Completed", Completed: 8, Winner: "sample-application-v2", Recommended: "sample-application-v2",
			Verdicts: []string{"sample-application-v1 true", "sample-application-v2 true", "sample-application-v1 true", "sample-application-v2 true"}, Metrics: 3,
		},
		"v2alpha1-2021-03-conformance-init": {
			Stage: "Completed", Completed: 10, Winner: "current", Recommended: "current",
			Verdicts: []string{"current true", "current true", "current true"}, Metrics: 4,
		},
		"v2alpha2-2021-03-conformance-spec-metrics": {
			Stage: "Completed", Completed: 10, Winner: "current", Recommended: "current",
			Verdicts: []string{"current true", "current true", "current true"}, Metrics: 4,
		},
		"v2alpha2-2021-04-canary-exec-running": {
			Stage: "Running", Completed: 3, Winner: "productpage-v2", Recommended: "productpage-v2",
			Verdicts: []string{"productpage-v1 true", "productpage-v2 true", "productpage-v1 true", "productpage-v2 true"}, Metrics: 3,
		},
		"v2alpha2-2021-05-ab-condition": {
			Stage: "Completed", Completed: 10, Winner: "sample-app-v2", Recommended: "sample-app-v2",
			Verdicts: []string{"sample-app-v1 true", "sample-app-v2 true", "sample-app-v1 true", "sample-app-v2 true"}, Metrics: 4,
		},
		"v2alpha2-2021-07-abn-builtin": {
			Stage: "Completed", Completed: 3, Recommended: "backend-v1",
			Verdicts: []string{"backend-v1 true", "backend-v2 false", "backend-v3 true", "backend-v1 true", "backend-v2 false", "backend-v3 false"}, Metrics: 4,
		},
		"v2alpha2-2021-09-canary-failed": {
			Stage:    "Completed",
			Verdicts: []string{"productpage-v1 unavailable", "productpage-v2 unavailable", "productpage-v1 unavailable", "productpage-v2 unavailable"}, Metrics: 3,
		},
		"v2alpha2-2021-10-bluegreen-rollback-list": {
			Stage: "Completed", Completed: 2, Winner: "app-v1", Recommended: "app-v1",
			Verdicts: []string{"app-v1 true", "app-v2 true", "app-v1 true", "app-v2 false"}, Metrics: 3,
		},
	}
	for _, name := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no facts written down for %s", name)
			}
			s := Summarize(readControllerWritten(t, name))
			got := facts{Stage: s.Stage, Completed: s.CompletedIterations, Winner: s.Winner, Recommended: s.RecommendedVersion, Metrics: len(s.Metrics)}
			for _, o := range s.Objectives {
				for _, v := range o.Verdicts {
					verdict := Unavailable
					if v.Satisfied != nil {
						verdict = map[bool]string{true: "true", false: "false"}[*v.Satisfied]
					}
					got.Verdicts = append(got.Verdicts, v.Version+" "+verdict)
				}
			}
			for _, m := range s.Metrics {
				for _, v := range m.Values {
					if v.Value == nil && s.CompletedIterations > 0 {
						t.Errorf("metric %s has no value for %s: %s", m.Name, v.Version, v.Reason)
					}
				}
			}
			if d := cmp.Diff(w, got); d != "" {
				t.Errorf("facts (-want +got):\n%s", d)
			}
		})
	}
}

// assert reads the corpus the same way, old condition names included.
func TestControllerWrittenAssert(t *testing.T) {
	for _, tc := range []struct {
		name      string
		satisfied []Condition
		unmet     []Condition
	}{{
		name:      "v2alpha1-2020-12-canary-running",
		satisfied: []Condition{ConditionNoFailure, ConditionWinnerFound, ConditionCandidateWon},
		unmet:     []Condition{ConditionCompleted, ConditionBaselineWon},
	}, {
		name:      "v2alpha1-2020-12-canary-completed",
		satisfied: []Condition{ConditionCompleted, ConditionNoFailure},
		unmet:     []Condition{ConditionWinnerFound, ConditionCandidateWon},
	}, {
		name:      "v2alpha1-2021-01-fixedsplit",
		satisfied: []Condition{ConditionCompleted, ConditionNoFailure, ConditionBaselineWon},
		unmet:     []Condition{ConditionCandidateWon},
	}, {
		name:      "v2alpha1-2021-02-canary-knative",
		satisfied: []Condition{ConditionCompleted, ConditionNoFailure, ConditionCandidateWon},
	}, {
		name:      "v2alpha1-2021-03-conformance-init",
		satisfied: []Condition{ConditionCompleted, ConditionNoFailure, ConditionWinnerFound, ConditionBaselineWon},
	}, {
		name:      "v2alpha2-2021-03-conformance-spec-metrics",
		satisfied: []Condition{ConditionCompleted, ConditionNoFailure, ConditionWinnerFound, ConditionBaselineWon},
	}, {
		name:      "v2alpha2-2021-04-canary-exec-running",
		satisfied: []Condition{ConditionNoFailure, ConditionCandidateWon},
		unmet:     []Condition{ConditionCompleted},
	}, {
		name:      "v2alpha2-2021-05-ab-condition",
		satisfied: []Condition{ConditionCompleted, ConditionNoFailure, ConditionCandidateWon},
	}, {
		name:      "v2alpha2-2021-07-abn-builtin",
		satisfied: []Condition{ConditionCompleted, ConditionNoFailure},
		unmet:     []Condition{ConditionWinnerFound},
	}, {
		name:      "v2alpha2-2021-09-canary-failed",
		satisfied: []Condition{ConditionCompleted},
		unmet:     []Condition{ConditionNoFailure, ConditionWinnerFound},
	}, {
		name:      "v2alpha2-2021-10-bluegreen-rollback-list",
		satisfied: []Condition{ConditionCompleted, ConditionNoFailure, ConditionBaselineWon},
		unmet:     []Condition{ConditionCandidateWon},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			exp := readControllerWritten(t, tc.name)
			if err := Assert(exp, tc.satisfied); err != nil {
				t.Errorf("Assert(%v) = %v, want nil", tc.satisfied, err)
			}
			for _, c := range tc.unmet {
				if Check(exp, c) == "" {
					t.Errorf("condition %s holds, want it unmet", c)
				}
			}
		})
	}
}
