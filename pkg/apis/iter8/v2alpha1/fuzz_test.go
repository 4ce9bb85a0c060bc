package v2alpha1

import (
	"bytes"
	"os"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzDecodeDocuments: decoding never panics, and whatever decodes strictly validates
// without panicking and encodes to something that decodes again to the same documents.
func FuzzDecodeDocuments(f *testing.F) {
	seed, err := os.ReadFile("testdata/seed-experiment.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(validCanary))
	f.Add([]byte("apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: m}\nspec: {mock: [{name: v1, level: 15}]}\n---\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: []\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		docs, err := DecodeDocuments(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, d := range docs {
			var obj any
			switch {
			case d.Experiment != nil:
				_ = d.Experiment.Validate()
				obj = d.Experiment
			case d.Metric != nil:
				_ = d.Metric.Validate()
				obj = d.Metric
			default:
				t.Fatalf("document %d decoded to nothing", d.Index)
			}
			out, err := yaml.Marshal(obj)
			if err != nil {
				t.Fatalf("encoding a decoded document: %v", err)
			}
			again, err := DecodeDocuments(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("a decoded document does not decode again: %v\n%s", err, out)
			}
			if len(again) != 1 {
				t.Fatalf("re-decoding gave %d documents, want 1", len(again))
			}
		}
	})
}
