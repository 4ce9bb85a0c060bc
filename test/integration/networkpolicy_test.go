package integration

import (
	"context"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// TestExampleNetworkPolicyIsValid: the egress allowlist docs/security.md points to is
// accepted by the API server as it ships.
func TestExampleNetworkPolicyIsValid(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	objs := readObjects(t, filepath.Join(root, "config", "examples", "networkpolicy-stages.yaml"))
	if len(objs) != 1 || objs[0].GetKind() != "NetworkPolicy" {
		t.Fatalf("got %d objects, want one NetworkPolicy", len(objs))
	}
	r := e.dyn.Resource(schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}).Namespace(ns)
	if _, err := r.Create(context.Background(), objs[0], metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
		t.Fatalf("creating the example NetworkPolicy: %v", err)
	}
}
