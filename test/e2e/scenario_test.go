//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

var (
	ksvcGVR   = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	revGVR    = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "revisions"}
	metricGVR = schema.GroupVersionResource{Group: "iter8.tools", Version: "v2alpha2", Resource: "metrics"}
)

// bridgeIP is the host's address on the node's private bridge (test/local-cluster env.sh):
// the only host address pods reach.
const bridgeIP = "10.244.0.1"

// revision is one sample-app revision running as a pod on the node.
type revision struct {
	name, version string
	latency       time.Duration
	// jitter adds up to that much more latency to each request.
	jitter time.Duration
	ip     string
}

// startRevisions runs the sample app pods and waits until they have addresses.
func startRevisions(t *testing.T, ns string, revs ...*revision) {
	t.Helper()
	ctx := context.Background()
	for _, r := range revs {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: ns, Labels: map[string]string{"app": "sample-app", "serving.knative.dev/revision": r.name}},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: "app", Image: sampleAppImage, ImagePullPolicy: corev1.PullNever,
					Command: []string{"/sample-app"},
					Args: []string{"--listen", "0.0.0.0:8080", "--version", r.version, "--revision", r.name,
						"--namespace", ns, "--service", "sample-app", "--latency", r.latency.String(), "--latency-jitter", r.jitter.String()},
					SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true)},
				}},
			},
		}
		if _, err := cluster.kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s: %v", r.name, err)
		}
		t.Cleanup(func() {
			cluster.kube.CoreV1().Pods(ns).Delete(context.Background(), r.name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		})
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, r := range revs {
		for {
			p, err := cluster.kube.CoreV1().Pods(ns).Get(ctx, r.name, metav1.GetOptions{})
			if err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				r.ip = p.Status.PodIP
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod %s not running: %v %+v", r.name, err, p.Status)
			}
			time.Sleep(time.Second)
		}
	}
}

// load calls every revision from the host until the test ends, like the seed's curl pod.
func load(t *testing.T, revs ...*revision) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	client := &http.Client{Timeout: 2 * time.Second}
	for _, r := range revs {
		wg.Add(1)
		go func(url string) {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if resp, err := client.Get(url); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			}
		}("http://" + r.ip + ":8080/")
	}
}

// startPrometheus starts Debian's Prometheus on 127.0.0.1 scraping the revisions' pods,
// and makes it reachable from pods through a proxy on the bridge address. It returns the
// URL pods use.
func startPrometheus(t *testing.T, revs ...*revision) (*harness.Prometheus, string) {
	t.Helper()
	var targets, names []string
	for _, r := range revs {
		targets = append(targets, r.ip+":8080")
		names = append(names, r.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, url := servePrometheus(ctx, t, targets, names)
	time.Sleep(3 * time.Second) // a few scrapes, so increase() over the first window has two points
	return p, url
}

// servePrometheus starts Prometheus scraping targets, forwards the bridge address to it,
// waits until it has a sample of every revision and returns it with the URL pods use.
func servePrometheus(ctx context.Context, t testing.TB, targets, revisions []string) (*harness.Prometheus, string) {
	t.Helper()
	p, err := harness.StartPrometheus(ctx, targets)
	if err != nil {
		t.Fatalf("starting Prometheus: %v", err)
	}
	t.Cleanup(func() { p.Stop() })
	fctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	addr, err := harness.Forward(fctx, bridgeIP+":0", strings.TrimPrefix(p.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rev := range revisions {
		if _, err := p.WaitForSamples(ctx, fmt.Sprintf(`revision_app_request_latencies_count{revision_name=%q}`, rev)); err != nil {
			t.Fatalf("waiting for samples of %s: %v", rev, err)
		}
	}
	return p, "http://" + addr
}

// pointMetrics sets the Prometheus URL of the installed Knative Metrics, as a user does at
// install time; their default names a Service of a Prometheus operator.
func pointMetrics(t testing.TB, promURL string) {
	t.Helper()
	ctx := context.Background()
	l, err := cluster.dyn.Resource(metricGVR).Namespace("iter8-knative").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) == 0 {
		t.Fatal("kubectl apply -k config/ installed no Metrics in iter8-knative")
	}
	for _, m := range l.Items {
		if _, ok, _ := unstructured.NestedString(m.Object, "spec", "urlTemplate"); !ok {
			continue
		}
		unstructured.SetNestedField(m.Object, promURL+"/api/v1/query", "spec", "urlTemplate")
		if _, err := cluster.dyn.Resource(metricGVR).Namespace(m.GetNamespace()).Update(ctx, &m, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("updating metric %s: %v", m.GetName(), err)
		}
	}
}

// ksvcReady plays Knative's controller: it marks the Service ready with the traffic it
// routes and creates the Revisions, ready.
func ksvcReady(t *testing.T, ns string, traffic []map[string]any, latest string) {
	t.Helper()
	ctx := context.Background()
	u, err := cluster.dyn.Resource(ksvcGVR).Namespace(ns).Get(ctx, "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	var conds []any
	for _, c := range []string{"Ready", "ConfigurationsReady", "RoutesReady"} {
		conds = append(conds, map[string]any{"type": c, "status": "True", "lastTransitionTime": now})
	}
	var tr []any
	for _, x := range traffic {
		tr = append(tr, x)
	}
	u.Object["status"] = map[string]any{
		"observedGeneration": u.GetGeneration(), "conditions": conds, "traffic": tr,
		"latestCreatedRevisionName": latest, "latestReadyRevisionName": latest,
		"url": "http://sample-app." + ns + ".example.com",
	}
	if _, err := cluster.dyn.Resource(ksvcGVR).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the Service's status: %v", err)
	}
	for _, x := range traffic {
		rev, _ := x["revisionName"].(string)
		r := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "serving.knative.dev/v1", "kind": "Revision",
			"metadata": map[string]any{"name": rev, "namespace": ns, "labels": map[string]any{"serving.knative.dev/service": "sample-app"}},
			"spec":     map[string]any{"containers": []any{map[string]any{"image": sampleAppImage}}},
		}}
		created, err := cluster.dyn.Resource(revGVR).Namespace(ns).Create(ctx, r, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			created, err = cluster.dyn.Resource(revGVR).Namespace(ns).Get(ctx, rev, metav1.GetOptions{})
		}
		if err != nil {
			t.Fatalf("creating revision %s: %v", rev, err)
		}
		created.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": now}}}
		if _, err := cluster.dyn.Resource(revGVR).Namespace(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("setting revision %s status: %v", rev, err)
		}
	}
}

// runExperiment makes the PipelineRun with iter8ctl pipelinerun, creates it with kubectl
// and waits for it. intervalSeconds overrides the experiment's interval when positive.
func runExperiment(t *testing.T, expFile, ns string, intervalSeconds int) (string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"pipelinerun", "-f", expFile, "-n", ns, "--image", stagesImage, "--image-pull-policy", "Never"}
	if intervalSeconds > 0 {
		args = append(args, "--interval-seconds", fmt.Sprint(intervalSeconds))
	}
	pr, err := iter8ctl(ctx, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := kubectl(ctx, []byte(pr), "create", "-f", "-", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(strings.TrimSpace(out), "pipelinerun.tekton.dev/"), []byte(pr)
}

func getExperiment(t testing.TB, ns, name string) *v2alpha1.Experiment {
	t.Helper()
	u, err := cluster.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := harness.ExperimentFrom(u)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
