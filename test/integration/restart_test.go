package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/experiment"
	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
	"github.com/iter8-tools/iter8-tekton/pkg/traffic"
)

// restartInterval is the iteration interval of the restart tests: long enough for iterate
// to be caught waiting for its slot.
const restartInterval = "2"

// statusSummary is what a run must reproduce: everything but times and measured values.
type statusSummary struct {
	Stage               v2alpha1.ExperimentStageType
	CompletedIterations int32
	AssessedIterations  int32
	Weights             []v2alpha1.WeightData
	Assessments         map[string][]bool
	Winner              string
	Recommended         string
	RolledBack          []string
	Conditions          []string
}

func summarize(exp *v2alpha1.Experiment) statusSummary {
	s := statusSummary{
		Stage:               exp.Status.GetStage(),
		CompletedIterations: exp.Status.GetCompletedIterations(),
		AssessedIterations:  ptrValue(exp.Status.AssessedIterations),
		Weights:             exp.Status.CurrentWeightDistribution,
		Recommended:         exp.Status.RecommendedVersion(),
		RolledBack:          exp.Status.RolledBack,
	}
	if a := exp.Status.Analysis; a != nil {
		if a.VersionAssessments != nil {
			s.Assessments = a.VersionAssessments.Data
		}
		if w := a.WinnerAssessment; w != nil && w.Data.Winner != nil {
			s.Winner = *w.Data.Winner
		}
	}
	for _, c := range exp.Status.Conditions {
		if c == nil {
			continue
		}
		reason := ""
		if c.Reason != nil {
			reason = *c.Reason
		}
		s.Conditions = append(s.Conditions, fmt.Sprintf("%s=%s (%s)", c.Type, c.Status, reason))
	}
	return s
}

func ptrValue(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// vsGeneration counts the VirtualService's spec changes: each weight patch is one.
func vsGeneration(t *testing.T, e *env, ns string) int64 {
	t.Helper()
	u, err := e.dyn.Resource(vsGVR).Namespace(ns).Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u.GetGeneration()
}

func expResourceVersion(t *testing.T, e *env, ns, name string) string {
	t.Helper()
	u, err := e.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u.GetResourceVersion()
}

// signalWriter collects a stage's log and closes seen once the log contains want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// stageCancelledAt runs a stage in-process like env.stage, and cancels its context, as a
// SIGTERM would, as soon as its log says want.
func (e *env) stageCancelledAt(t *testing.T, want, name, namespace, experimentName string, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := &signalWriter{want: want, seen: make(chan struct{})}
	go func() {
		select {
		case <-w.seen:
			cancel()
		case <-ctx.Done():
		}
	}()
	all := append([]string{"--kubeconfig", e.cp.Kubeconfig(), "--experiment", experimentName, "--namespace", namespace}, args...)
	err := stagecmd.Run(ctx, name, all, w, w)
	w.mu.Lock()
	t.Logf("%s %s (cancelled at %q):\n%s", name, strings.Join(args, " "), want, strings.TrimSpace(w.buf.String()))
	w.mu.Unlock()
	select {
	case <-w.seen:
	default:
		t.Fatalf("%s never logged %q, so it was not cancelled there", name, want)
	}
	return err
}

// errKilled stands for a stage process that died: it reaches the API server no more.
var errKilled = errors.New("killed")

// killSwitch wraps a stage's store and traffic client: once killed, every call fails
// without reaching the API server, as if the process had died at that point.
type killSwitch struct {
	mu     sync.Mutex
	killed bool
	// afterWrite kills the process right after a status write it returns true for.
	afterWrite func(*v2alpha1.Experiment) bool
	// afterApply kills the process right after a traffic patch.
	afterApply bool
}

func (k *killSwitch) dead() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.killed
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.killed = true
}

type killableStore struct {
	experiment.Store
	k *killSwitch
}

func (s killableStore) Get(ctx context.Context) (*v2alpha1.Experiment, error) {
	if s.k.dead() {
		return nil, errKilled
	}
	return s.Store.Get(ctx)
}

func (s killableStore) UpdateStatus(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	if s.k.dead() {
		return nil, errKilled
	}
	exp, err := s.Store.UpdateStatus(ctx, mutate)
	if err == nil && s.k.afterWrite != nil && s.k.afterWrite(exp) {
		s.k.kill()
	}
	return exp, err
}

func (s killableStore) UpdateSpec(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	if s.k.dead() {
		return nil, errKilled
	}
	return s.Store.UpdateSpec(ctx, mutate)
}

func (s killableStore) Event(ctx context.Context, exp *v2alpha1.Experiment, eventType, reason, message string) {
	if !s.k.dead() {
		s.Store.Event(ctx, exp, eventType, reason, message)
	}
}

type killableTraffic struct {
	experiment.Traffic
	k *killSwitch
}

func (tr killableTraffic) Observe(ctx context.Context, exp *v2alpha1.Experiment) ([]v2alpha1.WeightData, error) {
	if tr.k.dead() {
		return nil, errKilled
	}
	return tr.Traffic.Observe(ctx, exp)
}

func (tr killableTraffic) Apply(ctx context.Context, exp *v2alpha1.Experiment, observed, desired []v2alpha1.WeightData) ([]v2alpha1.WeightData, error) {
	if tr.k.dead() {
		return nil, errKilled
	}
	w, err := tr.Traffic.Apply(ctx, exp, observed, desired)
	if err == nil && tr.k.afterApply {
		tr.k.kill()
	}
	return w, err
}

// assessKilled runs assess k with the real store and traffic client, killed at the point
// ks says.
func (e *env) assessKilled(t *testing.T, ks *killSwitch, ns, name string, k int32) {
	t.Helper()
	e.stageKilled(t, ks, ns, name, fmt.Sprintf("assess %d", k), func(ctx context.Context, d *experiment.Deps) error {
		_, err := experiment.Assess(ctx, d, k)
		return err
	})
}

// stageKilled runs a stage function with the real store and traffic client, killed at the
// point ks says.
func (e *env) stageKilled(t *testing.T, ks *killSwitch, ns, name, stage string, run func(context.Context, *experiment.Deps) error) {
	t.Helper()
	tc, err := traffic.NewClient(e.cp.Config())
	if err != nil {
		t.Fatal(err)
	}
	api := jsonClient(t, e.cp.Config())
	var log bytes.Buffer
	d := &experiment.Deps{
		Store:   killableStore{Store: &experiment.ClusterStore{Client: api, Events: experiment.RESTEvents{Client: api}, Namespace: ns, Name: name, Component: "iter8-test"}, k: ks},
		Traffic: killableTraffic{Traffic: tc, k: ks},
		Log:     &log,
	}
	err = run(context.Background(), d)
	t.Logf("%s (killed):\n%s", stage, strings.TrimSpace(log.String()))
	if !ks.dead() {
		t.Fatalf("%s ran to its end (error %v); it was to be killed", stage, err)
	}
	// The dying stage may still try to record the failure of its next step; that write
	// never reaches the API server either.
	if err == nil || !strings.Contains(err.Error(), errKilled.Error()) {
		t.Fatalf("killed %s returned %v, want the kill", stage, err)
	}
}

// restartRun is one run of the restart experiment: its weights after each step.
type restartRun struct {
	weights     [][]int64
	generations int64
	final       statusSummary
	finalize    map[string]string
}

func setupRestart(t *testing.T, e *env) string {
	t.Helper()
	ns := namespace(t, e)
	istioVS(t, e, ns, 100, 0)
	e.apply(t, ns, healthyLatency(t), vsCanaryExperiment(t, "restart", ns+"/sample-app", ns, 3))
	return ns
}

func (e *env) cleanRestartRun(t *testing.T) restartRun {
	t.Helper()
	ns := setupRestart(t, e)
	var r restartRun
	if _, _, err := e.stage(t, stagecmd.StageInit, ns, "restart"); err != nil {
		t.Fatalf("init: %v", err)
	}
	g0 := vsGeneration(t, e, ns)
	for k := 1; k <= 3; k++ {
		if _, _, err := e.stage(t, stagecmd.StageIterate, ns, "restart", "--iteration", fmt.Sprint(k), "--interval-seconds", restartInterval); err != nil {
			t.Fatalf("iterate %d: %v", k, err)
		}
		if _, _, err := e.stage(t, stagecmd.StageAssess, ns, "restart", "--iteration", fmt.Sprint(k)); err != nil {
			t.Fatalf("assess %d: %v", k, err)
		}
		r.weights = append(r.weights, vsWeights(t, e, ns))
	}
	res, _, err := e.stage(t, stagecmd.StageFinalize, ns, "restart", "--pipeline-status", "Succeeded")
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	r.weights = append(r.weights, vsWeights(t, e, ns))
	r.generations = vsGeneration(t, e, ns) - g0
	r.final = summarize(e.get(t, ns, "restart"))
	r.finalize = res
	return r
}

// TestRestartIdempotent kills stages at several points and runs them again: the final
// status, the weights after each step and the number of traffic patches equal a clean
// run's.
func TestRestartIdempotent(t *testing.T) {
	e := cluster(t)
	clean := e.cleanRestartRun(t)
	if diff := cmp.Diff([][]int64{{90, 10}, {80, 20}, {70, 30}, {70, 30}}, clean.weights); diff != "" {
		t.Fatalf("clean run: weights after each assess and after finalize (-want +got):\n%s", diff)
	}

	ns := setupRestart(t, e)
	var got restartRun
	if _, _, err := e.stage(t, stagecmd.StageInit, ns, "restart"); err != nil {
		t.Fatalf("init: %v", err)
	}
	g0 := vsGeneration(t, e, ns)
	iterate := func(k int) {
		t.Helper()
		if _, _, err := e.stage(t, stagecmd.StageIterate, ns, "restart", "--iteration", fmt.Sprint(k), "--interval-seconds", restartInterval); err != nil {
			t.Fatalf("iterate %d: %v", k, err)
		}
	}
	assess := func(k int) {
		t.Helper()
		if _, _, err := e.stage(t, stagecmd.StageAssess, ns, "restart", "--iteration", fmt.Sprint(k)); err != nil {
			t.Fatalf("assess %d: %v", k, err)
		}
	}

	// (a) iterate 1 stopped while it waits for its slot, then run again: counted once.
	if err := e.stageCancelledAt(t, "waiting", stagecmd.StageIterate, ns, "restart", "--iteration", "1", "--interval-seconds", restartInterval); err == nil {
		t.Errorf("iterate 1 cancelled while waiting returned no error")
	}
	if n := e.get(t, ns, "restart").Status.GetCompletedIterations(); n != 0 {
		t.Errorf("completedIterations after the cancelled iterate 1 = %d, want 0", n)
	}
	iterate(1)
	if n := e.get(t, ns, "restart").Status.GetCompletedIterations(); n != 1 {
		t.Errorf("completedIterations after iterate 1 ran again = %d, want 1", n)
	}

	// (b) iterate 1 once more: nothing changes, not even the resourceVersion.
	rv := expResourceVersion(t, e, ns, "restart")
	iterate(1)
	if got := expResourceVersion(t, e, ns, "restart"); got != rv {
		t.Errorf("a second iterate 1 wrote the experiment (resourceVersion %s -> %s)", rv, got)
	}

	// (c) assess 1 twice: the second changes nothing, neither the experiment nor traffic.
	assess(1)
	rv, gen := expResourceVersion(t, e, ns, "restart"), vsGeneration(t, e, ns)
	assess(1)
	if got := expResourceVersion(t, e, ns, "restart"); got != rv {
		t.Errorf("a second assess 1 wrote the experiment (resourceVersion %s -> %s)", rv, got)
	}
	if got := vsGeneration(t, e, ns); got != gen {
		t.Errorf("a second assess 1 patched the VirtualService (generation %d -> %d)", gen, got)
	}
	got.weights = append(got.weights, vsWeights(t, e, ns))

	// (d) assess 2 killed right after recording its decision, before the traffic patch:
	// run again, it applies the recorded weights, once.
	iterate(2)
	gen = vsGeneration(t, e, ns)
	e.assessKilled(t, &killSwitch{afterWrite: func(x *v2alpha1.Experiment) bool { return ptrValue(x.Status.AssessedIterations) == 2 }}, ns, "restart", 2)
	if got := vsGeneration(t, e, ns); got != gen {
		t.Fatalf("the killed assess 2 patched the VirtualService (generation %d -> %d)", gen, got)
	}
	killed := e.get(t, ns, "restart")
	if n := ptrValue(killed.Status.AssessedIterations); n != 2 {
		t.Fatalf("assessedIterations after the killed assess 2 = %d, want its decision recorded", n)
	}
	assess(2)
	if got := vsGeneration(t, e, ns); got != gen+1 {
		t.Errorf("assess 2 run again patched the VirtualService %d times, want once", got-gen)
	}
	got.weights = append(got.weights, vsWeights(t, e, ns))

	// (e) assess 3 killed right after the traffic patch, before it recorded the weights:
	// run again, it records them and patches nothing.
	iterate(3)
	gen = vsGeneration(t, e, ns)
	e.assessKilled(t, &killSwitch{afterApply: true}, ns, "restart", 3)
	if got := vsGeneration(t, e, ns); got != gen+1 {
		t.Fatalf("the killed assess 3 patched the VirtualService %d times, want once", got-gen)
	}
	assess(3)
	if got := vsGeneration(t, e, ns); got != gen+1 {
		t.Errorf("assess 3 run again patched the VirtualService again (%d patches in all, want 1)", got-gen)
	}
	got.weights = append(got.weights, vsWeights(t, e, ns))

	// (f) finalize killed once it marked the experiment Finishing, then run again, then
	// once more: the last reports the same and writes nothing.
	e.stageKilled(t, &killSwitch{afterWrite: func(x *v2alpha1.Experiment) bool { return x.Status.GetStage() == v2alpha1.StageFinishing }}, ns, "restart", "finalize",
		func(ctx context.Context, d *experiment.Deps) error {
			_, err := experiment.Finalize(ctx, d, "Succeeded")
			return err
		})
	if got := e.get(t, ns, "restart").Status.GetStage(); got != v2alpha1.StageFinishing {
		t.Fatalf("stage after the killed finalize = %s, want Finishing", got)
	}
	res, _, err := e.stage(t, stagecmd.StageFinalize, ns, "restart", "--pipeline-status", "Succeeded")
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	rv = expResourceVersion(t, e, ns, "restart")
	again, _, err := e.stage(t, stagecmd.StageFinalize, ns, "restart", "--pipeline-status", "Succeeded")
	if err != nil {
		t.Errorf("finalize run again: %v", err)
	}
	if diff := cmp.Diff(res, again); diff != "" {
		t.Errorf("finalize run again reported (-first +again):\n%s", diff)
	}
	if got := expResourceVersion(t, e, ns, "restart"); got != rv {
		t.Errorf("finalize run again wrote the experiment (resourceVersion %s -> %s)", rv, got)
	}
	got.weights = append(got.weights, vsWeights(t, e, ns))
	got.generations = vsGeneration(t, e, ns) - g0
	got.final = summarize(e.get(t, ns, "restart"))
	got.finalize = res

	if diff := cmp.Diff(clean.weights, got.weights); diff != "" {
		t.Errorf("weights after each step (-clean +restarted):\n%s", diff)
	}
	if got.generations != clean.generations {
		t.Errorf("the restarted run patched the VirtualService %d times, the clean run %d", got.generations, clean.generations)
	}
	if diff := cmp.Diff(clean.final, got.final); diff != "" {
		t.Errorf("final status (-clean +restarted):\n%s", diff)
	}
	if diff := cmp.Diff(clean.finalize, got.finalize); diff != "" {
		t.Errorf("finalize results (-clean +restarted):\n%s", diff)
	}
}

// TestExperimentDeletedMidRun deletes the experiment between iterate and assess: assess
// and finalize exit cleanly, say stop, and patch nothing.
func TestExperimentDeletedMidRun(t *testing.T) {
	e := cluster(t)
	ns := setupRestart(t, e)
	if _, _, err := e.stage(t, stagecmd.StageInit, ns, "restart"); err != nil {
		t.Fatalf("init: %v", err)
	}
	if _, _, err := e.stage(t, stagecmd.StageIterate, ns, "restart", "--iteration", "1", "--interval-seconds", "1"); err != nil {
		t.Fatalf("iterate 1: %v", err)
	}
	if err := e.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns).Delete(context.Background(), "restart", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	vs, err := e.dyn.Resource(vsGVR).Namespace(ns).Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	res, _, err := e.stage(t, stagecmd.StageAssess, ns, "restart", "--iteration", "1")
	if err != nil {
		t.Errorf("assess of a deleted experiment: %v, want a clean exit", err)
	}
	if res["continue"] != "false" {
		t.Errorf("assess of a deleted experiment wrote continue=%q, want false", res["continue"])
	}
	res, _, err = e.stage(t, stagecmd.StageFinalize, ns, "restart", "--pipeline-status", "Failed")
	if err != nil {
		t.Errorf("finalize of a deleted experiment: %v, want a clean exit", err)
	}
	if res["outcome"] != string(experiment.OutcomeFailed) {
		t.Errorf("finalize of a deleted experiment: outcome %q, want Failed", res["outcome"])
	}
	after, err := e.dyn.Resource(vsGVR).Namespace(ns).Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetResourceVersion() != vs.GetResourceVersion() {
		t.Errorf("the VirtualService changed after the experiment was deleted: %v -> %v", vs.Object["spec"], after.Object["spec"])
	}
}

// TestHumanEditsTraffic changes the weights between two assesses: the next assess fails the
// experiment with TrafficChangedExternally and keeps the human's weights, and so does
// finalize.
func TestHumanEditsTraffic(t *testing.T) {
	e := cluster(t)
	ns := setupRestart(t, e)
	if _, _, err := e.stage(t, stagecmd.StageInit, ns, "restart"); err != nil {
		t.Fatalf("init: %v", err)
	}
	if _, _, err := e.stage(t, stagecmd.StageIterate, ns, "restart", "--iteration", "1", "--interval-seconds", "1"); err != nil {
		t.Fatalf("iterate 1: %v", err)
	}
	if _, _, err := e.stage(t, stagecmd.StageAssess, ns, "restart", "--iteration", "1"); err != nil {
		t.Fatalf("assess 1: %v", err)
	}
	if got := vsWeights(t, e, ns); !cmp.Equal([]int64{90, 10}, got) {
		t.Fatalf("weights after assess 1 = %v, want 90/10", got)
	}

	// An operator moves traffic by hand.
	setVSWeights(t, e, ns, 60, 40)
	gen := vsGeneration(t, e, ns)

	if _, _, err := e.stage(t, stagecmd.StageIterate, ns, "restart", "--iteration", "2", "--interval-seconds", "1"); err != nil {
		t.Fatalf("iterate 2: %v", err)
	}
	res, _, err := e.stage(t, stagecmd.StageAssess, ns, "restart", "--iteration", "2")
	if err == nil || !strings.Contains(err.Error(), v2alpha1.ReasonTrafficChangedExternally) {
		t.Errorf("assess 2 after the edit: error %v, want TrafficChangedExternally", err)
	}
	if res["continue"] != "false" {
		t.Errorf("assess 2 after the edit wrote continue=%q, want false", res["continue"])
	}
	exp := e.get(t, ns, "restart")
	if s, r, m := conditionOf(exp, v2alpha1.ConditionFailed); s != corev1.ConditionTrue || r != v2alpha1.ReasonTrafficChangedExternally || !strings.Contains(m, "sample-app-v2=40") {
		t.Errorf("Failed condition = %s %s %q, want True TrafficChangedExternally naming the weights found", s, r, m)
	}
	if got := vsWeights(t, e, ns); !cmp.Equal([]int64{60, 40}, got) {
		t.Errorf("weights after assess 2 = %v, want the human's 60/40", got)
	}

	res, _, err = e.stage(t, stagecmd.StageFinalize, ns, "restart", "--pipeline-status", "Failed")
	if err == nil {
		t.Errorf("finalize after the edit reported the aim achieved")
	}
	if res["outcome"] != string(experiment.OutcomeFailed) {
		t.Errorf("finalize outcome = %q, want Failed", res["outcome"])
	}
	if got := vsWeights(t, e, ns); !cmp.Equal([]int64{60, 40}, got) {
		t.Errorf("weights after finalize = %v, want the human's 60/40 left alone", got)
	}
	if got := vsGeneration(t, e, ns); got != gen {
		t.Errorf("the stages patched the VirtualService after the human's edit (generation %d -> %d)", gen, got)
	}
	exp = e.get(t, ns, "restart")
	if exp.Status.GetStage() != v2alpha1.StageCompleted || !exp.Status.IsTrue(v2alpha1.ConditionFailed) {
		t.Errorf("stage %s, conditions %s; want Completed and Failed", exp.Status.GetStage(), mustJSON(exp.Status.Conditions))
	}
	if exp.Status.Message == nil || !strings.Contains(*exp.Status.Message, v2alpha1.ReasonTrafficChangedExternally) {
		t.Errorf("message = %v, want it to name TrafficChangedExternally", exp.Status.Message)
	}
}

func setVSWeights(t *testing.T, e *env, ns string, baseline, candidate int64) {
	t.Helper()
	r := e.dyn.Resource(vsGVR).Namespace(ns)
	u, err := r.Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	dests := routes[0].(map[string]any)["route"].([]any)
	dests[0].(map[string]any)["weight"] = baseline
	dests[1].(map[string]any)["weight"] = candidate
	if err := unstructured.SetNestedSlice(u.Object, routes, "spec", "http"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Update(context.Background(), u, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatalf("editing the VirtualService: %v", err)
	}
}

// deletingStore deletes the experiment right after the status write del returns true for,
// as a user running kubectl delete at that moment would.
type deletingStore struct {
	experiment.Store
	del  func(*v2alpha1.Experiment) bool
	gone func()
}

func (s deletingStore) UpdateStatus(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	exp, err := s.Store.UpdateStatus(ctx, mutate)
	if err == nil && s.del(exp) {
		s.gone()
	}
	return exp, err
}

// TestExperimentDeletedDuringAssess deletes the experiment after assess recorded its
// decision and before it moved traffic: assess stops as for a deleted experiment, and
// the traffic is not touched.
func TestExperimentDeletedDuringAssess(t *testing.T) {
	e := cluster(t)
	ns := setupRestart(t, e)
	if _, _, err := e.stage(t, stagecmd.StageInit, ns, "restart"); err != nil {
		t.Fatalf("init: %v", err)
	}
	if _, _, err := e.stage(t, stagecmd.StageIterate, ns, "restart", "--iteration", "1", "--interval-seconds", "1"); err != nil {
		t.Fatalf("iterate 1: %v", err)
	}
	gen := vsGeneration(t, e, ns)
	tc, err := traffic.NewClient(e.cp.Config())
	if err != nil {
		t.Fatal(err)
	}
	api := jsonClient(t, e.cp.Config())
	var log bytes.Buffer
	d := &experiment.Deps{
		Store: deletingStore{
			Store: &experiment.ClusterStore{Client: api, Events: experiment.RESTEvents{Client: api}, Namespace: ns, Name: "restart", Component: "iter8-assess"},
			del:   func(x *v2alpha1.Experiment) bool { return ptrValue(x.Status.AssessedIterations) == 1 },
			gone: func() {
				if err := e.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns).Delete(context.Background(), "restart", metav1.DeleteOptions{}); err != nil {
					t.Errorf("deleting the experiment: %v", err)
				}
			},
		},
		Traffic: tc,
		Log:     &log,
	}
	_, err = experiment.Assess(context.Background(), d, 1)
	t.Logf("assess 1:\n%s", strings.TrimSpace(log.String()))
	if !errors.Is(err, experiment.ErrGone) {
		t.Errorf("assess 1 of an experiment deleted mid-way: error %v, want ErrGone (a clean exit)", err)
	}
	if got := vsGeneration(t, e, ns); got != gen {
		t.Errorf("assess patched the VirtualService after the experiment was deleted (generation %d -> %d, weights %v)", gen, got, vsWeights(t, e, ns))
	}
}

// jsonClient is the stages' client for experiments and events, on a connection of its own.
func jsonClient(t *testing.T, cfg *rest.Config) rest.Interface {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := experiment.NewJSONClient(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
