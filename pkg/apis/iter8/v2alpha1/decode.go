package v2alpha1

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Document is one decoded YAML or JSON document: an Experiment or a Metric.
type Document struct {
	// Index is the document's position in its stream, from 0.
	Index      int
	Experiment *Experiment
	Metric     *Metric
}

// DecodeExperiment decodes one Experiment strictly: an unknown field is an error.
func DecodeExperiment(b []byte) (*Experiment, error) {
	docs, err := DecodeDocuments(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var exp *Experiment
	for _, d := range docs {
		if d.Experiment == nil {
			continue
		}
		if exp != nil {
			return nil, fmt.Errorf("document %d: more than one Experiment", d.Index)
		}
		exp = d.Experiment
	}
	if exp == nil {
		return nil, errors.New("no Experiment found")
	}
	return exp, nil
}

// DecodeDocuments decodes a stream of YAML documents (or JSON) strictly. Every document
// must be an iter8.tools Experiment or Metric, in v2alpha1 or v2alpha2, or a List of them.
func DecodeDocuments(r io.Reader) ([]Document, error) {
	raws, err := splitDocuments(r)
	if err != nil {
		return nil, err
	}
	docs := make([]Document, 0, len(raws))
	for _, rd := range raws {
		d := Document{Index: rd.index}
		var obj any
		if rd.kind == "Experiment" {
			d.Experiment = &Experiment{}
			obj = d.Experiment
		} else {
			d.Metric = &Metric{}
			obj = d.Metric
		}
		if err := unmarshalStrict(rd.raw, obj); err != nil {
			return nil, fmt.Errorf("%s: decoding %s: %w", rd.where, rd.kind, err)
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// rawDocument is one Experiment or Metric of a stream, not yet decoded.
type rawDocument struct {
	index int
	// where names the document for messages: "document 0" or "document 0 item 2".
	where string
	kind  string
	raw   []byte
}

// splitDocuments splits a stream of YAML documents (or JSON) into its objects, Lists
// unpacked, and checks that each is an iter8.tools Experiment or Metric.
func splitDocuments(r io.Reader) ([]rawDocument, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs []rawDocument
	for i := 0; ; i++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || isOnlyComments(raw) {
			continue
		}
		var meta struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Items      []json2yamlObject `json:"items"`
		}
		if err := yaml.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if meta.Kind == "List" || meta.Kind == "ExperimentList" || meta.Kind == "MetricList" {
			for j, item := range meta.Items {
				where := fmt.Sprintf("document %d item %d", i, j)
				kind, err := checkKind(item)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", where, err)
				}
				docs = append(docs, rawDocument{index: i, where: where, kind: kind, raw: item})
			}
			continue
		}
		where := fmt.Sprintf("document %d", i)
		kind, err := checkKind(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		docs = append(docs, rawDocument{index: i, where: where, kind: kind, raw: raw})
	}
}

// json2yamlObject keeps a list item as raw JSON for a second, strict decode.
type json2yamlObject []byte

func (o *json2yamlObject) UnmarshalJSON(b []byte) error {
	*o = append((*o)[:0], b...)
	return nil
}

// checkKind returns the kind of an iter8.tools Experiment or Metric, and an error for any
// other object.
func checkKind(raw []byte) (string, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return "", err
	}
	if meta.APIVersion != SchemeGroupVersion.String() && meta.APIVersion != V2alpha2.String() {
		return "", fmt.Errorf("apiVersion %q is not %s or %s", meta.APIVersion, SchemeGroupVersion, V2alpha2)
	}
	if meta.Kind != "Experiment" && meta.Kind != "Metric" {
		return "", fmt.Errorf("kind %q is not Experiment or Metric", meta.Kind)
	}
	return meta.Kind, nil
}

// findValue returns the path (spec.criteria.objectives[0].upperLimit) of the first value
// of tree whose compact JSON is value, or "".
func findValue(tree any, value, path string) string {
	var want bytes.Buffer
	if json.Compact(&want, []byte(value)) != nil {
		return ""
	}
	var walk func(v any, path string) string
	walk = func(v any, path string) string {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if b, err := json.Marshal(v[k]); err == nil && bytes.Equal(b, want.Bytes()) {
					return p
				}
				if found := walk(v[k], p); found != "" {
					return found
				}
			}
		case []any:
			for i, x := range v {
				if found := walk(x, fmt.Sprintf("%s[%d]", path, i)); found != "" {
					return found
				}
			}
		}
		return ""
	}
	return walk(tree, path)
}

func isOnlyComments(b []byte) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		l := bytes.TrimSpace(line)
		if len(l) > 0 && l[0] != '#' && !bytes.Equal(l, []byte("---")) {
			return false
		}
	}
	return true
}

// unmarshalStrict decodes YAML or JSON like the API server does in strict mode: unknown
// and duplicate fields are errors, named by their full path (spec.criteria.bogus).
func unmarshalStrict(raw []byte, obj any) error {
	// YAMLToJSON would keep the last of two equal keys without a word; the strict
	// conversion refuses them, as the API server does.
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	var ne *NumberError
	if errors.As(err, &ne) && ne.Path == "" {
		// The decoder gives a custom type's error no field path: find it.
		var tree any
		if json.Unmarshal(js, &tree) == nil {
			ne.Path = findValue(tree, ne.Value, "")
		}
	}
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}
