package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"knative.dev/pkg/apis"
)

// iter8's common/readiness defaults.
const (
	defaultReadinessDelaySeconds    = 5
	defaultReadinessNumRetries      = 12
	defaultReadinessIntervalSeconds = 5
)

type readinessTask struct {
	objRefs  []objRef
	delay    time.Duration
	retries  int
	interval time.Duration
}

// objRef is an object common/readiness waits for.
type objRef struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	WaitFor   string `json:"waitFor,omitempty"`
}

func parseReadiness(with map[string]apiextensionsv1.JSON) (task, *apis.FieldError) {
	d := newWithDecoder(with)
	t := readinessTask{
		delay:    defaultReadinessDelaySeconds * time.Second,
		retries:  defaultReadinessNumRetries,
		interval: defaultReadinessIntervalSeconds * time.Second,
	}
	var delay, interval int
	if d.decode("initialDelaySeconds", &delay) {
		if delay < 0 {
			d.fail(apis.ErrInvalidValue(delay, "initialDelaySeconds", "must not be negative"))
		}
		t.delay = time.Duration(delay) * time.Second
	}
	if d.decode("numRetries", &t.retries) && t.retries < 0 {
		d.fail(apis.ErrInvalidValue(t.retries, "numRetries", "must not be negative"))
	}
	if d.decode("intervalSeconds", &interval) {
		if interval < 0 {
			d.fail(apis.ErrInvalidValue(interval, "intervalSeconds", "must not be negative"))
		}
		t.interval = time.Duration(interval) * time.Second
	}
	if d.decode("objRefs", &t.objRefs) {
		for i, r := range t.objRefs {
			d.fail(r.validate().ViaFieldIndex("objRefs", i))
		}
	}
	if ferr := d.finish(); ferr != nil {
		return nil, ferr
	}
	return t, nil
}

func (r objRef) validate() *apis.FieldError {
	var errs *apis.FieldError
	if r.Kind == "" {
		errs = errs.Also(apis.ErrMissingField("kind"))
	}
	if r.Name == "" {
		errs = errs.Also(apis.ErrMissingField("name"))
	} else if msgs := validation.IsDNS1123Subdomain(r.Name); len(msgs) > 0 {
		errs = errs.Also(apis.ErrInvalidValue(r.Name, "name", strings.Join(msgs, "; ")))
	}
	if r.Namespace != "" {
		if msgs := validation.IsDNS1123Label(r.Namespace); len(msgs) > 0 {
			errs = errs.Also(apis.ErrInvalidValue(r.Namespace, "namespace", strings.Join(msgs, "; ")))
		}
	}
	if r.WaitFor != "" {
		if _, _, err := parseWaitFor(r.WaitFor); err != nil {
			errs = errs.Also(apis.ErrInvalidValue(r.WaitFor, "waitFor", err.Error()))
		}
	}
	return errs
}

// parseWaitFor parses kubectl wait's --for=condition=TYPE[=VALUE], or a bare condition
// TYPE, into the condition type and wanted status.
func parseWaitFor(s string) (string, string, error) {
	s = strings.TrimPrefix(s, "condition=")
	typ, value, found := strings.Cut(s, "=")
	if !found {
		value = "True"
	}
	if typ == "" || value == "" || strings.ContainsAny(typ, "= ") {
		return "", "", errors.New("want a condition type, condition=TYPE or condition=TYPE=VALUE")
	}
	return typ, value, nil
}

// check is one object to wait for.
type check struct {
	what     string // how errors and logs name it
	resource schema.GroupVersionResource
	ns, name string
	condType string
	condWant string
}

func (t readinessTask) run(ctx context.Context, tc *taskContext) error {
	if tc.Dynamic == nil {
		return fmt.Errorf("common/readiness %w; it cannot run with iter8ctl run", ErrNeedsCluster)
	}
	checks, err := t.checks(tc)
	if err != nil {
		return err
	}
	if len(checks) == 0 {
		tc.logf("nothing to wait for")
		return nil
	}
	if err := tc.Sleep(ctx, t.delay); err != nil {
		return err
	}
	attempts := 1 + t.retries
	next := 0 // the checks before next have passed
	var why string
	for attempt := 1; ; attempt++ {
		for next < len(checks) {
			c := checks[next]
			if why, err = c.pending(ctx, tc); err != nil {
				return err
			}
			if why != "" {
				break
			}
			tc.logf("%s is ready", c.what)
			next++
		}
		if next == len(checks) {
			return nil
		}
		if attempt >= attempts {
			return fmt.Errorf("waiting for %s: not ready after %d attempts %s apart: %s", checks[next].what, attempts, t.interval, why)
		}
		tc.logf("%s is not ready (attempt %d of %d): %s", checks[next].what, attempt, attempts, why)
		if err := tc.Sleep(ctx, t.interval); err != nil {
			return err
		}
	}
}

// checks resolves the objRefs and the versions' weightObjRefs into checks.
func (t readinessTask) checks(tc *taskContext) ([]check, error) {
	var checks []check
	seen := map[string]bool{}
	add := func(c check) {
		key := c.resource.String() + "/" + c.ns + "/" + c.name + "/" + c.condType
		if !seen[key] {
			seen[key] = true
			checks = append(checks, c)
		}
	}
	for i, r := range t.objRefs {
		if tc.Mapper == nil {
			return nil, fmt.Errorf("objRefs[%d]: resolving kind %q needs a REST mapper, and none was configured", i, r.Kind)
		}
		m, err := mappingFor(tc.Mapper, r.Kind)
		if err != nil {
			return nil, fmt.Errorf("objRefs[%d]: %w", i, err)
		}
		c := check{resource: m.Resource, name: r.Name}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			c.ns = r.Namespace
			if c.ns == "" {
				c.ns = tc.exp.Namespace
			}
		}
		if r.WaitFor != "" {
			c.condType, c.condWant, _ = parseWaitFor(r.WaitFor)
		}
		c.what = describeObject(r.Kind, c.ns, c.name)
		add(c)
	}
	for _, v := range tc.exp.Spec.Versions() {
		r := v.WeightObjRef
		if r == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(r.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("weightObjRef of version %s: %w", v.Name, err)
		}
		gvk := gv.WithKind(r.Kind)
		c := check{name: r.Name, ns: r.Namespace}
		if tc.Mapper != nil {
			m, err := tc.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				return nil, fmt.Errorf("weightObjRef of version %s: %w", v.Name, err)
			}
			c.resource = m.Resource
			if m.Scope.Name() != meta.RESTScopeNameNamespace {
				c.ns = ""
			} else if c.ns == "" {
				c.ns = tc.exp.Namespace
			}
		} else {
			// Without discovery, assume the usual plural and a namespaced object, as
			// weight objects (Knative Services, VirtualServices) are.
			c.resource, _ = meta.UnsafeGuessKindToResource(gvk)
			if c.ns == "" {
				c.ns = tc.exp.Namespace
			}
		}
		c.what = describeObject(r.Kind, c.ns, c.name) + " (weightObjRef of version " + v.Name + ")"
		add(c)
	}
	return checks, nil
}

func describeObject(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

// mappingFor resolves kubectl's TYPE[.VERSION][.GROUP], a resource or a kind, singular,
// plural or short, as kubectl's mappingFor does.
func mappingFor(mapper meta.RESTMapper, arg string) (*meta.RESTMapping, error) {
	fullGVR, gr := schema.ParseResourceArg(arg)
	var gvk schema.GroupVersionKind
	if fullGVR != nil {
		gvk, _ = mapper.KindFor(*fullGVR)
	}
	if gvk.Empty() {
		gvk, _ = mapper.KindFor(gr.WithVersion(""))
	}
	if !gvk.Empty() {
		return mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	fullGVK, gk := schema.ParseKindArg(arg)
	if fullGVK == nil {
		k := gk.WithVersion("")
		fullGVK = &k
	}
	if !fullGVK.Empty() {
		if m, err := mapper.RESTMapping(fullGVK.GroupKind(), fullGVK.Version); err == nil {
			return m, nil
		}
	}
	m, err := mapper.RESTMapping(gk)
	if err != nil {
		return nil, fmt.Errorf("the server has no resource type %q: %w", arg, err)
	}
	return m, nil
}

// pending says why the object is not ready, or "" when it is. Errors that waiting cannot
// cure end the wait.
func (c check) pending(ctx context.Context, tc *taskContext) (string, error) {
	var ri = tc.Dynamic.Resource(c.resource)
	var u *unstructured.Unstructured
	var err error
	if c.ns != "" {
		u, err = ri.Namespace(c.ns).Get(ctx, c.name, metav1.GetOptions{})
	} else {
		u, err = ri.Get(ctx, c.name, metav1.GetOptions{})
	}
	switch {
	case apierrors.IsNotFound(err):
		return "not found", nil
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return "", fmt.Errorf("reading %s: %w", c.what, err)
	case ctx.Err() != nil:
		return "", fmt.Errorf("reading %s: %w", c.what, ctx.Err())
	case err != nil:
		return err.Error(), nil
	}
	if c.condType == "" {
		return "", nil
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, ci := range conds {
		cm, ok := ci.(map[string]any)
		if !ok {
			continue
		}
		typ, _ := cm["type"].(string)
		if !strings.EqualFold(typ, c.condType) {
			continue
		}
		status, _ := cm["status"].(string)
		if strings.EqualFold(status, c.condWant) {
			return "", nil
		}
		why := fmt.Sprintf("condition %s is %s, want %s", typ, status, c.condWant)
		if reason, _ := cm["reason"].(string); reason != "" {
			why += " (" + reason + ")"
		}
		return why, nil
	}
	return fmt.Sprintf("condition %s is not set", c.condType), nil
}
