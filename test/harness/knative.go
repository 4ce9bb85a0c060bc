package harness

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// This file is the part of Knative's networking layer that the e2e tests play on a node
// that runs the real Knative Serving control plane but no ingress (test/e2e/knative_test.go):
// where a request goes, read from a KIngress's splits or from Istio VirtualServices.

// Split is one target of a KIngress path: a revision (the split's serviceName) and its
// percentage of the requests.
type Split struct {
	Revision string
	Percent  int64
}

// KIngressSplits reads the splits of the first path of a KIngress's first rule. The Route
// of a Service without tags writes the same splits into every rule (one per visibility)
// and path.
func KIngressSplits(ing *unstructured.Unstructured) []Split {
	rules, _, _ := unstructured.NestedSlice(ing.Object, "spec", "rules")
	if len(rules) == 0 {
		return nil
	}
	rule, _ := rules[0].(map[string]any)
	paths, _, _ := unstructured.NestedSlice(rule, "http", "paths")
	if len(paths) == 0 {
		return nil
	}
	path, _ := paths[0].(map[string]any)
	splits, _, _ := unstructured.NestedSlice(path, "splits")
	var out []Split
	for _, s := range splits {
		m, ok := s.(map[string]any)
		if !ok {
			continue
		}
		name, _, _ := unstructured.NestedString(m, "serviceName")
		out = append(out, Split{Revision: name, Percent: percent(m["percent"])})
	}
	return out
}

// percent reads a split's percentage: an int64 from the API server's JSON, a float64
// from YAML decoded without a schema.
func percent(v any) int64 {
	switch p := v.(type) {
	case int64:
		return p
	case float64:
		return int64(p)
	}
	return 0
}

// SplitTarget is the revision that request number n goes to: the one whose share of 100
// holds n mod 100, so that every 100 consecutive requests follow the split exactly. It is
// "" when the percentages add up to less than n mod 100.
func SplitTarget(splits []Split, n int) string {
	k, acc := int64(n%100), int64(0)
	for _, s := range splits {
		acc += s.Percent
		if k < acc {
			return s.Revision
		}
	}
	return ""
}

// LocalGateway is the gateway of Knative's cluster-local traffic under Istio, which the
// seed's routing rules route through.
const LocalGateway = "knative-serving/knative-local-gateway"

// MeshRoute resolves a request for authority (a client's Host) through the Istio
// VirtualServices vss of namespace ns as far as the seed's routing-rules.yaml needs: the
// VirtualService whose hosts hold authority routes the request to the local gateway and,
// with a mirror, sends a copy there whose authority is "<authority>-shadow" (what Istio does
// to a mirrored request's Host); at the gateway, the first HTTP route of a VirtualService
// bound to LocalGateway whose authority prefix matches picks the destination, the Service
// <revision>.<ns>.svc.cluster.local of a Knative revision. It returns the revision that
// answers the request and the one that receives its mirror ("" when there is none).
func MeshRoute(vss []unstructured.Unstructured, ns, authority string) (primary, mirrored string, err error) {
	var front *unstructured.Unstructured
	for i := range vss {
		hosts, _, _ := unstructured.NestedStringSlice(vss[i].Object, "spec", "hosts")
		for _, h := range hosts {
			if h == authority {
				front = &vss[i]
			}
		}
	}
	if front == nil {
		return "", "", fmt.Errorf("no VirtualService for host %s", authority)
	}
	hs, _, _ := unstructured.NestedSlice(front.Object, "spec", "http")
	if len(hs) == 0 {
		return "", "", fmt.Errorf("VirtualService %s has no http route", front.GetName())
	}
	h, _ := hs[0].(map[string]any)
	if primary, err = gatewayRoute(vss, ns, authority); err != nil {
		return "", "", err
	}
	if _, ok := h["mirror"]; ok {
		if mirrored, err = gatewayRoute(vss, ns, authority+"-shadow"); err != nil {
			return "", "", err
		}
	}
	return primary, mirrored, nil
}

// gatewayRoute is the revision that the local gateway's VirtualService sends a request
// for authority to.
func gatewayRoute(vss []unstructured.Unstructured, ns, authority string) (string, error) {
	for _, vs := range vss {
		gws, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "gateways")
		if len(gws) != 1 || gws[0] != LocalGateway {
			continue
		}
		hs, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
		for _, x := range hs {
			h, _ := x.(map[string]any)
			matches, _, _ := unstructured.NestedSlice(h, "match")
			for _, m := range matches {
				mm, _ := m.(map[string]any)
				prefix, ok, _ := unstructured.NestedString(mm, "authority", "prefix")
				if !ok || !strings.HasPrefix(authority, prefix) {
					continue
				}
				routes, _, _ := unstructured.NestedSlice(h, "route")
				if len(routes) == 0 {
					return "", fmt.Errorf("VirtualService %s: the route for %s has no destination", vs.GetName(), authority)
				}
				r, _ := routes[0].(map[string]any)
				host, _, _ := unstructured.NestedString(r, "destination", "host")
				rev, suffix, _ := strings.Cut(host, ".")
				if suffix != ns+".svc.cluster.local" {
					return "", fmt.Errorf("VirtualService %s routes %s to %s, not to a revision in %s", vs.GetName(), authority, host, ns)
				}
				return rev, nil
			}
		}
	}
	return "", fmt.Errorf("no route at %s for %s", LocalGateway, authority)
}
