//go:build !unit

package actions_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/jsonpath"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/kindmap"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// cluster is a real kube-apiserver with Knative Serving's CRDs, and a namespace of the
// test's own.
type cluster struct {
	cs  kubernetes.Interface
	dc  dynamic.Interface
	env actions.Env
	ns  string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	cp := harness.SharedControlPlane(t)
	ctx := testContext(t)
	files, err := harness.KnativeServingCRDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.InstallCRDs(ctx, files...); err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cp.Config())
	dc := dynamic.NewForConfigOrDie(cp.Config())
	mapper, err := kindmap.NewForConfig(cp.Config())
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{
		cs: cs,
		dc: dc,
		ns: harness.Namespace(t, cs),
		env: actions.Env{
			Dynamic: dc,
			Mapper:  mapper,
		},
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// createKsvc creates the Knative Service of manifest in the namespace, then sets the status
// the way Knative's controller would once both revisions are ready.
func (c *cluster) createKsvc(t *testing.T, ctx context.Context, manifest, status string) *unstructured.Unstructured {
	t.Helper()
	obj := unstructuredFrom(t, manifest)
	unstructured.RemoveNestedField(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "generation")
	obj.SetNamespace(c.ns)
	created, err := c.dc.Resource(ksvcGVR).Namespace(c.ns).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the Knative Service: %v", err)
	}
	st := unstructuredFrom(t, "status:"+status)
	st.Object["status"].(map[string]any)["observedGeneration"] = created.GetGeneration()
	created.Object["status"] = st.Object["status"]
	updated, err := c.dc.Resource(ksvcGVR).Namespace(c.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("setting the Knative Service's status: %v", err)
	}
	return updated
}

// seedKsvcStatus is what Knative reports for the seed's service.yaml.
const seedKsvcStatus = `
  latestReadyRevisionName: sample-app-v2
  latestCreatedRevisionName: sample-app-v2
  url: http://sample-app.NS.example.com
  traffic:
  - {revisionName: sample-app-v1, latestRevision: false, percent: 100}
  - {revisionName: sample-app-v2, latestRevision: true, percent: 0}
  conditions:
  - {type: ConfigurationsReady, status: "True", lastTransitionTime: "2026-01-01T00:00:00Z"}
  - {type: Ready, status: "True", lastTransitionTime: "2026-01-01T00:00:00Z"}
  - {type: RoutesReady, status: "True", lastTransitionTime: "2026-01-01T00:00:00Z"}
`

func TestInitExperimentAgainstAPIServer(t *testing.T) {
	c := newCluster(t)
	ctx := testContext(t)

	t.Run("seed", func(t *testing.T) {
		c.createKsvc(t, ctx, seedKsvc, strings.ReplaceAll(seedKsvcStatus, "NS", c.ns))
		exp := seedExperiment(t)
		exp.Namespace = c.ns
		exp.Spec.Target = c.ns + "/sample-app"
		var out bytes.Buffer
		env := c.env
		env.Out = &out
		if err := actions.Run(ctx, env, exp, v2alpha1.ActionStart); err != nil {
			t.Fatalf("Run: %v\n%s", err, out.String())
		}
		want := &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "current", Variables: vars("revision", "sample-app-v2", "namespace", c.ns)}}
		if diff := cmp.Diff(want, exp.Spec.VersionInfo); diff != "" {
			t.Errorf("versionInfo (-want +got):\n%s", diff)
		}
		if !strings.Contains(out.String(), "start action, task 0 (knative/init-experiment): Knative Service "+c.ns+"/sample-app is ready") {
			t.Errorf("output:\n%s", out.String())
		}
	})

	t.Run("canary weights point at the revisions' percent", func(t *testing.T) {
		manifest := strings.Replace(strings.Replace(reorderedKsvc, "namespace: team", "namespace: x", 1), "name: app,", "name: canary,", 1)
		status := strings.TrimPrefix(reorderedKsvc[strings.Index(reorderedKsvc, "status:"):], "status:")
		svc := c.createKsvc(t, ctx, manifest, status)
		exp := initExperiment(t, c.ns+"/canary", "Canary", `
  versionInfo:
    baseline: {name: current, variables: [{name: revision, value: app-v1}]}
    candidates: [{name: next, variables: [{name: revision, value: app-v2}]}]`)
		if err := actions.Run(ctx, c.env, exp, v2alpha1.ActionStart); err != nil {
			t.Fatalf("Run: %v", err)
		}
		// Each version's weightObjRef reads the percent that status.traffic gives its
		// revision: 80 for app-v1, 20 for app-v2.
		got := map[string]string{}
		for _, v := range exp.Spec.Versions() {
			r := v.WeightObjRef
			if r == nil || r.Namespace != c.ns || r.Name != "canary" {
				t.Fatalf("version %s has weightObjRef %+v", v.Name, r)
			}
			jp := jsonpath.New(v.Name)
			if err := jp.Parse("{" + r.FieldPath + "}"); err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := jp.Execute(&b, svc.Object); err != nil {
				t.Fatalf("fieldPath %s of version %s: %v", r.FieldPath, v.Name, err)
			}
			got[v.Name] = b.String()
		}
		if diff := cmp.Diff(map[string]string{"current": "80", "next": "20"}, got); diff != "" {
			t.Errorf("weights read through weightObjRef (-want +got):\n%s", diff)
		}
		if err := exp.Spec.ValidateVersionInfo(); err != nil {
			t.Errorf("the filled-in versionInfo is invalid: %v", err)
		}
	})

	t.Run("not ready", func(t *testing.T) {
		status := strings.Replace(strings.ReplaceAll(seedKsvcStatus, "NS", c.ns), `{type: RoutesReady, status: "True"`, `{type: RoutesReady, status: "Unknown", reason: IngressNotConfigured, message: "Ingress has not yet been reconciled."`, 1)
		c.createKsvc(t, ctx, strings.Replace(seedKsvc, "name: sample-app,", "name: pending,", 1), status)
		exp := initExperiment(t, c.ns+"/pending", "Conformance", "")
		env := c.env
		var slept []time.Duration
		env.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
		err := actions.Run(ctx, env, exp, v2alpha1.ActionStart)
		want := "start action, task 0 (knative/init-experiment): waiting for Knative Service " + c.ns + "/pending: not ready after 3 attempts 2s apart: RoutesReady is Unknown (IngressNotConfigured: Ingress has not yet been reconciled.)"
		if err == nil || err.Error() != want {
			t.Errorf("Run error:\n%v\nwant:\n%s", err, want)
		}
		if len(slept) != 2 {
			t.Errorf("slept %d times, want 2 (between 3 attempts)", len(slept))
		}
	})
}

func TestReadinessAgainstAPIServer(t *testing.T) {
	c := newCluster(t)
	ctx := testContext(t)
	c.createKsvc(t, ctx, seedKsvc, strings.ReplaceAll(seedKsvcStatus, "NS", c.ns))
	one := int32(1)
	deploy, err := c.cs.AppsV1().Deployments(c.ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app-v2"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "v2"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "v2"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:v2"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	readiness := func(t *testing.T, with string) *v2alpha1.Experiment {
		exp := experiment(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: ready}
spec:
  target: x/y
  strategy:
    testingPattern: Canary
    actions:
      start: [{task: common/readiness, with: `+with+`}]
  versionInfo:
    baseline:
      name: v1
      weightObjRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: sample-app, fieldPath: ".spec.traffic[0].percent"}
    candidates:
    - name: v2
      weightObjRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: sample-app, fieldPath: ".spec.traffic[1].percent"}
`)
		exp.Namespace = c.ns
		return exp
	}

	t.Run("waits until the deployment is available", func(t *testing.T) {
		exp := readiness(t, `{initialDelaySeconds: 1, intervalSeconds: 3, numRetries: 4, objRefs: [{kind: ksvc, name: sample-app, waitFor: Ready}, {kind: deployments.v1.apps, name: app-v2, namespace: `+c.ns+`, waitFor: condition=Available}]}`)
		var out bytes.Buffer
		env := c.env
		env.Out = &out
		var slept []time.Duration
		env.Sleep = func(ctx context.Context, d time.Duration) error {
			slept = append(slept, d)
			if len(slept) == 3 {
				// The deployment controller would report this once the pod is up.
				deploy.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}}
				if _, err := c.cs.AppsV1().Deployments(c.ns).UpdateStatus(ctx, deploy, metav1.UpdateOptions{}); err != nil {
					t.Error(err)
				}
			}
			return nil
		}
		if err := actions.Run(ctx, env, exp, v2alpha1.ActionStart); err != nil {
			t.Fatalf("Run: %v\n%s", err, out.String())
		}
		if diff := cmp.Diff([]time.Duration{time.Second, 3 * time.Second, 3 * time.Second}, slept); diff != "" {
			t.Errorf("sleeps (-want +got):\n%s", diff)
		}
		for _, want := range []string{
			"ksvc " + c.ns + "/sample-app is ready",
			"deployments.v1.apps " + c.ns + "/app-v2 is not ready (attempt 1 of 5): condition Available is not set",
			"deployments.v1.apps " + c.ns + "/app-v2 is ready",
			"Service " + c.ns + "/sample-app (weightObjRef of version v1) is ready",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output does not contain %q:\n%s", want, out.String())
			}
		}
	})

	tests := []struct {
		name string
		with string
		exp  func(*v2alpha1.Experiment)
		want string
	}{{
		name: "missing object",
		with: `{initialDelaySeconds: 0, numRetries: 2, objRefs: [{kind: deploy, name: app-v3}]}`,
		want: "start action, task 0 (common/readiness): waiting for deploy NS/app-v3: not ready after 3 attempts 5s apart: not found",
	}, {
		name: "condition false",
		with: `{numRetries: 1, intervalSeconds: 1, objRefs: [{kind: deploy, name: app-v2, waitFor: condition=Available=False}]}`,
		want: "start action, task 0 (common/readiness): waiting for deploy NS/app-v2: not ready after 2 attempts 1s apart: condition Available is True, want False (MinimumReplicasAvailable)",
	}, {
		name: "unknown kind",
		with: `{objRefs: [{kind: gizmo, name: x}]}`,
		want: `start action, task 0 (common/readiness): objRefs[0]: the server has no resource type "gizmo"`,
	}, {
		name: "missing weight object",
		with: `{numRetries: 0}`,
		exp:  func(e *v2alpha1.Experiment) { e.Spec.VersionInfo.Candidates[0].WeightObjRef.Name = "gone" },
		want: "start action, task 0 (common/readiness): waiting for Service NS/gone (weightObjRef of version v2): not ready after 1 attempts 5s apart: not found",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := readiness(t, tc.with)
			if tc.exp != nil {
				tc.exp(exp)
			}
			env := c.env
			env.Sleep = func(context.Context, time.Duration) error { return nil }
			err := actions.Run(ctx, env, exp, v2alpha1.ActionStart)
			want := strings.ReplaceAll(tc.want, "NS", c.ns)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Run error:\n%v\nwant it to start with:\n%s", err, want)
			}
		})
	}
}
