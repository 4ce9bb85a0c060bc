package traffic

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

func i32(v int32) *int32 { return &v }

func TestCompleteWeights(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		known []*int32
		want  []v2alpha1.WeightData
	}{{
		name:  "all known",
		names: []string{"v1", "v2"},
		known: []*int32{i32(70), i32(30)},
		want:  []v2alpha1.WeightData{{Name: "v1", Value: 70}, {Name: "v2", Value: 30}},
	}, {
		name:  "candidate computed",
		names: []string{"v1", "v2"},
		known: []*int32{i32(75), nil},
		want:  []v2alpha1.WeightData{{Name: "v1", Value: 75}, {Name: "v2", Value: 25}},
	}, {
		// etc3 appended the computed weight at the end; here it keeps its place.
		name:  "baseline computed keeps version order",
		names: []string{"v1", "v2", "v3"},
		known: []*int32{nil, i32(10), i32(20)},
		want:  []v2alpha1.WeightData{{Name: "v1", Value: 70}, {Name: "v2", Value: 10}, {Name: "v3", Value: 20}},
	}, {
		name:  "single version without ref",
		names: []string{"current"},
		known: []*int32{nil},
		want:  []v2alpha1.WeightData{{Name: "current", Value: 100}},
	}, {
		name:  "known weights are reported as they are",
		names: []string{"v1", "v2"},
		known: []*int32{i32(100), i32(100)},
		want:  []v2alpha1.WeightData{{Name: "v1", Value: 100}, {Name: "v2", Value: 100}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CompleteWeights(tc.names, tc.known)
			if err != nil {
				t.Fatalf("CompleteWeights: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CompleteWeights (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompleteWeightsErrors(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		known []*int32
		want  error
	}{
		{name: "two missing", names: []string{"v1", "v2", "v3"}, known: []*int32{i32(50), nil, nil}, want: ErrInsufficientRefs},
		{name: "sum above 100", names: []string{"v1", "v2", "v3"}, known: []*int32{i32(80), i32(30), nil}, want: ErrInconsistentWeights},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CompleteWeights(tc.names, tc.known)
			if !errors.Is(err, tc.want) {
				t.Errorf("CompleteWeights = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func ref(apiVersion, kind, name, fieldPath string) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: apiVersion, Kind: kind, Name: name, FieldPath: fieldPath}
}

func experiment(ns string, baseline v2alpha1.VersionDetail, candidates ...v2alpha1.VersionDetail) *v2alpha1.Experiment {
	return &v2alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "exp", Namespace: ns},
		Spec: v2alpha1.ExperimentSpec{
			Target:      ns + "/sample-app",
			VersionInfo: &v2alpha1.VersionInfo{Baseline: baseline, Candidates: candidates},
		},
	}
}

func ksvcRef(i int) *corev1.ObjectReference {
	return ref("serving.knative.dev/v1", "Service", "sample-app", ".spec.traffic["+string(rune('0'+i))+"].percent")
}

func TestGroupPatches(t *testing.T) {
	exp := experiment("ns",
		v2alpha1.VersionDetail{Name: "v1", WeightObjRef: ksvcRef(0)},
		v2alpha1.VersionDetail{Name: "v2", WeightObjRef: ksvcRef(1)},
		v2alpha1.VersionDetail{Name: "v3", WeightObjRef: ref("networking.istio.io/v1beta1", "VirtualService", "vs", ".spec.http[0].route[0].weight")},
		v2alpha1.VersionDetail{Name: "v4", WeightObjRef: ref("networking.istio.io/v1beta1", "VirtualService", "vs", ".spec.http[0].route[1].weight")},
		v2alpha1.VersionDetail{Name: "v5"},
	)
	_, refs, err := refsOf(exp)
	if err != nil {
		t.Fatal(err)
	}
	observed := map[string]int32{"v1": 100, "v2": 0, "v3": 50, "v4": 50, "v5": 0}
	tests := []struct {
		name    string
		desired map[string]int32
		want    []patchGroup
	}{{
		name:    "both objects change",
		desired: map[string]int32{"v1": 80, "v2": 20, "v3": 40, "v4": 60},
		want: []patchGroup{{
			key: objKey{"serving.knative.dev/v1", "Service", "ns", "sample-app"},
			ops: []patchOp{
				{Op: "test", Path: "/spec/traffic/0/percent", Value: 100},
				{Op: "replace", Path: "/spec/traffic/0/percent", Value: 80},
				{Op: "test", Path: "/spec/traffic/1/percent", Value: 0},
				{Op: "replace", Path: "/spec/traffic/1/percent", Value: 20},
			},
		}, {
			key: objKey{"networking.istio.io/v1beta1", "VirtualService", "ns", "vs"},
			ops: []patchOp{
				{Op: "test", Path: "/spec/http/0/route/0/weight", Value: 50},
				{Op: "replace", Path: "/spec/http/0/route/0/weight", Value: 40},
				{Op: "test", Path: "/spec/http/0/route/1/weight", Value: 50},
				{Op: "replace", Path: "/spec/http/0/route/1/weight", Value: 60},
			},
		}},
	}, {
		name:    "unchanged object is not patched, unchanged sibling is still tested",
		desired: map[string]int32{"v1": 100, "v2": 0, "v3": 50, "v4": 30},
		want: []patchGroup{{
			key: objKey{"networking.istio.io/v1beta1", "VirtualService", "ns", "vs"},
			ops: []patchOp{
				{Op: "test", Path: "/spec/http/0/route/0/weight", Value: 50},
				{Op: "test", Path: "/spec/http/0/route/1/weight", Value: 50},
				{Op: "replace", Path: "/spec/http/0/route/1/weight", Value: 30},
			},
		}},
	}, {
		name:    "nothing changes",
		desired: map[string]int32{"v1": 100, "v2": 0, "v3": 50, "v4": 50, "v5": 77},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := groupPatches(refs, observed, tc.desired)
			if err != nil {
				t.Fatalf("groupPatches: %v", err)
			}
			var gotGroups []patchGroup
			for _, g := range got {
				gotGroups = append(gotGroups, patchGroup{key: g.key, ops: g.ops})
			}
			if diff := cmp.Diff(tc.want, gotGroups, cmp.AllowUnexported(patchGroup{}, objKey{})); diff != "" {
				t.Errorf("groupPatches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGroupPatchesErrors(t *testing.T) {
	exp := experiment("ns",
		v2alpha1.VersionDetail{Name: "v1", WeightObjRef: ksvcRef(0)},
		v2alpha1.VersionDetail{Name: "v2", WeightObjRef: ksvcRef(1)},
	)
	_, refs, err := refsOf(exp)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		observed, desired map[string]int32
	}{
		{name: "no desired weight", observed: map[string]int32{"v1": 100, "v2": 0}, desired: map[string]int32{"v1": 100}},
		{name: "no observed weight", observed: map[string]int32{"v2": 0}, desired: map[string]int32{"v1": 100, "v2": 0}},
		{name: "desired above 100", observed: map[string]int32{"v1": 100, "v2": 0}, desired: map[string]int32{"v1": 101, "v2": 0}},
		{name: "desired negative", observed: map[string]int32{"v1": 100, "v2": 0}, desired: map[string]int32{"v1": 100, "v2": -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := groupPatches(refs, tc.observed, tc.desired)
			var re *RefError
			if !errors.Is(err, ErrInconsistentWeights) || !errors.As(err, &re) {
				t.Errorf("groupPatches = %v, want a *RefError wrapping ErrInconsistentWeights", err)
			}
		})
	}
}

func TestRefsOfDefaultsNamespace(t *testing.T) {
	r := ksvcRef(0)
	other := ksvcRef(1)
	other.Namespace = "elsewhere"
	for _, tc := range []struct {
		expNS string
		ref   *corev1.ObjectReference
		want  string
	}{
		{expNS: "team", ref: r, want: "team"},
		{expNS: "team", ref: other, want: "elsewhere"},
		{expNS: "", ref: r, want: "default"},
	} {
		_, refs, err := refsOf(experiment(tc.expNS, v2alpha1.VersionDetail{Name: "v1", WeightObjRef: tc.ref}))
		if err != nil {
			t.Fatal(err)
		}
		if got := refs[0].key.namespace; got != tc.want {
			t.Errorf("namespace of ref %+v in experiment namespace %q = %q, want %q", tc.ref, tc.expNS, got, tc.want)
		}
	}
}

// A client over a real HTTP server that counts requests: invalid refs must be refused
// before any request reaches it.
func countingClient(t *testing.T) (*Client, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "unexpected request", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	return &Client{Dynamic: dyn, Mapper: mapper}, &n
}

func TestHostileRefsRejectedBeforeAnyRequest(t *testing.T) {
	tests := []struct {
		name string
		ref  *corev1.ObjectReference
		want error
	}{
		{name: "double dot", ref: ref("serving.knative.dev/v1", "Service", "s", ".spec..x"), want: ErrInvalidFieldPath},
		{name: "absolute path", ref: ref("serving.knative.dev/v1", "Service", "s", "/etc"), want: ErrInvalidFieldPath},
		{name: "pointer escape", ref: ref("serving.knative.dev/v1", "Service", "s", ".spec.~1traffic"), want: ErrInvalidFieldPath},
		{name: "filter", ref: ref("serving.knative.dev/v1", "Service", "s", ".spec.traffic[?(@.percent)]"), want: ErrInvalidFieldPath},
		{name: "no name", ref: ref("serving.knative.dev/v1", "Service", "", ".spec.traffic[0].percent"), want: ErrInvalidRef},
		{name: "bad apiVersion", ref: ref("a/b/c", "Service", "s", ".spec.traffic[0].percent"), want: ErrInvalidRef},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, n := countingClient(t)
			exp := experiment("ns",
				v2alpha1.VersionDetail{Name: "v1", WeightObjRef: ksvcRef(0)},
				v2alpha1.VersionDetail{Name: "v2", WeightObjRef: tc.ref})
			_, err := c.Observe(context.Background(), exp)
			var re *RefError
			if !errors.Is(err, tc.want) || !errors.As(err, &re) || re.Version != "v2" {
				t.Errorf("Observe = %v, want a *RefError for version v2 wrapping %v", err, tc.want)
			}
			desired := []v2alpha1.WeightData{{Name: "v1", Value: 50}, {Name: "v2", Value: 50}}
			observed := []v2alpha1.WeightData{{Name: "v1", Value: 100}, {Name: "v2", Value: 0}}
			if _, err := c.Apply(context.Background(), exp, observed, desired); !errors.Is(err, tc.want) {
				t.Errorf("Apply = %v, want %v", err, tc.want)
			}
			if got := n.Load(); got != 0 {
				t.Errorf("%d requests reached the server, want 0", got)
			}
		})
	}
}

func TestObserveRequiresRefs(t *testing.T) {
	c, n := countingClient(t)
	exp := experiment("ns", v2alpha1.VersionDetail{Name: "v1"}, v2alpha1.VersionDetail{Name: "v2"}, v2alpha1.VersionDetail{Name: "v3", WeightObjRef: ksvcRef(0)})
	if _, err := c.Observe(context.Background(), exp); !errors.Is(err, ErrInsufficientRefs) {
		t.Errorf("Observe = %v, want ErrInsufficientRefs", err)
	}
	// One version with no ref needs no request at all.
	got, err := c.Observe(context.Background(), experiment("ns", v2alpha1.VersionDetail{Name: "current"}))
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if diff := cmp.Diff([]v2alpha1.WeightData{{Name: "current", Value: 100}}, got); diff != "" {
		t.Errorf("Observe (-want +got):\n%s", diff)
	}
	if _, err := c.Observe(context.Background(), &v2alpha1.Experiment{}); err == nil {
		t.Error("Observe of an experiment without versionInfo succeeded")
	}
	if got := n.Load(); got != 0 {
		t.Errorf("%d requests reached the server, want 0", got)
	}
}
