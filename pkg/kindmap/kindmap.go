// Package kindmap resolves kinds to resources and resources to kinds from the API server's
// discovery documents, for the objects the stages reach through the dynamic client
// (weightObjRefs, common/readiness objRefs).
//
// It asks only for what a lookup needs: a GroupVersionKind costs one GET of /api/v1 or
// /apis/GROUP/VERSION, and only a lookup without a group (kubectl's "deploy", "ksvc") reads
// the group list and every group's preferred version. client-go's discovery client and
// restmapper would do the same but link every built-in API group's scheme and the OpenAPI
// models into the stage binaries and register them at start-up.
package kindmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// ErrNotServed is wrapped by the lookup errors whose group or group-version the API server
// does not serve, as against a served group-version that lacks the kind. Both are also
// meta.IsNoMatchError errors.
var ErrNotServed = errors.New("not served by the API server")

// Mapper is a meta.ResettableRESTMapper over the API server's discovery. What it reads is
// kept for the life of the process; a lookup that finds nothing in what was read earlier
// reads it again once, so kinds installed since are found. It is safe for concurrent use.
type Mapper struct {
	client *http.Client
	base   *url.URL

	mu sync.Mutex
	// lists holds each group-version read; nil for one the server does not serve.
	lists map[schema.GroupVersion][]resource
	// groups is the group list, the core group first, each with its preferred version
	// first; nil until read.
	groups []group
	// usedCache is set when a lookup answered from an earlier read.
	usedCache bool
}

var _ meta.ResettableRESTMapper = (*Mapper)(nil)

type resource struct {
	gvr        schema.GroupVersionResource
	kind       string
	singular   string
	shortNames []string
	namespaced bool
}

type group struct {
	name     string
	versions []string
}

// New returns a Mapper that sends its requests with client to the API server at base (its
// scheme, host and any path prefix).
func New(client *http.Client, base *url.URL) *Mapper {
	return &Mapper{client: client, base: base, lists: map[schema.GroupVersion][]resource{}}
}

// NewForConfig returns a Mapper for the API server of cfg, with cfg's credentials and
// timeout.
func NewForConfig(cfg *rest.Config) (*Mapper, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the discovery HTTP client: %w", err)
	}
	return NewForConfigAndClient(cfg, hc)
}

// NewForConfigAndClient is NewForConfig with an HTTP client made by rest.HTTPClientFor(cfg),
// to share its connections with the other clients of the process.
func NewForConfigAndClient(cfg *rest.Config, hc *http.Client) (*Mapper, error) {
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("the API server's URL: %w", err)
	}
	return New(hc, base), nil
}

// Reset forgets everything read, so the next lookups read the server again.
func (m *Mapper) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset()
}

func (m *Mapper) reset() {
	m.lists = map[schema.GroupVersion][]resource{}
	m.groups = nil
}

// lookup runs f under the lock; when f finds no match in what earlier lookups read, it
// reads again and runs f once more.
func (m *Mapper) lookup(f func() error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.usedCache = false
	err := f()
	if err != nil && meta.IsNoMatchError(err) && m.usedCache {
		m.reset()
		err = f()
	}
	return err
}

// get reads path into v; it reports false when the server answers 404.
func (m *Mapper) get(path string, v any) (bool, error) {
	u := *m.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("discovering %s: %w", path, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		_, _ = io.Copy(io.Discard, resp.Body)
		return false, nil
	case resp.StatusCode != http.StatusOK:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("discovering %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return false, fmt.Errorf("discovering %s: decoding the answer: %w", path, err)
	}
	return true, nil
}

// list returns the resources of gv, reading them unless read before; nil when gv is not
// served.
func (m *Mapper) list(gv schema.GroupVersion) ([]resource, error) {
	if rs, ok := m.lists[gv]; ok {
		m.usedCache = true
		return rs, nil
	}
	rs, err := m.fetch(gv)
	if err != nil {
		return nil, err
	}
	m.lists[gv] = rs
	return rs, nil
}

// fetch reads the resources of gv; nil when gv is not served. It touches no state of m
// but its client, so that several can run at once.
func (m *Mapper) fetch(gv schema.GroupVersion) ([]resource, error) {
	path := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	var l metav1.APIResourceList
	found, err := m.get(path, &l)
	if err != nil {
		return nil, err
	}
	var rs []resource
	if found {
		rs = []resource{} // served, perhaps with no resources: not nil
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // a subresource: status, scale, ...
			}
			singular := r.SingularName
			if singular == "" {
				singular = strings.ToLower(r.Kind)
			}
			rs = append(rs, resource{
				gvr:        gv.WithResource(r.Name),
				kind:       r.Kind,
				singular:   singular,
				shortNames: r.ShortNames,
				namespaced: r.Namespaced,
			})
		}
	}
	return rs, nil
}

// groupList returns the served groups, reading them unless read before.
func (m *Mapper) groupList() ([]group, error) {
	if m.groups != nil {
		m.usedCache = true
		return m.groups, nil
	}
	var l metav1.APIGroupList
	if _, err := m.get("/apis", &l); err != nil {
		return nil, err
	}
	// The core group serves only v1, and has for a decade.
	gs := []group{{name: "", versions: []string{"v1"}}}
	for _, g := range l.Groups {
		vs := []string{g.PreferredVersion.Version}
		for _, v := range g.Versions {
			if v.Version != g.PreferredVersion.Version {
				vs = append(vs, v.Version)
			}
		}
		gs = append(gs, group{name: g.Name, versions: vs})
	}
	m.groups = gs
	return gs, nil
}

// versionsOf returns the versions of a group, the preferred one first; nil when the group
// is not served.
func (m *Mapper) versionsOf(name string) ([]string, error) {
	gs, err := m.groupList()
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.name == name {
			return g.versions, nil
		}
	}
	return nil, nil
}

// RESTMapping returns the mapping of the kind in the first of versions that has it, or,
// without versions, in the group's preferred version first.
func (m *Mapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	var out []*meta.RESTMapping
	err := m.lookup(func() error {
		var err error
		out, err = m.mappings(gk, versions, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// RESTMappings returns the kind's mappings in each of versions that has it, or in every
// version of its group.
func (m *Mapper) RESTMappings(gk schema.GroupKind, versions ...string) ([]*meta.RESTMapping, error) {
	var out []*meta.RESTMapping
	err := m.lookup(func() error {
		var err error
		out, err = m.mappings(gk, versions, false)
		return err
	})
	return out, err
}

func (m *Mapper) mappings(gk schema.GroupKind, versions []string, first bool) ([]*meta.RESTMapping, error) {
	var vs []string
	for _, v := range versions {
		if v != "" {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		var err error
		if vs, err = m.versionsOf(gk.Group); err != nil {
			return nil, err
		}
		if vs == nil {
			return nil, &noKindError{gk: gk, notServed: true}
		}
	}
	var out []*meta.RESTMapping
	served := false
	for _, v := range vs {
		gv := schema.GroupVersion{Group: gk.Group, Version: v}
		rs, err := m.list(gv)
		if err != nil {
			return nil, err
		}
		if rs != nil {
			served = true
		}
		for _, r := range rs {
			if r.kind != gk.Kind {
				continue
			}
			scope := meta.RESTScopeRoot
			if r.namespaced {
				scope = meta.RESTScopeNamespace
			}
			out = append(out, &meta.RESTMapping{Resource: r.gvr, GroupVersionKind: gv.WithKind(r.kind), Scope: scope})
			break
		}
		if first && len(out) > 0 {
			return out, nil
		}
	}
	if len(out) == 0 {
		return nil, &noKindError{gk: gk, versions: vs, notServed: !served}
	}
	return out, nil
}

// KindFor returns the kind of a resource given by its plural, singular or short name,
// with or without group and version: the first match, the core group first, then the
// groups in the server's order, each group's preferred version first.
func (m *Mapper) KindFor(gvr schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	var gvk schema.GroupVersionKind
	err := m.lookup(func() error {
		rs, err := m.matches(gvr, true)
		if err == nil {
			gvk = rs[0].gvr.GroupVersion().WithKind(rs[0].kind)
		}
		return err
	})
	return gvk, err
}

// KindsFor returns the kinds of every match of KindFor's search.
func (m *Mapper) KindsFor(gvr schema.GroupVersionResource) ([]schema.GroupVersionKind, error) {
	var out []schema.GroupVersionKind
	err := m.lookup(func() error {
		rs, err := m.matches(gvr, false)
		out = nil
		for _, r := range rs {
			out = append(out, r.gvr.GroupVersion().WithKind(r.kind))
		}
		return err
	})
	return out, err
}

// ResourceFor returns the full resource of KindFor's first match.
func (m *Mapper) ResourceFor(gvr schema.GroupVersionResource) (schema.GroupVersionResource, error) {
	var out schema.GroupVersionResource
	err := m.lookup(func() error {
		rs, err := m.matches(gvr, true)
		if err == nil {
			out = rs[0].gvr
		}
		return err
	})
	return out, err
}

// ResourcesFor returns the full resources of every match of KindFor's search.
func (m *Mapper) ResourcesFor(gvr schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	var out []schema.GroupVersionResource
	err := m.lookup(func() error {
		rs, err := m.matches(gvr, false)
		out = nil
		for _, r := range rs {
			out = append(out, r.gvr)
		}
		return err
	})
	return out, err
}

// ResourceSingularizer returns the singular name of a resource given by any of its names.
func (m *Mapper) ResourceSingularizer(name string) (string, error) {
	var out string
	err := m.lookup(func() error {
		rs, err := m.matches(schema.GroupVersionResource{Resource: name}, true)
		if err == nil {
			out = rs[0].singular
		}
		return err
	})
	return out, err
}

// matches searches the group-versions that gvr allows for a resource of its name.
func (m *Mapper) matches(gvr schema.GroupVersionResource, first bool) ([]resource, error) {
	name := strings.ToLower(gvr.Resource)
	var gvs []schema.GroupVersion
	switch {
	case gvr.Group != "" && gvr.Version != "":
		gvs = []schema.GroupVersion{gvr.GroupVersion()}
	default:
		gs, err := m.groupList()
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			switch {
			case gvr.Group != "" && g.name != gvr.Group:
			case gvr.Version != "":
				for _, v := range g.versions {
					if v == gvr.Version {
						gvs = append(gvs, schema.GroupVersion{Group: g.name, Version: v})
					}
				}
			case gvr.Group != "":
				for _, v := range g.versions {
					gvs = append(gvs, schema.GroupVersion{Group: g.name, Version: v})
				}
			default:
				// Any group: its preferred version decides, as kubectl's does.
				gvs = append(gvs, schema.GroupVersion{Group: g.name, Version: g.versions[0]})
			}
		}
	}
	failed := m.read(gvs)
	var out []resource
	var errs []error
	served := false
	for _, gv := range gvs {
		if err := failed[gv]; err != nil {
			// One broken group (an aggregated API whose server is down) must not hide
			// the others; it is reported only when nothing matches.
			errs = append(errs, err)
			continue
		}
		rs := m.lists[gv]
		if rs != nil {
			served = true
		}
		for _, r := range rs {
			if r.gvr.Resource == name || r.singular == name || containsFold(r.shortNames, name) {
				out = append(out, r)
				if first {
					return out, nil
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.Join(append([]error{&noResourceError{gvr: gvr, notServed: !served && len(errs) == 0}}, errs...)...)
	}
	return out, nil
}

// read reads the group-versions not read before, a few at a time (a search of every group
// would otherwise cost one round trip per group in a row), and returns the errors of
// those it could not read.
func (m *Mapper) read(gvs []schema.GroupVersion) map[schema.GroupVersion]error {
	var todo []schema.GroupVersion
	for _, gv := range gvs {
		if _, ok := m.lists[gv]; !ok {
			todo = append(todo, gv)
		}
	}
	if len(todo) < len(gvs) {
		m.usedCache = true
	}
	type answer struct {
		rs  []resource
		err error
	}
	answers := make([]answer, len(todo))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, gv := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			answers[i].rs, answers[i].err = m.fetch(gv)
		}()
	}
	wg.Wait()
	failed := map[schema.GroupVersion]error{}
	for i, gv := range todo {
		if answers[i].err != nil {
			failed[gv] = answers[i].err
			continue
		}
		m.lists[gv] = answers[i].rs
	}
	return failed
}

func containsFold(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// noKindError is a meta.NoKindMatchError with a plainer message, and ErrNotServed when the
// group or the group-versions searched are not served.
type noKindError struct {
	gk        schema.GroupKind
	versions  []string
	notServed bool
}

func (e *noKindError) Error() string {
	var where string
	switch {
	case len(e.versions) == 0:
		where = fmt.Sprintf("group %q", e.gk.Group)
	default:
		gvs := make([]string, len(e.versions))
		for i, v := range e.versions {
			gvs[i] = schema.GroupVersion{Group: e.gk.Group, Version: v}.String()
		}
		where = strings.Join(gvs, ", ")
	}
	if e.notServed {
		return fmt.Sprintf("no kind %q: %s is %s", e.gk.Kind, where, ErrNotServed)
	}
	return fmt.Sprintf("no kind %q in %s", e.gk.Kind, where)
}

// Is makes meta.IsNoMatchError true.
func (e *noKindError) Is(target error) bool {
	_, ok := target.(*meta.NoKindMatchError)
	return ok
}

func (e *noKindError) Unwrap() error {
	if e.notServed {
		return ErrNotServed
	}
	return nil
}

// noResourceError is a meta.NoResourceMatchError with a plainer message, and ErrNotServed
// when the group-versions searched are not served.
type noResourceError struct {
	gvr       schema.GroupVersionResource
	notServed bool
}

func (e *noResourceError) Error() string {
	var where string
	switch gv := e.gvr.GroupVersion(); {
	case gv.Group != "" && gv.Version != "":
		where = gv.String()
	case gv.Group != "":
		where = fmt.Sprintf("group %q", gv.Group)
	case gv.Version != "":
		where = fmt.Sprintf("version %q", gv.Version)
	default:
		return fmt.Sprintf("no resource %q", e.gvr.Resource)
	}
	if e.notServed {
		return fmt.Sprintf("no resource %q: %s is %s", e.gvr.Resource, where, ErrNotServed)
	}
	return fmt.Sprintf("no resource %q in %s", e.gvr.Resource, where)
}

// Is makes meta.IsNoMatchError true.
func (e *noResourceError) Is(target error) bool {
	_, ok := target.(*meta.NoResourceMatchError)
	return ok
}

func (e *noResourceError) Unwrap() error {
	if e.notServed {
		return ErrNotServed
	}
	return nil
}
