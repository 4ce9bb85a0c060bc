package v2alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// ReadExperiment decodes one Experiment for reading, as describe and assert do and as the
// stages read what the API server returns: unlike DecodeExperiment it accepts what iter8's
// own controllers wrote over the v2alpha1 and v2alpha2 releases.
//
//   - Fields that were renamed or reshaped are read in their later spelling: spec.metrics
//     (v2alpha1) as status.metrics, strategy.type as testingPattern, weights.algorithm as
//     deploymentPattern, duration.maxIterations as iterationsPerLoop, criteria.support as
//     strength, a task's condition as if, the conditions ExperimentCompleted and
//     ExperimentFailed as Completed and Failed, and a Metric's sampleSize or sample_size
//     object {namespace, name} as "namespace/name".
//   - Any other field this version does not know is dropped and named in the returned
//     list, once per field whatever the list index or map key (status.metrics[*].x).
//   - A field of the wrong type is dropped and named the same way when describe does not
//     use it; when describe does (the stage, an objective, a verdict, a metric value...),
//     it is an error that names the field, rather than a report that would be wrong.
func ReadExperiment(b []byte) (*Experiment, []string, error) {
	docs, err := splitDocuments(bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	var found *rawDocument
	for i := range docs {
		d := &docs[i]
		if d.kind != "Experiment" {
			continue
		}
		if found != nil {
			return nil, nil, fmt.Errorf("document %d: more than one Experiment", d.index)
		}
		found = d
	}
	if found == nil {
		return nil, nil, errors.New("no Experiment found")
	}
	exp, ignored, err := readExperimentObject(found.raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading Experiment: %w", found.where, err)
	}
	return exp, ignored, nil
}

func readExperimentObject(raw []byte) (*Experiment, []string, error) {
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var obj any
	if err := dec.Decode(&obj); err != nil {
		return nil, nil, err
	}
	m, ok := obj.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("want an object, got %s", jsonKind(obj))
	}
	upgradeLegacy(m)
	w := &walker{ignored: map[string]bool{}}
	if _, _, err := w.walk(m, reflect.TypeOf(Experiment{}), "", ""); err != nil {
		return nil, nil, err
	}
	clean, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	exp := &Experiment{}
	if err := json.Unmarshal(clean, exp); err != nil {
		// The walk checked every field against the types; this is a bug, not bad input.
		return nil, nil, fmt.Errorf("decoding the readable fields: %w", err)
	}
	ignored := make([]string, 0, len(w.ignored))
	for p := range w.ignored {
		ignored = append(ignored, p)
	}
	sort.Strings(ignored)
	return exp, ignored, nil
}

// upgradeLegacy rewrites, in place, the fields that iter8's controllers wrote under an
// earlier name or shape into the spelling of this version.
func upgradeLegacy(obj map[string]any) {
	spec, _ := obj["spec"].(map[string]any)
	status, _ := obj["status"].(map[string]any)
	if spec != nil {
		// v2alpha1 and early v2alpha2 (before etc3 #180) kept the metrics in the spec.
		if ms, ok := spec["metrics"].([]any); ok {
			if status == nil {
				status = map[string]any{}
				obj["status"] = status
			}
			if _, has := status["metrics"]; !has {
				status["metrics"] = ms
				delete(spec, "metrics")
			}
		}
		if st, ok := spec["strategy"].(map[string]any); ok {
			rename(st, "type", "testingPattern")
			if w, ok := st["weights"].(map[string]any); ok {
				if alg, ok := w["algorithm"].(string); ok && st["deploymentPattern"] == nil {
					st["deploymentPattern"] = alg
					delete(w, "algorithm")
				}
			}
			if actions, ok := st["actions"].(map[string]any); ok {
				for _, tasks := range actions {
					ts, _ := tasks.([]any)
					for _, t := range ts {
						if tm, ok := t.(map[string]any); ok {
							rename(tm, "condition", "if")
						}
					}
				}
			}
		}
		if d, ok := spec["duration"].(map[string]any); ok {
			rename(d, "maxIterations", "iterationsPerLoop")
		}
		if c, ok := spec["criteria"].(map[string]any); ok {
			rename(c, "support", "strength")
		}
	}
	if status == nil {
		return
	}
	if conds, ok := status["conditions"].([]any); ok {
		for _, c := range conds {
			cm, ok := c.(map[string]any)
			if !ok {
				continue
			}
			switch cm["type"] {
			case "ExperimentCompleted":
				cm["type"] = string(ConditionCompleted)
			case "ExperimentFailed":
				cm["type"] = string(ConditionFailed)
			}
		}
	}
	if ms, ok := status["metrics"].([]any); ok {
		for _, mi := range ms {
			mim, _ := mi.(map[string]any)
			obj, _ := mim["metricObj"].(map[string]any)
			if ms, ok := obj["spec"].(map[string]any); ok {
				upgradeMetricSpec(ms)
			}
		}
	}
}

// upgradeMetricSpec reads v2alpha1's sample_size and object-valued sampleSize.
func upgradeMetricSpec(spec map[string]any) {
	rename(spec, "sample_size", "sampleSize")
	ref, ok := spec["sampleSize"].(map[string]any)
	if !ok {
		return
	}
	name, _ := ref["name"].(string)
	ns, _ := ref["namespace"].(string)
	switch {
	case name != "" && ns != "":
		spec["sampleSize"] = ns + "/" + name
	case name != "":
		spec["sampleSize"] = name
	}
}

// rename moves m[from] to m[to] unless m already has to, in which case from stays and is
// reported as ignored.
func rename(m map[string]any, from, to string) {
	v, ok := m[from]
	if !ok {
		return
	}
	if _, has := m[to]; has {
		return
	}
	m[to] = v
	delete(m, from)
}

// walker checks a decoded JSON value against a Go type, drops what the type does not hold
// and records it.
type walker struct {
	ignored map[string]bool
}

var unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// walk checks v against t. path names the field for messages (status.conditions[0].type);
// schema is the same without indices and keys (status.conditions[*].type). It returns v,
// with what t does not hold removed, and false when v is of the wrong type and may be
// dropped; an error when it may not.
func (w *walker) walk(v any, t reflect.Type, path, schema string) (any, bool, error) {
	if v == nil {
		return v, true, nil
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(unmarshalerType) {
		b, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(b, reflect.New(t).Interface())
		}
		if err != nil {
			return w.wrong(path, schema, fmt.Sprintf("%s is not a valid %s: %v", shortJSON(v), typeName(t), err), "not a valid "+typeName(t))
		}
		return v, true, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(v, t.Elem(), path, schema)
	case reflect.Interface:
		return v, true, nil
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return w.wrongType(v, "object", path, schema)
		}
		fields := jsonFields(t)
		for k, fv := range m {
			ft, known := fields[k]
			p, s := join(path, k), join(schema, k)
			if !known {
				w.ignored[s] = true
				delete(m, k)
				continue
			}
			nv, keep, err := w.walk(fv, ft, p, s)
			if err != nil {
				return nil, false, err
			}
			if keep {
				m[k] = nv
			} else {
				delete(m, k)
			}
		}
		return m, true, nil
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return w.wrongType(v, "object", path, schema)
		}
		for k, ev := range m {
			nv, keep, err := w.walk(ev, t.Elem(), path+"["+k+"]", schema+"[*]")
			if err != nil {
				return nil, false, err
			}
			if keep {
				m[k] = nv
			} else {
				delete(m, k)
			}
		}
		return m, true, nil
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return w.wrongType(v, "list", path, schema)
		}
		kept := make([]any, 0, len(l))
		for i, ev := range l {
			nv, keep, err := w.walk(ev, t.Elem(), fmt.Sprintf("%s[%d]", path, i), schema+"[*]")
			if err != nil {
				return nil, false, err
			}
			if keep {
				kept = append(kept, nv)
			}
		}
		return kept, true, nil
	case reflect.String:
		if _, ok := v.(string); !ok {
			return w.wrongType(v, "string", path, schema)
		}
		return v, true, nil
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return w.wrongType(v, "boolean", path, schema)
		}
		return v, true, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return w.wrongType(v, "integer", path, schema)
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			return w.wrong(path, schema, fmt.Sprintf("%s is not a %d-bit integer", n, t.Bits()), "not an integer")
		}
		return v, true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return w.wrongType(v, "integer", path, schema)
		}
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			return w.wrong(path, schema, fmt.Sprintf("%s is not an unsigned %d-bit integer", n, t.Bits()), "not an integer")
		}
		return v, true, nil
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return w.wrongType(v, "number", path, schema)
		}
		return v, true, nil
	}
	return w.wrong(path, schema, fmt.Sprintf("cannot read %s into %s", shortJSON(v), t), "unreadable")
}

func (w *walker) wrongType(v any, want, path, schema string) (any, bool, error) {
	got := jsonKind(v)
	kind, _, _ := strings.Cut(got, " ")
	return w.wrong(path, schema, "want "+want+", got "+got, "want "+want+", got "+kind)
}

// wrong reports a field of the wrong type: dropped and recorded (with short, the same for
// every element of a list) when describe does not use it, an error naming it and saying
// msg when describe does.
func (w *walker) wrong(path, schema, msg, short string) (any, bool, error) {
	if path == "" {
		return nil, false, errors.New(msg)
	}
	if usedByDescribe(schema) {
		return nil, false, fmt.Errorf("field %s: %s", path, msg)
	}
	w.ignored[schema+" ("+short+")"] = true
	return nil, false, nil
}

// describeFields are the fields describe and assert report, with everything below them.
// A field among them, or below one, that cannot be read makes the report wrong, so it is
// an error; any other is dropped.
var describeFields = []string{
	"apiVersion", "kind", "metadata.name", "metadata.namespace",
	"spec.target", "spec.strategy.testingPattern", "spec.strategy.deploymentPattern",
	"spec.criteria", "spec.duration",
	"spec.versionInfo.baseline.name", "spec.versionInfo.candidates[*].name",
	"status.stage", "status.completedIterations", "status.conditions",
	"status.analysis.aggregatedMetrics", "status.analysis.winnerAssessment",
	"status.analysis.versionAssessments",
	"status.recommendedBaseline", "status.versionRecommendedForPromotion",
	"status.rolledBack", "status.message",
	"status.metrics[*].name", "status.metrics[*].metricObj.metadata.name",
	"status.metrics[*].metricObj.spec.units",
}

// usedByDescribe reports whether the field at schema is one of describeFields, below one,
// or an object or list on the way to one (a spec that is a string hides the target).
func usedByDescribe(schema string) bool {
	for _, f := range describeFields {
		if schema == f || strings.HasPrefix(schema, f+".") || strings.HasPrefix(schema, f+"[") ||
			strings.HasPrefix(f, schema+".") || strings.HasPrefix(f, schema+"[") {
			return true
		}
	}
	return false
}

// jsonFields maps the JSON names of t's fields, inline ones included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := f.Anonymous && name == "" || strings.Contains(","+opts+",", ",inline,")
		if inline && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				fields[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "list"
	case string:
		return "string " + shortJSON(v)
	case bool:
		return "boolean " + shortJSON(v)
	case json.Number:
		return "number " + v.String()
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func shortJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	if len(b) > 40 {
		return string(b[:37]) + "..."
	}
	return string(b)
}

func typeName(t reflect.Type) string {
	switch t.Name() {
	case "Number":
		return "number"
	case "Time":
		return "time"
	}
	return t.String()
}
