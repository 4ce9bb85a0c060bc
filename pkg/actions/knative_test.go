package actions_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

var ksvcGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}

// readyStatus is the status Knative gives a Service whose revisions are all ready.
const readyStatus = `
  observedGeneration: 1
  conditions:
  - {type: ConfigurationsReady, status: "True"}
  - {type: Ready, status: "True"}
  - {type: RoutesReady, status: "True"}
`

// seedKsvc is the seed's service.yaml after Knative reconciled it: two revisions,
// traffic 100/0.
const seedKsvc = `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: sample-app, namespace: default, generation: 1}
spec:
  template:
    metadata: {name: sample-app-v2}
    spec:
      containers: [{image: gcr.io/knative-samples/knative-route-demo:green}]
  traffic:
  - {revisionName: sample-app-v1, percent: 100}
  - {latestRevision: true, percent: 0}
status:
  latestReadyRevisionName: sample-app-v2
  latestCreatedRevisionName: sample-app-v2
  traffic:
  - {revisionName: sample-app-v1, latestRevision: false, percent: 100}
  - {revisionName: sample-app-v2, latestRevision: true, percent: 0}
` + readyStatus

// reorderedKsvc lists spec.traffic in the other order than status.traffic, so a weight's
// index must come from spec.traffic.
const reorderedKsvc = `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: app, namespace: team, generation: 1}
spec:
  traffic:
  - {latestRevision: true, percent: 20}
  - {revisionName: app-v1, percent: 80}
status:
  traffic:
  - {revisionName: app-v1, latestRevision: false, percent: 80}
  - {revisionName: app-v2, latestRevision: true, percent: 20}
` + readyStatus

func unstructuredFrom(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func fakeDynamic(t *testing.T, objs ...string) *dynamicfake.FakeDynamicClient {
	t.Helper()
	var us []runtime.Object
	for _, o := range objs {
		us = append(us, unstructuredFrom(t, o))
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{ksvcGVR: "ServiceList"}, us...)
}

// initExperiment is an experiment whose start action is knative/init-experiment.
func initExperiment(t *testing.T, target, pattern, versionInfo string) *v2alpha1.Experiment {
	t.Helper()
	return experiment(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: exp, namespace: team}
spec:
  target: `+target+`
  strategy:
    testingPattern: `+pattern+`
    actions:
      start: [{task: knative/init-experiment, with: {numAttempts: 3, periodSeconds: 2}}]
`+versionInfo)
}

func weightRef(ns, name string, i int) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "serving.knative.dev/v1", Kind: "Service", Namespace: ns, Name: name, FieldPath: fmt.Sprintf(".spec.traffic[%d].percent", i)}
}

func vars(kv ...string) []v2alpha1.NamedValue {
	var out []v2alpha1.NamedValue
	for i := 0; i < len(kv); i += 2 {
		out = append(out, v2alpha1.NamedValue{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestInitExperiment(t *testing.T) {
	tests := []struct {
		name string
		exp  func(t *testing.T) *v2alpha1.Experiment
		ksvc string
		want *v2alpha1.VersionInfo
	}{{
		name: "the seed keeps its versionInfo and gains the namespace",
		exp:  seedExperiment,
		ksvc: seedKsvc,
		want: &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "current", Variables: vars("revision", "sample-app-v2", "namespace", "default")}},
	}, {
		name: "Conformance without versionInfo takes the last traffic entry",
		exp: func(t *testing.T) *v2alpha1.Experiment {
			return initExperiment(t, "default/sample-app", "Conformance", "")
		},
		ksvc: seedKsvc,
		want: &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "baseline", Variables: vars("revision", "sample-app-v2", "namespace", "default")}},
	}, {
		name: "Conformance with a baseline without revision",
		exp: func(t *testing.T) *v2alpha1.Experiment {
			return initExperiment(t, "default/sample-app", "Conformance", `  versionInfo: {baseline: {name: mine, variables: [{name: namespace, value: elsewhere}]}}`)
		},
		ksvc: seedKsvc,
		want: &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "mine", Variables: vars("namespace", "elsewhere", "revision", "sample-app-v2")}},
	}, {
		name: "Canary weights come from the spec.traffic index",
		exp: func(t *testing.T) *v2alpha1.Experiment {
			return initExperiment(t, "team/app", "Canary", `
  versionInfo:
    baseline: {name: current, variables: [{name: revision, value: app-v1}]}
    candidates: [{name: next, variables: [{name: revision, value: app-v2}]}]`)
		},
		ksvc: reorderedKsvc,
		want: &v2alpha1.VersionInfo{
			Baseline:   v2alpha1.VersionDetail{Name: "current", Variables: vars("revision", "app-v1", "namespace", "team"), WeightObjRef: weightRef("team", "app", 1)},
			Candidates: []v2alpha1.VersionDetail{{Name: "next", Variables: vars("revision", "app-v2", "namespace", "team"), WeightObjRef: weightRef("team", "app", 0)}},
		},
	}, {
		name: "Canary without versionInfo takes the last two traffic entries",
		exp: func(t *testing.T) *v2alpha1.Experiment {
			return initExperiment(t, "team/app", "Canary", "")
		},
		ksvc: reorderedKsvc,
		want: &v2alpha1.VersionInfo{
			Baseline:   v2alpha1.VersionDetail{Name: "baseline", Variables: vars("revision", "app-v1", "namespace", "team"), WeightObjRef: weightRef("team", "app", 1)},
			Candidates: []v2alpha1.VersionDetail{{Name: "candidate", Variables: vars("revision", "app-v2", "namespace", "team"), WeightObjRef: weightRef("team", "app", 0)}},
		},
	}, {
		name: "Canary keeps a given weightObjRef and variables",
		exp: func(t *testing.T) *v2alpha1.Experiment {
			return initExperiment(t, "team/app", "Canary", `
  versionInfo:
    baseline:
      name: current
      variables: [{name: revision, value: app-v1}, {name: namespace, value: mine}]
      weightObjRef: {apiVersion: networking.istio.io/v1beta1, kind: VirtualService, namespace: team, name: vs, fieldPath: ".spec.http[0].route[0].weight"}
    candidates: [{name: next}]`)
		},
		ksvc: reorderedKsvc,
		want: &v2alpha1.VersionInfo{
			Baseline: v2alpha1.VersionDetail{Name: "current", Variables: vars("revision", "app-v1", "namespace", "mine"),
				WeightObjRef: &corev1.ObjectReference{APIVersion: "networking.istio.io/v1beta1", Kind: "VirtualService", Namespace: "team", Name: "vs", FieldPath: ".spec.http[0].route[0].weight"}},
			Candidates: []v2alpha1.VersionDetail{{Name: "next", Variables: vars("revision", "app-v2", "namespace", "team"), WeightObjRef: weightRef("team", "app", 0)}},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := tc.exp(t)
			var out bytes.Buffer
			env := actions.Env{Dynamic: fakeDynamic(t, tc.ksvc), Out: &out, Sleep: func(context.Context, time.Duration) error {
				t.Error("init-experiment waited for a ready Service")
				return nil
			}}
			if err := actions.Run(context.Background(), env, exp, "start"); err != nil {
				t.Fatalf("Run: %v\n%s", err, out.String())
			}
			if diff := cmp.Diff(tc.want, exp.Spec.VersionInfo); diff != "" {
				t.Errorf("versionInfo (-want +got):\n%s", diff)
			}
			if err := exp.Spec.ValidateVersionInfo(); err != nil {
				t.Errorf("the filled-in versionInfo is invalid: %v", err)
			}
		})
	}
}

// init-experiment polls until the Service is ready, sleeping the period between attempts.
func TestInitExperimentWaitsForReady(t *testing.T) {
	notReady := strings.Replace(seedKsvc, `{type: RoutesReady, status: "True"}`, `{type: RoutesReady, status: "Unknown", reason: IngressNotConfigured}`, 1)
	dc := fakeDynamic(t, notReady)
	var slept []time.Duration
	env := actions.Env{Dynamic: dc, Sleep: func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		if len(slept) == 2 {
			// Knative finishes reconciling during the second wait.
			if _, err := dc.Resource(ksvcGVR).Namespace("default").Update(ctx, unstructuredFrom(t, seedKsvc), metav1.UpdateOptions{}); err != nil {
				t.Error(err)
			}
		}
		return nil
	}}
	exp := initExperiment(t, "default/sample-app", "Conformance", "")
	if err := actions.Run(context.Background(), env, exp, "start"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff([]time.Duration{2 * time.Second, 2 * time.Second}, slept); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestInitExperimentErrors(t *testing.T) {
	tests := []struct {
		name string
		exp  *v2alpha1.Experiment
		ksvc string
		want string
	}{{
		name: "target is not namespace/name",
		exp:  initExperiment(t, "sample-app", "Conformance", ""),
		ksvc: seedKsvc,
		want: `start action, task 0 (knative/init-experiment): unable to parse target "sample-app" into the namespace/name of a Knative Service`,
	}, {
		name: "unsupported testing pattern",
		exp:  initExperiment(t, "default/sample-app", "A/B", ""),
		ksvc: seedKsvc,
		want: "start action, task 0 (knative/init-experiment): unsupported testing pattern A/B: knative/init-experiment supports Conformance and Canary",
	}, {
		name: "never ready",
		exp:  initExperiment(t, "default/sample-app", "Conformance", ""),
		ksvc: strings.Replace(seedKsvc, `{type: Ready, status: "True"}`, `{type: Ready, status: "False", reason: RevisionFailed, message: "image pull failed"}`, 1),
		want: "start action, task 0 (knative/init-experiment): waiting for Knative Service default/sample-app: not ready after 3 attempts 2s apart: Ready is False (RevisionFailed: image pull failed)",
	}, {
		name: "status of an old generation",
		exp:  initExperiment(t, "default/sample-app", "Conformance", ""),
		ksvc: strings.Replace(seedKsvc, "generation: 1", "generation: 2", 1),
		want: "start action, task 0 (knative/init-experiment): waiting for Knative Service default/sample-app: not ready after 3 attempts 2s apart: status is for generation 1, spec is at generation 2",
	}, {
		name: "no conditions",
		exp:  initExperiment(t, "default/sample-app", "Conformance", ""),
		ksvc: strings.Replace(seedKsvc, readyStatus, "\n  observedGeneration: 1\n", 1),
		want: "start action, task 0 (knative/init-experiment): waiting for Knative Service default/sample-app: not ready after 3 attempts 2s apart: Ready is not set, ConfigurationsReady is not set, RoutesReady is not set",
	}, {
		name: "not found",
		exp:  initExperiment(t, "default/other", "Conformance", ""),
		ksvc: seedKsvc,
		want: "start action, task 0 (knative/init-experiment): waiting for Knative Service default/other: not ready after 3 attempts 2s apart: not found",
	}, {
		name: "revision not in traffic",
		exp:  initExperiment(t, "default/sample-app", "Conformance", `  versionInfo: {baseline: {name: b, variables: [{name: revision, value: sample-app-v3}]}}`),
		ksvc: seedKsvc,
		want: "start action, task 0 (knative/init-experiment): filling versionInfo from Knative Service default/sample-app: revision sample-app-v3 of version b is not in status.traffic ([sample-app-v1: 100%, sample-app-v2 (latest): 0%])",
	}, {
		name: "Conformance with a candidate",
		exp:  initExperiment(t, "default/sample-app", "Conformance", `  versionInfo: {baseline: {name: b}, candidates: [{name: c}]}`),
		ksvc: seedKsvc,
		want: "start action, task 0 (knative/init-experiment): filling versionInfo from Knative Service default/sample-app: a Conformance experiment has no candidates, got 1",
	}, {
		name: "Canary with two candidates",
		exp:  initExperiment(t, "team/app", "Canary", `  versionInfo: {baseline: {name: b}, candidates: [{name: c}, {name: d}]}`),
		ksvc: reorderedKsvc,
		want: "start action, task 0 (knative/init-experiment): filling versionInfo from Knative Service team/app: a Canary experiment has exactly one candidate, got 2",
	}, {
		name: "Canary with one traffic entry",
		exp:  initExperiment(t, "default/sample-app", "Canary", ""),
		ksvc: strings.Replace(seedKsvc, "  - {revisionName: sample-app-v1, latestRevision: false, percent: 100}\n", "", 1),
		want: "start action, task 0 (knative/init-experiment): filling versionInfo from Knative Service default/sample-app: version baseline has no variable revision, and status.traffic has no entry to take it from ([sample-app-v2 (latest): 0%])",
	}, {
		name: "Canary of one revision",
		exp:  initExperiment(t, "team/app", "Canary", `  versionInfo: {baseline: {name: b, variables: [{name: revision, value: app-v1}]}, candidates: [{name: c, variables: [{name: revision, value: app-v1}]}]}`),
		ksvc: reorderedKsvc,
		want: "start action, task 0 (knative/init-experiment): filling versionInfo from Knative Service team/app: baseline b and candidate c are the same revision app-v1",
	}, {
		name: "Canary revision without a spec.traffic entry",
		exp:  initExperiment(t, "team/app", "Canary", ""),
		ksvc: strings.Replace(reorderedKsvc, "  - {latestRevision: true, percent: 20}\n", "  - {revisionName: app-v0, percent: 20}\n", 1),
		want: "start action, task 0 (knative/init-experiment): filling versionInfo from Knative Service team/app: version candidate: no entry of spec.traffic routes to revision app-v2, so its weight cannot be changed (spec.traffic: [app-v0: 20%, app-v1: 80%])",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := actions.Env{Dynamic: fakeDynamic(t, tc.ksvc), Sleep: func(context.Context, time.Duration) error { return nil }}
			before := tc.exp.Spec.VersionInfo.DeepCopy()
			err := actions.Run(context.Background(), env, tc.exp, "start")
			if err == nil || err.Error() != tc.want {
				t.Errorf("Run error:\n%v\nwant:\n%s", err, tc.want)
			}
			if diff := cmp.Diff(before, tc.exp.Spec.VersionInfo); diff != "" {
				t.Errorf("a failed init-experiment changed versionInfo (-before +after):\n%s", diff)
			}
		})
	}
}

func TestTasksThatNeedACluster(t *testing.T) {
	tests := []struct {
		task string
		want string
	}{
		{"{task: knative/init-experiment}", "start action, task 0 (knative/init-experiment): knative/init-experiment needs a cluster; it cannot run with iter8ctl run"},
		{"{library: knative, task: init-experiment}", "start action, task 0 (knative/init-experiment): knative/init-experiment needs a cluster; it cannot run with iter8ctl run"},
		{"{task: common/readiness, with: {objRefs: [{kind: deploy, name: x}]}}", "start action, task 0 (common/readiness): common/readiness needs a cluster; it cannot run with iter8ctl run"},
	}
	for _, tc := range tests {
		t.Run(tc.task, func(t *testing.T) {
			exp := experiment(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: local}
spec:
  target: default/sample-app
  strategy: {testingPattern: Conformance, actions: {start: [`+tc.task+`]}}
`)
			err := actions.Run(context.Background(), actions.Env{}, exp, "start")
			if err == nil || err.Error() != tc.want {
				t.Errorf("Run error = %v, want %q", err, tc.want)
			}
			if !errors.Is(err, actions.ErrNeedsCluster) {
				t.Errorf("Run error %v does not wrap ErrNeedsCluster", err)
			}
		})
	}
}

// Without a REST mapper, common/readiness still checks weightObjRef objects (their kind
// and apiVersion are given), but cannot resolve kubectl-style objRef kinds.
func TestReadinessWithoutMapper(t *testing.T) {
	exp := func(with string) *v2alpha1.Experiment {
		return experiment(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: ready, namespace: default}
spec:
  target: default/sample-app
  strategy: {testingPattern: Conformance, actions: {start: [{task: common/readiness, with: `+with+`}]}}
  versionInfo:
    baseline:
      name: v1
      weightObjRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: sample-app, fieldPath: ".spec.traffic[0].percent"}
`)
	}
	var out bytes.Buffer
	env := actions.Env{Dynamic: fakeDynamic(t, seedKsvc), Out: &out, Sleep: func(context.Context, time.Duration) error { return nil }}
	if err := actions.Run(context.Background(), env, exp(`{}`), "start"); err != nil {
		t.Errorf("Run: %v", err)
	}
	if want := "Service default/sample-app (weightObjRef of version v1) is ready"; !strings.Contains(out.String(), want) {
		t.Errorf("output does not contain %q:\n%s", want, out.String())
	}
	err := actions.Run(context.Background(), env, exp(`{objRefs: [{kind: deploy, name: x}]}`), "start")
	want := `start action, task 0 (common/readiness): objRefs[0]: resolving kind "deploy" needs a REST mapper, and none was configured`
	if err == nil || err.Error() != want {
		t.Errorf("Run error = %v, want %q", err, want)
	}
}
