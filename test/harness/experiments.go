package harness

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// ExperimentFrom converts an experiment read with the dynamic client to the typed one,
// through JSON so that the types' own decoders (Number) run.
func ExperimentFrom(u *unstructured.Unstructured) (*v2alpha1.Experiment, error) {
	b, err := u.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding experiment: %w", err)
	}
	exp := &v2alpha1.Experiment{}
	if err := json.Unmarshal(b, exp); err != nil {
		return nil, fmt.Errorf("decoding experiment %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return exp, nil
}

// UnstructuredExperiment converts a typed experiment for the dynamic client.
func UnstructuredExperiment(exp *v2alpha1.Experiment) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(exp)
	if err != nil {
		return nil, fmt.Errorf("encoding experiment: %w", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("decoding experiment: %w", err)
	}
	if u.GetAPIVersion() == "" {
		u.SetAPIVersion(v2alpha1.SchemeGroupVersion.String())
		u.SetKind("Experiment")
	}
	return u, nil
}
