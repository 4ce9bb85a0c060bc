//go:build e2e

package e2e

// The e2e node runs the real Knative Serving controller, webhook and autoscaler
// (test/local-cluster, LC_KNATIVE=1; built from the knative.dev/serving the project pins).
// They reconcile Knative Services into Configurations, Revisions, Deployments whose pods run
// the real queue-proxy beside the user container, PodAutoscalers, ServerlessServices,
// Routes and KIngresses. The node has no ingress implementation: this file plays the
// networking layer, and nothing else.
//
//   - ingressPlayer marks each KIngress ready for its generation (status subresource), as
//     net-istio or Kourier would once they had programmed their proxies;
//   - loadGen sends the load generator's requests to the revision pods' queue-proxy
//     (:8012) in the split the KIngress asks for (spec.rules[].http.paths[].splits), or,
//     for the seed, along the seed's Istio VirtualServices (routing-rules.yaml), which
//     route every request to one revision and mirror it to another.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/iter8-tools/iter8-tekton/test/harness"
)

var (
	kingressGVR = schema.GroupVersionResource{Group: "networking.internal.knative.dev", Version: "v1alpha1", Resource: "ingresses"}
	routeGVR    = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "routes"}
)

// queueProxyPort is the port of a revision pod's queue-proxy that serves the user's
// requests; queueMetricsPort serves its Prometheus metrics.
const (
	queueProxyPort   = 8012
	queueMetricsPort = 9091
)

// startIngressPlayer marks every KIngress of the cluster ready for its generation until
// ctx is done. It polls: a KIngress changes a few times per test, and a poll of 200 ms
// adds at most that to a Route's readiness.
func startIngressPlayer(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			l, err := cluster.dyn.Resource(kingressGVR).List(ctx, metav1.ListOptions{})
			if err == nil {
				for _, ing := range l.Items {
					if err := markIngressReady(ctx, &ing); err != nil && ctx.Err() == nil {
						logf("ingress player: %v", err)
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return done
}

// markIngressReady sets the status a networking layer sets once it serves ing's current
// generation: observedGeneration, the three conditions, and load balancers that only the
// mesh reaches (there is no address to publish).
func markIngressReady(ctx context.Context, ing *unstructured.Unstructured) error {
	if observed(ing) && ingressReady(ing) {
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339)
	var conds []any
	for _, c := range []string{"LoadBalancerReady", "NetworkConfigured", "Ready"} {
		conds = append(conds, map[string]any{"type": c, "status": "True", "lastTransitionTime": now})
	}
	lb := map[string]any{"ingress": []any{map[string]any{"meshOnly": true}}}
	patch := map[string]any{"status": map[string]any{
		"observedGeneration": ing.GetGeneration(), "conditions": conds,
		"publicLoadBalancer": lb, "privateLoadBalancer": lb,
	}}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := cluster.dyn.Resource(kingressGVR).Namespace(ing.GetNamespace()).Patch(ctx, ing.GetName(), types.MergePatchType, data, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("marking kingress %s/%s ready: %w", ing.GetNamespace(), ing.GetName(), err)
	}
	return nil
}

func ingressReady(ing *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(ing.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// revisionPodIP returns the address of a ready pod of the revision, or "".
func revisionPodIP(ctx context.Context, ns, revision string) string {
	pods, err := cluster.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "serving.knative.dev/revision=" + revision})
	if err != nil {
		return ""
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.PodIP == "" {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return p.Status.PodIP
			}
		}
	}
	return ""
}

// loadGen is the load generator: 50 requests a second, each to the revision that the
// routing it follows picks, at that revision's queue-proxy. It counts what each revision
// answered.
type loadGen struct {
	mu     sync.Mutex
	counts map[string]int // revision → requests it answered
}

func (g *loadGen) count(rev string) {
	g.mu.Lock()
	g.counts[rev]++
	g.mu.Unlock()
}

// Counts returns a copy of the requests each revision answered so far.
func (g *loadGen) Counts() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := make(map[string]int, len(g.counts))
	for k, v := range g.counts {
		c[k] = v
	}
	return c
}

// route says where request number n goes: the revisions to send it to (the first is the
// one answering the caller; the others receive a mirrored copy).
type route func(n int) []string

// startLoad runs the load generator until the test ends. refresh is called every 250 ms
// to re-read the routing (the KIngress or the VirtualServices); it returns the route.
func startLoad(t *testing.T, ns string, refresh func(ctx context.Context) (route, error)) *loadGen {
	t.Helper()
	g := &loadGen{counts: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var (
		mu  sync.Mutex
		cur route
		ips = map[string]string{}
	)
	// The routing, re-read every 250 ms, and the pods' addresses, re-read when a target
	// has none or every 2 s (they stay while the revision lives), in the background.
	wg.Add(1)
	go func() {
		defer wg.Done()
		var podsRead time.Time
		for ctx.Err() == nil {
			if r, err := refresh(ctx); err == nil && r != nil {
				mu.Lock()
				cur = r
				mu.Unlock()
			}
			mu.Lock()
			revs := map[string]bool{}
			missing := false
			for rev := range ips {
				revs[rev] = true
			}
			if cur != nil {
				for i := 0; i < 100; i++ {
					for _, rev := range cur(i) {
						revs[rev] = true
						missing = missing || ips[rev] == ""
					}
				}
			}
			mu.Unlock()
			if !missing && time.Since(podsRead) < 2*time.Second {
				revs = nil
			} else {
				podsRead = time.Now()
			}
			for rev := range revs {
				if ip := revisionPodIP(ctx, ns, rev); ip != "" {
					mu.Lock()
					ips[rev] = ip
					mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	send := func(rev, ip string) {
		resp, err := client.Get(fmt.Sprintf("http://%s:%d/", ip, queueProxyPort))
		if err != nil {
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		g.count(rev)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			var targets [][2]string
			if cur != nil {
				for _, rev := range cur(n) {
					if ip := ips[rev]; ip != "" {
						targets = append(targets, [2]string{rev, ip})
					}
				}
			}
			mu.Unlock()
			for _, tg := range targets {
				wg.Add(1)
				go func() { defer wg.Done(); send(tg[0], tg[1]) }()
			}
		}
	}()
	return g
}

// loadBySplit is the load of a Knative Service: the splits of its KIngress (named like
// the Route, which is named like the Service).
func loadBySplit(t *testing.T, ns, service string) *loadGen {
	t.Helper()
	return startLoad(t, ns, func(ctx context.Context) (route, error) {
		ing, err := cluster.dyn.Resource(kingressGVR).Namespace(ns).Get(ctx, service, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		splits := harness.KIngressSplits(ing)
		return func(n int) []string {
			if rev := harness.SplitTarget(splits, n); rev != "" {
				return []string{rev}
			}
			return nil
		}, nil
	})
}

// loadByMesh is the seed's curl pod (`curl -sS customdomain.com` in a loop) in the mesh
// of the seed's routing-rules.yaml, as harness.MeshRoute resolves it: each request to one
// revision, and its mirror to another. Only these features of Istio are played.
func loadByMesh(t *testing.T, ns, authority string) *loadGen {
	t.Helper()
	return startLoad(t, ns, func(ctx context.Context) (route, error) {
		l, err := cluster.dyn.Resource(vsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		primary, mirrored, err := harness.MeshRoute(l.Items, ns, authority)
		if err != nil {
			return nil, err
		}
		targets := []string{primary}
		if mirrored != "" {
			targets = append(targets, mirrored)
		}
		return func(int) []string { return targets }, nil
	})
}

// waitKsvcReady is `kubectl wait --for=condition=Ready ksvc/<name>`, as the seed does.
func waitKsvcReady(t *testing.T, ns, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := kubectl(ctx, nil, "wait", "--for=condition=Ready", "--timeout=150s", "-n", ns, "ksvc/"+name); err != nil {
		y, _ := kubectl(context.Background(), nil, "get", "ksvc,configuration,revision,route,kingress,sks,podautoscaler,pods", "-n", ns, "-o", "yaml")
		t.Fatalf("%v\n%s", err, y)
	}
	t.Logf("ksvc/%s Ready after %s", name, time.Since(start).Round(10*time.Millisecond))
}

// revisionPodIPs waits for a ready pod of each revision and returns their addresses.
func revisionPodIPs(t *testing.T, ns string, revisions ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var ips []string
	for _, rev := range revisions {
		for {
			if ip := revisionPodIP(ctx, ns, rev); ip != "" {
				ips = append(ips, ip)
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("no ready pod of revision %s", rev)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return ips
}

// scrapeQueueProxies starts Prometheus scraping the queue-proxy containers of the
// revisions' pods (the real revision_app_request_* series) and returns the URL pods use.
func scrapeQueueProxies(t *testing.T, ns string, revisions ...string) string {
	t.Helper()
	var targets []string
	for _, ip := range revisionPodIPs(t, ns, revisions...) {
		targets = append(targets, fmt.Sprintf("%s:%d", ip, queueMetricsPort))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, url := servePrometheus(ctx, t, targets, revisions)
	time.Sleep(3 * time.Second) // a few scrapes, so increase() over the first window has two points
	return url
}

// statusTraffic reads a Knative Service's or Route's status.traffic as revision → percent.
func statusTraffic(u *unstructured.Unstructured) map[string]int64 {
	traffic, _, _ := unstructured.NestedSlice(u.Object, "status", "traffic")
	out := map[string]int64{}
	for _, x := range traffic {
		m := x.(map[string]any)
		rev, _, _ := unstructured.NestedString(m, "revisionName")
		p, _, _ := unstructured.NestedInt64(m, "percent")
		out[rev] += p
	}
	return out
}

// splitsMap is a KIngress's splits as revision → percent.
func splitsMap(splits []harness.Split) map[string]int64 {
	out := map[string]int64{}
	for _, s := range splits {
		out[s.Revision] += s.Percent
	}
	return out
}

// observed tells whether u's controller has reconciled its current generation.
func observed(u *unstructured.Unstructured) bool {
	og, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return og == u.GetGeneration()
}
