package metrics

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// shapeTemplates are the Knative metric set's queries (config/metrics/knative.yaml) over a
// fixed range, as BenchmarkIterationQueries sends them.
var shapeTemplates = []string{
	`sum(increase(revision_app_request_latencies_count{revision_name='$revision'}[60s])) or on() vector(0)`,
	`sum(increase(revision_app_request_latencies_count{response_code_class!='2xx',revision_name='$revision'}[60s])) or on() vector(0)`,
	`(sum(increase(revision_app_request_latencies_count{response_code_class!='2xx',revision_name='$revision'}[60s])) or on() vector(0)) / (sum(increase(revision_app_request_latencies_count{revision_name='$revision'}[60s])) or on() vector(0))`,
	`(sum(increase(revision_app_request_latencies_sum{revision_name='$revision'}[60s])) or on() vector(0)) / (sum(increase(revision_app_request_latencies_count{revision_name='$revision'}[60s])) or on() vector(0))`,
	`histogram_quantile(0.95, sum(rate(revision_app_request_latencies_bucket{revision_name='$revision'}[60s])) by (le))`,
}

// mergeByHand rewrites one metric's query for every revision into one query with a series
// per revision: a regular expression selects them all, every aggregation keeps
// revision_name, and `or on() vector(0)` becomes a zero per revision. With keepZero false
// the zeros are dropped, which is cheaper but not equivalent (a revision without data
// gets no series instead of 0): the lower bound of any such rewrite.
func mergeByHand(tmpl string, revisions []string, keepZero bool) string {
	q := strings.ReplaceAll(tmpl, "='$revision'", "=~'"+strings.Join(revisions, "|")+"'")
	if strings.Contains(q, " by (le)") {
		q = strings.ReplaceAll(q, " by (le)", " by (le, revision_name)")
	} else {
		q = strings.ReplaceAll(q, "sum(", "sum by (revision_name) (")
	}
	zeros := ""
	if keepZero {
		var z []string
		for _, r := range revisions {
			z = append(z, fmt.Sprintf(`label_replace(vector(0), "revision_name", %q, "", "")`, r))
		}
		zeros = " or on(revision_name) (" + strings.Join(z, " or ") + ")"
	}
	return strings.ReplaceAll(q, " or on() vector(0)", zeros)
}

// BenchmarkQueryShapes measures what one iteration's 10 × 10 queries cost a real Prometheus
// depending on how they are sent, against 1 × 3 sent as the stages send them (one batched
// request). Besides ns/op it reports prom-cpu-ms/op, the processor time the Prometheus
// process used per iteration (from /proc), which no client-side change can remove. It
// records why BenchmarkIterationQueries misses its 3× target: see docs/benchmarks.md.
func BenchmarkQueryShapes(b *testing.B) {
	revisions := make([]string, 10)
	for i := range revisions {
		revisions[i] = fmt.Sprintf("sample-app-v%d", i+1)
	}
	url, prom := benchBackend(b, revisions)
	if prom == nil {
		b.Skip("needs a real Prometheus: a fake's cost says nothing")
	}
	client, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		b.Fatal(err)
	}
	api := promv1.NewAPI(client)

	var singles, merged, mergedNoZero []string
	for m := range 10 {
		// As BenchmarkIterationQueries: metrics m and m+5 share a template but not a query.
		t := strings.ReplaceAll(shapeTemplates[m%len(shapeTemplates)], "revision_name=", fmt.Sprintf("iter8_bench!='%d',revision_name=", m))
		for _, r := range revisions {
			singles = append(singles, strings.ReplaceAll(t, "$revision", r))
		}
		merged = append(merged, mergeByHand(t, revisions, true))
		mergedNoZero = append(mergedNoZero, mergeByHand(t, revisions, false))
	}
	checkMergedEquivalent(b, api, singles, merged, revisions)

	for _, c := range []struct {
		name    string
		queries []string
		perReq  int // queries per request; the requests are concurrent
	}{
		{"1x3/batched", singles[:3], DefaultBatchSize},
		{"10x10/batched", singles, DefaultBatchSize},
		{"10x10/one-request", singles, len(singles)},
		{"10x10/request-per-query", singles, 1},
		{"10x10/merged-per-metric", merged, DefaultBatchSize},
		{"10x10/merged-per-metric-no-zero", mergedNoZero, DefaultBatchSize},
	} {
		b.Run(c.name, func(b *testing.B) {
			n := (len(c.queries) + c.perReq - 1) / c.perReq
			cpu0, err := prom.CPUTime()
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				errs := make(chan error, n)
				for i := range n {
					lo, hi := i*len(c.queries)/n, (i+1)*len(c.queries)/n
					go func() {
						_, _, _, err := api.Query(b.Context(), batchQuery(c.queries[lo:hi]), time.Now())
						errs <- err
					}()
				}
				for range n {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
			}
			cpu1, err := prom.CPUTime()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(cpu1-cpu0)/1e6/float64(b.N), "prom-cpu-ms/op")
		})
	}
}

// checkMergedEquivalent fails unless every merged query gives each revision the value its
// single query gives, at one instant: the rewrite measured must be a real alternative.
func checkMergedEquivalent(b *testing.B, api promv1.API, singles, merged []string, revisions []string) {
	b.Helper()
	at := time.Now()
	for m, mq := range merged {
		v, _, _, err := api.Query(b.Context(), mq, at)
		if err != nil {
			b.Fatalf("merged query %d: %v", m, err)
		}
		got := map[string]float64{}
		for _, s := range v.(model.Vector) {
			got[string(s.Metric["revision_name"])] = float64(s.Value)
		}
		for i, r := range revisions {
			v, _, _, err := api.Query(b.Context(), singles[m*len(revisions)+i], at)
			if err != nil {
				b.Fatalf("single query %d/%s: %v", m, r, err)
			}
			vec := v.(model.Vector)
			if len(vec) != 1 {
				b.Fatalf("single query %d/%s: %d series", m, r, len(vec))
			}
			want, g := float64(vec[0].Value), got[r]
			if !(want == g || math.IsNaN(want) && math.IsNaN(g)) {
				b.Fatalf("metric %d, %s: merged %v, single %v", m, r, g, want)
			}
		}
	}
}
