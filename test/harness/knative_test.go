package harness_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/test/harness"
)

func objects(t *testing.T, docs string) []unstructured.Unstructured {
	t.Helper()
	var out []unstructured.Unstructured
	for _, d := range strings.Split(docs, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, unstructured.Unstructured{Object: m})
	}
	return out
}

// The seed's routing rules send customdomain.com to sample-app-v1 and its mirror to
// sample-app-v2: what the e2e load generator follows in TestSeedMirroring.
func TestMeshRouteSeed(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "test", "integration", "testdata", "routing-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	vss := objects(t, string(b))
	primary, mirrored, err := harness.MeshRoute(vss, "default", "customdomain.com")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"sample-app-v1", "sample-app-v2"}, []string{primary, mirrored}); d != "" {
		t.Errorf("MeshRoute (-want +got):\n%s", d)
	}
	// Without the mirror, only the primary.
	unstructured.RemoveNestedField(vss[0].Object, "spec", "http")
	unstructured.SetNestedSlice(vss[0].Object, []any{map[string]any{"route": []any{map[string]any{}}}}, "spec", "http")
	primary, mirrored, err = harness.MeshRoute(vss, "default", "customdomain.com")
	if err != nil || primary != "sample-app-v1" || mirrored != "" {
		t.Errorf("MeshRoute without mirror = %q, %q, %v; want sample-app-v1, \"\", nil", primary, mirrored, err)
	}
	for _, tc := range []struct{ ns, authority, want string }{
		{"default", "other.com", "no VirtualService for host other.com"},
		{"elsewhere", "customdomain.com", "not to a revision in elsewhere"},
	} {
		if _, _, err := harness.MeshRoute(vss, tc.ns, tc.authority); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MeshRoute(%s, %s) error = %v, want it to say %q", tc.ns, tc.authority, err, tc.want)
		}
	}
}

func TestKIngressSplits(t *testing.T) {
	ing := objects(t, `apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata:
  name: sample-app
spec:
  rules:
  - hosts: [sample-app.e2e-canary.svc.cluster.local]
    visibility: ClusterLocal
    http:
      paths:
      - splits:
        - serviceName: sample-app-v1
          serviceNamespace: e2e-canary
          servicePort: 80
          percent: 80
        - serviceName: sample-app-v2
          serviceNamespace: e2e-canary
          servicePort: 80
          percent: 20
`)[0]
	splits := harness.KIngressSplits(&ing)
	if d := cmp.Diff([]harness.Split{{Revision: "sample-app-v1", Percent: 80}, {Revision: "sample-app-v2", Percent: 20}}, splits); d != "" {
		t.Errorf("KIngressSplits (-want +got):\n%s", d)
	}
	got := map[string]int{}
	for n := 0; n < 300; n++ {
		got[harness.SplitTarget(splits, n)]++
	}
	if d := cmp.Diff(map[string]int{"sample-app-v1": 240, "sample-app-v2": 60}, got); d != "" {
		t.Errorf("targets of 300 requests (-want +got):\n%s", d)
	}
	if got := harness.SplitTarget([]harness.Split{{Revision: "a", Percent: 50}}, 75); got != "" {
		t.Errorf("SplitTarget beyond the percentages = %q, want \"\"", got)
	}
	if got := harness.KIngressSplits(&unstructured.Unstructured{Object: map[string]any{}}); got != nil {
		t.Errorf("KIngressSplits of an empty KIngress = %v, want nil", got)
	}
}
