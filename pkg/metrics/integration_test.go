//go:build !unit

package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// queueProxy is an exporter of the request metrics of Knative's queue-proxy: the
// histogram revision_app_request_latencies (milliseconds) with its labels.
type queueProxy struct {
	latencies *prometheus.HistogramVec
	srv       *httptest.Server
}

func startQueueProxy(t testing.TB, revisions ...string) *queueProxy {
	t.Helper()
	reg := prometheus.NewRegistry()
	q := &queueProxy{latencies: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "revision_app_request_latencies",
		Help:    "The response latencies of the user container, in milliseconds.",
		Buckets: []float64{5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000},
	}, []string{"namespace_name", "revision_name", "response_code", "response_code_class"})}
	reg.MustRegister(q.latencies)
	// Every series exists, at zero, before the first scrape, as after a queue-proxy's
	// first requests; so all of a revision's series share their scrape times.
	for _, rev := range revisions {
		q.observe(rev, 200, 0, 0)
		q.observe(rev, 500, 0, 0)
	}
	q.srv = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(q.srv.Close)
	return q
}

// observe records n requests of the given latency and status code.
func (q *queueProxy) observe(revision string, code, n int, ms float64) {
	h := q.latencies.WithLabelValues("default", revision, fmt.Sprint(code), fmt.Sprintf("%dxx", code/100))
	for range n {
		h.Observe(ms)
	}
}

func (q *queueProxy) host() string {
	u, _ := url.Parse(q.srv.URL)
	return u.Host
}

// knativeExperiment is a Canary experiment on the shipped Knative metrics, pointed at the
// given Prometheus; the baseline is named as in the seed, with the revision in a variable.
func knativeExperiment(t testing.TB, promURL string, start time.Time, revisions ...string) *v2alpha1.Experiment {
	t.Helper()
	knative := loadMetrics(t, "knative.yaml")
	names := []string{"current", "candidate", "other"}
	exp := &v2alpha1.Experiment{
		Spec: v2alpha1.ExperimentSpec{
			Target:      "default/sample-app",
			Strategy:    v2alpha1.Strategy{TestingPattern: v2alpha1.TestingPatternABN},
			VersionInfo: &v2alpha1.VersionInfo{},
			Criteria: &v2alpha1.Criteria{
				RequestCount: ptr("iter8-knative/request-count"),
				Objectives: []v2alpha1.Objective{
					{Metric: "mean-latency"}, {Metric: "95th-percentile-tail-latency"}, {Metric: "error-rate"},
				},
				Indicators: []string{"iter8-knative/error-count"},
			},
		},
	}
	st := metav1.NewTime(start)
	exp.Status.StartTime = &st
	for i, rev := range revisions {
		v := v2alpha1.VersionDetail{Name: names[i], Variables: []v2alpha1.NamedValue{{Name: "revision", Value: rev}}}
		if i == 0 {
			exp.Spec.VersionInfo.Baseline = v
		} else {
			exp.Spec.VersionInfo.Candidates = append(exp.Spec.VersionInfo.Candidates, v)
		}
	}
	for _, name := range []string{"request-count", "error-count", "error-rate", "mean-latency", "95th-percentile-tail-latency"} {
		m := knative["iter8-knative/"+name]
		m.Spec.URLTemplate = ptr(promURL + "/api/v1/query")
		exp.Status.Metrics = append(exp.Status.Metrics, v2alpha1.MetricInfo{Name: "iter8-knative/" + name, MetricObj: m})
	}
	return exp
}

func TestKnativeMetricsAgainstRealPrometheus(t *testing.T) {
	harness.Integration(t, harness.NeedPrometheus)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	qp := startQueueProxy(t, "sample-app-v1", "sample-app-v2")
	start := time.Now()
	p, err := harness.StartPrometheus(ctx, []string{qp.host()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("prometheus %s up in %v", p.URL(), time.Since(start).Round(time.Millisecond))

	// Let Prometheus see the zeros, then send the requests.
	if _, err := p.WaitForSamples(ctx, `count_over_time(revision_app_request_latencies_count{revision_name="sample-app-v1"}[1m]) >= 2`); err != nil {
		t.Fatal(err)
	}
	qp.observe("sample-app-v1", 200, 100, 10)
	qp.observe("sample-app-v1", 500, 2, 40)
	qp.observe("sample-app-v2", 200, 50, 30)
	if _, err := p.WaitForSamples(ctx, `sum(revision_app_request_latencies_count{revision_name="sample-app-v1"}) >= 102`); err != nil {
		t.Fatal(err)
	}
	// One more scrape after the increments, so that no series ends on its first change.
	time.Sleep(1500 * time.Millisecond)

	exp := knativeExperiment(t, p.URL(), start.Add(-time.Second), "sample-app-v1", "sample-app-v2", "sample-app-v3")
	c := &Collector{}
	got := c.Collect(ctx, exp)

	values := map[string]map[string]float64{}
	states := map[string]map[string]string{}
	for key, vs := range got {
		values[key], states[key] = map[string]float64{}, map[string]string{}
		for v, r := range vs {
			if r.State == v2alpha1.MetricStateValue {
				values[key][v] = r.Value
			}
			states[key][v] = string(r.State) + " " + r.Reason
			t.Logf("%s %s: %s %v %q (%d attempts) %s", key, v, r.State, r.Value, r.Reason, r.Attempts, r.Query)
		}
	}
	// Ratios of series scraped together are exact, whatever increase() extrapolates;
	// histogram_quantile interpolates inside the bucket: v1 has 100 in (5, 10] and 2 in
	// (20, 50], so rank 96.9 is 5 + 5·96.9/100; v2 has 50 in (20, 50]: 20 + 30·47.5/50.
	want := map[string]map[string]float64{
		"mean-latency":                 {"current": 1080.0 / 102, "candidate": 30},
		"95th-percentile-tail-latency": {"current": 5 + 5*96.9/100, "candidate": 20 + 30*47.5/50},
		"error-rate":                   {"current": 2.0 / 102, "candidate": 0},
	}
	for key, w := range want {
		if diff := cmp.Diff(w, values[key], cmpopts.EquateApprox(1e-9, 0)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", key, diff)
		}
	}
	// increase() does not extrapolate before a first sample of zero, and after the last
	// sample by at most 1.1 scrape intervals; the series have at least two samples before
	// the requests and one after, so the factor stays below (2+1.1)/2.
	within := func(key, version string, lo, hi float64) {
		if v, ok := values[key][version]; !ok || v < lo || v > hi {
			t.Errorf("%s of %s: %v (%s), want within [%v, %v]", key, version, v, states[key][version], lo, hi)
		}
	}
	within("iter8-knative/request-count", "current", 102, 102*1.6)
	within("iter8-knative/request-count", "candidate", 50, 50*1.6)
	within("iter8-knative/error-count", "current", 2, 2*1.6)
	within("iter8-knative/error-count", "candidate", 0, 0)
	// A revision without traffic: the counts are zero (or on() vector(0)), the ratios
	// 0/0, and the quantile of nothing is an empty result.
	within("iter8-knative/request-count", "other", 0, 0)
	for key, want := range map[string]string{
		"mean-latency":                 "NoData NaN",
		"error-rate":                   "NoData NaN",
		"95th-percentile-tail-latency": "NoData empty result",
	} {
		if got := states[key]["other"]; got != want {
			t.Errorf("%s of a revision without traffic: %q, want %q", key, got, want)
		}
	}
}

// TestBatchAgainstRealPrometheus checks that batching is invisible: every query, batched
// or sent alone, gets the same result from a real Prometheus, including the queries that
// make the batch fall back to single queries, and all are evaluated at the collector's now.
func TestBatchAgainstRealPrometheus(t *testing.T) {
	harness.Integration(t, harness.NeedPrometheus)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	p, err := harness.StartPrometheus(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	now := time.Now().Add(-time.Second).Truncate(time.Second).Add(123456789 * time.Nanosecond)
	at := float64(now.Truncate(time.Millisecond).UnixMilli()) / 1000
	answered := []string{
		`vector($level)`,
		`vector($level) # the batch ends this comment`,
		`vector(time()) + 0 * $level`,
		`vector($level) / 0`,
		`vector(0) / 0 * $level`,
		`absent(vector($level))`,
		`vector($level) or label_replace(vector($level), "x", "1", "", "")`,
		`sum(rate(nothing{a="$level"}[1m])) or on() vector(0)`,
		`count({__name__="up", x="$level"}) )`, // unbalanced: sent alone
	}
	// requests counts: the batch, the unbalanced query alone for each version, and on
	// fallback every other query alone for each version, but for answered[7], whose
	// versions' queries are merged into one, sent alone.
	tests := []struct {
		name      string
		templates []string
		requests  int
	}{
		{name: "answered", templates: answered, requests: 1 + 2},
		{name: "a scalar: each alone", templates: append([]string{`scalar(vector($level))`}, answered...), requests: 1 + 2 + 2*8 + 1},
		{name: "a parse error: each alone", templates: append([]string{`vector($level) +`}, answered...), requests: 1 + 2 + 2*8 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := batchExperiment(p.URL(), []string{"a", "b"}, tc.templates...)
			exp.Spec.VersionInfo.Baseline.Variables = []v2alpha1.NamedValue{{Name: "level", Value: "1"}}
			exp.Spec.VersionInfo.Candidates[0].Variables = []v2alpha1.NamedValue{{Name: "level", Value: "2"}}
			var requests atomic.Int32
			client := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
				requests.Add(1)
				return http.DefaultTransport.RoundTrip(r)
			})}
			collect := func(batchSize int) map[string]map[string]Result {
				c := &Collector{BatchSize: batchSize, Now: func() time.Time { return now }, HTTPClient: client}
				requests.Store(0)
				return c.Collect(ctx, exp)
			}
			alone := collect(1)
			batched := collect(0)
			if n := int(requests.Load()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if diff := cmp.Diff(alone, batched); diff != "" {
				t.Errorf("batched results differ from single queries' (-alone +batched):\n%s", diff)
			}
			// The results are the ones expected, not merely the same twice.
			off := len(tc.templates) - len(answered)
			states := map[string]string{}
			for i := range answered {
				r := batched[fmt.Sprintf("m%d", i+off)]["b"]
				states[answered[i]] = fmt.Sprintf("%s %v %s", r.State, r.Value, r.Reason)
			}
			want := map[string]string{
				answered[0]: "Value 2 ",
				answered[1]: "Value 2 ",
				answered[2]: fmt.Sprintf("Value %v ", at),
				answered[3]: "NoData 0 +Inf",
				answered[4]: "NoData 0 NaN",
				answered[5]: "NoData 0 empty result",
				answered[6]: "Error 0 2 series, expected 1",
				answered[7]: "Value 0 ",
				answered[8]: "Error 0 HTTP 400: invalid parameter \"query\": 1:32: parse error: unexpected right parenthesis ')'",
			}
			if diff := cmp.Diff(want, states); diff != "" {
				t.Errorf("results of version b (-want +got):\n%s", diff)
			}
		})
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// benchBackend returns the URL of a real Prometheus scraping a queue-proxy exporter with
// traffic for the given revisions, and that Prometheus; or the URL of a fake and nil when
// Prometheus is not installed.
func benchBackend(b *testing.B, revisions []string) (string, *harness.Prometheus) {
	b.Helper()
	qp := startQueueProxy(b, revisions...)
	for i, rev := range revisions {
		qp.observe(rev, 200, 100+i, float64(5+i))
	}
	if mode := os.Getenv(harness.EnvIntegration); mode != "off" && mode != "skip" {
		ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
		defer cancel()
		p, err := harness.StartPrometheus(ctx, []string{qp.host()})
		switch {
		case err == nil:
			b.Cleanup(func() { _ = p.Stop() })
			if _, err := p.WaitForSamples(ctx, `count_over_time(revision_app_request_latencies_count[1m]) >= 3`); err != nil {
				b.Fatal(err)
			}
			b.Logf("querying a real Prometheus at %s", p.URL())
			return p.URL(), p
		case errors.Is(err, harness.ErrToolsMissing) && mode != "required":
			b.Logf("no Prometheus (%v); querying a fake", err)
		default:
			b.Fatal(err)
		}
	}
	srv := promByRevision(b, map[string]string{})
	return srv.URL, nil
}

// distinct makes metric i's query text its own without changing what it selects or costs:
// a matcher on a label no series has matches every series, so metrics i and i+5, which
// repeat one shipped query, cannot be answered by one evaluation.
func distinct(b *testing.B, m *v2alpha1.Metric, i int) {
	b.Helper()
	for k := range m.Spec.Params {
		p := &m.Spec.Params[k]
		if p.Name != "query" {
			continue
		}
		q := strings.ReplaceAll(p.Value, "revision_name=", fmt.Sprintf("iter8_bench!='%d',revision_name=", i))
		if q == p.Value {
			b.Fatalf("query %q has no revision_name matcher to vary", p.Value)
		}
		p.Value = q
	}
}

// BenchmarkIterationQueries measures one iteration's queries: versions × metrics, the
// shipped Knative metrics repeated as needed and made distinct, all through Collect, with
// the queries merged (as the stages send them) and as written (NoMerge), at 1 × 3,
// 10 × 10 and 50 × 50. The target is 10x10 under 3 × 1x3. Against a real
// Prometheus it also reports prom-cpu-ms/op, the processor time the Prometheus process
// used per iteration (in steps of 10 ms: run it for seconds, -benchtime 3s).
//
// On 2 shared cores with Debian's Prometheus 2.42 (2026-11-26, -benchtime 20x -count 3,
// load average 2.3-4), before merging: one request per query took 3.9-4.1 ms for 1x3 and
// 76-92 ms for 10x10, ratio 19.5-22.5; batched (DefaultBatchSize 25: 1 request for 1x3,
// 4 for 10x10), 1.2-2.8 ms and 17-35 ms, ratio 10-16. Batching cannot reach the target:
// the rest is Prometheus evaluating the queries, 17-20 ms of one core for these 100 (its
// stats=all timings), against 0.3-0.6 ms for the 3. Merging cuts that evaluation: see
// docs/benchmarks.md.
func BenchmarkIterationQueries(b *testing.B) {
	revisions := make([]string, 50)
	for i := range revisions {
		revisions[i] = fmt.Sprintf("sample-app-v%d", i+1)
	}
	url, prom := benchBackend(b, revisions)
	perIteration := map[string]float64{}
	for _, size := range []struct{ versions, metrics int }{{1, 3}, {10, 10}, {50, 50}} {
		for _, shape := range []string{"merged", "as-written"} {
			name := fmt.Sprintf("%dx%d/%s", size.versions, size.metrics, shape)
			b.Run(name, func(b *testing.B) {
				exp := knativeExperiment(b, url, time.Now().Add(-time.Minute), revisions[0])
				exp.Spec.VersionInfo.Candidates = nil
				for i := 1; i < size.versions; i++ {
					exp.Spec.VersionInfo.Candidates = append(exp.Spec.VersionInfo.Candidates,
						v2alpha1.VersionDetail{Name: fmt.Sprintf("v%d", i), Variables: []v2alpha1.NamedValue{{Name: "revision", Value: revisions[i]}}})
				}
				base := exp.Status.Metrics
				exp.Status.Metrics = nil
				exp.Spec.Criteria = &v2alpha1.Criteria{}
				c := &Collector{NoMerge: shape == "as-written"}
				for i := range size.metrics {
					mi := base[i%len(base)]
					mi.Name = fmt.Sprintf("%s-%d", mi.Name, i)
					mi.MetricObj = *mi.MetricObj.DeepCopy()
					distinct(b, &mi.MetricObj, i)
					exp.Status.Metrics = append(exp.Status.Metrics, mi)
				}
				seen := map[string]bool{}
				for _, vs := range c.Collect(b.Context(), exp) {
					for _, r := range vs {
						seen[r.Query] = true
					}
				}
				if len(seen) != size.versions*size.metrics {
					b.Fatalf("%d distinct queries, want %d", len(seen), size.versions*size.metrics)
				}
				queries := size.versions * size.metrics
				var cpu0 time.Duration
				if prom != nil {
					var err error
					if cpu0, err = prom.CPUTime(); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for b.Loop() {
					res := c.Collect(b.Context(), exp)
					n := 0
					for _, vs := range res {
						for _, r := range vs {
							if r.State == v2alpha1.MetricStateError {
								b.Fatalf("%s: %s", r.Query, r.Reason)
							}
							n++
						}
					}
					if n != queries {
						b.Fatalf("%d results, want %d", n, queries)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*queries), "ns/query")
				if prom != nil {
					cpu1, err := prom.CPUTime()
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(cpu1-cpu0)/1e6/float64(b.N), "prom-cpu-ms/op")
				}
				perIteration[name] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			})
		}
	}
	for _, shape := range []string{"merged", "as-written"} {
		small, large := perIteration["1x3/"+shape], perIteration["10x10/"+shape]
		if small > 0 && large > 0 {
			// The target compares whole iterations: 100 queries against 3.
			b.Logf("%s: iteration 1x3 %.2f ms, 10x10 %.2f ms, ratio %.2f (target < 3)", shape, small/1e6, large/1e6, large/small)
		}
	}
}
