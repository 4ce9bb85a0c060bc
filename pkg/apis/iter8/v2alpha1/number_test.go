package v2alpha1

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNumbersCompareWithoutReflectionPanics: go-cmp panics on a struct with unexported
// fields unless it has an Equal method; specs that hold limits are compared in tests and
// must not panic there.
func TestNumbersCompareWithoutReflectionPanics(t *testing.T) {
	a := Criteria{Objectives: []Objective{{Metric: "m", UpperLimit: ParseNumber("0.01")}}}
	b := a.DeepCopy()
	if diff := cmp.Diff(a, *b); diff != "" {
		t.Errorf("a copy differs (-want +got):\n%s", diff)
	}
	b.Objectives[0].UpperLimit = ParseNumber("0.010")
	if cmp.Equal(a, *b) {
		t.Errorf("0.01 and 0.010 compare equal: they were written differently")
	}
}

// TestDuplicateKeysAreErrors: with two equal keys the last used to win silently; the strict
// decoder refuses them and names the key and its line.
func TestDuplicateKeysAreErrors(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: iter8.tools/v2alpha2\nkind: Experiment\nmetadata: {name: e}\nspec:\n  target: a\n  target: b\n",
		"apiVersion: iter8.tools/v2alpha2\nkind: Experiment\nmetadata: {name: e}\nspec:\n  versionInfo: {baseline: {name: v1, name: v2}}\n",
		"apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: m}\nspec:\n  type: Gauge\n  type: Counter\n",
	} {
		_, err := DecodeDocuments(strings.NewReader(doc))
		if err == nil || !strings.Contains(err.Error(), "already set") {
			t.Errorf("DecodeDocuments(%q) = %v, want a duplicate key error", doc, err)
		}
	}
}
