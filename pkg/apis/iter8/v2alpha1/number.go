package v2alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Number is a decimal written as a JSON number (50) or a string ("0.01", or a
// Kubernetes quantity such as "10m" as etc3 wrote them). It keeps the text it was decoded
// from, so objects round-trip unchanged, and it decodes whatever text it is given: whether
// that text is a number is for Validate to say, with the field's path, rather than for the
// decoder to refuse without one.
//
// +kubebuilder:validation:XIntOrString
// +kubebuilder:validation:Type=""
type Number struct {
	raw string `json:"-"`
}

// NewNumber returns the Number for v, written as a string so that it fits the CRD's
// integer-or-string schema.
func NewNumber(v float64) *Number {
	b, _ := json.Marshal(strconv.FormatFloat(v, 'f', -1, 64))
	return &Number{raw: string(b)}
}

// ParseNumber returns the Number for the text of a limit or a level, such as "0.01".
func ParseNumber(s string) *Number {
	b, _ := json.Marshal(s)
	return &Number{raw: string(b)}
}

// Float returns the value. It fails for text that is not a finite number.
func (n Number) Float() (float64, error) {
	s := n.raw
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	if s == "" {
		return 0, fmt.Errorf("empty value is not a number")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		q, qerr := resource.ParseQuantity(s)
		if qerr != nil {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		f = q.AsApproximateFloat64()
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a finite number", s)
	}
	return f, nil
}

// Equal reports whether two numbers were written the same way. go-cmp calls it, so that
// comparing specs that hold limits does not need access to the unexported text.
func (n Number) Equal(o Number) bool { return n.raw == o.raw }

// Value returns the value, or 0 when it is not a number; call Float to know which.
func (n Number) Value() float64 {
	f, _ := n.Float()
	return f
}

// String is the text the number was written as, unquoted.
func (n Number) String() string {
	if unq, err := strconv.Unquote(n.raw); err == nil {
		return unq
	}
	return n.raw
}

// MarshalJSON writes the number as it was read.
func (n Number) MarshalJSON() ([]byte, error) {
	if n.raw == "" {
		return []byte(`""`), nil
	}
	return []byte(n.raw), nil
}

// NumberError is the error of a Number written as something other than a number or a
// string (an object, a list, a boolean). Path is the field, when the decoder found it.
type NumberError struct {
	Value string
	Path  string
}

func (e *NumberError) Error() string {
	v := BoundedValue(e.Value)
	if e.Path == "" {
		return fmt.Sprintf("%s is neither a number nor a string", v)
	}
	return fmt.Sprintf("%s: %s is neither a number nor a string", e.Path, v)
}

// UnmarshalJSON keeps a JSON number or string as it is; other JSON is an error.
func (n *Number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return fmt.Errorf("empty number")
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	case 'n': // null
		*n = Number{}
		return nil
	default:
		var f json.Number
		if err := json.Unmarshal(b, &f); err != nil {
			return &NumberError{Value: string(b)}
		}
	}
	n.raw = string(b)
	return nil
}
