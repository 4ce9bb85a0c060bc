//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

var (
	vsGVR    = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: "virtualservices"}
	leaseGVR = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
)

// TestRemoteCluster runs the Pipeline on the node's Tekton (the CI cluster) against a
// second, separate API server (the target cluster: the integration harness's etcd and
// kube-apiserver, reached by the pods through the node's bridge). The PipelineRun binds
// the kubeconfig workspace to a Secret holding a kubeconfig of the target cluster, with
// the token of a ServiceAccount that has config/rbac's Role there and nothing else; in the
// CI cluster the stages run as a ServiceAccount that may only get PipelineRuns. The
// Experiment, its Metric and the VirtualService whose weights move are in the target
// cluster; the CI cluster holds nothing but the Tekton objects and the Secret, and the
// token appears in no log, result or status.
func TestRemoteCluster(t *testing.T) {
	t.Parallel()
	afterSeedResolution(t)
	const ciNS, appNS = "e2e-remote", "apps"
	installIn(t, ciNS)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	target, err := harness.StartControlPlane(ctx)
	if err != nil {
		t.Fatalf("starting the target cluster: %v", err)
	}
	t.Cleanup(func() { target.Stop() })
	own, err := harness.ProjectCRDs(harness.ProjectCRDDir)
	if err != nil {
		t.Fatal(err)
	}
	istio, err := harness.IstioCRDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.InstallCRDs(ctx, target.Config(), append(own, istio...)...); err != nil {
		t.Fatal(err)
	}
	targetKubectl := func(stdin []byte, args ...string) string {
		t.Helper()
		out, err := kubectl(ctx, stdin, append([]string{"--kubeconfig", target.Kubeconfig()}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	targetKubectl(nil, "create", "namespace", appNS)
	dir := t.TempDir()
	rbac, err := filepath.Rel(dir, filepath.Join(cluster.root, "config/rbac"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("namespace: "+appNS+"\nresources:\n- "+rbac+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	targetKubectl(nil, "apply", "-k", dir)

	// The pods reach the host on the bridge only; the apiserver's certificate names the
	// bridge address too.
	host, err := url.Parse(target.Config().Host)
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	addr, err := harness.Forward(fctx, bridgeIP+":0", host.Host)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := harness.TokenKubeconfig(ctx, target.Config(), "https://"+addr, appNS, "iter8-tekton")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := clientcmd.Load(kc)
	if err != nil {
		t.Fatal(err)
	}
	token := parsed.AuthInfos["iter8-tekton"].Token
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "target-kubeconfig", Namespace: ciNS}, Data: map[string][]byte{"kubeconfig": kc}}
	if _, err := cluster.kube.CoreV1().Secrets(ciNS).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	targetKubectl([]byte(`apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: sample-app
  namespace: `+appNS+`
spec:
  hosts: [sample-app.example.com]
  http:
  - route:
    - destination: {host: sample-app-v1}
      weight: 100
    - destination: {host: sample-app-v2}
      weight: 0
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata:
  name: latency
  namespace: `+appNS+`
spec:
  description: Mocked latency
  units: milliseconds
  type: Gauge
  mock:
  - name: sample-app-v1
    level: "40"
  - name: sample-app-v2
    level: "30"
`), "apply", "-f", "-")
	expFile := writeFile(t, "experiment.yaml", `apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: remote
  namespace: `+appNS+`
spec:
  target: `+appNS+`/sample-app
  strategy:
    testingPattern: Canary
    deploymentPattern: Progressive
    weights: {maxCandidateWeightIncrement: 20}
  criteria:
    objectives:
    - metric: latency
      upperLimit: 50
  duration:
    intervalSeconds: 2
    iterationsPerLoop: 3
  versionInfo:
    baseline:
      name: sample-app-v1
      weightObjRef:
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        name: sample-app
        namespace: `+appNS+`
        fieldPath: .spec.http[0].route[0].weight
    candidates:
    - name: sample-app-v2
      weightObjRef:
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        name: sample-app
        namespace: `+appNS+`
        fieldPath: .spec.http[0].route[1].weight
`)
	targetKubectl(nil, "apply", "-f", expFile)

	// In the CI cluster the stages run as a ServiceAccount that may only read PipelineRuns
	// (init's clock): the least the CI cluster needs.
	ciRBAC := `apiVersion: v1
kind: ServiceAccount
metadata:
  name: iter8-remote
  namespace: ` + ciNS + `
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: iter8-remote
  namespace: ` + ciNS + `
rules:
- apiGroups: ["tekton.dev"]
  resources: ["pipelineruns"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: iter8-remote
  namespace: ` + ciNS + `
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: iter8-remote}
subjects:
- {kind: ServiceAccount, name: iter8-remote, namespace: ` + ciNS + `}
`
	if _, err := kubectl(ctx, []byte(ciRBAC), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	pr, err := iter8ctl(ctx, nil, "pipelinerun", "-f", expFile, "-n", ciNS, "--kubeconfig-secret", "target-kubeconfig",
		"--service-account", "iter8-remote", "--image", stagesImage, "--image-pull-policy", "Never")
	if err != nil {
		t.Fatal(err)
	}
	out, err := kubectl(ctx, []byte(pr), "create", "-f", "-", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(strings.TrimSpace(out), "pipelinerun.tekton.dev/")
	run := waitPipelineRun(t, ciNS, name, 10*time.Minute)
	logTaskRuns(t, ciNS, name)
	if got := condition(run); got != "True/Succeeded" {
		t.Errorf("PipelineRun condition = %s, want True/Succeeded", got)
	}

	// The target cluster has the experiment, completed, and the weights it moved.
	tdyn := dynamic.NewForConfigOrDie(target.Config())
	u, err := tdyn.Resource(v2alpha1.ExperimentResource).Namespace(appNS).Get(ctx, "remote", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := harness.ExperimentFrom(u)
	if err != nil {
		t.Fatal(err)
	}
	if exp.Status.GetStage() != v2alpha1.StageCompleted || exp.Status.GetCompletedIterations() != 3 || exp.Status.Winner() != "sample-app-v2" {
		t.Errorf("target experiment: stage %s, %d iterations, winner %q; want Completed, 3, sample-app-v2", exp.Status.GetStage(), exp.Status.GetCompletedIterations(), exp.Status.Winner())
	}
	vs, err := tdyn.Resource(vsGVR).Namespace(appNS).Get(ctx, "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	var weights []int64
	for _, d := range routes[0].(map[string]any)["route"].([]any) {
		w, _, _ := unstructured.NestedInt64(d.(map[string]any), "weight")
		weights = append(weights, w)
	}
	if d := cmp.Diff([]int64{40, 60}, weights); d != "" {
		t.Errorf("target VirtualService weights after 3 iterations of +20 (-want +got):\n%s", d)
	}
	if ev, err := tdyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "events"}).Namespace(appNS).List(ctx, metav1.ListOptions{}); err != nil || len(ev.Items) == 0 {
		t.Errorf("no Events about the experiment in the target cluster (%v)", err)
	}

	// The CI cluster holds no Experiment, Lease or Event of it.
	if l, err := cluster.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ciNS).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
		t.Errorf("Experiments in the CI cluster's %s: %v (%v)", ciNS, l, err)
	}
	for _, ns := range []string{ciNS, appNS} {
		if l, err := cluster.dyn.Resource(leaseGVR).Namespace(ns).List(ctx, metav1.ListOptions{}); err == nil && len(l.Items) != 0 {
			t.Errorf("Leases in the CI cluster's %s: %d", ns, len(l.Items))
		}
	}
	events, err := cluster.kube.CoreV1().Events(ciNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "Experiment" {
			t.Errorf("an Event about the Experiment in the CI cluster: %s %s", e.Reason, e.Message)
		}
	}

	// The token is in no log, result or status.
	for tn, tr := range taskRuns(t, ciNS, name) {
		for k, v := range trResults(tr) {
			if strings.Contains(v, token) {
				t.Errorf("TaskRun %s result %s holds the token", tn, k)
			}
		}
		if tr.Status.PodName == "" {
			continue
		}
		logs, err := kubectl(ctx, nil, "logs", "-n", ciNS, tr.Status.PodName, "--all-containers")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs, token) || strings.Contains(logs, "BEGIN CERTIFICATE") {
			t.Errorf("TaskRun %s's log holds the kubeconfig's credentials", tn)
		}
	}
	if status, _ := json.Marshal(exp.Status); strings.Contains(string(status), token) {
		t.Error("the target experiment's status holds the token")
	}
}
