package actions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"knative.dev/pkg/apis"
)

// withDecoder decodes a task's `with` one key at a time, so that every error names its
// key, and reports the keys nobody asked for. Keys match case-insensitively because iter8
// decoded `with` with encoding/json (its notification/http documents `url` for a field
// tagged `URL`).
type withDecoder struct {
	with map[string]apiextensionsv1.JSON
	used map[string]bool
	errs *apis.FieldError
	// failures counts decode errors, to tell "absent" from "present but wrong".
	failures int
}

func newWithDecoder(with map[string]apiextensionsv1.JSON) *withDecoder {
	return &withDecoder{with: with, used: map[string]bool{}}
}

// lookup finds key, exactly or else case-insensitively.
func (d *withDecoder) lookup(key string) (string, []byte, bool) {
	if v, ok := d.with[key]; ok {
		return key, v.Raw, true
	}
	for k, v := range d.with {
		if strings.EqualFold(k, key) {
			return k, v.Raw, true
		}
	}
	return "", nil, false
}

// decode decodes key into ptr, strictly, and reports whether the key was present and
// decoded. A JSON null counts as absent.
func (d *withDecoder) decode(key string, ptr any) bool {
	k, raw, ok := d.lookup(key)
	if !ok {
		return false
	}
	d.used[k] = true
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr); err != nil {
		d.failures++
		d.errs = d.errs.Also(apis.ErrInvalidValue(string(raw), k, fmt.Sprintf("want %s: %v", typeName(ptr), err)))
		return false
	}
	return true
}

// raw returns the undecoded value of key.
func (d *withDecoder) raw(key string) (string, []byte, bool) {
	k, raw, ok := d.lookup(key)
	if ok {
		d.used[k] = true
	}
	return k, raw, ok
}

// requiredString decodes a string that must be present and not blank.
func (d *withDecoder) requiredString(key string) string {
	var s string
	before := d.failures
	if d.decode(key, &s) && strings.TrimSpace(s) != "" {
		return s
	}
	if d.failures == before {
		d.fail(apis.ErrMissingField(key))
	}
	return ""
}

func (d *withDecoder) fail(err *apis.FieldError) {
	d.errs = d.errs.Also(err)
}

// finish reports unknown keys and returns every error under `with`.
func (d *withDecoder) finish() *apis.FieldError {
	var unknown []string
	for k := range d.with {
		if !d.used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	errs := d.errs
	if len(unknown) > 0 {
		errs = errs.Also(apis.ErrDisallowedFields(unknown...))
	}
	return errs.ViaField("with")
}

func typeName(ptr any) string {
	switch ptr.(type) {
	case *string:
		return "a string"
	case *bool:
		return "true or false"
	case *int, *int32, *int64, *uint64:
		return "an integer"
	case *float64:
		return "a number"
	case *[]string:
		return "a list of strings"
	case *map[string]string:
		return "a map of strings"
	default:
		return "an object of the documented form"
	}
}
