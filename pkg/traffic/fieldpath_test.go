package traffic

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/util/jsonpath"
)

func TestJSONPointer(t *testing.T) {
	tests := []struct {
		fieldPath string
		want      string
	}{
		{fieldPath: ".spec.traffic[1].percent", want: "/spec/traffic/1/percent"},
		{fieldPath: ".spec.http[0].route[1].weight", want: "/spec/http/0/route/1/weight"},
		{fieldPath: ".spec.weight", want: "/spec/weight"},
		{fieldPath: ".spec.matrix[2][10].w", want: "/spec/matrix/2/10/w"},
		{fieldPath: ".data.canary-weight_2", want: "/data/canary-weight_2"},
	}
	for _, tc := range tests {
		t.Run(tc.fieldPath, func(t *testing.T) {
			got, err := JSONPointer(tc.fieldPath)
			if err != nil {
				t.Fatalf("JSONPointer(%q): %v", tc.fieldPath, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("JSONPointer(%q) (-want +got):\n%s", tc.fieldPath, diff)
			}
		})
	}
}

func TestJSONPointerRejects(t *testing.T) {
	for _, fp := range []string{
		"", "spec.traffic", ".spec..x", "/etc/passwd", ".spec.~1x", ".spec/x", ".spec.a~0b",
		".spec.traffic[-1]", ".spec.traffic[x]", ".spec.traffic[1", ".spec.traffic[]", "[0].x",
		".spec.traffic[*].percent", ".spec.traffic[?(@.tag)]", "..percent", ".spec.", ".spec.1x",
		".spec.traffic[1].percent ", ".spec.traffic[99999999]", ".spec['x']",
	} {
		t.Run(fp, func(t *testing.T) {
			got, err := JSONPointer(fp)
			if !errors.Is(err, ErrInvalidFieldPath) {
				t.Errorf("JSONPointer(%q) = %q, %v; want ErrInvalidFieldPath", fp, got, err)
			}
		})
	}
}

func TestPointerEscapes(t *testing.T) {
	got := pointer([]token{{name: "a/b"}, {name: "c~d"}, {index: 3, isIndex: true}})
	if diff := cmp.Diff("/a~1b/c~0d/3", got); diff != "" {
		t.Errorf("pointer (-want +got):\n%s", diff)
	}
}

// The reader must find what JSONPath {fieldPath} finds, as etc3 read weights with it.
func TestLookupAgreesWithJSONPath(t *testing.T) {
	obj := map[string]interface{}{
		"spec": map[string]interface{}{
			"traffic": []interface{}{
				map[string]interface{}{"revisionName": "v1", "percent": int64(70)},
				map[string]interface{}{"latestRevision": true, "percent": int64(30)},
			},
			"http": []interface{}{map[string]interface{}{"route": []interface{}{
				map[string]interface{}{"weight": int64(5)},
				map[string]interface{}{"weight": int64(95)},
			}}},
		},
	}
	for _, fp := range []string{".spec.traffic[0].percent", ".spec.traffic[1].percent", ".spec.http[0].route[1].weight"} {
		toks, err := parseFieldPath(fp)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, missing := lookup(obj, toks)
		if !ok {
			t.Fatalf("lookup(%q): %s", fp, missing)
		}
		j := jsonpath.New(fp)
		if err := j.Parse("{" + fp + "}"); err != nil {
			t.Fatal(err)
		}
		res, err := j.FindResults(obj)
		if err != nil {
			t.Fatal(err)
		}
		want := res[0][0].Interface()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lookup(%q) (-jsonpath +lookup):\n%s", fp, diff)
		}
	}
}

func TestLookupMissing(t *testing.T) {
	obj := map[string]interface{}{
		"spec": map[string]interface{}{
			"traffic": []interface{}{map[string]interface{}{"percent": int64(100)}},
			"name":    "x",
		},
	}
	tests := []struct {
		fieldPath string
		want      string
	}{
		{fieldPath: ".spec.traffic[1].percent", want: ".spec.traffic[1] is out of range (the list has 1 items)"},
		{fieldPath: ".spec.traffic[0].weight", want: ".spec.traffic[0].weight is missing"},
		{fieldPath: ".spec.name[0]", want: ".spec.name[0] is not a list"},
		{fieldPath: ".spec.name.x", want: ".spec.name.x: the parent is not an object"},
		{fieldPath: ".status.traffic", want: ".status is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.fieldPath, func(t *testing.T) {
			toks, err := parseFieldPath(tc.fieldPath)
			if err != nil {
				t.Fatal(err)
			}
			_, ok, got := lookup(obj, toks)
			if ok {
				t.Fatalf("lookup(%q) found a value", tc.fieldPath)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lookup(%q) (-want +got):\n%s", tc.fieldPath, diff)
			}
		})
	}
}

func TestWeightValue(t *testing.T) {
	good := []struct {
		in   interface{}
		want int32
	}{
		{in: int64(40), want: 40}, {in: float64(60), want: 60}, {in: int64(0), want: 0}, {in: int32(7), want: 7},
	}
	for _, tc := range good {
		got, ok := weightValue(tc.in)
		if !ok || got != tc.want {
			t.Errorf("weightValue(%#v) = %d, %v; want %d, true", tc.in, got, ok, tc.want)
		}
	}
	for _, in := range []interface{}{"40", 40.5, int64(1) << 40, nil, true, map[string]interface{}{}} {
		t.Run(fmt.Sprintf("%#v", in), func(t *testing.T) {
			if got, ok := weightValue(in); ok {
				t.Errorf("weightValue(%#v) = %d, true; want not an integer", in, got)
			}
		})
	}
}
