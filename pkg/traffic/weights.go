package traffic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/kindmap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// DefaultFieldManager is the field manager of the patches Apply sends.
const DefaultFieldManager = "iter8-tekton"

// Client reads and writes weights through weightObjRefs.
type Client struct {
	Dynamic dynamic.Interface
	// Mapper resolves apiVersion and kind to a resource. A mapper that implements
	// meta.ResettableRESTMapper (NewClient's kindmap.Mapper) is reset once when a kind is
	// unknown, so CRDs installed after it was built are found.
	Mapper meta.RESTMapper
	// FieldManager names the writer of the patches; DefaultFieldManager when empty.
	FieldManager string
}

// NewClient returns a Client for cfg, with a kindmap.Mapper that reads discovery as it
// needs it and keeps what it read.
func NewClient(cfg *rest.Config) (*Client, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the dynamic client: %w", err)
	}
	mapper, err := kindmap.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{Dynamic: dyn, Mapper: mapper}, nil
}

// objKey identifies the object of a weightObjRef.
type objKey struct {
	apiVersion, kind, namespace, name string
}

func (k objKey) String() string {
	return fmt.Sprintf("%s %s %s/%s", k.apiVersion, k.kind, k.namespace, k.name)
}

// weightRef is one version's weightObjRef, checked.
type weightRef struct {
	version   string
	key       objKey
	fieldPath string
	toks      []token
}

func (r weightRef) fail(err error, detail string) *RefError {
	return &RefError{Version: r.version, Object: r.key.String(), FieldPath: r.fieldPath, Err: err, Detail: detail}
}

// refsOf returns each version's weightRef in version order (nil where a version has
// none). Every ref is checked before any request is made.
func refsOf(exp *v2alpha1.Experiment) (names []string, refs []*weightRef, err error) {
	versions := exp.Spec.Versions()
	if len(versions) == 0 {
		return nil, nil, errors.New("the experiment has no versionInfo")
	}
	var errs []error
	for _, v := range versions {
		names = append(names, v.Name)
		r := v.WeightObjRef
		if r == nil {
			refs = append(refs, nil)
			continue
		}
		ns := r.Namespace
		if ns == "" {
			ns = exp.Namespace
		}
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		wr := &weightRef{version: v.Name, fieldPath: r.FieldPath,
			key: objKey{apiVersion: r.APIVersion, kind: r.Kind, namespace: ns, name: r.Name}}
		refs = append(refs, wr)
		if r.APIVersion == "" || r.Kind == "" || r.Name == "" {
			errs = append(errs, wr.fail(ErrInvalidRef, "apiVersion, kind and name are required"))
			continue
		}
		if _, err := schema.ParseGroupVersion(r.APIVersion); err != nil {
			errs = append(errs, wr.fail(ErrInvalidRef, err.Error()))
			continue
		}
		if wr.toks, err = parseFieldPath(r.FieldPath); err != nil {
			errs = append(errs, wr.fail(err, ""))
		}
	}
	return names, refs, errors.Join(errs...)
}

// CompleteWeights returns the weights of names in order from the known ones (nil where
// unknown), computing a single unknown weight as 100 minus the sum of the others: only
// n−1 versions need a weightObjRef.
func CompleteWeights(names []string, known []*int32) ([]v2alpha1.WeightData, error) {
	if len(names) != len(known) {
		return nil, fmt.Errorf("%d names but %d weights", len(names), len(known))
	}
	var sum int64
	missing := -1
	var unknown []string
	for i, w := range known {
		if w == nil {
			missing = i
			unknown = append(unknown, names[i])
			continue
		}
		sum += int64(*w)
	}
	if len(unknown) > 1 {
		return nil, fmt.Errorf("%w: versions %q have none, at most one may lack it", ErrInsufficientRefs, unknown)
	}
	out := make([]v2alpha1.WeightData, len(names))
	for i, w := range known {
		out[i].Name = names[i]
		if w != nil {
			out[i].Value = *w
		}
	}
	if missing >= 0 {
		if sum > 100 || sum < 0 {
			return nil, fmt.Errorf("%w: the observed weights sum to %d, so version %q's cannot be 100 minus that", ErrInconsistentWeights, sum, names[missing])
		}
		out[missing].Value = int32(100 - sum)
	}
	return out, nil
}

// resource resolves key to a dynamic resource client.
func (c *Client) resource(key objKey) (dynamic.ResourceInterface, error) {
	gv, err := schema.ParseGroupVersion(key.apiVersion)
	if err != nil {
		return nil, err
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: key.kind}
	mapping, err := c.Mapper.RESTMapping(gk, gv.Version)
	if err != nil && meta.IsNoMatchError(err) {
		if r, ok := c.Mapper.(meta.ResettableRESTMapper); ok {
			r.Reset()
			mapping, err = c.Mapper.RESTMapping(gk, gv.Version)
		}
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, ErrUnknownKind
		}
		return nil, fmt.Errorf("resolving %s %s: %w", key.apiVersion, key.kind, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameRoot {
		return c.Dynamic.Resource(mapping.Resource), nil
	}
	return c.Dynamic.Resource(mapping.Resource).Namespace(key.namespace), nil
}

func (c *Client) get(ctx context.Context, r *weightRef) (*unstructured.Unstructured, error) {
	res, err := c.resource(r.key)
	if err != nil {
		return nil, r.fail(err, "")
	}
	obj, err := res.Get(ctx, r.key.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, r.fail(ErrObjectNotFound, "")
	}
	if err != nil {
		return nil, r.fail(err, "")
	}
	return obj, nil
}

// readWeight reads r's weight from obj.
func readWeight(obj *unstructured.Unstructured, r *weightRef) (int32, error) {
	v, ok, missing := lookup(obj.Object, r.toks)
	if !ok {
		return 0, r.fail(ErrFieldMissing, missing)
	}
	w, ok := weightValue(v)
	if !ok {
		return 0, r.fail(ErrFieldNotInteger, fmt.Sprintf("found %#v", v))
	}
	return w, nil
}

// Observe reads every version's weight through its weightObjRef, fetching each object
// once, and computes the single version without a weightObjRef, if any, as 100 minus the
// sum of the others. The weights are in version order, baseline first.
func (c *Client) Observe(ctx context.Context, exp *v2alpha1.Experiment) ([]v2alpha1.WeightData, error) {
	names, refs, err := refsOf(exp)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for i, r := range refs {
		if r == nil {
			unknown = append(unknown, names[i])
		}
	}
	if len(unknown) > 1 {
		// Before any request: the weights could not be completed anyway.
		return nil, fmt.Errorf("%w: versions %q have none, at most one may lack it", ErrInsufficientRefs, unknown)
	}
	known, err := c.read(ctx, refs)
	if err != nil {
		return nil, err
	}
	return CompleteWeights(names, known)
}

func (c *Client) read(ctx context.Context, refs []*weightRef) ([]*int32, error) {
	objs := map[objKey]*unstructured.Unstructured{}
	known := make([]*int32, len(refs))
	for i, r := range refs {
		if r == nil {
			continue
		}
		obj, ok := objs[r.key]
		if !ok {
			var err error
			if obj, err = c.get(ctx, r); err != nil {
				return nil, err
			}
			objs[r.key] = obj
		}
		w, err := readWeight(obj, r)
		if err != nil {
			return nil, err
		}
		known[i] = &w
	}
	return known, nil
}

// patchOp is one operation of an RFC 6902 JSON patch.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value int32  `json:"value"`
}

// patchGroup is the patch of one object: the refs into it and its operations.
type patchGroup struct {
	key  objKey
	refs []*weightRef
	ops  []patchOp
}

// groupPatches plans one JSON patch per object whose weights must change. Every weight of
// the object that the experiment observed is tested, changed or not, so that an edit of a
// sibling weight (a human moving traffic by hand) also stops the patch. Objects in which
// no weight changes get no patch.
func groupPatches(refs []*weightRef, observed, desired map[string]int32) ([]patchGroup, error) {
	var groups []patchGroup
	index := map[objKey]int{}
	var errs []error
	for _, r := range refs {
		if r == nil {
			continue
		}
		obs, ok := observed[r.version]
		if !ok {
			errs = append(errs, r.fail(ErrInconsistentWeights, "no observed weight for this version"))
			continue
		}
		des, ok := desired[r.version]
		if !ok {
			errs = append(errs, r.fail(ErrInconsistentWeights, "no desired weight for this version"))
			continue
		}
		if des < 0 || des > 100 {
			errs = append(errs, r.fail(ErrInconsistentWeights, fmt.Sprintf("desired weight %d is not in [0, 100]", des)))
			continue
		}
		i, ok := index[r.key]
		if !ok {
			i = len(groups)
			index[r.key] = i
			groups = append(groups, patchGroup{key: r.key})
		}
		g := &groups[i]
		g.refs = append(g.refs, r)
		p := pointer(r.toks)
		g.ops = append(g.ops, patchOp{Op: "test", Path: p, Value: obs})
		if des != obs {
			g.ops = append(g.ops, patchOp{Op: "replace", Path: p, Value: des})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []patchGroup
	for _, g := range groups {
		for _, op := range g.ops {
			if op.Op == "replace" {
				out = append(out, g)
				break
			}
		}
	}
	return out, nil
}

func byName(ws []v2alpha1.WeightData) map[string]int32 {
	m := make(map[string]int32, len(ws))
	for _, w := range ws {
		m[w.Name] = w.Value
	}
	return m
}

// Apply sets each version's weight to desired through its weightObjRef, with one JSON
// patch per object. A patch replaces only the weights that differ from observed, and tests
// first that every weight of the object still has its observed value: if one does not,
// someone edited the object since observed was read, the patch is not applied, and the
// error wraps ErrExternalChange. Patches are sent in version order and the first failure
// stops Apply (objects patched before it keep their new weights). Apply returns the weights
// read back after patching.
func (c *Client) Apply(ctx context.Context, exp *v2alpha1.Experiment, observed, desired []v2alpha1.WeightData) ([]v2alpha1.WeightData, error) {
	_, refs, err := refsOf(exp)
	if err != nil {
		return nil, err
	}
	groups, err := groupPatches(refs, byName(observed), byName(desired))
	if err != nil {
		return nil, err
	}
	fm := c.FieldManager
	if fm == "" {
		fm = DefaultFieldManager
	}
	obs := byName(observed)
	for _, g := range groups {
		if err := c.patch(ctx, g, obs, fm); err != nil {
			return nil, err
		}
	}
	return c.Observe(ctx, exp)
}

func (c *Client) patch(ctx context.Context, g patchGroup, observed map[string]int32, fieldManager string) error {
	first := g.refs[0]
	res, err := c.resource(g.key)
	if err != nil {
		return first.fail(err, "")
	}
	body, err := json.Marshal(g.ops)
	if err != nil {
		return first.fail(err, "encoding the patch")
	}
	_, err = res.Patch(ctx, g.key.name, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: fieldManager})
	if err == nil {
		return nil
	}
	if apierrors.IsNotFound(err) {
		return first.fail(ErrObjectNotFound, "")
	}
	if !isPatchApplyError(err) {
		return first.fail(err, "patching")
	}
	// The apiserver answers a failed test and a missing path alike (422 with the patch
	// library's message), so read the object again to tell which it was.
	obj, gerr := c.get(ctx, first)
	if gerr != nil {
		return fmt.Errorf("%w (after the patch failed: %v)", gerr, err)
	}
	for _, r := range g.refs {
		now, rerr := readWeight(obj, r)
		if rerr != nil {
			var re *RefError
			if errors.As(rerr, &re) && errors.Is(re.Err, ErrFieldMissing) {
				// It was there when observed: someone removed it.
				re.Err = ErrExternalChange
				re.Detail = fmt.Sprintf("observed %d, now %s; not overwritten", observed[r.version], re.Detail)
			}
			return rerr
		}
		if now != observed[r.version] {
			return r.fail(ErrExternalChange, fmt.Sprintf("observed %d, now %d; not overwritten", observed[r.version], now))
		}
	}
	return first.fail(err, "patching")
}

// isPatchApplyError reports whether err is the apiserver's answer to a JSON patch that does
// not apply to the object (422 Unprocessable Entity).
func isPatchApplyError(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Code == http.StatusUnprocessableEntity
	}
	return false
}
