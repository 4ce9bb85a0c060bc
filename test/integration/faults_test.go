package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
		{faultMalformed, faultCheck{state: v2alpha1.MetricStateError, reason: "bad_response"}},
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
		healthy    int // queries answered with a value before the fault
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
		healthy:    2, // iteration 1, both versions
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
		want:       faultCheck{state: v2alpha1.MetricStateNoData, reason: "NaN", outcome: "Succeeded", traffic: []int64{95, 5}},
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
				for i, rs := range reasons[tc.healthy/2 : len(reasons)-1] {
					i += tc.healthy / 2
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
