//go:build !unit

package traffic_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/traffic"
	"github.com/iter8-tools/iter8-tekton/test/harness"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { harness.MainControlPlane(m) }

var (
	ksvcGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	revGVR  = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "revisions"}
	vsGVR   = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: "virtualservices"}
)

var crds struct {
	once sync.Once
	err  error
}

// env is one test's view of the shared control plane: its own namespace and clients.
type env struct {
	ctx    context.Context
	ns     string
	dyn    dynamic.Interface
	client *traffic.Client
}

func setup(t *testing.T) env {
	t.Helper()
	cp := harness.SharedControlPlane(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	cfg := cp.Config()
	crds.once.Do(func() {
		var files, istio []string
		if files, crds.err = harness.KnativeServingCRDs(ctx); crds.err != nil {
			return
		}
		if istio, crds.err = harness.IstioCRDs(ctx); crds.err != nil {
			return
		}
		crds.err = harness.InstallCRDs(ctx, cfg, append(files, istio...)...)
	})
	if crds.err != nil {
		t.Fatalf("installing the Knative Serving and Istio CRDs: %v", crds.err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := traffic.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env{ctx: ctx, ns: harness.Namespace(t, cs), dyn: dyn, client: client}
}

func (e env) create(t *testing.T, gvr schema.GroupVersionResource, manifest string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]interface{}
	if err := yaml.Unmarshal([]byte(manifest), &m); err != nil {
		t.Fatalf("decoding manifest: %v", err)
	}
	got, err := e.dyn.Resource(gvr).Namespace(e.ns).Create(e.ctx, &unstructured.Unstructured{Object: m}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating %s: %v", gvr.Resource, err)
	}
	return got
}

func (e env) get(t *testing.T, gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	t.Helper()
	got, err := e.dyn.Resource(gvr).Namespace(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading %s %s: %v", gvr.Resource, name, err)
	}
	return got
}

// setInts sets integer fields of an object the way a human with kubectl edit would: a
// plain update of the whole object.
func (e env) setInts(t *testing.T, gvr schema.GroupVersionResource, name string, set map[string]int64) {
	t.Helper()
	obj := e.get(t, gvr, name)
	for path, v := range set {
		setPath(t, obj.Object, path, v)
	}
	if _, err := e.dyn.Resource(gvr).Namespace(e.ns).Update(e.ctx, obj, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatalf("editing %s %s: %v", gvr.Resource, name, err)
	}
}

// ints reads integer fields of an object, independently of the package's own reader.
func (e env) ints(t *testing.T, gvr schema.GroupVersionResource, name string, paths ...string) []int64 {
	t.Helper()
	obj := e.get(t, gvr, name)
	var out []int64
	for _, p := range paths {
		out = append(out, getPath(t, obj.Object, p))
	}
	return out
}

// Paths here are lists of keys and indexes, e.g. "spec traffic 1 percent".
func walk(t *testing.T, obj map[string]interface{}, path string) (parent interface{}, last string) {
	t.Helper()
	parts := strings.Fields(path)
	var cur interface{} = obj
	for _, p := range parts[:len(parts)-1] {
		switch c := cur.(type) {
		case map[string]interface{}:
			cur = c[p]
		case []interface{}:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(c) {
				t.Fatalf("path %q: %q is not an index of a list of %d", path, p, len(c))
			}
			cur = c[i]
		default:
			t.Fatalf("path %q: cannot step into %T at %q", path, cur, p)
		}
	}
	return cur, parts[len(parts)-1]
}

func getPath(t *testing.T, obj map[string]interface{}, path string) int64 {
	parent, last := walk(t, obj, path)
	v, ok := parent.(map[string]interface{})[last].(int64)
	if !ok {
		t.Fatalf("path %q: %#v is not an int64", path, parent.(map[string]interface{})[last])
	}
	return v
}

func setPath(t *testing.T, obj map[string]interface{}, path string, v int64) {
	parent, last := walk(t, obj, path)
	parent.(map[string]interface{})[last] = v
}

const ksvcManifest = `
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: sample-app
spec:
  template:
    metadata:
      name: sample-app-v2
    spec:
      containers:
      - image: localhost/sample-app:green
        env:
        - name: T_VERSION
          value: green
  traffic:
  - revisionName: sample-app-v1
    percent: 100
  - latestRevision: true
    percent: 0
`

const vsManifest = `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: sample-app
spec:
  hosts: [sample-app.example.com]
  http:
  - route:
    - destination: {host: sample-app-v1}
      weight: 100
    - destination: {host: sample-app-v2}
      weight: 0
`

func objRef(apiVersion, kind, name, fieldPath string) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: apiVersion, Kind: kind, Name: name, FieldPath: fieldPath}
}

func ksvcExperiment(ns string) *v2alpha1.Experiment {
	return &v2alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: ns},
		Spec: v2alpha1.ExperimentSpec{
			Target: ns + "/sample-app",
			VersionInfo: &v2alpha1.VersionInfo{
				Baseline:   v2alpha1.VersionDetail{Name: "sample-app-v1", WeightObjRef: objRef("serving.knative.dev/v1", "Service", "sample-app", ".spec.traffic[0].percent")},
				Candidates: []v2alpha1.VersionDetail{{Name: "sample-app-v2", WeightObjRef: objRef("serving.knative.dev/v1", "Service", "sample-app", ".spec.traffic[1].percent")}},
			},
		},
	}
}

func vsExperiment(ns string, candidateRef bool) *v2alpha1.Experiment {
	exp := &v2alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: ns},
		Spec: v2alpha1.ExperimentSpec{
			Target: ns + "/sample-app",
			VersionInfo: &v2alpha1.VersionInfo{
				Baseline:   v2alpha1.VersionDetail{Name: "v1", WeightObjRef: objRef("networking.istio.io/v1beta1", "VirtualService", "sample-app", ".spec.http[0].route[0].weight")},
				Candidates: []v2alpha1.VersionDetail{{Name: "v2"}},
			},
		},
	}
	if candidateRef {
		exp.Spec.VersionInfo.Candidates[0].WeightObjRef = objRef("networking.istio.io/v1beta1", "VirtualService", "sample-app", ".spec.http[0].route[1].weight")
	}
	return exp
}

func weights(pairs ...interface{}) []v2alpha1.WeightData {
	var out []v2alpha1.WeightData
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, v2alpha1.WeightData{Name: pairs[i].(string), Value: int32(pairs[i+1].(int))})
	}
	return out
}

func TestKnativeServiceCanary(t *testing.T) {
	e := setup(t)
	e.create(t, ksvcGVR, ksvcManifest)
	exp := ksvcExperiment(e.ns)

	observed, err := e.client.Observe(e.ctx, exp)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if diff := cmp.Diff(weights("sample-app-v1", 100, "sample-app-v2", 0), observed); diff != "" {
		t.Errorf("Observe (-want +got):\n%s", diff)
	}

	got, err := e.client.Apply(e.ctx, exp, observed, weights("sample-app-v1", 80, "sample-app-v2", 20))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if diff := cmp.Diff(weights("sample-app-v1", 80, "sample-app-v2", 20), got); diff != "" {
		t.Errorf("Apply read back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{80, 20}, e.ints(t, ksvcGVR, "sample-app", "spec traffic 0 percent", "spec traffic 1 percent")); diff != "" {
		t.Errorf("spec.traffic percents in the cluster (-want +got):\n%s", diff)
	}
	// The rest of the traffic entries is untouched.
	svc := e.get(t, ksvcGVR, "sample-app")
	traffic, _, _ := unstructured.NestedSlice(svc.Object, "spec", "traffic")
	if diff := cmp.Diff([]interface{}{
		map[string]interface{}{"revisionName": "sample-app-v1", "percent": int64(80)},
		map[string]interface{}{"latestRevision": true, "percent": int64(20)},
	}, traffic); diff != "" {
		t.Errorf("spec.traffic (-want +got):\n%s", diff)
	}

	// Nothing to change: no write at all.
	rv := svc.GetResourceVersion()
	if _, err := e.client.Apply(e.ctx, exp, got, got); err != nil {
		t.Fatalf("Apply of unchanged weights: %v", err)
	}
	if after := e.get(t, ksvcGVR, "sample-app").GetResourceVersion(); after != rv {
		t.Errorf("Apply of unchanged weights wrote the object: resourceVersion %s -> %s", rv, after)
	}
}

func TestVirtualServiceNMinusOne(t *testing.T) {
	e := setup(t)
	e.create(t, vsGVR, vsManifest)

	// Only the baseline has a weightObjRef: the candidate's weight is the rest.
	e.setInts(t, vsGVR, "sample-app", map[string]int64{"spec http 0 route 0 weight": 70, "spec http 0 route 1 weight": 30})
	got, err := e.client.Observe(e.ctx, vsExperiment(e.ns, false))
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if diff := cmp.Diff(weights("v1", 70, "v2", 30), got); diff != "" {
		t.Errorf("Observe with one weightObjRef (-want +got):\n%s", diff)
	}

	// Both have one: one patch for the two routes of the same object.
	exp := vsExperiment(e.ns, true)
	observed, err := e.client.Observe(e.ctx, exp)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	got, err = e.client.Apply(e.ctx, exp, observed, weights("v1", 40, "v2", 60))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if diff := cmp.Diff(weights("v1", 40, "v2", 60), got); diff != "" {
		t.Errorf("Apply read back (-want +got):\n%s", diff)
	}
	// The object is read in the preferred version v1 as well: same weights.
	v1 := vsGVR
	v1.Version = "v1"
	if diff := cmp.Diff([]int64{40, 60}, e.ints(t, v1, "sample-app", "spec http 0 route 0 weight", "spec http 0 route 1 weight")); diff != "" {
		t.Errorf("route weights in the cluster (-want +got):\n%s", diff)
	}
}

func TestExternalChangeIsKept(t *testing.T) {
	t.Run("edited weight", func(t *testing.T) {
		e := setup(t)
		e.create(t, ksvcGVR, ksvcManifest)
		exp := ksvcExperiment(e.ns)
		observed, err := e.client.Observe(e.ctx, exp)
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		// A human moves traffic by hand between our Observe and Apply.
		e.setInts(t, ksvcGVR, "sample-app", map[string]int64{"spec traffic 0 percent": 50, "spec traffic 1 percent": 50})
		_, err = e.client.Apply(e.ctx, exp, observed, weights("sample-app-v1", 80, "sample-app-v2", 20))
		var re *traffic.RefError
		if !errors.Is(err, traffic.ErrExternalChange) || !errors.As(err, &re) {
			t.Fatalf("Apply = %v, want a *RefError wrapping ErrExternalChange", err)
		}
		if re.Version != "sample-app-v1" || re.FieldPath != ".spec.traffic[0].percent" {
			t.Errorf("error names version %q fieldPath %q, want sample-app-v1 .spec.traffic[0].percent (%v)", re.Version, re.FieldPath, err)
		}
		if diff := cmp.Diff([]int64{50, 50}, e.ints(t, ksvcGVR, "sample-app", "spec traffic 0 percent", "spec traffic 1 percent")); diff != "" {
			t.Errorf("the human's weights were not kept (-want +got):\n%s", diff)
		}
	})

	t.Run("edited sibling weight", func(t *testing.T) {
		e := setup(t)
		e.create(t, vsGVR, vsManifest)
		exp := vsExperiment(e.ns, true)
		observed, err := e.client.Observe(e.ctx, exp)
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		// The human changes the route we do not mean to change; we change only the other.
		e.setInts(t, vsGVR, "sample-app", map[string]int64{"spec http 0 route 0 weight": 90})
		_, err = e.client.Apply(e.ctx, exp, observed, weights("v1", 100, "v2", 10))
		if !errors.Is(err, traffic.ErrExternalChange) {
			t.Fatalf("Apply = %v, want ErrExternalChange", err)
		}
		if diff := cmp.Diff([]int64{90, 0}, e.ints(t, vsGVR, "sample-app", "spec http 0 route 0 weight", "spec http 0 route 1 weight")); diff != "" {
			t.Errorf("route weights (-want +got):\n%s", diff)
		}
	})

	t.Run("removed traffic entry", func(t *testing.T) {
		e := setup(t)
		e.create(t, ksvcGVR, ksvcManifest)
		exp := ksvcExperiment(e.ns)
		observed, err := e.client.Observe(e.ctx, exp)
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		svc := e.get(t, ksvcGVR, "sample-app")
		if err := unstructured.SetNestedSlice(svc.Object, []interface{}{
			map[string]interface{}{"revisionName": "sample-app-v1", "percent": int64(100)},
		}, "spec", "traffic"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.dyn.Resource(ksvcGVR).Namespace(e.ns).Update(e.ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = e.client.Apply(e.ctx, exp, observed, weights("sample-app-v1", 80, "sample-app-v2", 20))
		var re *traffic.RefError
		if !errors.Is(err, traffic.ErrExternalChange) || !errors.As(err, &re) || re.Version != "sample-app-v2" {
			t.Fatalf("Apply = %v, want a *RefError for sample-app-v2 wrapping ErrExternalChange", err)
		}
		if diff := cmp.Diff([]int64{100}, e.ints(t, ksvcGVR, "sample-app", "spec traffic 0 percent")); diff != "" {
			t.Errorf("spec.traffic[0].percent (-want +got):\n%s", diff)
		}
	})
}

func TestReadErrors(t *testing.T) {
	e := setup(t)
	e.create(t, ksvcGVR, ksvcManifest)
	tests := []struct {
		name string
		ref  *corev1.ObjectReference
		want error
	}{
		{name: "missing object", ref: objRef("serving.knative.dev/v1", "Service", "nope", ".spec.traffic[0].percent"), want: traffic.ErrObjectNotFound},
		{name: "index out of range", ref: objRef("serving.knative.dev/v1", "Service", "sample-app", ".spec.traffic[5].percent"), want: traffic.ErrFieldMissing},
		{name: "missing field", ref: objRef("serving.knative.dev/v1", "Service", "sample-app", ".spec.traffic[0].weight"), want: traffic.ErrFieldMissing},
		{name: "not an integer", ref: objRef("serving.knative.dev/v1", "Service", "sample-app", ".spec.traffic[0].revisionName"), want: traffic.ErrFieldNotInteger},
		{name: "unknown kind", ref: objRef("example.com/v1", "Widget", "w", ".spec.weight"), want: traffic.ErrUnknownKind},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := ksvcExperiment(e.ns)
			exp.Spec.VersionInfo.Candidates[0].WeightObjRef = tc.ref
			_, err := e.client.Observe(e.ctx, exp)
			var re *traffic.RefError
			if !errors.Is(err, tc.want) || !errors.As(err, &re) {
				t.Fatalf("Observe = %v, want a *RefError wrapping %v", err, tc.want)
			}
			if re.Version != "sample-app-v2" || re.FieldPath != tc.ref.FieldPath {
				t.Errorf("error names version %q fieldPath %q, want sample-app-v2 %s", re.Version, re.FieldPath, tc.ref.FieldPath)
			}
		})
	}

	t.Run("object deleted before Apply", func(t *testing.T) {
		e := setup(t)
		e.create(t, ksvcGVR, ksvcManifest)
		exp := ksvcExperiment(e.ns)
		observed, err := e.client.Observe(e.ctx, exp)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.dyn.Resource(ksvcGVR).Namespace(e.ns).Delete(e.ctx, "sample-app", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Apply(e.ctx, exp, observed, weights("sample-app-v1", 80, "sample-app-v2", 20)); !errors.Is(err, traffic.ErrObjectNotFound) {
			t.Errorf("Apply = %v, want ErrObjectNotFound", err)
		}
	})
}

func TestCheckMirroringSeed(t *testing.T) {
	e := setup(t)
	seedVSGVR := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1alpha3", Resource: "virtualservices"}

	got, err := traffic.CheckMirroring(e.ctx, e.dyn, e.ns, "sample-app-v2")
	if err != nil {
		t.Fatalf("CheckMirroring in an empty namespace: %v", err)
	}
	if got.State != traffic.NotMirrored {
		t.Errorf("CheckMirroring in an empty namespace = %+v, want NotMirrored", got)
	}

	data, err := os.ReadFile("testdata/routing-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		e.create(t, seedVSGVR, doc)
	}
	for rev, want := range map[string]traffic.MirrorState{"sample-app-v2": traffic.Mirrored, "sample-app-v1": traffic.NotMirrored} {
		got, err := traffic.CheckMirroring(e.ctx, e.dyn, e.ns, rev)
		if err != nil {
			t.Fatalf("CheckMirroring(%s): %v", rev, err)
		}
		if got.State != want {
			t.Errorf("CheckMirroring(%s) = %+v, want %s", rev, got, want)
		}
	}
}

func TestRevisionReady(t *testing.T) {
	e := setup(t)
	rev := e.create(t, revGVR, `
apiVersion: serving.knative.dev/v1
kind: Revision
metadata:
  name: sample-app-v2
spec:
  containers:
  - image: localhost/sample-app:green
`)
	if ready, msg, err := traffic.RevisionReady(e.ctx, e.dyn, e.ns, "sample-app-v2"); err != nil || ready {
		t.Errorf("RevisionReady before any status = %v, %q, %v; want false", ready, msg, err)
	}
	if err := unstructured.SetNestedField(rev.Object, []interface{}{
		map[string]interface{}{"type": "Ready", "status": "True"},
	}, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dyn.Resource(revGVR).Namespace(e.ns).UpdateStatus(e.ctx, rev, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating the revision's status: %v", err)
	}
	if ready, msg, err := traffic.RevisionReady(e.ctx, e.dyn, e.ns, "sample-app-v2"); err != nil || !ready {
		t.Errorf("RevisionReady with Ready=True = %v, %q, %v; want true", ready, msg, err)
	}

	// No Revision object: the Service's status decides.
	svc := e.create(t, ksvcGVR, ksvcManifest)
	if err := unstructured.SetNestedField(svc.Object, "sample-app-v1", "status", "latestReadyRevisionName"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dyn.Resource(ksvcGVR).Namespace(e.ns).UpdateStatus(e.ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating the service's status: %v", err)
	}
	if ready, msg, err := traffic.RevisionReady(e.ctx, e.dyn, e.ns, "sample-app-v1"); err != nil || !ready {
		t.Errorf("RevisionReady from the service status = %v, %q, %v; want true", ready, msg, err)
	}
	if ready, msg, err := traffic.RevisionReady(e.ctx, e.dyn, e.ns, "sample-app-v9"); err != nil || ready {
		t.Errorf("RevisionReady of an unknown revision = %v, %q, %v; want false, no error", ready, msg, err)
	}
}
