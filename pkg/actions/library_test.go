package actions

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// The API accepts exactly the tasks this package implements.
func TestLibraryImplementsKnownTasks(t *testing.T) {
	var implemented []string
	for name := range library {
		implemented = append(implemented, name)
	}
	if diff := cmp.Diff(v2alpha1.KnownTasks, implemented, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("v2alpha1.KnownTasks vs the library (-known +implemented):\n%s", diff)
	}
}
