package kindmap_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/iter8-tools/iter8-tekton/pkg/kindmap"
)

// discovery is a fake API server's discovery documents by path.
var discovery = map[string]string{
	"/apis": `{"kind":"APIGroupList","apiVersion":"v1","groups":[
		{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}},
		{"name":"serving.knative.dev","versions":[{"groupVersion":"serving.knative.dev/v1beta1","version":"v1beta1"},{"groupVersion":"serving.knative.dev/v1","version":"v1"}],"preferredVersion":{"groupVersion":"serving.knative.dev/v1","version":"v1"}},
		{"name":"broken.example.com","versions":[{"groupVersion":"broken.example.com/v1","version":"v1"}],"preferredVersion":{"groupVersion":"broken.example.com/v1","version":"v1"}}]}`,
	"/api/v1": `{"kind":"APIResourceList","groupVersion":"v1","resources":[
		{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","shortNames":["po"]},
		{"name":"pods/status","singularName":"","namespaced":true,"kind":"Pod"},
		{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","shortNames":["ns"]},
		{"name":"services","singularName":"service","namespaced":true,"kind":"Service","shortNames":["svc"]}]}`,
	"/apis/apps/v1": `{"kind":"APIResourceList","groupVersion":"apps/v1","resources":[
		{"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","shortNames":["deploy"]},
		{"name":"deployments/scale","singularName":"","namespaced":true,"group":"autoscaling","version":"v1","kind":"Scale"}]}`,
	"/apis/serving.knative.dev/v1": `{"kind":"APIResourceList","groupVersion":"serving.knative.dev/v1","resources":[
		{"name":"services","singularName":"service","namespaced":true,"kind":"Service","shortNames":["kservice","ksvc"]},
		{"name":"services/status","singularName":"","namespaced":true,"kind":"Service"}]}`,
	"/apis/serving.knative.dev/v1beta1": `{"kind":"APIResourceList","groupVersion":"serving.knative.dev/v1beta1","resources":[
		{"name":"services","singularName":"","namespaced":true,"kind":"Service"}]}`,
}

// server is a fake API server under the path prefix /k8s that counts the requests of each
// path.
type server struct {
	mu       sync.Mutex
	docs     map[string]string
	requests map[string]int
}

func newServer(t *testing.T) (*server, *kindmap.Mapper) {
	t.Helper()
	s := &server{docs: map[string]string{}, requests: map[string]int{}}
	for k, v := range discovery {
		s.docs[k] = v
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := strings.CutPrefix(r.URL.Path, "/k8s")
		s.mu.Lock()
		s.requests[path]++
		doc, found := s.docs[path]
		s.mu.Unlock()
		switch {
		case !ok:
			http.Error(w, "outside the prefix", http.StatusBadRequest)
		case r.Header.Get("Accept") != "application/json":
			http.Error(w, "want JSON", http.StatusNotAcceptable)
		case path == "/apis/broken.example.com/v1":
			http.Error(w, "the aggregated API server is down", http.StatusServiceUnavailable)
		case !found:
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(doc))
		}
	}))
	t.Cleanup(ts.Close)
	m, err := kindmap.NewForConfig(&rest.Config{Host: ts.URL + "/k8s"})
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

func (s *server) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

func (s *server) set(path, doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[path] = doc
}

var (
	ksvc       = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	deployment = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// mapping is a meta.RESTMapping that cmp can compare: a RESTScope is an unexported type.
type mapping struct {
	Resource schema.GroupVersionResource
	Kind     schema.GroupVersionKind
	Scope    meta.RESTScopeName
}

func plain(m *meta.RESTMapping) mapping {
	return mapping{Resource: m.Resource, Kind: m.GroupVersionKind, Scope: m.Scope.Name()}
}

func TestRESTMapping(t *testing.T) {
	tests := []struct {
		name     string
		gk       schema.GroupKind
		versions []string
		want     *meta.RESTMapping
	}{{
		name:     "namespaced CRD",
		gk:       schema.GroupKind{Group: "serving.knative.dev", Kind: "Service"},
		versions: []string{"v1"},
		want:     &meta.RESTMapping{Resource: ksvc, GroupVersionKind: ksvc.GroupVersion().WithKind("Service"), Scope: meta.RESTScopeNamespace},
	}, {
		name:     "cluster-scoped core kind",
		gk:       schema.GroupKind{Kind: "Namespace"},
		versions: []string{"v1"},
		want: &meta.RESTMapping{Resource: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"},
			GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, Scope: meta.RESTScopeRoot},
	}, {
		name: "no version: the preferred one",
		gk:   schema.GroupKind{Group: "serving.knative.dev", Kind: "Service"},
		want: &meta.RESTMapping{Resource: ksvc, GroupVersionKind: ksvc.GroupVersion().WithKind("Service"), Scope: meta.RESTScopeNamespace},
	}, {
		name:     "an empty version is no version",
		gk:       schema.GroupKind{Group: "apps", Kind: "Deployment"},
		versions: []string{""},
		want:     &meta.RESTMapping{Resource: deployment, GroupVersionKind: deployment.GroupVersion().WithKind("Deployment"), Scope: meta.RESTScopeNamespace},
	}, {
		name:     "the first version that has the kind",
		gk:       schema.GroupKind{Group: "serving.knative.dev", Kind: "Service"},
		versions: []string{"v1alpha1", "v1beta1", "v1"},
		want: &meta.RESTMapping{Resource: ksvc.GroupResource().WithVersion("v1beta1"),
			GroupVersionKind: schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1beta1", Kind: "Service"}, Scope: meta.RESTScopeNamespace},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m := newServer(t)
			got, err := m.RESTMapping(tc.gk, tc.versions...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(plain(tc.want), plain(got)); diff != "" {
				t.Errorf("RESTMapping(%v, %q) (-want +got):\n%s", tc.gk, tc.versions, diff)
			}
		})
	}
}

func TestRESTMappingErrors(t *testing.T) {
	tests := []struct {
		name      string
		gk        schema.GroupKind
		versions  []string
		want      string
		notServed bool
	}{{
		name:     "kind not in a served group-version",
		gk:       schema.GroupKind{Group: "apps", Kind: "Gizmo"},
		versions: []string{"v1"},
		want:     `no kind "Gizmo" in apps/v1`,
	}, {
		name:     "a subresource is no kind of its own",
		gk:       schema.GroupKind{Group: "apps", Kind: "Scale"},
		versions: []string{"v1"},
		want:     `no kind "Scale" in apps/v1`,
	}, {
		name:      "group-version not served",
		gk:        schema.GroupKind{Group: "apps", Kind: "Deployment"},
		versions:  []string{"v9"},
		want:      `no kind "Deployment": apps/v9 is not served by the API server`,
		notServed: true,
	}, {
		name:      "group not served",
		gk:        schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"},
		want:      `no kind "VirtualService": group "networking.istio.io" is not served by the API server`,
		notServed: true,
	}, {
		name:     "kind in none of the versions",
		gk:       schema.GroupKind{Group: "serving.knative.dev", Kind: "Route"},
		versions: []string{"v1", "v9"},
		want:     `no kind "Route" in serving.knative.dev/v1, serving.knative.dev/v9`,
	}, {
		name:     "a broken group-version is an error, not a missing kind",
		gk:       schema.GroupKind{Group: "broken.example.com", Kind: "Thing"},
		versions: []string{"v1"},
		want:     `discovering /apis/broken.example.com/v1: 503 Service Unavailable: the aggregated API server is down`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m := newServer(t)
			_, err := m.RESTMapping(tc.gk, tc.versions...)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			wantMatchErr := !strings.HasPrefix(tc.want, "discovering")
			if got := meta.IsNoMatchError(err); got != wantMatchErr {
				t.Errorf("meta.IsNoMatchError = %v, want %v", got, wantMatchErr)
			}
			if got := errors.Is(err, kindmap.ErrNotServed); got != tc.notServed {
				t.Errorf("errors.Is(err, ErrNotServed) = %v, want %v", got, tc.notServed)
			}
		})
	}
}

func TestKindFor(t *testing.T) {
	tests := []struct {
		name string
		in   schema.GroupVersionResource
		want schema.GroupVersionKind
	}{
		{name: "short name, any group", in: schema.GroupVersionResource{Resource: "ksvc"}, want: ksvc.GroupVersion().WithKind("Service")},
		{name: "core group first", in: schema.GroupVersionResource{Resource: "services"}, want: schema.GroupVersionKind{Version: "v1", Kind: "Service"}},
		{name: "singular, any case", in: schema.GroupVersionResource{Resource: "Deployment"}, want: deployment.GroupVersion().WithKind("Deployment")},
		{name: "short name of a core kind", in: schema.GroupVersionResource{Resource: "deploy"}, want: deployment.GroupVersion().WithKind("Deployment")},
		{name: "full resource", in: ksvc, want: ksvc.GroupVersion().WithKind("Service")},
		{name: "group without version", in: schema.GroupVersionResource{Group: "serving.knative.dev", Resource: "services"}, want: ksvc.GroupVersion().WithKind("Service")},
		{name: "version without group", in: schema.GroupVersionResource{Version: "v1beta1", Resource: "services"},
			want: schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1beta1", Kind: "Service"}},
		{name: "singular by kind when discovery has none", in: schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1beta1", Resource: "service"},
			want: schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1beta1", Kind: "Service"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m := newServer(t)
			got, err := m.KindFor(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("KindFor(%v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestKindForErrors(t *testing.T) {
	tests := []struct {
		name string
		in   schema.GroupVersionResource
		want string
	}{{
		name: "unknown name; the broken group is reported",
		in:   schema.GroupVersionResource{Resource: "gizmo"},
		want: "no resource \"gizmo\"\ndiscovering /apis/broken.example.com/v1: 503 Service Unavailable: the aggregated API server is down",
	}, {
		name: "not in the group-version",
		in:   schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "pods"},
		want: `no resource "pods" in apps/v1`,
	}, {
		name: "group-version not served",
		in:   schema.GroupVersionResource{Group: "apps", Version: "v9", Resource: "deployments"},
		want: `no resource "deployments": apps/v9 is not served by the API server`,
	}, {
		name: "a subresource is no resource",
		in:   schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments/scale"},
		want: `no resource "deployments/scale" in apps/v1`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m := newServer(t)
			_, err := m.KindFor(tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !meta.IsNoMatchError(err) {
				t.Errorf("meta.IsNoMatchError(%v) = false, want true", err)
			}
		})
	}
}

func TestResourcesAndSingular(t *testing.T) {
	_, m := newServer(t)
	kinds, err := m.KindsFor(schema.GroupVersionResource{Group: "serving.knative.dev", Resource: "services"})
	if err != nil {
		t.Fatal(err)
	}
	wantKinds := []schema.GroupVersionKind{ksvc.GroupVersion().WithKind("Service"), {Group: "serving.knative.dev", Version: "v1beta1", Kind: "Service"}}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("KindsFor (-want +got):\n%s", diff)
	}
	res, err := m.ResourcesFor(schema.GroupVersionResource{Resource: "services"})
	if err != nil {
		t.Fatal(err)
	}
	wantRes := []schema.GroupVersionResource{{Version: "v1", Resource: "services"}, ksvc}
	if diff := cmp.Diff(wantRes, res); diff != "" {
		t.Errorf("ResourcesFor (-want +got):\n%s", diff)
	}
	r, err := m.ResourceFor(schema.GroupVersionResource{Resource: "po"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, r); diff != "" {
		t.Errorf("ResourceFor (-want +got):\n%s", diff)
	}
	s, err := m.ResourceSingularizer("deployments")
	if err != nil {
		t.Fatal(err)
	}
	if s != "deployment" {
		t.Errorf("ResourceSingularizer(deployments) = %q, want deployment", s)
	}
	mappings, err := m.RESTMappings(schema.GroupKind{Group: "serving.knative.dev", Kind: "Service"})
	if err != nil {
		t.Fatal(err)
	}
	var got []schema.GroupVersionResource
	for _, mp := range mappings {
		got = append(got, mp.Resource)
	}
	if diff := cmp.Diff([]schema.GroupVersionResource{ksvc, ksvc.GroupResource().WithVersion("v1beta1")}, got); diff != "" {
		t.Errorf("RESTMappings (-want +got):\n%s", diff)
	}
}

// A mapping by group-version reads only that group-version, once.
func TestCaching(t *testing.T) {
	s, m := newServer(t)
	for range 3 {
		if _, err := m.RESTMapping(schema.GroupKind{Group: "serving.knative.dev", Kind: "Service"}, "v1"); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{"/apis": s.count("/apis"), "/apis/serving.knative.dev/v1": s.count("/apis/serving.knative.dev/v1"), "/api/v1": s.count("/api/v1")}
	want := map[string]int{"/apis": 0, "/apis/serving.knative.dev/v1": 1, "/api/v1": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// A kind installed after the mapper read its group-version is found by the next lookup,
// which reads again once because the first answer came from what it kept.
func TestNewKindFound(t *testing.T) {
	s, m := newServer(t)
	gk := schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"}
	if _, err := m.RESTMapping(gk, "v1beta1"); !errors.Is(err, kindmap.ErrNotServed) {
		t.Fatalf("before the CRD: got %v, want ErrNotServed", err)
	}
	s.set("/apis/networking.istio.io/v1beta1", `{"kind":"APIResourceList","groupVersion":"networking.istio.io/v1beta1","resources":[
		{"name":"virtualservices","singularName":"virtualservice","namespaced":true,"kind":"VirtualService","shortNames":["vs"]}]}`)
	got, err := m.RESTMapping(gk, "v1beta1")
	if err != nil {
		t.Fatal(err)
	}
	want := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: "virtualservices"}
	if diff := cmp.Diff(want, got.Resource); diff != "" {
		t.Errorf("resource (-want +got):\n%s", diff)
	}
	if n := s.count("/apis/networking.istio.io/v1beta1"); n != 2 {
		t.Errorf("%d requests of the group-version, want 2", n)
	}

	// Reset forgets the rest too.
	m.Reset()
	if _, err := m.RESTMapping(gk, "v1beta1"); err != nil {
		t.Fatal(err)
	}
	if n := s.count("/apis/networking.istio.io/v1beta1"); n != 3 {
		t.Errorf("%d requests of the group-version after Reset, want 3", n)
	}
}

func TestNewRejectsBadHost(t *testing.T) {
	m := kindmap.New(http.DefaultClient, &url.URL{Scheme: "http", Host: "127.0.0.1:1"})
	_, err := m.RESTMapping(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "v1")
	if err == nil || meta.IsNoMatchError(err) {
		t.Errorf("unreachable server: got %v, want a connection error that is no match error", err)
	}
}
