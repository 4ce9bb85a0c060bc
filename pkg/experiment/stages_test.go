package experiment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// memTraffic keeps weights in memory and counts the changes applied.
type memTraffic struct {
	weights map[string]int32
	applies int
}

func (m *memTraffic) Observe(_ context.Context, exp *v2alpha1.Experiment) ([]v2alpha1.WeightData, error) {
	var out []v2alpha1.WeightData
	for _, v := range exp.Spec.VersionNames() {
		out = append(out, v2alpha1.WeightData{Name: v, Value: m.weights[v]})
	}
	return out, nil
}

func (m *memTraffic) Apply(ctx context.Context, exp *v2alpha1.Experiment, _, desired []v2alpha1.WeightData) ([]v2alpha1.WeightData, error) {
	m.applies++
	for _, w := range desired {
		m.weights[w.Name] = w.Value
	}
	return m.Observe(ctx, exp)
}

const canaryYAML = `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: canary, namespace: default}
spec:
  target: default/app
  strategy:
    testingPattern: Canary
    weights: {maxCandidateWeight: 30, maxCandidateWeightIncrement: 10}
  criteria:
    objectives:
    - {metric: latency, upperLimit: 50, rollback_on_failure: true}
  duration: {intervalSeconds: 1, iterationsPerLoop: 4}
  versionInfo:
    baseline:
      name: v1
      weightObjRef: {apiVersion: v1, kind: ConfigMap, name: w, fieldPath: ".data.v1"}
    candidates:
    - name: v2
      weightObjRef: {apiVersion: v1, kind: ConfigMap, name: w, fieldPath: ".data.v2"}
`

// testDeps runs the stages on a file store with latency values chosen per iteration.
func testDeps(t *testing.T, yaml string, latency func(k int32, version string) float64) (*Deps, *FileStore, *memTraffic) {
	t.Helper()
	exp, err := v2alpha1.DecodeExperiment([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	store := NewFileStore(exp, "")
	metrics := LocalMetrics{}
	metrics.Add(&v2alpha1.Metric{ObjectMeta: metav1.ObjectMeta{Name: "latency", Namespace: "default"}, Spec: v2alpha1.MetricSpec{Mock: []v2alpha1.NamedLevel{{Name: "v1", Level: *v2alpha1.NewNumber(1)}}}})
	tr := &memTraffic{weights: map[string]int32{"v1": 100, "v2": 0}}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d := &Deps{
		Store:   store,
		Metrics: metrics,
		Traffic: tr,
		Measure: func(_ context.Context, e *v2alpha1.Experiment) (*v2alpha1.AggregatedMetricsAnalysis, error) {
			k := e.Status.GetCompletedIterations() + 1
			data := map[string]v2alpha1.AggregatedMetricsVersionData{}
			for _, v := range e.Spec.VersionNames() {
				data[v] = v2alpha1.AggregatedMetricsVersionData{Value: v2alpha1.NewNumber(latency(k, v)), State: v2alpha1.MetricStateValue}
			}
			return &v2alpha1.AggregatedMetricsAnalysis{Data: map[string]v2alpha1.AggregatedMetricsData{"latency": {Data: data}}}, nil
		},
		Now:   func() time.Time { return now },
		Sleep: func(context.Context, time.Duration) error { return nil },
	}
	return d, store, tr
}

// pipeline runs the stages like the Pipeline does and returns the weights after each assess.
func pipeline(t *testing.T, d *Deps) ([][]int32, *FinalizeResult) {
	t.Helper()
	ctx := context.Background()
	tr := d.Traffic.(*memTraffic)
	if _, err := Init(ctx, d); err != nil {
		t.Fatalf("init: %v", err)
	}
	var seen [][]int32
	for k := int32(1); ; k++ {
		if _, err := Iterate(ctx, d, k); err != nil {
			t.Fatalf("iterate %d: %v", k, err)
		}
		r, err := Assess(ctx, d, k)
		if err != nil {
			t.Fatalf("assess %d: %v", k, err)
		}
		seen = append(seen, []int32{tr.weights["v1"], tr.weights["v2"]})
		if !r.Continue {
			break
		}
	}
	res, err := Finalize(ctx, d, "Succeeded")
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	seen = append(seen, []int32{tr.weights["v1"], tr.weights["v2"]})
	return seen, res
}

func TestCanaryProgressive(t *testing.T) {
	d, store, _ := testDeps(t, canaryYAML, func(int32, string) float64 { return 10 })
	seen, res := pipeline(t, d)
	if diff := cmp.Diff([][]int32{{90, 10}, {80, 20}, {70, 30}, {70, 30}, {70, 30}}, seen); diff != "" {
		t.Errorf("weights (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&FinalizeResult{Outcome: OutcomeSucceeded, Winner: "v2", Recommended: "v2", AimAchieved: true}, res); diff != "" {
		t.Errorf("finalize (-want +got):\n%s", diff)
	}
	exp, _ := store.Get(context.Background())
	if got := exp.Status.GetStage(); got != v2alpha1.StageCompleted {
		t.Errorf("stage = %s", got)
	}
	if c := exp.Status.Condition(v2alpha1.ConditionTargetAcquired); c == nil || c.Status != corev1.ConditionFalse {
		t.Errorf("the target was not released: %+v", c)
	}
}

func TestCanaryRollbackRestoresBaseline(t *testing.T) {
	// Healthy for two iterations, then the candidate breaks its rollback objective.
	d, store, _ := testDeps(t, canaryYAML, func(k int32, v string) float64 {
		if v == "v2" && k == 3 {
			return 80
		}
		return 10
	})
	seen, res := pipeline(t, d)
	// The assess that finds the breach restores the baseline at once; finalize finds it
	// done.
	if diff := cmp.Diff([][]int32{{90, 10}, {80, 20}, {100, 0}, {100, 0}}, seen); diff != "" {
		t.Errorf("weights (-want +got):\n%s", diff)
	}
	if res.Outcome != OutcomeRolledBack || res.AimAchieved || res.Recommended != "v1" {
		t.Errorf("finalize = %+v, want RolledBack with v1 recommended", res)
	}
	exp, _ := store.Get(context.Background())
	if diff := cmp.Diff([]string{"v2"}, exp.Status.RolledBack); diff != "" {
		t.Errorf("rolledBack (-want +got):\n%s", diff)
	}
	if got := exp.Status.GetCompletedIterations(); got != 3 {
		t.Errorf("completed iterations = %d, want the experiment to stop at 3", got)
	}
	// iterate keeps every iteration's values: the report draws the candidate's rise.
	h := exp.Status.Analysis.History
	if h == nil {
		t.Fatal("no status.analysis.history")
	}
	if diff := cmp.Diff([]int32{1, 2, 3}, h.Iterations); diff != "" {
		t.Errorf("history iterations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]map[string]string{"latency": {"v1": "10 10 10", "v2": "10 10 80"}}, h.Data); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

func TestStagesAreIdempotent(t *testing.T) {
	ctx := context.Background()
	d, store, tr := testDeps(t, canaryYAML, func(int32, string) float64 { return 10 })
	if _, err := Init(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(ctx, d); err != nil { // a re-run of a running experiment's init
		t.Fatalf("init again: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := Iterate(ctx, d, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := Assess(ctx, d, 1); err != nil {
			t.Fatal(err)
		}
	}
	exp, _ := store.Get(ctx)
	if got := exp.Status.GetCompletedIterations(); got != 1 {
		t.Errorf("completed iterations = %d after iteration 1 twice", got)
	}
	if h := exp.Status.Analysis.History; h == nil || len(h.Iterations) != 1 {
		t.Errorf("history after iteration 1 twice = %+v, want one entry", h)
	}
	if tr.applies != 1 || tr.weights["v2"] != 10 {
		t.Errorf("weights applied %d times, candidate at %d; want once, at 10", tr.applies, tr.weights["v2"])
	}
	// Out of order: iteration 3 before 2.
	if _, err := Iterate(ctx, d, 3); err == nil || !strings.Contains(err.Error(), "1 iterations are complete") {
		t.Errorf("iterate 3 after 1: %v, want an out-of-order error", err)
	}
	first, err := Finalize(ctx, d, "Failed")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Finalize(ctx, d, "Failed")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("finalize again (-first +again):\n%s", diff)
	}
	if first.Outcome != OutcomeFailed || !strings.Contains(first.Reason, "ended after 1 of 4 iterations") {
		t.Errorf("finalize after 1 of 4 iterations = %+v", first)
	}
	if tr.weights["v1"] != 100 {
		t.Errorf("traffic not restored to the baseline after a failure: %v", tr.weights)
	}
}

func TestInitRefusesInvalidExperiment(t *testing.T) {
	ctx := context.Background()
	bad := strings.Replace(canaryYAML, "upperLimit: 50", `upperLimit: "fast"`, 1)
	d, store, tr := testDeps(t, bad, func(int32, string) float64 { return 10 })
	_, err := Init(ctx, d)
	var se *StageError
	if !errors.As(err, &se) || se.Reason != v2alpha1.ReasonInvalidExperiment || !strings.Contains(se.Message, "spec.criteria.objectives[0].upperLimit") {
		t.Fatalf("init = %v, want InvalidExperiment naming spec.criteria.objectives[0].upperLimit", err)
	}
	res, err := Finalize(ctx, d, "Failed")
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := store.Get(ctx)
	if res.Outcome != OutcomeFailed || !exp.Status.IsTrue(v2alpha1.ConditionFailed) || exp.Status.GetStage() != v2alpha1.StageCompleted {
		t.Errorf("finalize = %+v, status %+v", res, exp.Status)
	}
	if tr.applies != 0 {
		t.Errorf("traffic changed %d times for an experiment that never started", tr.applies)
	}
}

func TestUnavailableMetricIsNamed(t *testing.T) {
	d, _, _ := testDeps(t, strings.Replace(canaryYAML, "metric: latency", "metric: iter8-knative/latency", 1), func(int32, string) float64 { return 10 })
	_, err := Init(context.Background(), d)
	var se *StageError
	if !errors.As(err, &se) || se.Reason != v2alpha1.ReasonMetricUnavailable || !strings.Contains(se.Message, "iter8-knative/latency") {
		t.Fatalf("init = %v, want MetricUnavailable naming iter8-knative/latency", err)
	}
}

func TestSameWeights(t *testing.T) {
	w := func(a, b int32) []v2alpha1.WeightData {
		return []v2alpha1.WeightData{{Name: "v1", Value: a}, {Name: "v2", Value: b}}
	}
	for _, tc := range []struct {
		a, b []v2alpha1.WeightData
		want bool
	}{
		{w(100, 0), w(100, 0), true},
		{w(100, 0), []v2alpha1.WeightData{{Name: "v2", Value: 0}, {Name: "v1", Value: 100}}, true},
		{w(100, 0), w(90, 10), false},
		{w(100, 0), w(100, 0)[:1], false},
		{nil, nil, true},
	} {
		if got := sameWeights(tc.a, tc.b); got != tc.want {
			t.Errorf("sameWeights(%v, %v) = %t, want %t", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestStartTimeAnchor checks when the experiment's clock starts, given when its run started.
func TestStartTimeAnchor(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // testDeps' clock
	interval := 10 * time.Second
	for _, tc := range []struct {
		name      string
		startedAt func(context.Context) (time.Time, error)
		want      time.Time
	}{
		{name: "no run", want: now},
		{name: "run started 3s ago", startedAt: at(now.Add(-3 * time.Second)), want: now.Add(-3 * time.Second)},
		{name: "run started half an interval ago", startedAt: at(now.Add(-interval / 2)), want: now.Add(-interval / 2)},
		{name: "run started more than half an interval ago", startedAt: at(now.Add(-interval/2 - time.Millisecond)), want: now},
		{name: "run start in the future (clock skew)", startedAt: at(now.Add(time.Second)), want: now},
		{name: "run start unknown", startedAt: at(time.Time{}), want: now},
		{name: "run start not readable", startedAt: func(context.Context) (time.Time, error) {
			return time.Time{}, errors.New(`pipelineruns.tekton.dev "p" is forbidden`)
		}, want: now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, store, _ := testDeps(t, canaryYAML, func(int32, string) float64 { return 10 })
			d.Interval = interval
			d.StartedAt = tc.startedAt
			var log strings.Builder
			d.Log = &log
			if _, err := Init(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			exp, _ := store.Get(context.Background())
			if exp.Status.StartTime == nil || !exp.Status.StartTime.Time.Equal(tc.want) {
				t.Errorf("startTime = %v, want %v; log:\n%s", exp.Status.StartTime, tc.want, log.String())
			}
			if exp.Status.LastUpdateTime == nil || !exp.Status.LastUpdateTime.Time.Equal(now) {
				t.Errorf("lastUpdateTime = %v, want now (%v)", exp.Status.LastUpdateTime, now)
			}
		})
	}
}

func at(t time.Time) func(context.Context) (time.Time, error) {
	return func(context.Context) (time.Time, error) { return t, nil }
}

// goneStore is a Store whose experiment is deleted once gone is set.
type goneStore struct {
	Store
	gone bool
}

func (s *goneStore) Get(ctx context.Context) (*v2alpha1.Experiment, error) {
	if s.gone {
		return nil, ErrGone
	}
	return s.Store.Get(ctx)
}

func (s *goneStore) UpdateStatus(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	if s.gone {
		return nil, ErrGone
	}
	return s.Store.UpdateStatus(ctx, mutate)
}

// observeHook runs a function when the weights are read.
type observeHook struct {
	*memTraffic
	onObserve func()
}

func (o *observeHook) Observe(ctx context.Context, exp *v2alpha1.Experiment) ([]v2alpha1.WeightData, error) {
	if o.onObserve != nil {
		o.onObserve()
	}
	return o.memTraffic.Observe(ctx, exp)
}

// TestFinalizeDeletedMovesNoTraffic deletes the experiment while finalize restores the
// baseline: finalize stops with ErrGone and leaves the traffic as it was.
func TestFinalizeDeletedMovesNoTraffic(t *testing.T) {
	ctx := context.Background()
	d, store, tr := testDeps(t, canaryYAML, func(int32, string) float64 { return 10 })
	gs := &goneStore{Store: store}
	hook := &observeHook{memTraffic: tr}
	d.Store, d.Traffic = gs, hook
	if _, err := Init(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := Iterate(ctx, d, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := Assess(ctx, d, 1); err != nil {
		t.Fatal(err)
	}
	applied := tr.applies
	hook.onObserve = func() { gs.gone = true }
	if _, err := Finalize(ctx, d, "Failed"); !errors.Is(err, ErrGone) {
		t.Fatalf("finalize of a deleted experiment = %v, want ErrGone", err)
	}
	if diff := cmp.Diff(map[string]int32{"v1": 90, "v2": 10}, tr.weights); diff != "" || tr.applies != applied {
		t.Errorf("finalize moved the traffic of a deleted experiment (%d applies, want %d); weights (-want +got):\n%s", tr.applies, applied, diff)
	}
}

// racingStore lets another run of the stage win a race: just before the first write that
// finds the experiment in the state ready says, it applies compete to the stored
// experiment, as a concurrent run of the same stage would, without recording an event.
type racingStore struct {
	*FileStore
	ready   func(*v2alpha1.Experiment) bool
	compete func(*v2alpha1.Experiment)
	raced   bool
}

func (s *racingStore) UpdateStatus(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	if cur, _ := s.FileStore.Get(ctx); !s.raced && s.ready(cur) {
		s.raced = true
		if _, err := s.FileStore.UpdateStatus(ctx, func(e *v2alpha1.Experiment) error { s.compete(e); return nil }); err != nil {
			return nil, err
		}
	}
	return s.FileStore.UpdateStatus(ctx, mutate)
}

// TestNoEventForAChangeAnotherRunMade: when a concurrent run of the stage made the change
// first, the stage records no event for it (iter8 records events when a condition
// changes), so an event never counts an iteration or a completion twice.
func TestNoEventForAChangeAnotherRunMade(t *testing.T) {
	ctx := context.Background()

	t.Run("iterate", func(t *testing.T) {
		d, store, _ := testDeps(t, canaryYAML, func(int32, string) float64 { return 10 })
		if _, err := Init(ctx, d); err != nil {
			t.Fatal(err)
		}
		d.Store = &racingStore{
			FileStore: store,
			ready:     func(e *v2alpha1.Experiment) bool { return e.Status.GetCompletedIterations() == 0 },
			compete:   func(e *v2alpha1.Experiment) { one := int32(1); e.Status.CompletedIterations = &one },
		}
		r, err := Iterate(ctx, d, 1)
		if err != nil {
			t.Fatal(err)
		}
		if r.Iteration != 1 {
			t.Errorf("iteration = %d, want 1", r.Iteration)
		}
		if n := countEvents(store, v2alpha1.ReasonIterationUpdate); n != 0 {
			t.Errorf("%d IterationUpdate events for an iteration another run completed; events: %q", n, store.Events)
		}
	})

	// Another finalize completes the experiment before this one marks it Finishing, or
	// between that and marking it Completed.
	for _, race := range []struct {
		name  string
		ready func(*v2alpha1.Experiment) bool
	}{
		{"before finishing", func(e *v2alpha1.Experiment) bool { return e.Status.GetStage() == v2alpha1.StageRunning }},
		{"before completing", func(e *v2alpha1.Experiment) bool { return e.Status.GetStage() == v2alpha1.StageFinishing }},
	} {
		t.Run("finalize "+race.name, func(t *testing.T) {
			d, store, _ := testDeps(t, canaryYAML, func(int32, string) float64 { return 10 })
			if _, err := Init(ctx, d); err != nil {
				t.Fatal(err)
			}
			before := len(store.Events)
			d.Store = &racingStore{
				FileStore: store,
				ready:     race.ready,
				compete: func(e *v2alpha1.Experiment) {
					completed := v2alpha1.StageCompleted
					e.Status.Stage = &completed
					e.Status.MarkCondition(v2alpha1.ConditionCompleted, corev1.ConditionTrue, v2alpha1.ReasonExperimentCompleted, "completed by another run", metav1.Now())
				},
			}
			if _, err := Finalize(ctx, d, "Failed"); err != nil {
				t.Fatal(err)
			}
			if n := countEvents(store, v2alpha1.ReasonExperimentCompleted); n != 0 {
				t.Errorf("%d ExperimentCompleted events for a completion another run made; events: %q", n, store.Events)
			}
			exp, _ := store.Get(ctx)
			if got := exp.Status.GetStage(); got != v2alpha1.StageCompleted {
				t.Errorf("stage = %s after another run completed the experiment, want it to stay %s", got, v2alpha1.StageCompleted)
			}
			if race.name == "before finishing" && len(store.Events) != before {
				t.Errorf("events recorded after another run completed the experiment: %q", store.Events[before:])
			}
		})
	}
}

// lostAnswerStore writes the first change it is given and then, as a cluster store does
// when the answer to a write is lost, applies the same mutate again to what it holds.
type lostAnswerStore struct {
	*FileStore
	lost bool
}

func (s *lostAnswerStore) UpdateStatus(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	if !s.lost {
		s.lost = true
		if _, err := s.FileStore.UpdateStatus(ctx, mutate); err != nil {
			return nil, err
		}
	}
	return s.FileStore.UpdateStatus(ctx, mutate)
}

// TestEventForAWriteWhoseAnswerWasLost: when the stage's own write landed but its answer
// was lost, the retry finds nothing left to change, and the change is still the stage's
// to announce.
func TestEventForAWriteWhoseAnswerWasLost(t *testing.T) {
	ctx := context.Background()
	d, store, _ := testDeps(t, canaryYAML, func(int32, string) float64 { return 10 })
	if _, err := Init(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Store = &lostAnswerStore{FileStore: store}
	if _, err := Iterate(ctx, d, 1); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range store.Events {
		if strings.Contains(e, " "+v2alpha1.ReasonIterationUpdate+": ") {
			got = append(got, e)
		}
	}
	if diff := cmp.Diff([]string{"Normal IterationUpdate: Completed Iteration 1"}, got); diff != "" {
		t.Errorf("iteration events (-want +got):\n%s", diff)
	}
}

// TestIterateRestoresOnBreach: the iterate whose values break a rollback objective sends
// the traffic back to the baseline itself, before any assess; assess then records the
// rollback and finds nothing left to move.
func TestIterateRestoresOnBreach(t *testing.T) {
	ctx := context.Background()
	d, store, tr := testDeps(t, canaryYAML, func(k int32, v string) float64 {
		if v == "v2" && k == 2 {
			return 80
		}
		return 10
	})
	if _, err := Init(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := Iterate(ctx, d, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := Assess(ctx, d, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := Iterate(ctx, d, 2); err != nil {
		t.Fatal(err)
	}
	exp, _ := store.Get(ctx)
	if got := []int32{tr.weights["v1"], tr.weights["v2"]}; got[0] != 100 || got[1] != 0 {
		t.Errorf("weights after iterate 2 = %v, want 100/0 before any assess", got)
	}
	if len(exp.Status.RolledBack) != 0 {
		t.Errorf("iterate recorded the rollback %v; that is assess's", exp.Status.RolledBack)
	}
	history := len(exp.Status.WeightHistory)
	r, err := Assess(ctx, d, 2)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ = store.Get(ctx)
	if r.Continue || fmt.Sprint(exp.Status.RolledBack) != "[v2]" {
		t.Errorf("assess 2: continue %v, rolled back %v; want stop and [v2]", r.Continue, exp.Status.RolledBack)
	}
	if len(exp.Status.WeightHistory) != history {
		t.Errorf("assess added %d weight changes after iterate restored the baseline", len(exp.Status.WeightHistory)-history)
	}
}
