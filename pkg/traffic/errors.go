package traffic

import (
	"errors"
	"fmt"
)

// The kinds of failure, for errors.Is. Errors of Observe and Apply that concern one weight
// are *RefError values wrapping one of these.
var (
	// ErrExternalChange: a weight changed since it was observed, so someone else (a human,
	// another controller) edited the object. The edit is kept; nothing is overwritten.
	ErrExternalChange = errors.New("weight changed externally since it was observed")
	// ErrObjectNotFound: the object a weightObjRef names does not exist.
	ErrObjectNotFound = errors.New("object not found")
	// ErrUnknownKind: the cluster serves no resource for the weightObjRef's apiVersion and kind.
	ErrUnknownKind = errors.New("kind not served by the cluster")
	// ErrFieldMissing: the object has no value at the fieldPath.
	ErrFieldMissing = errors.New("field missing")
	// ErrFieldNotInteger: the value at the fieldPath is not an integer.
	ErrFieldNotInteger = errors.New("field is not an integer")
	// ErrInvalidFieldPath: the fieldPath is not of the form .a.b[0].c; rejected before any
	// request.
	ErrInvalidFieldPath = errors.New("invalid fieldPath")
	// ErrInvalidRef: the weightObjRef lacks apiVersion, kind or name, or its apiVersion does
	// not parse.
	ErrInvalidRef = errors.New("invalid weightObjRef")
	// ErrInsufficientRefs: two or more versions have no weightObjRef, so their weights
	// cannot be inferred.
	ErrInsufficientRefs = errors.New("insufficient number of weightObjRefs")
	// ErrInconsistentWeights: the observed weights exceed 100, or a desired weight is
	// missing or out of range.
	ErrInconsistentWeights = errors.New("inconsistent weights")
)

// RefError is a failure about one version's weightObjRef. It names the version, the object
// and the fieldPath.
type RefError struct {
	Version   string
	Object    string // e.g. `Service.serving.knative.dev "default/sample-app"`
	FieldPath string
	Err       error  // one of the Err* values above, or an API error
	Detail    string // what exactly, optional
}

func (e *RefError) Error() string {
	s := fmt.Sprintf("version %q: %s fieldPath %s: %v", e.Version, e.Object, e.FieldPath, e.Err)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *RefError) Unwrap() error { return e.Err }
