package integration

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// faultCheck is what a run against a faulty metric backend must leave behind.
type faultCheck struct {
	// state, reason and attempts describe every version's last latency result.
	state  v2alpha1.MetricState
	reason string
	// retried says the query must have taken more than one attempt.
	retried bool
	// rollbackAt is the iteration whose assess rolls back (0: none).
	rollbackAt int
	// outcome is finalize's outcome result.
	outcome string
	// message is a part of the final status message, naming the cause.
	message string
	// traffic is the weights after finalize; [100 0] (the baseline) when nil.
	traffic []int64
	// query is the metric's query template; latencyQuery when empty.
	query string
}

// checkFault checks the status, the traffic and finalize's results after a run against a
// faulty metric backend: the value is an error or no data with its reason and query, the
// policy decided, and finalize put the traffic back on the baseline.
func checkFault(t *testing.T, e *env, ns, name string, r *run, want faultCheck) {
	t.Helper()
	exp := e.get(t, ns, name)
	data := metricData(exp, "latency")
	for _, v := range []string{"sample-app-v1", "sample-app-v2"} {
		d, ok := data[v]
		if !ok {
			t.Errorf("%s: no latency data recorded; aggregatedMetrics = %s", v, mustJSON(exp.Status.Analysis))
			continue
		}
		if d.State != want.state || d.Value != nil {
			t.Errorf("%s: state %q value %v, want state %q and no value", v, d.State, d.Value, want.state)
		}
		if !strings.Contains(d.Reason, want.reason) {
			t.Errorf("%s: reason %q, want it to contain %q", v, d.Reason, want.reason)
		}
		q := want.query
		if q == "" {
			q = latencyQuery
		}
		if wantQ := strings.ReplaceAll(q, "$revision", v); d.Query != wantQ {
			t.Errorf("%s: query %q, want %q", v, d.Query, wantQ)
		}
		if want.retried && d.Attempts < 2 {
			t.Errorf("%s: %d attempts, want the transient error retried", v, d.Attempts)
		}
		if !want.retried && d.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1: the fault is not transient", v, d.Attempts)
		}
		if d.ConsecutiveMisses < 1 {
			t.Errorf("%s: consecutiveMisses %d, want at least 1", v, d.ConsecutiveMisses)
		}
	}
	if want.rollbackAt > 0 {
		if r.iterations != want.rollbackAt {
			t.Errorf("ran %d iterations, want the rollback at iteration %d", r.iterations, want.rollbackAt)
		}
		if len(exp.Status.RolledBack) == 0 {
			t.Errorf("rolledBack is empty, want the versions without data rolled back")
		}
	}
	// The verdict: no version without a value passes the objective.
	if va := exp.Status.Analysis.VersionAssessments; va == nil {
		t.Errorf("no version assessments")
	} else if diff := cmp.Diff(map[string][]bool{"sample-app-v1": {false}, "sample-app-v2": {false}}, va.Data); diff != "" {
		t.Errorf("version assessments (-want +got):\n%s\nreasons: %v", diff, va.Reasons)
	}
	if got := r.final["outcome"]; got != want.outcome {
		t.Errorf("finalize outcome %q, want %q", got, want.outcome)
	}
	if r.finalErr == nil {
		t.Errorf("finalize succeeded, want it to report the aim not achieved")
	}
	wantTraffic := want.traffic
	if wantTraffic == nil {
		wantTraffic = []int64{100, 0}
	}
	if got := vsWeights(t, e, ns); !cmp.Equal(got, wantTraffic) {
		t.Errorf("traffic after finalize %v, want %v", got, wantTraffic)
	}
	if exp.Status.GetStage() != v2alpha1.StageCompleted || !exp.Status.IsTrue(v2alpha1.ConditionCompleted) {
		t.Errorf("stage %s, want Completed; conditions %s", exp.Status.GetStage(), mustJSON(exp.Status.Conditions))
	}
	if msg := statusMsg(exp); !strings.Contains(msg, want.message) {
		t.Errorf("status message %q, want it to name the cause %q", msg, want.message)
	}
}

func statusMsg(exp *v2alpha1.Experiment) string {
	if exp.Status.Message == nil {
		return ""
	}
	return *exp.Status.Message
}

// TestFaultPrometheusResponses runs a Canary whose one objective, a rollback objective on
// the default policy Fail, is measured by a Prometheus that answers badly.
func TestFaultPrometheusResponses(t *testing.T) {
	tests := []struct {
		fault promFault
		want  faultCheck
	}{
		{faultSlow, faultCheck{state: v2alpha1.MetricStateError, reason: "timeout"}},
		{fault500, faultCheck{state: v2alpha1.MetricStateError, reason: "HTTP 500: storage is on fire", retried: true}},
		{fault503, faultCheck{state: v2alpha1.MetricStateError, reason: "HTTP 503", retried: true}},
		{faultMalformed, faultCheck{state: v2alpha1.MetricStateError, reason: "unexpected response: an application/json response of"}},
		{faultEmpty, faultCheck{state: v2alpha1.MetricStateNoData, reason: "empty result"}},
		{faultNaN, faultCheck{state: v2alpha1.MetricStateNoData, reason: "NaN"}},
		{faultInf, faultCheck{state: v2alpha1.MetricStateNoData, reason: "+Inf"}},
		{faultMatrix, faultCheck{state: v2alpha1.MetricStateError, reason: "result of type matrix"}},
	}
	e := cluster(t)
	for _, tc := range tests {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, e)
			fp := &fakeProm{fault: tc.fault}
			istioVS(t, e, ns, 80, 20)
			e.apply(t, ns, yamlObject(t, promMetric(t, fp.serve(t), latencyQuery, "  timeoutSeconds: 1\n")))
			e.apply(t, ns, yamlObject(t, faultExperiment(t, ns, "faulty", 3, true)))

			r := e.runStages(t, ns, "faulty", nil)
			want := tc.want
			want.rollbackAt, want.outcome, want.message = 1, "RolledBack", want.reason
			checkFault(t, e, ns, "faulty", r, want)
		})
	}
}

// TestFaultPrometheusPolicies checks that the missing-value policies excuse a missing
// value for fewer than maxConsecutiveMissing iterations and then fail the version, and
// that a plain objective without data fails the version without rolling back.
func TestFaultPrometheusPolicies(t *testing.T) {
	tests := []struct {
		name       string
		metric     string // more of the metric's spec
		fault      promFault
		healthy    int // requests (iterations) answered with a value before the fault
		iterations int
		rollback   bool
		want       faultCheck
		// excused is in the candidate's reason of each iteration from the first fault to the
		// one before the rollback: the policy excused the missing value.
		excused string
	}{{
		name:       "Ignore excuses 2 of the default 3 iterations without data",
		metric:     "  onMissingValue: Ignore\n",
		fault:      faultEmpty,
		iterations: 6,
		rollback:   true,
		want:       faultCheck{state: v2alpha1.MetricStateNoData, reason: "empty result", rollbackAt: 3, outcome: "RolledBack", message: "for 3 of 3 iterations"},
		excused:    "ignored for",
	}, {
		name:       "ReusePrevious keeps the last value for fewer than maxConsecutiveMissing: 2 errors",
		metric:     "  onMissingValue: ReusePrevious\n  maxConsecutiveMissing: 2\n  timeoutSeconds: 2\n",
		fault:      fault503,
		healthy:    1, // iteration 1: one request, both versions' queries in one batch
		iterations: 6,
		rollback:   true,
		want:       faultCheck{state: v2alpha1.MetricStateError, reason: "HTTP 503", retried: true, rollbackAt: 3, outcome: "RolledBack", message: "HTTP 503"},
		excused:    "previous value",
	}, {
		// The candidate loses: its share shrinks to the exploration share (5%) and the
		// experiment ends without a winner; finalize reports the aim not achieved.
		name:       "Fail, no rollback objective: no winner",
		fault:      faultNaN,
		iterations: 2,
		want:       faultCheck{state: v2alpha1.MetricStateNoData, reason: "NaN", outcome: "NoWinner", traffic: []int64{95, 5}},
	}}
	e := cluster(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, e)
			fp := &fakeProm{fault: tc.fault, healthy: tc.healthy}
			istioVS(t, e, ns, 80, 20)
			e.apply(t, ns, yamlObject(t, promMetric(t, fp.serve(t), latencyQuery, tc.metric)))
			e.apply(t, ns, yamlObject(t, faultExperiment(t, ns, "faulty", tc.iterations, tc.rollback)))

			var reasons [][]string
			r := e.runStages(t, ns, "faulty", func(k int) {
				exp := e.get(t, ns, "faulty")
				if va := exp.Status.Analysis.VersionAssessments; va != nil {
					reasons = append(reasons, va.Reasons["sample-app-v2"])
				}
			})
			checkFault(t, e, ns, "faulty", r, tc.want)
			if tc.excused != "" {
				// Every iteration before the rollback passed on the policy's excuse.
				if len(reasons) != tc.want.rollbackAt {
					t.Fatalf("reasons of %d assessments, want %d", len(reasons), tc.want.rollbackAt)
				}
				for i, rs := range reasons[tc.healthy : len(reasons)-1] {
					i += tc.healthy
					if len(rs) != 1 || !strings.Contains(rs[0], tc.excused) {
						t.Errorf("iteration %d: candidate's reasons %q, want the miss excused (%q)", i+1, rs, tc.excused)
					}
				}
				if last := reasons[len(reasons)-1]; len(last) != 1 || !strings.Contains(last[0], "not satisfied") {
					t.Errorf("iteration %d: candidate's reasons %q, want not satisfied", len(reasons), last)
				}
			}
			if tc.want.rollbackAt == 0 {
				exp := e.get(t, ns, "faulty")
				if w := exp.Status.Analysis.WinnerAssessment; w == nil || w.Data.WinnerFound {
					t.Errorf("winner assessment %s, want no winner", mustJSON(w))
				}
				if !strings.Contains(r.finalErr.Error(), "did not win") {
					t.Errorf("finalize error %v, want the candidate not winning", r.finalErr)
				}
			}
		})
	}
}

// TestFaultPrometheusDown stops a real Prometheus between two iterations of one experiment,
// then runs another experiment against the stopped Prometheus from the start.
func TestFaultPrometheusDown(t *testing.T) {
	e := cluster(t)
	harness.Integration(t, harness.NeedPrometheus)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prom, err := harness.StartPrometheus(ctx, nil)
	if err != nil {
		t.Fatalf("starting Prometheus: %v", err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			prom.Stop()
		}
	})
	// One sample per revision without scraping anything: a real answer from a real server.
	query := `label_replace(vector(7), "revision", "$revision", "", "")`
	mk := func(t *testing.T) string {
		ns := namespace(t, e)
		istioVS(t, e, ns, 100, 0)
		m := yamlObject(t, promMetric(t, prom.URL(), query, "  timeoutSeconds: 2\n"))
		e.apply(t, ns, m)
		e.apply(t, ns, yamlObject(t, faultExperiment(t, ns, "faulty", 4, true)))
		return ns
	}
	want := func() faultCheck {
		return faultCheck{state: v2alpha1.MetricStateError, reason: "connection refused", retried: true, outcome: "RolledBack", message: "connection refused", query: query}
	}
	t.Run("down mid-run", func(t *testing.T) {
		ns := mk(t)
		var during []int64
		r := e.runStages(t, ns, "faulty", func(k int) {
			if k == 1 {
				during = vsWeights(t, e, ns)
				if err := prom.Stop(); err != nil {
					t.Errorf("stopping Prometheus: %v", err)
				}
				stopped = true
			}
		})
		if !cmp.Equal(during, []int64{90, 10}) {
			t.Errorf("traffic after iteration 1 %v, want [90 10]: the healthy iteration shifts traffic", during)
		}
		w := want()
		w.rollbackAt = 2
		checkFault(t, e, ns, "faulty", r, w)
	})
	t.Run("down at start", func(t *testing.T) {
		if !stopped {
			t.Fatal("Prometheus was not stopped by the previous subtest")
		}
		ns := mk(t)
		r := e.runStages(t, ns, "faulty", nil)
		w := want()
		w.rollbackAt = 1
		checkFault(t, e, ns, "faulty", r, w)
	})
}

// healthyCanary creates, in a namespace of its own, the healthy 3-iteration progressive
// Canary of the sample-app VirtualService that healthyRun checks, and returns the
// namespace.
func healthyCanary(t *testing.T, e *env, name string) string {
	t.Helper()
	ns := namespace(t, e)
	istioVS(t, e, ns, 100, 0)
	e.apply(t, ns, mockMetric(t, "latency", map[string]string{"sample-app-v1": "10", "sample-app-v2": "12"}))
	e.apply(t, ns, yamlObject(t, faultExperiment(t, ns, name, 3, false)))
	return ns
}

// healthyRun checks what a healthy 3-iteration progressive Canary of the sample-app
// VirtualService leaves behind, however the API server misbehaved on the way: the candidate
// won, every iteration was measured and assessed once, the traffic is where the stages
// last set it and the status says so.
func healthyRun(t *testing.T, e *env, ns, name string, r *run) {
	t.Helper()
	if r.iterations != 3 {
		t.Errorf("ran %d iterations, want 3", r.iterations)
	}
	if r.finalErr != nil {
		t.Errorf("finalize: %v", r.finalErr)
	}
	if diff := cmp.Diff(map[string]string{"outcome": "Succeeded", "winner": "sample-app-v2", "recommended": "sample-app-v2"}, r.final); diff != "" {
		t.Errorf("finalize results (-want +got):\n%s", diff)
	}
	exp := e.get(t, ns, name)
	if got := exp.Status.GetCompletedIterations(); got != 3 {
		t.Errorf("completedIterations %d, want 3", got)
	}
	if exp.Status.AssessedIterations == nil || *exp.Status.AssessedIterations != 3 {
		t.Errorf("assessedIterations %v, want 3", exp.Status.AssessedIterations)
	}
	if got := vsWeights(t, e, ns); !cmp.Equal(got, []int64{70, 30}) {
		t.Errorf("traffic %v, want [70 30]", got)
	}
	if diff := cmp.Diff([]v2alpha1.WeightData{{Name: "sample-app-v1", Value: 70}, {Name: "sample-app-v2", Value: 30}}, exp.Status.CurrentWeightDistribution); diff != "" {
		t.Errorf("currentWeightDistribution (-want +got):\n%s", diff)
	}
	if exp.Status.GetStage() != v2alpha1.StageCompleted || !exp.Status.IsTrue(v2alpha1.ConditionCompleted) || exp.Status.IsTrue(v2alpha1.ConditionFailed) {
		t.Errorf("stage %s, conditions %s; want Completed and not Failed", exp.Status.GetStage(), mustJSON(exp.Status.Conditions))
	}
	// One event per iteration: no iteration was counted twice.
	evs, err := e.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var iterations []string
	for _, ev := range evs.Items {
		if ev.Reason == v2alpha1.ReasonIterationUpdate {
			iterations = append(iterations, ev.Message)
		}
	}
	sort.Strings(iterations)
	if diff := cmp.Diff([]string{"Completed Iteration 1", "Completed Iteration 2", "Completed Iteration 3"}, iterations); diff != "" {
		t.Errorf("iteration events (-want +got):\n%s", diff)
	}
}

// TestTransientAPIErrors runs every stage through a proxy that fails every other request
// to the experiments resource, so that every read and every write fails once before it
// succeeds: the stages retry and the experiment ends as if the API server were healthy.
func TestTransientAPIErrors(t *testing.T) {
	e := cluster(t)
	for _, fault := range []apiFault{apiFault503, apiFault500, apiFaultTimeout, apiFaultLost, apiFaultReset} {
		t.Run(string(fault), func(t *testing.T) {
			t.Parallel()
			ns := healthyCanary(t, e, "transient")
			p := &apiProxy{fault: fault, pick: func(n int, _ *http.Request) bool { return n%2 == 1 }}
			kubeconfig := p.start(t, e.cp.Config(), ns)

			r := e.runStages(t, ns, "transient", nil, "--kubeconfig", kubeconfig)
			healthyRun(t, e, ns, "transient", r)
			requests, injected, codes := p.counts()
			t.Logf("%d requests to experiments, %d faults injected; answers from the API server: %v", requests, injected, codes)
			// 8 stages, each reading the experiment at least once.
			if injected < 8 {
				t.Errorf("%d faults injected, want at least one per stage", injected)
			}
		})
	}
}

// TestStaleCachedReads runs the stages through a proxy that answers every read from the
// watch cache (iterate's) with the experiment one change old: iterate measures on the stale
// copy, its write conflicts, and it records the iteration on the latest experiment, once.
func TestStaleCachedReads(t *testing.T) {
	e := cluster(t)
	ns := healthyCanary(t, e, "stale")
	p := &apiProxy{fault: apiFaultStale, pick: func(_ int, r *http.Request) bool {
		return r.Method == http.MethodGet && r.URL.Query().Get("resourceVersion") == "0"
	}}
	kubeconfig := p.start(t, e.cp.Config(), ns)
	r := e.runStages(t, ns, "stale", nil, "--kubeconfig", kubeconfig)
	healthyRun(t, e, ns, "stale", r)
	_, injected, codes := p.counts()
	t.Logf("%d stale answers; answers from the API server: %v", injected, codes)
	if injected != 3 {
		t.Errorf("%d reads from the cache, want 3 (one per iterate)", injected)
	}
	// Iterations 2 and 3 read the experiment as assess left it before its write.
	if codes["PUT 409"] < 2 {
		t.Errorf("%d conflicting writes, want at least 2: the stale copies were not written on", codes["PUT 409"])
	}
}

// TestTransientAPIHang runs the stages through a proxy that never answers the first read,
// the first list and the first write of the experiment: the stage gives up on each after
// its request timeout and retries, instead of hanging until Tekton's timeout.
func TestTransientAPIHang(t *testing.T) {
	e := cluster(t)
	ns := healthyCanary(t, e, "hang")
	// The first read and the first write of the experiment get no answer (the stages list
	// no Experiments: the target's lock is a Lease).
	p := &apiProxy{fault: apiFaultHang, pick: func(n int, _ *http.Request) bool { return n == 1 }}
	kubeconfig := p.start(t, e.cp.Config(), ns)
	r := e.runStages(t, ns, "hang", nil, "--kubeconfig", kubeconfig, "--request-timeout", "2s")
	healthyRun(t, e, ns, "hang", r)
	if _, injected, _ := p.counts(); injected < 2 {
		t.Errorf("%d requests left unanswered, want at least 2", injected)
	}
}

// TestConflictConcurrentWriter runs every stage while two other writers change the same
// experiment: one in a loop (an annotation), one right before every other status write
// of the stages (a condition of its own, so that the stage's write conflicts). The stages
// re-apply their changes on the new object: both writers' changes and the stages' survive.
func TestConflictConcurrentWriter(t *testing.T) {
	e := cluster(t)
	ns := healthyCanary(t, e, "conflict")
	res := e.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns)
	ctx := context.Background()

	const checkType = v2alpha1.ExperimentConditionType("ExternalCheck")
	var mu sync.Mutex
	statusWrites, interfered := 0, 0
	p := &apiProxy{
		pick: func(_ int, r *http.Request) bool {
			if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/status") {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			statusWrites++
			return statusWrites%2 == 1
		},
		before: func(*http.Request) {
			mu.Lock()
			interfered++
			msg := fmt.Sprintf("check %d", interfered)
			mu.Unlock()
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				u, err := res.Get(ctx, "conflict", metav1.GetOptions{})
				if err != nil {
					return err
				}
				exp, err := harness.ExperimentFrom(u)
				if err != nil {
					return err
				}
				exp.Status.MarkCondition(checkType, corev1.ConditionTrue, "Checked", msg, metav1.Now())
				if u, err = harness.UnstructuredExperiment(exp); err != nil {
					return err
				}
				_, err = res.UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: "other-controller"})
				return err
			})
			if err != nil {
				t.Errorf("the other controller's status write: %v", err)
			}
		},
	}
	kubeconfig := p.start(t, e.cp.Config(), ns)

	// The looping writer annotates the experiment until the stages are done.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	lastAnnotation := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				u, err := res.Get(ctx, "conflict", metav1.GetOptions{})
				if err != nil {
					return err
				}
				a := u.GetAnnotations()
				if a == nil {
					a = map[string]string{}
				}
				a["example.com/writes"] = fmt.Sprint(n)
				u.SetAnnotations(a)
				_, err = res.Update(ctx, u, metav1.UpdateOptions{FieldManager: "annotator"})
				return err
			})
			if err != nil {
				t.Errorf("the annotator's write %d: %v", n, err)
				return
			}
			lastAnnotation = n
		}
	}()

	r := e.runStages(t, ns, "conflict", nil, "--kubeconfig", kubeconfig)
	close(stop)
	wg.Wait()

	healthyRun(t, e, ns, "conflict", r)
	exp := e.get(t, ns, "conflict")
	if got, want := exp.Annotations["example.com/writes"], fmt.Sprint(lastAnnotation); got != want {
		t.Errorf("annotation %q, want the annotator's last write %q", got, want)
	}
	mu.Lock()
	wantMsg := fmt.Sprintf("check %d", interfered)
	mu.Unlock()
	if status, reason, msg := conditionOf(exp, checkType); status != corev1.ConditionTrue || reason != "Checked" || msg != wantMsg {
		t.Errorf("the other controller's condition is %s %s %q, want True Checked %q", status, reason, msg, wantMsg)
	}
	_, _, codes := p.counts()
	t.Logf("%d stage status writes, %d interfered with; annotator wrote %d times; answers: %v", statusWrites, interfered, lastAnnotation, codes)
	if codes["PUT 409"] < interfered || interfered < 4 {
		t.Errorf("%d conflicts for %d interfering writes, want a conflict for each, and at least 4", codes["PUT 409"], interfered)
	}
}
