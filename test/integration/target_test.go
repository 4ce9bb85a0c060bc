package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/experiment"
	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
)

// vsCanaryExperiment is a progressive Canary of the sample-app VirtualService in vsNS,
// judged on a mocked latency metric of the experiment's namespace, with a 1-second
// interval: the target tests need the traffic and the bookkeeping, not real metrics.
func vsCanaryExperiment(t *testing.T, name, target, vsNS string, iterations int) *unstructured.Unstructured {
	t.Helper()
	ref := func(i int) string {
		return fmt.Sprintf(`
      weightObjRef:
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        namespace: %s
        name: sample-app
        fieldPath: .spec.http[0].route[%d].weight`, vsNS, i)
	}
	return yamlObject(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: `+name+`
spec:
  target: `+target+`
  strategy:
    testingPattern: Canary
    deploymentPattern: Progressive
    weights:
      maxCandidateWeight: 50
      maxCandidateWeightIncrement: 10
  criteria:
    objectives:
    - metric: latency
      upperLimit: 50
  duration:
    intervalSeconds: 1
    iterationsPerLoop: `+fmt.Sprint(iterations)+`
  versionInfo:
    baseline:
      name: sample-app-v1`+ref(0)+`
    candidates:
    - name: sample-app-v2`+ref(1)+`
`)
}

// healthyLatency is the mocked latency metric under which the candidate passes.
func healthyLatency(t *testing.T) *unstructured.Unstructured {
	return mockMetric(t, "latency", map[string]string{"sample-app-v1": "10", "sample-app-v2": "12"})
}

func vsResourceVersion(t *testing.T, e *env, ns string) string {
	t.Helper()
	u, err := e.dyn.Resource(vsGVR).Namespace(ns).Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u.GetResourceVersion()
}

func conditionOf(exp *v2alpha1.Experiment, c v2alpha1.ExperimentConditionType) (status corev1.ConditionStatus, reason, message string) {
	cond := exp.Status.Condition(c)
	if cond == nil {
		return "", "", ""
	}
	if cond.Reason != nil {
		reason = *cond.Reason
	}
	if cond.Message != nil {
		message = *cond.Message
	}
	return cond.Status, reason, message
}

func TestTargetHeldByOne(t *testing.T) {
	e := cluster(t)
	nsA, nsB := namespace(t, e), namespace(t, e)
	target := nsA + "/sample-app"
	istioVS(t, e, nsA, 100, 0)
	e.apply(t, nsA, healthyLatency(t), vsCanaryExperiment(t, "first", target, nsA, 2))
	e.apply(t, nsB, healthyLatency(t), vsCanaryExperiment(t, "second", target, nsA, 2))

	if _, _, err := e.stage(t, stagecmd.StageInit, nsA, "first", "--target-wait", "3s"); err != nil {
		t.Fatalf("init of the first: %v", err)
	}
	if s, r, _ := conditionOf(e.get(t, nsA, "first"), v2alpha1.ConditionTargetAcquired); s != corev1.ConditionTrue || r != v2alpha1.ReasonTargetAcquired {
		t.Fatalf("first's TargetAcquired = %s %s, want True TargetAcquired", s, r)
	}

	rv := vsResourceVersion(t, e, nsA)
	_, _, err := e.stage(t, stagecmd.StageInit, nsB, "second", "--target-wait", "3s")
	holder := nsA + "/first"
	if err == nil || !strings.Contains(err.Error(), v2alpha1.ReasonTargetWaiting) || !strings.Contains(err.Error(), holder) {
		t.Errorf("init of the second while the first holds the target: error %v, want TargetWaiting naming %s", err, holder)
	}
	second := e.get(t, nsB, "second")
	if s, r, m := conditionOf(second, v2alpha1.ConditionFailed); s != corev1.ConditionTrue || r != v2alpha1.ReasonTargetWaiting || !strings.Contains(m, holder) {
		t.Errorf("second's Failed = %s %s %q, want True TargetWaiting naming %s", s, r, m, holder)
	}
	if second.Status.IsTrue(v2alpha1.ConditionTargetAcquired) {
		t.Errorf("second holds the target too: %s", mustJSON(second.Status.Conditions))
	}
	if got := second.Status.GetStage(); got == v2alpha1.StageRunning || got == v2alpha1.StageInitializing {
		t.Errorf("second's stage = %s, want it not started", got)
	}
	if got := vsResourceVersion(t, e, nsA); got != rv {
		t.Errorf("the VirtualService changed (resourceVersion %s -> %s) while the second waited", rv, got)
	}

	k, res, err := e.runAll(t, nsA, "first", 1)
	if err != nil {
		t.Fatalf("the first did not achieve its aim: %v", err)
	}
	if k != 2 || res["outcome"] != "Succeeded" {
		t.Fatalf("first ran %d iterations with results %v, want 2 and Succeeded", k, res)
	}
	first := e.get(t, nsA, "first")
	if s, r, _ := conditionOf(first, v2alpha1.ConditionTargetAcquired); s != corev1.ConditionFalse || r != v2alpha1.ReasonExperimentCompleted {
		t.Errorf("first's TargetAcquired after finalize = %s %s, want False ExperimentCompleted (released)", s, r)
	}
	if l := targetLease(t, e, first); l != nil {
		t.Errorf("the first's lease outlived it: %s", mustJSON(l))
	}

	// The first released the target: run again, the second's init acquires it.
	if _, _, err := e.stage(t, stagecmd.StageInit, nsB, "second", "--target-wait", "3s"); err != nil {
		t.Errorf("init of the second after the first finalized: %v", err)
	}
	second = e.get(t, nsB, "second")
	if s, r, _ := conditionOf(second, v2alpha1.ConditionTargetAcquired); s != corev1.ConditionTrue || r != v2alpha1.ReasonTargetAcquired {
		t.Errorf("second's TargetAcquired after the first finalized = %s %s, want True TargetAcquired", s, r)
	}
	if second.Status.GetStage() != v2alpha1.StageRunning || second.Status.IsTrue(v2alpha1.ConditionFailed) {
		t.Fatalf("second after its re-run init: stage %s, conditions %s; want Running and not Failed", second.Status.GetStage(), mustJSON(second.Status.Conditions))
	}
	if k, res, err := e.runAll(t, nsB, "second", 1); err != nil || k != 2 || res["outcome"] != "Succeeded" {
		t.Errorf("the second ran %d iterations, results %v, error %v; want 2, Succeeded and no error", k, res, err)
	}
	if got := vsWeights(t, e, nsA); !cmp.Equal([]int64{60, 40}, got) {
		t.Errorf("weights after both experiments = %v, want 60/40: each moved the candidate up 10 twice", got)
	}
}

// TestTargetWaitsForRelease: an init that waits long enough gets the target as soon as its
// holder finalizes, without failing first.
func TestTargetWaitsForRelease(t *testing.T) {
	e := cluster(t)
	nsA, nsB := namespace(t, e), namespace(t, e)
	target := nsA + "/sample-app"
	istioVS(t, e, nsA, 100, 0)
	e.apply(t, nsA, healthyLatency(t), vsCanaryExperiment(t, "first", target, nsA, 2))
	e.apply(t, nsB, healthyLatency(t), vsCanaryExperiment(t, "second", target, nsA, 2))
	if _, _, err := e.stage(t, stagecmd.StageInit, nsA, "first"); err != nil {
		t.Fatalf("init of the first: %v", err)
	}

	waited := make(chan error, 1)
	go func() {
		_, _, err := e.stage(t, stagecmd.StageInit, nsB, "second", "--target-wait", "60s")
		waited <- err
	}()
	if _, _, err := e.runAll(t, nsA, "first", 1); err != nil {
		t.Fatalf("the first did not achieve its aim: %v", err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("init of the second, waiting for the target: %v", err)
	}
	second := e.get(t, nsB, "second")
	if s, _, _ := conditionOf(second, v2alpha1.ConditionTargetAcquired); s != corev1.ConditionTrue || second.Status.IsTrue(v2alpha1.ConditionFailed) || second.Status.GetStage() != v2alpha1.StageRunning {
		t.Fatalf("second after waiting: stage %s, conditions %s; want Running with the target", second.Status.GetStage(), mustJSON(second.Status.Conditions))
	}
	if k, res, err := e.runAll(t, nsB, "second", 1); err != nil || k != 2 {
		t.Errorf("the second ran %d iterations, results %v, error %v; want 2 and no error", k, res, err)
	}
}

// TestTargetRace starts two inits at once on a free target, a few times: exactly one holds
// it afterwards, and the other failed naming it.
func TestTargetRace(t *testing.T) {
	e := cluster(t)
	for round := range 8 {
		nsA, nsB := namespace(t, e), namespace(t, e)
		target := nsA + "/sample-app"
		istioVS(t, e, nsA, 100, 0)
		e.apply(t, nsA, healthyLatency(t), vsCanaryExperiment(t, "one", target, nsA, 2))
		e.apply(t, nsB, healthyLatency(t), vsCanaryExperiment(t, "two", target, nsA, 2))

		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, x := range []struct{ ns, name string }{{nsA, "one"}, {nsB, "two"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = e.stage(t, stagecmd.StageInit, x.ns, x.name, "--target-wait", "1s")
			}()
		}
		wg.Wait()

		exps := []*v2alpha1.Experiment{e.get(t, nsA, "one"), e.get(t, nsB, "two")}
		var holders []string
		for _, x := range exps {
			if x.Status.IsTrue(v2alpha1.ConditionTargetAcquired) {
				holders = append(holders, x.Namespace+"/"+x.Name)
			}
		}
		if len(holders) != 1 {
			t.Errorf("round %d: %d experiments hold %s: %v (init errors %v)\none: %s\ntwo: %s", round, len(holders), target, holders, errs,
				mustJSON(exps[0].Status.Conditions), mustJSON(exps[1].Status.Conditions))
			continue
		}
		for i, x := range exps {
			id := x.Namespace + "/" + x.Name
			switch {
			case id == holders[0] && errs[i] != nil:
				t.Errorf("round %d: the holder %s's init failed: %v", round, id, errs[i])
			case id != holders[0] && (errs[i] == nil || !strings.Contains(errs[i].Error(), holders[0])):
				t.Errorf("round %d: the other's (%s) init error = %v, want TargetWaiting naming %s", round, id, errs[i], holders[0])
			}
		}
		if got := vsWeights(t, e, nsA); !cmp.Equal([]int64{100, 0}, got) {
			t.Errorf("round %d: VirtualService weights %v after init, want 100/0", round, got)
		}
	}
}

var leaseGVR = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

// targetLease reads the Lease of the experiment's target, or nil when there is none.
func targetLease(t *testing.T, e *env, exp *v2alpha1.Experiment) *coordinationv1.Lease {
	t.Helper()
	ns, name := experiment.TargetLeaseName(exp)
	l, err := e.kube.CoordinationV1().Leases(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestTargetLeaseManyContenders starts the inits of six experiments of six namespaces at
// once, all on one free target, round after round: each round exactly one holds the
// target, the Lease names it by UID, and the others failed naming it.
func TestTargetLeaseManyContenders(t *testing.T) {
	e := cluster(t)
	const contenders, rounds = 6, 8
	for round := range rounds {
		targetNS := namespace(t, e)
		target := targetNS + "/sample-app"
		istioVS(t, e, targetNS, 100, 0)
		type contender struct{ ns, name string }
		var cs []contender
		for i := range contenders {
			ns := namespace(t, e)
			name := fmt.Sprintf("c%d", i)
			e.apply(t, ns, healthyLatency(t), vsCanaryExperiment(t, name, target, targetNS, 2))
			cs = append(cs, contender{ns, name})
		}
		var wg sync.WaitGroup
		errs := make([]error, contenders)
		for i, c := range cs {
			wg.Go(func() {
				_, _, errs[i] = e.stage(t, stagecmd.StageInit, c.ns, c.name, "--target-wait", "1s")
			})
		}
		wg.Wait()

		var holders []*v2alpha1.Experiment
		exps := make([]*v2alpha1.Experiment, contenders)
		for i, c := range cs {
			exps[i] = e.get(t, c.ns, c.name)
			if exps[i].Status.IsTrue(v2alpha1.ConditionTargetAcquired) {
				holders = append(holders, exps[i])
			}
		}
		if len(holders) != 1 {
			t.Fatalf("round %d: %d experiments hold %s (init errors %v)", round, len(holders), target, errs)
		}
		holder := holders[0].Namespace + "/" + holders[0].Name
		l := targetLease(t, e, holders[0])
		if l == nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != string(holders[0].UID) || l.Namespace != targetNS {
			t.Fatalf("round %d: lease %s, want one in %s held by %s's UID %s", round, mustJSON(l), targetNS, holder, holders[0].UID)
		}
		if d := l.Spec.LeaseDurationSeconds; d == nil || *d != int32(2+experiment.LeaseGrace/time.Second) {
			t.Errorf("round %d: leaseDurationSeconds %v, want 2 intervals of 1s and the grace", round, d)
		}
		for i, x := range exps {
			id := x.Namespace + "/" + x.Name
			switch {
			case id == holder && errs[i] != nil:
				t.Errorf("round %d: the holder %s's init failed: %v", round, id, errs[i])
			case id != holder && (errs[i] == nil || !strings.Contains(errs[i].Error(), holder)):
				t.Errorf("round %d: %s's init error = %v, want TargetWaiting naming %s", round, id, errs[i], holder)
			}
		}
		if got := vsWeights(t, e, targetNS); !cmp.Equal([]int64{100, 0}, got) {
			t.Errorf("round %d: VirtualService weights %v after init, want 100/0", round, got)
		}
	}
}

// TestTargetLeaseOfACrashedRun: a Lease left by a run that died frees the target once it
// expires, and not before.
func TestTargetLeaseOfACrashedRun(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	target := ns + "/sample-app"
	istioVS(t, e, ns, 100, 0)
	e.apply(t, ns, healthyLatency(t), vsCanaryExperiment(t, "next", target, ns, 2))
	exp := e.get(t, ns, "next")
	leaseNS, leaseName := experiment.TargetLeaseName(exp)
	leave := func(renewed time.Time, seconds int32) {
		t.Helper()
		holder := "uid-of-a-crashed-run"
		renew := metav1.NewMicroTime(renewed)
		l := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: leaseNS, Name: leaseName, Annotations: map[string]string{experiment.LeaseAnnotation: "gone/crashed"}},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &renew, AcquireTime: &renew, LeaseDurationSeconds: &seconds},
		}
		_ = e.kube.CoordinationV1().Leases(leaseNS).Delete(context.Background(), leaseName, metav1.DeleteOptions{})
		if _, err := e.kube.CoordinationV1().Leases(leaseNS).Create(context.Background(), l, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Renewed a minute ago for an hour: held.
	leave(time.Now().Add(-time.Minute), 3600)
	_, _, err := e.stage(t, stagecmd.StageInit, ns, "next", "--target-wait", "1s")
	if err == nil || !strings.Contains(err.Error(), "held by experiment gone/crashed") {
		t.Fatalf("init under a live lease: %v, want TargetWaiting naming gone/crashed", err)
	}

	// Renewed two hours ago for an hour: expired, taken.
	leave(time.Now().Add(-2*time.Hour), 3600)
	if _, _, err := e.stage(t, stagecmd.StageInit, ns, "next", "--target-wait", "1s"); err != nil {
		t.Fatalf("init under an expired lease: %v", err)
	}
	l := targetLease(t, e, exp)
	if l == nil || *l.Spec.HolderIdentity != string(exp.UID) || l.Annotations[experiment.LeaseAnnotation] != ns+"/next" || l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions != 1 {
		t.Errorf("lease after taking it over: %s", mustJSON(l))
	}

	// Finalize gives it back.
	if k, res, err := e.runAll(t, ns, "next", 1); err != nil || k != 2 || res["outcome"] != "Succeeded" {
		t.Fatalf("the experiment ran %d iterations, results %v, error %v", k, res, err)
	}
	if l := targetLease(t, e, exp); l != nil {
		t.Errorf("the lease outlived the experiment: %s", mustJSON(l))
	}
}
