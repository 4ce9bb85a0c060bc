package traffic

import (
	"fmt"
	"strconv"
	"strings"
)

// token is one step of a fieldPath: a field name, or an array index when isIndex.
type token struct {
	name    string
	index   int
	isIndex bool
}

// parseFieldPath splits a weightObjRef fieldPath such as .spec.traffic[1].percent into
// tokens. Only dotted field names ([A-Za-z_][A-Za-z0-9_-]*) and [N] indexes are accepted:
// the same grammar the API validation enforces, so that reading (JSONPath) and writing (JSON
// pointer) address exactly the same field and nothing else (no filters, wildcards, ..,
// recursive descent, or path escapes).
func parseFieldPath(fp string) ([]token, error) {
	if fp == "" {
		return nil, fmt.Errorf("%w: empty fieldPath", ErrInvalidFieldPath)
	}
	if fp[0] != '.' {
		return nil, fmt.Errorf("%w: %q does not start with '.'", ErrInvalidFieldPath, fp)
	}
	var toks []token
	i := 0
	for i < len(fp) {
		switch fp[i] {
		case '.':
			j := i + 1
			for j < len(fp) && isNameChar(fp[j], j == i+1) {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("%w: %q has no field name at offset %d", ErrInvalidFieldPath, fp, i+1)
			}
			toks = append(toks, token{name: fp[i+1 : j]})
			i = j
		case '[':
			if len(toks) == 0 {
				return nil, fmt.Errorf("%w: %q indexes before naming a field", ErrInvalidFieldPath, fp)
			}
			end := strings.IndexByte(fp[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("%w: %q has an unterminated '['", ErrInvalidFieldPath, fp)
			}
			digits := fp[i+1 : i+end]
			if digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 6 {
				return nil, fmt.Errorf("%w: %q has index [%s], want a non-negative integer", ErrInvalidFieldPath, fp, digits)
			}
			n, _ := strconv.Atoi(digits)
			toks = append(toks, token{index: n, isIndex: true})
			i += end + 1
		default:
			return nil, fmt.Errorf("%w: %q has %q at offset %d, want '.' or '['", ErrInvalidFieldPath, fp, fp[i], i)
		}
	}
	return toks, nil
}

func isNameChar(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		return true
	case c >= '0' && c <= '9', c == '-':
		return !first
	}
	return false
}

// JSONPointer turns a weightObjRef fieldPath into the RFC 6901 JSON pointer of a JSON patch:
// .spec.traffic[1].percent becomes /spec/traffic/1/percent.
func JSONPointer(fieldPath string) (string, error) {
	toks, err := parseFieldPath(fieldPath)
	if err != nil {
		return "", err
	}
	return pointer(toks), nil
}

// pointerEscaper escapes '~' before '/', as RFC 6901 requires. The fieldPath grammar admits
// neither, but the pointer must stay correct if the grammar ever widens.
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func pointer(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteByte('/')
		if t.isIndex {
			b.WriteString(strconv.Itoa(t.index))
		} else {
			b.WriteString(pointerEscaper.Replace(t.name))
		}
	}
	return b.String()
}

// lookup returns the value at toks in obj (an unstructured object's content). ok is false
// when a step is missing; the string then says which.
func lookup(obj map[string]interface{}, toks []token) (v interface{}, ok bool, missing string) {
	var cur interface{} = obj
	var path strings.Builder
	for _, t := range toks {
		if t.isIndex {
			fmt.Fprintf(&path, "[%d]", t.index)
			list, isList := cur.([]interface{})
			if !isList {
				return nil, false, fmt.Sprintf("%s is not a list", path.String())
			}
			if t.index >= len(list) {
				return nil, false, fmt.Sprintf("%s is out of range (the list has %d items)", path.String(), len(list))
			}
			cur = list[t.index]
			continue
		}
		path.WriteString("." + t.name)
		m, isMap := cur.(map[string]interface{})
		if !isMap {
			return nil, false, fmt.Sprintf("%s: the parent is not an object", path.String())
		}
		next, found := m[t.name]
		if !found {
			return nil, false, fmt.Sprintf("%s is missing", path.String())
		}
		cur = next
	}
	return cur, true, ""
}

// weightValue converts a JSON number of an unstructured object to a weight.
func weightValue(v interface{}) (int32, bool) {
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case int32:
		f = float64(n)
	case int:
		f = float64(n)
	case float64:
		f = n
	default:
		return 0, false
	}
	if f != float64(int64(f)) || f < -1<<31 || f > 1<<31-1 {
		return 0, false
	}
	return int32(f), true
}
