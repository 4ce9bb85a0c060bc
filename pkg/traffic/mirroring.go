package traffic

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// MirrorState is the verdict of a mirroring check.
type MirrorState string

// The mirroring verdicts.
const (
	// Mirrored: a VirtualService mirrors traffic, and the mirrored requests reach the revision.
	Mirrored MirrorState = "Mirrored"
	// NotMirrored: no VirtualService mirrors traffic to the revision.
	NotMirrored MirrorState = "NotMirrored"
	// MirrorUnknown: traffic is mirrored somewhere (or Istio is absent), but where the
	// mirrored requests end up cannot be told from the namespace's VirtualServices.
	MirrorUnknown MirrorState = "Unknown"
)

// MirrorStatus is a verdict and the reasons for it, for a human.
type MirrorStatus struct {
	State   MirrorState
	Message string
}

// VirtualServiceVersions are the versions of networking.istio.io VirtualServices that
// CheckMirroring tries, newest first.
var VirtualServiceVersions = []string{"v1", "v1beta1", "v1alpha3"}

// CheckMirroring lists the Istio VirtualServices of namespace, in the first version the
// cluster serves, and tells whether mirrored traffic reaches revision (DetectMirroring).
// When the cluster serves no VirtualService API the verdict is MirrorUnknown, not an error.
func CheckMirroring(ctx context.Context, dyn dynamic.Interface, namespace, revision string) (MirrorStatus, error) {
	for _, v := range VirtualServiceVersions {
		gvr := schema.GroupVersionResource{Group: "networking.istio.io", Version: v, Resource: "virtualservices"}
		list, err := dyn.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return MirrorStatus{State: MirrorUnknown, Message: fmt.Sprintf("listing VirtualServices in namespace %s: %v", namespace, err)},
				fmt.Errorf("listing %s VirtualServices in namespace %s: %w", v, namespace, err)
		}
		return DetectMirroring(list.Items, namespace, revision), nil
	}
	return MirrorStatus{State: MirrorUnknown, Message: fmt.Sprintf(
		"the cluster serves no Istio VirtualService API (networking.istio.io %s), so mirroring to revision %s cannot be checked",
		strings.Join(VirtualServiceVersions, ", "), revision)}, nil
}

// mirror is one mirroring of an http route.
type mirror struct {
	host    string
	percent float64
}

// httpRoute is the part of an Istio HTTPRoute the check needs.
type httpRoute struct {
	vs      string // namespace/name
	index   int
	matches []map[string]interface{}
	dests   []map[string]interface{} // route[]
	headers map[string]interface{}   // the route's headers
	rewrite string                   // rewrite.authority
	mirrors []mirror
	vsHosts []string
}

func routesOf(vs unstructured.Unstructured, namespace string) []httpRoute {
	ns := vs.GetNamespace()
	if ns == "" {
		ns = namespace
	}
	hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
	list, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	var out []httpRoute
	for i, item := range list {
		m, ok := item.(map[string]interface{})
		if !ok {
			continue
		}
		r := httpRoute{vs: ns + "/" + vs.GetName(), index: i, vsHosts: hosts}
		r.matches = maps(m["match"])
		r.dests = maps(m["route"])
		r.headers, _, _ = unstructured.NestedMap(m, "headers")
		r.rewrite, _, _ = unstructured.NestedString(m, "rewrite", "authority")
		if host, ok, _ := unstructured.NestedString(m, "mirror", "host"); ok && host != "" {
			pct := 100.0
			if v, ok := number(nested(m, "mirrorPercentage", "value")); ok {
				pct = v
			} else if v, ok := number(m["mirrorPercent"]); ok {
				pct = v
			}
			r.mirrors = append(r.mirrors, mirror{host: host, percent: pct})
		}
		for _, mm := range maps(m["mirrors"]) {
			host, _, _ := unstructured.NestedString(mm, "destination", "host")
			if host == "" {
				continue
			}
			pct := 100.0
			if v, ok := number(nested(mm, "percentage", "value")); ok {
				pct = v
			}
			r.mirrors = append(r.mirrors, mirror{host: host, percent: pct})
		}
		out = append(out, r)
	}
	return out
}

func maps(v interface{}) []map[string]interface{} {
	list, _ := v.([]interface{})
	var out []map[string]interface{}
	for _, item := range list {
		if m, ok := item.(map[string]interface{}); ok {
			out = append(out, m)
		}
	}
	return out
}

func nested(m map[string]interface{}, fields ...string) interface{} {
	v, _, _ := unstructured.NestedFieldNoCopy(m, fields...)
	return v
}

func number(v interface{}) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}

// hostIsRevision reports whether a destination host is the revision's Kubernetes Service:
// the bare name or a qualified name (<revision>.<namespace>.svc.cluster.local).
func hostIsRevision(host, revision string) bool {
	return host == revision || strings.HasPrefix(host, revision+".")
}

// reaches reports whether the route's destinations send requests to revision: by host, or
// by the Knative-Serving-Revision header that Knative's gateway routes on.
func (r httpRoute) reaches(revision string) bool {
	if headerSetsRevision(r.headers, revision) {
		return true
	}
	for _, d := range r.dests {
		if w, ok := number(d["weight"]); ok && w == 0 && len(r.dests) > 1 {
			continue
		}
		host, _, _ := unstructured.NestedString(d, "destination", "host")
		if hostIsRevision(host, revision) {
			return true
		}
		h, _, _ := unstructured.NestedMap(d, "headers")
		if headerSetsRevision(h, revision) {
			return true
		}
	}
	return false
}

func headerSetsRevision(headers map[string]interface{}, revision string) bool {
	set, _, _ := unstructured.NestedStringMap(headers, "request", "set")
	for k, v := range set {
		if strings.EqualFold(k, "Knative-Serving-Revision") && v == revision {
			return true
		}
	}
	return false
}

func (r httpRoute) destHosts() []string {
	var hosts []string
	for _, d := range r.dests {
		host, _, _ := unstructured.NestedString(d, "destination", "host")
		hosts = append(hosts, host)
	}
	return hosts
}

// matchesAuthority reports whether a request for authority is taken by the route. Only the
// authority conditions are evaluated: other conditions (uri, headers) are assumed to hold,
// since mirrored requests keep their path and headers.
func (r httpRoute) matchesAuthority(authority string) bool {
	if len(r.matches) == 0 {
		return true
	}
	for _, m := range r.matches {
		a, ok := m["authority"].(map[string]interface{})
		if !ok {
			return true
		}
		if stringMatch(a, authority) {
			return true
		}
	}
	return false
}

// stringMatch evaluates an Istio StringMatch (exact, prefix or RE2 regex).
func stringMatch(m map[string]interface{}, s string) bool {
	if v, ok := m["exact"].(string); ok {
		return s == v
	}
	if v, ok := m["prefix"].(string); ok {
		return strings.HasPrefix(s, v)
	}
	if v, ok := m["regex"].(string); ok {
		re, err := regexp.Compile("^(?:" + v + ")$")
		return err == nil && re.MatchString(s)
	}
	return false
}

// hostMatches reports whether a VirtualService host (exact, "*" or "*.suffix") covers
// authority.
func hostMatches(vsHost, authority string) bool {
	if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		authority = authority[:i]
	}
	switch {
	case vsHost == "*":
		return true
	case strings.HasPrefix(vsHost, "*."):
		return strings.HasSuffix(authority, vsHost[1:])
	}
	return vsHost == authority
}

// DetectMirroring tells from a namespace's VirtualServices whether mirrored traffic
// reaches revision. It recognises two set-ups:
//
//   - a route mirrors directly to the revision's host (<revision>.<namespace>...);
//   - a route mirrors to a gateway (as in the Knative mirroring tutorial: the mirror host is
//     knative-local-gateway), Istio appends "-shadow" to the mirrored requests' authority,
//     and the first route of a VirtualService that takes "<authority>-shadow" sends it to
//     the revision, by host or by the Knative-Serving-Revision header.
//
// Routes of the shadow authority are evaluated in order, first match wins, as Istio does.
func DetectMirroring(vss []unstructured.Unstructured, namespace, revision string) MirrorStatus {
	sorted := append([]unstructured.Unstructured(nil), vss...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].GetName() < sorted[j].GetName() })
	var routesByVS [][]httpRoute
	for _, vs := range sorted {
		routesByVS = append(routesByVS, routesOf(vs, namespace))
	}

	var notReached, unknown []string
	mirrors := 0
	for _, routes := range routesByVS {
		for _, r := range routes {
			where := fmt.Sprintf("VirtualService %s http[%d]", r.vs, r.index)
			for _, m := range r.mirrors {
				mirrors++
				if m.percent <= 0 {
					notReached = append(notReached, fmt.Sprintf("%s mirrors 0%% of its traffic to %s", where, m.host))
					continue
				}
				if hostIsRevision(m.host, revision) {
					return MirrorStatus{State: Mirrored, Message: fmt.Sprintf(
						"%s mirrors %g%% of its traffic to %s, the host of revision %s", where, m.percent, m.host, revision)}
				}
				authorities := r.vsHosts
				if r.rewrite != "" {
					authorities = []string{r.rewrite}
				}
				for _, a := range authorities {
					if strings.Contains(a, "*") {
						continue
					}
					shadow := a + "-shadow"
					target, found := shadowRoute(routesByVS, shadow)
					switch {
					case !found:
						unknown = append(unknown, fmt.Sprintf(
							"%s mirrors %g%% of its traffic for %s to %s, but no VirtualService in namespace %s routes the mirrored authority %s",
							where, m.percent, a, m.host, namespace, shadow))
					case target.reaches(revision):
						return MirrorStatus{State: Mirrored, Message: fmt.Sprintf(
							"%s mirrors %g%% of its traffic for %s to %s; VirtualService %s http[%d] routes the mirrored authority %s to revision %s",
							where, m.percent, a, m.host, target.vs, target.index, shadow, revision)}
					default:
						notReached = append(notReached, fmt.Sprintf(
							"%s mirrors traffic for %s, but VirtualService %s http[%d] routes the mirrored authority %s to %s, not to revision %s",
							where, a, target.vs, target.index, shadow, strings.Join(target.destHosts(), ", "), revision))
					}
				}
			}
		}
	}
	switch {
	case mirrors == 0:
		return MirrorStatus{State: NotMirrored, Message: fmt.Sprintf(
			"none of the %d VirtualServices in namespace %s mirrors traffic", len(vss), namespace)}
	case len(unknown) > 0:
		return MirrorStatus{State: MirrorUnknown, Message: strings.Join(append(unknown, notReached...), "; ")}
	}
	return MirrorStatus{State: NotMirrored, Message: strings.Join(notReached, "; ")}
}

// shadowRoute returns the route that takes requests for the mirrored authority: the first
// matching route of the first VirtualService whose hosts cover it.
func shadowRoute(routesByVS [][]httpRoute, authority string) (httpRoute, bool) {
	for _, routes := range routesByVS {
		if len(routes) == 0 {
			continue
		}
		covered := false
		for _, h := range routes[0].vsHosts {
			if hostMatches(h, authority) {
				covered = true
				break
			}
		}
		if !covered {
			continue
		}
		for _, r := range routes {
			if r.matchesAuthority(authority) {
				return r, true
			}
		}
	}
	return httpRoute{}, false
}
