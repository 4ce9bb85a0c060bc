package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

var rbacResources = map[string]schema.GroupVersionResource{
	"ServiceAccount":     {Version: "v1", Resource: "serviceaccounts"},
	"Role":               {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	"RoleBinding":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	"ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
}

// installRBAC installs what config/rbac/kustomization.yaml lists, as a user does for the
// namespace ns: the namespaced objects moved to ns, every ServiceAccount subject too. The
// Roles of the shared Metrics' namespaces (iter8-*) stay there; their bindings get a name
// of their own per test namespace and are removed when the test ends.
func (e *env) installRBAC(t *testing.T, ns string) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, dir := range []string{filepath.Join(root, "config", "rbac"), filepath.Join(root, "config", "rbac", "shared")} {
		b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var kust struct {
			Resources []string `json:"resources"`
		}
		if err := yaml.Unmarshal(b, &kust); err != nil {
			t.Fatalf("%s/kustomization.yaml: %v", dir, err)
		}
		if len(kust.Resources) == 0 {
			t.Fatalf("%s/kustomization.yaml lists no resources", dir)
		}
		for _, f := range kust.Resources {
			files = append(files, filepath.Join(dir, f))
		}
	}
	ctx := context.Background()
	for _, f := range files {
		for _, u := range readObjects(t, f) {
			r, ok := rbacResources[u.GetKind()]
			if !ok {
				t.Fatalf("%s: unexpected kind %s", f, u.GetKind())
			}
			var ri dynamic.ResourceInterface = e.dyn.Resource(r)
			shared := strings.HasPrefix(u.GetNamespace(), "iter8-")
			switch {
			case u.GetKind() == "ClusterRole" || u.GetKind() == "ClusterRoleBinding":
			case shared:
				e.ensureNamespace(t, u.GetNamespace())
				if u.GetKind() == "RoleBinding" {
					u.SetName(u.GetName() + "-" + ns)
				}
				ri = e.dyn.Resource(r).Namespace(u.GetNamespace())
				objNS, name := u.GetNamespace(), u.GetName()
				t.Cleanup(func() {
					_ = e.dyn.Resource(r).Namespace(objNS).Delete(context.Background(), name, metav1.DeleteOptions{})
				})
			default:
				u.SetNamespace(ns)
				ri = e.dyn.Resource(r).Namespace(ns)
			}
			if subjects, ok, _ := unstructured.NestedSlice(u.Object, "subjects"); ok {
				for _, s := range subjects {
					if m := s.(map[string]any); m["kind"] == "ServiceAccount" {
						m["namespace"] = ns
					}
				}
				unstructured.SetNestedSlice(u.Object, subjects, "subjects")
			}
			old, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				_, err = ri.Create(ctx, u, metav1.CreateOptions{})
			case err == nil:
				u.SetResourceVersion(old.GetResourceVersion())
				_, err = ri.Update(ctx, u, metav1.UpdateOptions{})
			}
			if err != nil {
				t.Fatalf("installing %s %s from %s: %v", u.GetKind(), u.GetName(), f, err)
			}
			if u.GetNamespace() == "" {
				// Cluster-wide grants must not outlive the test.
				name := u.GetName()
				t.Cleanup(func() { _ = e.dyn.Resource(r).Delete(context.Background(), name, metav1.DeleteOptions{}) })
			}
		}
	}
}

// serviceAccountKubeconfig asks the TokenRequest API for a token of the ServiceAccount and
// writes a kubeconfig that authenticates with it (and nothing else).
func (e *env) serviceAccountKubeconfig(t *testing.T, ns, sa string) (string, *rest.Config) {
	t.Helper()
	kc, err := harness.TokenKubeconfig(context.Background(), e.cp.Config(), "", ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

func TestRBAC(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	other := namespace(t, e) // no RoleBinding here
	e.installRBAC(t, ns)
	kubeconfig, cfg := e.serviceAccountKubeconfig(t, ns, "iter8-tekton")
	ctx := context.Background()
	saKube := kubernetes.NewForConfigOrDie(cfg)
	saDyn := dynamic.NewForConfigOrDie(cfg)

	// The token is the ServiceAccount's, not a stray admin credential.
	review, err := saKube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("who am I: %v", err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:"+ns+":iter8-tekton"; got != want {
		t.Fatalf("token user = %q, want %q", got, want)
	}

	t.Run("the stages run a canary with the token", func(t *testing.T) {
		// init takes the target's Lease, iterate and assess renew it, finalize deletes
		// it: with the Role's get, create, update and delete on leases, and nothing more.
		startRevisions(t, e, ns, 3*time.Millisecond)
		canaryKsvc(t, e, ns, 100, 0)
		var n notifications
		url := n.serve(t)
		weights := "    weights:\n      maxCandidateWeight: 25\n      maxCandidateWeightIncrement: 10"
		e.apply(t, ns, canaryExperiment(t, ns, "canary", "", weights, url, 2, knativeCanaryVersions))

		sa := []string{"--kubeconfig", kubeconfig}
		if _, _, err := e.stage(t, stagecmd.StageInit, ns, "canary", append(sa, "--target-wait", "5s")...); err != nil {
			t.Fatalf("init-experiment: %v", err)
		}
		var seen [][]int64
		k := 0
		for {
			k++
			if _, _, err := e.stage(t, stagecmd.StageIterate, ns, "canary", append(sa, "--iteration", fmt.Sprint(k))...); err != nil {
				t.Fatalf("iterate %d: %v", k, err)
			}
			res, _, err := e.stage(t, stagecmd.StageAssess, ns, "canary", append(sa, "--iteration", fmt.Sprint(k))...)
			if err != nil {
				t.Fatalf("assess %d: %v", k, err)
			}
			seen = append(seen, ksvcWeights(t, e, ns))
			if res["continue"] != "true" || k > 5 {
				break
			}
		}
		res, _, err := e.stage(t, stagecmd.StageFinalize, ns, "canary", append(sa, "--pipeline-status", "Succeeded")...)
		if err != nil {
			t.Fatalf("finalize: %v", err)
		}
		if diff := cmp.Diff([][]int64{{90, 10}, {80, 20}}, seen); diff != "" {
			t.Errorf("traffic after each assess (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"outcome": "Succeeded", "winner": "sample-app-v2", "recommended": "sample-app-v2"}, res); diff != "" {
			t.Errorf("finalize results (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"sample-app-v2"}, n.promoted()); diff != "" {
			t.Errorf("finish action promoted (-want +got):\n%s", diff)
		}
		exp := e.get(t, ns, "canary")
		if !exp.Status.IsTrue(v2alpha1.ConditionCompleted) || exp.Status.IsTrue(v2alpha1.ConditionFailed) {
			t.Errorf("experiment Completed %v Failed %v, want completed without failure", exp.Status.IsTrue(v2alpha1.ConditionCompleted), exp.Status.IsTrue(v2alpha1.ConditionFailed))
		}
		// knative/init-experiment wrote the weightObjRefs into the spec with the token.
		if got := exp.Spec.VersionInfo.Candidates[0].WeightObjRef; got == nil || got.FieldPath != ".spec.traffic[1].percent" {
			t.Errorf("candidate weightObjRef = %+v, want .spec.traffic[1].percent", got)
		}
		// Events are written best-effort (errors ignored), so check they got through.
		evs, err := e.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=canary"})
		if err != nil {
			t.Fatal(err)
		}
		components := map[string]bool{}
		for _, ev := range evs.Items {
			components[ev.Source.Component] = true
		}
		for _, c := range []string{"iter8-" + stagecmd.StageInit, "iter8-" + stagecmd.StageFinalize} {
			if !components[c] {
				t.Errorf("no Event from %s (events from %v)", c, components)
			}
		}
	})

	t.Run("what was dropped is refused", func(t *testing.T) {
		// No cluster-wide grant: the target's lock is a Lease, not a list of every
		// namespace's Experiments.
		if _, err := saDyn.Resource(v2alpha1.ExperimentResource).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list experiments in all namespaces: error = %v, want Forbidden", err)
		}
		if _, err := saDyn.Resource(v2alpha1.MetricResource).Namespace(other).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list metrics in %s: error = %v, want Forbidden", other, err)
		}
		// Nothing patches a Revision.
		rev := schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "revisions"}
		if _, err := saDyn.Resource(rev).Namespace(ns).Patch(ctx, "sample-app-v1", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("patch a revision: error = %v, want Forbidden", err)
		}
		// Leases in the namespace of the Role only.
		if _, err := saKube.CoordinationV1().Leases(other).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list leases in %s: error = %v, want Forbidden", other, err)
		}
		if _, err := saKube.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list leases in %s: error = %v, want Forbidden (get, create, update and delete by name only)", ns, err)
		}
	})

	t.Run("the shared Metrics are readable", func(t *testing.T) {
		for _, shared := range []string{"iter8-system", "iter8-knative", "iter8-istio"} {
			if _, err := saDyn.Resource(v2alpha1.MetricResource).Namespace(shared).List(ctx, metav1.ListOptions{}); err != nil {
				t.Errorf("list metrics in %s: %v", shared, err)
			}
		}
	})

	t.Run("secrets are refused", func(t *testing.T) {
		if _, err := e.kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "prometheus-credentials"},
			StringData: map[string]string{"token": "s3cr3t"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := saKube.CoreV1().Secrets(ns).Get(ctx, "prometheus-credentials", metav1.GetOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("get secret: error = %v, want Forbidden", err)
		}
		t.Logf("get secret refused: %v", err)
		if _, err := saKube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list secrets: error = %v, want Forbidden", err)
		}
	})

	t.Run("a Knative Service in another namespace is refused", func(t *testing.T) {
		canaryKsvc(t, e, other, 80, 20)
		patch := []byte(`[{"op":"replace","path":"/spec/traffic/1/percent","value":100},{"op":"replace","path":"/spec/traffic/0/percent","value":0}]`)
		_, err := saDyn.Resource(ksvcGVR).Namespace(other).Patch(ctx, "sample-app", types.JSONPatchType, patch, metav1.PatchOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("patch ksvc in %s: error = %v, want Forbidden", other, err)
		} else {
			t.Logf("patch ksvc in %s refused: %v", other, err)
		}
		if diff := cmp.Diff([]int64{80, 20}, ksvcWeights(t, e, other)); diff != "" {
			t.Errorf("traffic in %s (-want +got):\n%s", other, diff)
		}
	})

	t.Run("an Experiment in another namespace is refused", func(t *testing.T) {
		canaryKsvc(t, e, other, 80, 20)
		exp := canaryExperiment(t, other, "canary", "", "", "http://127.0.0.1:9/", 2, knativeCanaryVersions)
		e.apply(t, other, exp)
		for stage, args := range map[string][]string{
			stagecmd.StageInit:     {"--kubeconfig", kubeconfig, "--target-wait", "1s"},
			stagecmd.StageFinalize: {"--kubeconfig", kubeconfig, "--pipeline-status", "Failed"},
		} {
			_, _, err := e.stage(t, stage, other, "canary", args...)
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s in %s: error = %v, want Forbidden", stage, other, err)
				continue
			}
			t.Logf("%s in %s refused: %v", stage, other, err)
			if msg := err.Error(); !strings.Contains(msg, "experiments") || !strings.Contains(msg, other) {
				t.Errorf("%s: the Forbidden error %q does not name the experiments of %s", stage, msg, other)
			}
		}
		got := e.get(t, other, "canary")
		if diff := cmp.Diff(v2alpha1.ExperimentStatus{}, got.Status); diff != "" {
			t.Errorf("status of the experiment in %s changed (-want +got):\n%s", other, diff)
		}
		if diff := cmp.Diff([]int64{80, 20}, ksvcWeights(t, e, other)); diff != "" {
			t.Errorf("traffic in %s (-want +got):\n%s", other, diff)
		}
	})
}
