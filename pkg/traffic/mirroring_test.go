package traffic

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

func decodeAll(t *testing.T, data []byte) []unstructured.Unstructured {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []unstructured.Unstructured
	for {
		var obj map[string]interface{}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decoding YAML: %v", err)
		}
		if obj != nil {
			out = append(out, unstructured.Unstructured{Object: obj})
		}
	}
}

func seedRoutingRules(t *testing.T) []unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile("testdata/routing-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vss := decodeAll(t, data)
	if len(vss) != 2 {
		t.Fatalf("testdata/routing-rules.yaml holds %d objects, want 2", len(vss))
	}
	return vss
}

func named(vss []unstructured.Unstructured, name string) []unstructured.Unstructured {
	for _, vs := range vss {
		if vs.GetName() == name {
			return []unstructured.Unstructured{vs}
		}
	}
	return nil
}

// swapRoutes reverses the http routes of the routing VirtualService, so that the
// customdomain.com prefix route comes first and also takes customdomain.com-shadow.
func swapRoutes(t *testing.T, vss []unstructured.Unstructured) []unstructured.Unstructured {
	t.Helper()
	var out []unstructured.Unstructured
	for _, vs := range vss {
		vs = *vs.DeepCopy()
		if vs.GetName() == "customdomain-routing" {
			http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
			http[0], http[1] = http[1], http[0]
			if err := unstructured.SetNestedSlice(vs.Object, http, "spec", "http"); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, vs)
	}
	return out
}

const directMirror = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct, namespace: default}
spec:
  hosts: [sample-app.default.svc.cluster.local]
  http:
  - route:
    - destination: {host: sample-app-v1.default.svc.cluster.local}
    mirror: {host: sample-app-v2.default.svc.cluster.local}
    mirrorPercentage: {value: 40}
`

const zeroMirror = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: zero, namespace: default}
spec:
  hosts: [sample-app.default.svc.cluster.local]
  http:
  - route:
    - destination: {host: sample-app-v1.default.svc.cluster.local}
    mirror: {host: sample-app-v2.default.svc.cluster.local}
    mirrorPercentage: {value: 0}
`

const mirrorsList = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: multi, namespace: default}
spec:
  hosts: [sample-app]
  http:
  - route:
    - destination: {host: sample-app-v1}
    mirrors:
    - destination: {host: other}
    - destination: {host: sample-app-v2}
      percentage: {value: 25}
`

func TestDetectMirroring(t *testing.T) {
	seed := seedRoutingRules(t)
	tests := []struct {
		name     string
		vss      []unstructured.Unstructured
		revision string
		want     MirrorState
		// wantIn are parts of the message that say why.
		wantIn []string
	}{{
		name: "seed: shadow authority routed to the dark revision", vss: seed, revision: "sample-app-v2", want: Mirrored,
		wantIn: []string{"VirtualService default/customdomain-mirroring http[0] mirrors 100% of its traffic for customdomain.com",
			"VirtualService default/customdomain-routing http[0] routes the mirrored authority customdomain.com-shadow to revision sample-app-v2"},
	}, {
		name: "seed: the live revision gets no mirrored traffic", vss: seed, revision: "sample-app-v1", want: NotMirrored,
		wantIn: []string{"routes the mirrored authority customdomain.com-shadow to sample-app-v2.default.svc.cluster.local, not to revision sample-app-v1"},
	}, {
		name: "seed with routes swapped: first match wins", vss: swapRoutes(t, seed), revision: "sample-app-v2", want: NotMirrored,
		wantIn: []string{"http[0] routes the mirrored authority customdomain.com-shadow to sample-app-v1"},
	}, {
		name: "mirror without shadow routing", vss: named(seed, "customdomain-mirroring"), revision: "sample-app-v2", want: MirrorUnknown,
		wantIn: []string{"no VirtualService in namespace default routes the mirrored authority customdomain.com-shadow"},
	}, {
		name: "routing without mirror", vss: named(seed, "customdomain-routing"), revision: "sample-app-v2", want: NotMirrored,
		wantIn: []string{"none of the 1 VirtualServices in namespace default mirrors traffic"},
	}, {
		name: "no VirtualServices", revision: "sample-app-v2", want: NotMirrored,
		wantIn: []string{"none of the 0 VirtualServices"},
	}, {
		name: "direct mirror to the revision host", vss: decodeAll(t, []byte(directMirror)), revision: "sample-app-v2", want: Mirrored,
		wantIn: []string{"mirrors 40% of its traffic to sample-app-v2.default.svc.cluster.local"},
	}, {
		name: "direct mirror to another revision", vss: decodeAll(t, []byte(directMirror)), revision: "sample-app-v3", want: MirrorUnknown,
		wantIn: []string{"routes the mirrored authority sample-app.default.svc.cluster.local-shadow"},
	}, {
		name: "zero percent mirrored", vss: decodeAll(t, []byte(zeroMirror)), revision: "sample-app-v2", want: NotMirrored,
		wantIn: []string{"mirrors 0% of its traffic"},
	}, {
		name: "mirrors list", vss: decodeAll(t, []byte(mirrorsList)), revision: "sample-app-v2", want: Mirrored,
		wantIn: []string{"mirrors 25% of its traffic to sample-app-v2"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DetectMirroring(tc.vss, "default", tc.revision)
			if diff := cmp.Diff(tc.want, got.State); diff != "" {
				t.Errorf("state (-want +got):\n%s\nmessage: %s", diff, got.Message)
			}
			for _, part := range tc.wantIn {
				if !strings.Contains(got.Message, part) {
					t.Errorf("message %q does not contain %q", got.Message, part)
				}
			}
		})
	}
}

func TestStringAndHostMatch(t *testing.T) {
	for _, tc := range []struct {
		m    map[string]interface{}
		s    string
		want bool
	}{
		{m: map[string]interface{}{"exact": "a.com"}, s: "a.com", want: true},
		{m: map[string]interface{}{"exact": "a.com"}, s: "a.com-shadow", want: false},
		{m: map[string]interface{}{"prefix": "a.com"}, s: "a.com-shadow", want: true},
		{m: map[string]interface{}{"regex": "a\\.com(-shadow)?"}, s: "a.com-shadow", want: true},
		{m: map[string]interface{}{"regex": "a\\.com"}, s: "a.com-shadow", want: false},
		{m: map[string]interface{}{"regex": "("}, s: "(", want: false},
		{m: map[string]interface{}{}, s: "x", want: false},
	} {
		if got := stringMatch(tc.m, tc.s); got != tc.want {
			t.Errorf("stringMatch(%v, %q) = %v, want %v", tc.m, tc.s, got, tc.want)
		}
	}
	for _, tc := range []struct {
		host, authority string
		want            bool
	}{
		{host: "*", authority: "a.com-shadow", want: true},
		{host: "*.com", authority: "a.com:80", want: true},
		{host: "*.com", authority: "a.org", want: false},
		{host: "a.com", authority: "a.com-shadow", want: false},
		{host: "a.com-shadow", authority: "a.com-shadow", want: true},
	} {
		if got := hostMatches(tc.host, tc.authority); got != tc.want {
			t.Errorf("hostMatches(%q, %q) = %v, want %v", tc.host, tc.authority, got, tc.want)
		}
	}
}
