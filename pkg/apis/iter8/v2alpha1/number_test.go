package v2alpha1

import (
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
