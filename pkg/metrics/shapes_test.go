package metrics

import (
	"fmt"
	"strings"
	"testing"
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

// shapeSize is versions × metrics.
type shapeSize struct{ versions, metrics int }

func (s shapeSize) String() string { return fmt.Sprintf("%dx%d", s.versions, s.metrics) }

// iterationShapes are one iteration's queries of a size in the shapes measured.
type iterationShapes struct {
	singles [][]string     // singles[m][v]: metric m's query for version v, as written
	merged  []*mergedQuery // each metric's queries merged by mergeVersions (what Collect sends)
	byHand  []string       // mergeByHand with the zeros
	lower   []string       // mergeByHand without the zeros: the lower bound
}

// shapesOf builds the queries of size s over the first s.versions revisions. As in
// BenchmarkIterationQueries, metrics m and m+5 share a template but not a query.
func shapesOf(tb testing.TB, s shapeSize, revisions []string) iterationShapes {
	tb.Helper()
	var out iterationShapes
	revs := revisions[:s.versions]
	for m := range s.metrics {
		t := strings.ReplaceAll(shapeTemplates[m%len(shapeTemplates)], "revision_name=", fmt.Sprintf("iter8_bench!='%d',revision_name=", m))
		var qs []string
		for _, r := range revs {
			q, err := SubstitutePromQL(t, map[string]string{"revision": r})
			if err != nil {
				tb.Fatal(err)
			}
			qs = append(qs, q)
		}
		out.singles = append(out.singles, qs)
		out.byHand = append(out.byHand, mergeByHand(t, revs, true))
		out.lower = append(out.lower, mergeByHand(t, revs, false))
		if len(qs) > 1 {
			mq, err := mergeVersions(qs)
			if err != nil {
				tb.Fatalf("metric %d does not merge: %v", m, err)
			}
			out.merged = append(out.merged, mq)
		}
	}
	return out
}
