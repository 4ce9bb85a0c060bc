// Package integration runs the stages against a real kube-apiserver and etcd (with the
// real CRDs of this project, Knative Serving and Istio) and a real Prometheus scraping
// the sample app: the acceptance tests of the stage binaries.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/sampleapp"
	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

func TestMain(m *testing.M) { harness.MainControlPlane(m) }

// env is one test's view of the shared control plane.
type env struct {
	cp   *harness.ControlPlane
	dyn  dynamic.Interface
	kube kubernetes.Interface
}

var crds struct {
	once sync.Once
	err  error
}

// cluster returns the shared control plane with every CRD installed.
func cluster(t *testing.T) *env {
	t.Helper()
	cp := harness.SharedControlPlane(t)
	crds.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		files, err := harness.ThirdPartyCRDs(ctx)
		if err != nil {
			crds.err = err
			return
		}
		own, err := harness.ProjectCRDs("config/crd")
		if err != nil {
			crds.err = err
			return
		}
		crds.err = harness.InstallCRDs(ctx, cp.Config(), append(files, own...)...)
	})
	if crds.err != nil {
		t.Fatalf("installing CRDs: %v", crds.err)
	}
	return &env{cp: cp, dyn: dynamic.NewForConfigOrDie(cp.Config()), kube: kubernetes.NewForConfigOrDie(cp.Config())}
}

var resources = map[string]string{
	"Service": "services", "Revision": "revisions", "VirtualService": "virtualservices",
	"Experiment": "experiments", "Metric": "metrics", "Secret": "secrets", "ConfigMap": "configmaps",
	"HTTPRoute": "httproutes",
}

func gvr(u *unstructured.Unstructured) schema.GroupVersionResource {
	return u.GroupVersionKind().GroupVersion().WithResource(resources[u.GetKind()])
}

// readObjects decodes a multi-document YAML file of the test data.
func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("decoding %s: %v", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// apply creates each object, or replaces it when it exists (like kubectl apply of a whole
// object), in namespace when the object names none.
func (e *env) apply(t *testing.T, namespace string, objs ...*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for _, u := range objs {
		u = u.DeepCopy()
		if u.GetNamespace() == "" {
			u.SetNamespace(namespace)
		}
		r := e.dyn.Resource(gvr(u)).Namespace(u.GetNamespace())
		old, err := r.Get(ctx, u.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = r.Create(ctx, u, metav1.CreateOptions{})
		case err == nil:
			u.SetResourceVersion(old.GetResourceVersion())
			_, err = r.Update(ctx, u, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatalf("applying %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
}

func (e *env) ensureNamespace(t *testing.T, name string) {
	t.Helper()
	_, err := e.kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// installMetrics installs a shipped Metric set with its Prometheus URL pointed at prom,
// as a user sets it at install time.
func (e *env) installMetrics(t *testing.T, file, promURL string) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range readObjects(t, filepath.Join(root, file)) {
		if _, ok, _ := unstructured.NestedString(m.Object, "spec", "urlTemplate"); ok && promURL != "" {
			unstructured.SetNestedField(m.Object, promURL+"/api/v1/query", "spec", "urlTemplate")
		}
		e.ensureNamespace(t, m.GetNamespace())
		e.apply(t, "", m)
	}
}

// ksvcReady sets a Knative Service's status the way Knative's controller does once both
// revisions are ready: conditions, the traffic it routes, the latest revisions. It also
// creates the two Revisions with Ready status.
func (e *env) ksvcReady(t *testing.T, namespace, name string, traffic []map[string]any, latest string) {
	t.Helper()
	ctx := context.Background()
	svcGVR := schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	u, err := e.dyn.Resource(svcGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
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
		"observedGeneration":        u.GetGeneration(),
		"conditions":                conds,
		"traffic":                   tr,
		"latestCreatedRevisionName": latest,
		"latestReadyRevisionName":   latest,
		"url":                       "http://" + name + "." + namespace + ".example.com",
	}
	if _, err := e.dyn.Resource(svcGVR).Namespace(namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting ksvc status: %v", err)
	}
	revGVR := schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "revisions"}
	for _, x := range traffic {
		rev, _ := x["revisionName"].(string)
		if rev == "" {
			continue
		}
		r := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "serving.knative.dev/v1", "kind": "Revision",
			"metadata": map[string]any{"name": rev, "namespace": namespace, "labels": map[string]any{"serving.knative.dev/service": name}},
			"spec":     map[string]any{"containers": []any{map[string]any{"image": "example.com/" + rev}}},
		}}
		created, err := e.dyn.Resource(revGVR).Namespace(namespace).Create(ctx, r, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			created, err = e.dyn.Resource(revGVR).Namespace(namespace).Get(ctx, rev, metav1.GetOptions{})
		}
		if err != nil {
			t.Fatalf("creating revision %s: %v", rev, err)
		}
		created.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": now}}}
		if _, err := e.dyn.Resource(revGVR).Namespace(namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("setting revision %s status: %v", rev, err)
		}
	}
}

// app is one sample-app revision served on loopback.
type app struct {
	addr string
}

func startApp(t *testing.T, cfg sampleapp.Config) *app {
	t.Helper()
	return &app{addr: harness.StartSampleApp(t, cfg)}
}

// load calls every app every period until the test ends.
func load(t *testing.T, period time.Duration, apps ...*app) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	client := &http.Client{Timeout: 2 * time.Second}
	for _, a := range apps {
		wg.Add(1)
		go func(url string) {
			defer wg.Done()
			tick := time.NewTicker(period)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if resp, err := client.Get(url); err == nil {
						resp.Body.Close()
					}
				}
			}
		}("http://" + a.addr + "/")
	}
}

func startPrometheus(t *testing.T, apps ...*app) *harness.Prometheus {
	t.Helper()
	harness.Integration(t, harness.NeedPrometheus)
	var targets []string
	for _, a := range apps {
		targets = append(targets, a.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := harness.StartPrometheus(ctx, targets)
	if err != nil {
		t.Fatalf("starting Prometheus: %v", err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}

// stage runs one stage binary's command in-process against the control plane and returns
// its Tekton results and its error.
func (e *env) stage(t *testing.T, name, namespace, experimentName string, args ...string) (map[string]string, string, error) {
	t.Helper()
	dir := t.TempDir()
	resultNames := map[string][]string{
		stagecmd.StageInit:     {"iterations", "target"},
		stagecmd.StageIterate:  {"iteration"},
		stagecmd.StageAssess:   {"continue", "winner", "recommended", "iteration"},
		stagecmd.StageFinalize: {"outcome", "winner", "recommended"},
	}[name]
	all := []string{"--kubeconfig", e.cp.Kubeconfig(), "--experiment", experimentName, "--namespace", namespace}
	for _, r := range resultNames {
		all = append(all, "--result", r+"="+filepath.Join(dir, r))
	}
	all = append(all, args...)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := stagecmd.Run(ctx, name, all, &out, &out)
	t.Logf("%s %s:\n%s", name, strings.Join(args, " "), strings.TrimSpace(out.String()))
	results := map[string]string{}
	for _, r := range resultNames {
		if b, rerr := os.ReadFile(filepath.Join(dir, r)); rerr == nil {
			results[r] = string(b)
		}
	}
	return results, out.String(), err
}

// get reads an experiment.
func (e *env) get(t *testing.T, namespace, name string) *v2alpha1.Experiment {
	t.Helper()
	u, err := e.dyn.Resource(v2alpha1.ExperimentResource).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := harness.ExperimentFrom(u)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// runAll runs init, then iterate and assess until assess says stop, then finalize, like
// the Pipeline does. It returns the number of iterations run and finalize's results.
func (e *env) runAll(t *testing.T, namespace, name string, interval int) (int, map[string]string, error) {
	t.Helper()
	iv := fmt.Sprint(interval)
	if _, _, err := e.stage(t, stagecmd.StageInit, namespace, name, "--target-wait", "5s"); err != nil {
		res, _, ferr := e.stage(t, stagecmd.StageFinalize, namespace, name, "--pipeline-status", "Failed")
		if ferr == nil {
			ferr = err
		}
		return 0, res, ferr
	}
	k := 0
	for {
		k++
		if _, _, err := e.stage(t, stagecmd.StageIterate, namespace, name, "--iteration", fmt.Sprint(k), "--interval-seconds", iv); err != nil {
			t.Fatalf("iterate %d: %v", k, err)
		}
		res, _, err := e.stage(t, stagecmd.StageAssess, namespace, name, "--iteration", fmt.Sprint(k), "--interval-seconds", iv)
		if err != nil {
			break
		}
		if res["continue"] != "true" {
			break
		}
	}
	res, _, err := e.stage(t, stagecmd.StageFinalize, namespace, name, "--pipeline-status", "Succeeded")
	return k, res, err
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func harnessNamespace(t *testing.T, e *env) string {
	return harness.Namespace(t, e.kube)
}
