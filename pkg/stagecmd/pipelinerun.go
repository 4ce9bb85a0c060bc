package stagecmd

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var pipelineRunGVR = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}

// pipelineRunStart returns when the PipelineRun ns/name started: its status.startTime,
// else its creation time, which the controller's start follows closely.
func pipelineRunStart(ctx context.Context, dyn dynamic.Interface, ns, name string) (time.Time, error) {
	ref := ns + "/" + name
	u, err := dyn.Resource(pipelineRunGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the start of PipelineRun %s: %w", ref, err)
	}
	s, found, err := unstructured.NestedString(u.Object, "status", "startTime")
	if err != nil || !found || s == "" {
		return u.GetCreationTimestamp().Time, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("PipelineRun %s: status.startTime %q: %w", ref, s, err)
	}
	return t, nil
}
