package traffic

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

func obj(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	// Through JSON into unstructured, so that integers are int64 as from the apiserver.
	js, err := sigsyaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatalf("decoding %s: %v", manifest, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatalf("decoding %s: %v", manifest, err)
	}
	return u
}

func TestRevisionReadyFromRevision(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     bool
		wantMsg  string
	}{{
		name: "ready",
		manifest: `{apiVersion: serving.knative.dev/v1, kind: Revision, metadata: {name: sample-app-v2, namespace: default, generation: 1},
 status: {observedGeneration: 1, conditions: [{type: Active, status: "False"}, {type: Ready, status: "True"}]}}`,
		want: true, wantMsg: "revision default/sample-app-v2 is ready",
	}, {
		name: "failed",
		manifest: `{apiVersion: serving.knative.dev/v1, kind: Revision, metadata: {name: sample-app-v2, namespace: default},
 status: {conditions: [{type: Ready, status: "False", reason: ContainerMissing, message: "image not found"}]}}`,
		wantMsg: "revision default/sample-app-v2 is not ready: Ready=False ContainerMissing: image not found",
	}, {
		name:     "no conditions",
		manifest: `{apiVersion: serving.knative.dev/v1, kind: Revision, metadata: {name: r, namespace: ns}}`,
		wantMsg:  "revision ns/r has no Ready condition yet",
	}, {
		name: "stale status",
		manifest: `{apiVersion: serving.knative.dev/v1, kind: Revision, metadata: {name: r, namespace: ns, generation: 2},
 status: {observedGeneration: 1, conditions: [{type: Ready, status: "True"}]}}`,
		wantMsg: "revision ns/r: status is of generation 1, the revision is at 2",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := RevisionReadyFromRevision(obj(t, tc.manifest))
			if got != tc.want {
				t.Errorf("ready = %v, want %v (%s)", got, tc.want, msg)
			}
			if diff := cmp.Diff(tc.wantMsg, msg); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRevisionReadyFromServices(t *testing.T) {
	svc := obj(t, `{apiVersion: serving.knative.dev/v1, kind: Service, metadata: {name: sample-app, namespace: default},
 status: {latestCreatedRevisionName: sample-app-v3, latestReadyRevisionName: sample-app-v2,
  conditions: [{type: Ready, status: "Unknown", message: "Revision sample-app-v3 is deploying"}],
  traffic: [{revisionName: sample-app-v1, percent: 100}, {revisionName: sample-app-v2, latestRevision: true, percent: 0}]}}`)
	other := obj(t, `{apiVersion: serving.knative.dev/v1, kind: Service, metadata: {name: other, namespace: default}}`)
	svcs := []unstructured.Unstructured{*other, *svc}
	tests := []struct {
		revision  string
		wantReady bool
		wantFound bool
		wantMsg   string
	}{
		{revision: "sample-app-v2", wantReady: true, wantFound: true, wantMsg: "revision sample-app-v2 is the latest ready revision of Knative Service default/sample-app"},
		{revision: "sample-app-v1", wantReady: true, wantFound: true, wantMsg: "revision sample-app-v1 is routed by Knative Service default/sample-app"},
		{revision: "sample-app-v3", wantFound: true, wantMsg: "revision sample-app-v3 is the latest created revision of Knative Service default/sample-app but not ready yet: Revision sample-app-v3 is deploying"},
		{revision: "sample-app-v9"},
	}
	for _, tc := range tests {
		t.Run(tc.revision, func(t *testing.T) {
			ready, msg, found := RevisionReadyFromServices(svcs, tc.revision)
			if ready != tc.wantReady || found != tc.wantFound {
				t.Errorf("ready, found = %v, %v; want %v, %v (%s)", ready, found, tc.wantReady, tc.wantFound, msg)
			}
			if diff := cmp.Diff(tc.wantMsg, msg); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}
