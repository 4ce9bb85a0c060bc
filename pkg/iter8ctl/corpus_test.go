package iter8ctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/golden"
)

// TestCorpus describes and asserts Experiments as iter8's controllers wrote them, v2alpha1
// and v2alpha2 across releases, stages and testing patterns (testdata/corpus): describe
// reads each (fields it does not know are named once on standard error), its report is
// the golden file's, and assert judges each as its status says.
func TestCorpus(t *testing.T) {
	// hold are the conditions that hold; every other condition of assert's must not.
	hold := map[string][]string{
		"01-v2alpha1-canary-progressive-running.yaml": {"noFailure", "winnerFound", "candidateWon"},
		"02-v2alpha1-conformance-completed.yaml":      {"completed", "noFailure", "winnerFound", "baselineWon"},
		"03-v2alpha2-early-canary-spec-metrics.yaml":  {"completed", "noFailure", "winnerFound", "candidateWon"},
		"04-v2alpha2-ab-reward-completed.yaml":        {"completed", "noFailure", "winnerFound", "candidateWon"},
		"05-v2alpha2-abn-running.yaml":                {"noFailure"},
		"06-v2alpha2-bluegreen-failed.yaml":           {"completed"},
		"07-v2alpha2-conformance-initializing.yaml":   {"noFailure"},
		"08-v2alpha2-canary-no-winner.yaml":           {"completed", "noFailure", "winnerFound", "baselineWon"},
		"09-v2alpha2-later-controller-fields.yaml":    {"completed", "noFailure", "winnerFound", "baselineWon"},
		"10-v2alpha1-list-canary-completed.yaml":      {"completed", "noFailure", "winnerFound", "candidateWon"},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("the corpus has %d Experiments, want at least 10", len(files))
	}
	all := []string{"completed", "noFailure", "winnerFound", "candidateWon", "baselineWon"}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			r := runMain([]string{"describe", "-f", f}, "")
			if r.code != ExitOK {
				t.Fatalf("describe: exit %d: %s", r.code, r.stderr)
			}
			golden.Assert(t, r.stdout, filepath.Join("corpus", strings.TrimSuffix(name, ".yaml")+".golden"))
			if n := strings.Count(r.stderr, "warning:"); n > 1 {
				t.Errorf("describe warned %d times, want at most once:\n%s", n, r.stderr)
			}
			want, ok := hold[name]
			if !ok {
				t.Fatalf("%s: no expected assert outcome in the table", name)
			}
			for _, c := range all {
				r := runMain([]string{"assert", "-f", f, "-c", c}, "")
				holds := r.code == ExitOK
				if expected := contains(want, c); holds != expected {
					t.Errorf("assert -c %s: exit %d, want the condition to hold: %v\n%s%s", c, r.code, expected, r.stdout, r.stderr)
				}
			}
		})
	}
	// validate stays strict: a controller's object is not authoring input.
	b, err := os.ReadFile(filepath.Join("testdata", "corpus", "01-v2alpha1-canary-progressive-running.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if r := runMain([]string{"validate", "-f", "-"}, string(b)); r.code == ExitOK || !strings.Contains(r.stdout+r.stderr, `unknown field "spec.metrics"`) {
		t.Errorf("validate of a controller-written v2alpha1 object: exit %d, want it to name spec.metrics:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
