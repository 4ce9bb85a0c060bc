package metrics

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// versionQueries substitutes tmpl with each version's arguments, as Collect does.
func versionQueries(t *testing.T, tmpl string, args ...map[string]string) []string {
	t.Helper()
	var out []string
	for _, a := range args {
		q, err := SubstitutePromQL(tmpl, a)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, q)
	}
	return out
}

// revs are the arguments of versions whose revision ($r, $revision) is each of rs.
func revs(rs ...string) []map[string]string {
	var out []map[string]string
	for _, r := range rs {
		out = append(out, map[string]string{"r": r, "revision": r, "elapsedTime": "600"})
	}
	return out
}

func zero() *float64 { z := 0.0; return &z }

// mergedView is a mergedQuery with exported fields, for cmp.
type mergedView struct {
	Parts  []partView
	Op     string
	Labels []string
	Keys   [][]string
}

type partView struct {
	Query  string
	OrElse *float64
}

func viewOf(m *mergedQuery) mergedView {
	v := mergedView{Labels: m.labels, Keys: m.keys}
	if len(m.parts) == 2 {
		v.Op = m.op.String()
	}
	for _, p := range m.parts {
		v.Parts = append(v.Parts, partView{p.query, p.orElse})
	}
	return v
}

func TestMergeVersions(t *testing.T) {
	two := revs("v1", "v2")
	knative := loadMetrics(t, "knative.yaml")
	istio := loadMetrics(t, "istio.yaml")
	query := func(metrics map[string]v2alpha1.Metric, key string) string {
		t.Helper()
		m := metrics[key]
		q, ok := param(&m.Spec, "query")
		if !ok {
			t.Fatalf("%s has no query", key)
		}
		return q
	}
	const count = `revision_app_request_latencies_count`
	tests := []struct {
		name string
		tmpl string
		args []map[string]string
		want mergedView
	}{
		{
			name: "knative request-count: the versions without a series get 0 here",
			tmpl: query(knative, "iter8-knative/request-count"),
			args: two,
			want: mergedView{
				Parts:  []partView{{`sum by (revision_name) (increase(` + count + `{revision_name=~"v1|v2"}[10m]))`, zero()}},
				Labels: []string{"revision_name"}, Keys: [][]string{{"v1"}, {"v2"}},
			},
		},
		{
			name: "knative error-rate: two queries divided here",
			tmpl: query(knative, "iter8-knative/error-rate"),
			args: two,
			want: mergedView{
				Parts: []partView{
					{`sum by (revision_name) (increase(` + count + `{response_code_class!="2xx",revision_name=~"v1|v2"}[10m]))`, zero()},
					{`sum by (revision_name) (increase(` + count + `{revision_name=~"v1|v2"}[10m]))`, zero()},
				},
				Op: "/", Labels: []string{"revision_name"}, Keys: [][]string{{"v1"}, {"v2"}},
			},
		},
		{
			name: "knative 95th-percentile-tail-latency: grouped by le and the revision",
			tmpl: query(knative, "iter8-knative/95th-percentile-tail-latency"),
			args: revs("v1", "v2", "v3"),
			want: mergedView{
				Parts:  []partView{{`histogram_quantile(0.95, sum by (le, revision_name) (rate(revision_app_request_latencies_bucket{revision_name=~"v1|v2|v3"}[10m])))`, nil}},
				Labels: []string{"revision_name"}, Keys: [][]string{{"v1"}, {"v2"}, {"v3"}},
			},
		},
		{
			name: "istio request-count: only the workload differs",
			tmpl: query(istio, "iter8-istio/request-count"),
			args: []map[string]string{{"name": "reviews-v1", "namespace": "bookinfo", "elapsedTime": "60"}, {"name": "reviews-v2", "namespace": "bookinfo", "elapsedTime": "60"}},
			want: mergedView{
				Parts:  []partView{{`sum by (destination_workload) (increase(istio_requests_total{destination_workload=~"reviews-v1|reviews-v2",destination_workload_namespace="bookinfo",reporter="source"}[1m]))`, nil}},
				Labels: []string{"destination_workload"}, Keys: [][]string{{"reviews-v1"}, {"reviews-v2"}},
			},
		},
		{
			name: "istio mean-latency: workload and namespace differ",
			tmpl: query(istio, "iter8-istio/mean-latency"),
			args: []map[string]string{{"name": "reviews-v1", "namespace": "a", "elapsedTime": "60"}, {"name": "reviews-v2", "namespace": "b", "elapsedTime": "60"}},
			want: mergedView{
				Parts: []partView{
					{`sum by (destination_workload, destination_workload_namespace) (increase(istio_request_duration_milliseconds_sum{destination_workload=~"reviews-v1|reviews-v2",destination_workload_namespace=~"a|b",reporter="source"}[1m]))`, zero()},
					{`sum by (destination_workload, destination_workload_namespace) (increase(istio_requests_total{destination_workload=~"reviews-v1|reviews-v2",destination_workload_namespace=~"a|b",reporter="source"}[1m]))`, zero()},
				},
				Op: "/", Labels: []string{"destination_workload", "destination_workload_namespace"}, Keys: [][]string{{"reviews-v1", "a"}, {"reviews-v2", "b"}},
			},
		},
		{
			name: "or on() vector(0) inside an expression: a constant per version",
			tmpl: `(sum(x{rev='$r'}) or on() vector(0)) * 100`,
			args: two,
			want: mergedView{
				Parts:  []partView{{`(sum by (rev) (x{rev=~"v1|v2"}) or on (rev) (label_replace(vector(0), "rev", "v1", "", "") or label_replace(vector(0), "rev", "v2", "", ""))) * 100`, nil}},
				Labels: []string{"rev"}, Keys: [][]string{{"v1"}, {"v2"}},
			},
		},
		{
			name: "or vector(0) inside, without on(), after several labels",
			tmpl: `-(sum(x{rev='$r',ns='$ns'}) or vector(-1))`,
			args: []map[string]string{{"r": "v1", "ns": "a"}, {"r": "v2", "ns": "b"}},
			want: mergedView{
				Parts:  []partView{{`-(sum by (ns, rev) (x{ns=~"a|b",rev=~"v1|v2"}) or (label_replace(label_replace(vector(-1), "ns", "a", "", ""), "rev", "v1", "", "") or label_replace(label_replace(vector(-1), "ns", "b", "", ""), "rev", "v2", "", "")))`, nil}},
				Labels: []string{"ns", "rev"}, Keys: [][]string{{"a", "v1"}, {"b", "v2"}},
			},
		},
		{
			name: "or vector(c) after an aggregation without grouping, at the top",
			tmpl: `sum(x{rev='$r'}) or vector(7)`,
			args: two,
			want: mergedView{
				Parts:  []partView{{`sum by (rev) (x{rev=~"v1|v2"})`, func() *float64 { c := 7.0; return &c }()}},
				Labels: []string{"rev"}, Keys: [][]string{{"v1"}, {"v2"}},
			},
		},
		{
			name: "or on() vector(0) at the top after series with labels",
			tmpl: `rate(x{rev='$r'}[1m]) or on() vector(0)`,
			args: two,
			want: mergedView{
				Parts:  []partView{{`rate(x{rev=~"v1|v2"}[1m])`, zero()}},
				Labels: []string{"rev"}, Keys: [][]string{{"v1"}, {"v2"}},
			},
		},
		{
			name: "by and without",
			tmpl: `sum by (code) (rate(x{rev='$r'}[1m])) + on (code) sum without (instance) (rate(y{rev='$r'}[1m]))`,
			args: two,
			want: mergedView{
				Parts:  []partView{{`sum by (code, rev) (rate(x{rev=~"v1|v2"}[1m])) + on (code, rev) sum without (instance) (rate(y{rev=~"v1|v2"}[1m]))`, nil}},
				Labels: []string{"rev"}, Keys: [][]string{{"v1"}, {"v2"}},
			},
		},
		{
			name: "ignoring, comparisons, set operators, functions of one series",
			tmpl: `round(rate(a{rev='$r'}[5m]) / ignoring (code) rate(b{rev='$r'}[5m]), 0.1) > 0 and clamp_min(c{rev='$r'}, 0) unless quantile_over_time(0.9, d{rev='$r'}[5m]) == bool 1`,
			args: two,
			want: mergedView{
				Parts:  []partView{{`round(rate(a{rev=~"v1|v2"}[5m]) / ignoring (code) rate(b{rev=~"v1|v2"}[5m]), 0.1) > 0 and clamp_min(c{rev=~"v1|v2"}, 0) unless quantile_over_time(0.9, d{rev=~"v1|v2"}[5m]) == bool 1`, nil}},
				Labels: []string{"rev"}, Keys: [][]string{{"v1"}, {"v2"}},
			},
		},
		{
			name: "a difference of two sums, other matchers on the label",
			tmpl: `sum(a{rev='$r'}) - sum(b{rev='$r',rev!='v0'})`,
			args: two,
			want: mergedView{
				Parts: []partView{
					{`sum by (rev) (a{rev=~"v1|v2"})`, nil},
					{`sum by (rev) (b{rev!="v0",rev=~"v1|v2"})`, nil},
				},
				Op: "-", Labels: []string{"rev"}, Keys: [][]string{{"v1"}, {"v2"}},
			},
		},
		{
			name: "values that are not plain: escaped in the regular expression",
			tmpl: `sum(x{rev='$r'})`,
			args: revs(`a.b|c`, `it's "q"`, `ü\`),
			want: mergedView{
				Parts:  []partView{{`sum by (rev) (x{rev=~"a\\.b\\|c|it's \"q\"|ü\\\\"})`, nil}},
				Labels: []string{"rev"}, Keys: [][]string{{`a.b|c`}, {`it's "q"`}, {`ü\`}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mergeVersions(versionQueries(t, tc.tmpl, tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, viewOf(m)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMergeVersionsFallsBack(t *testing.T) {
	two := revs("v1", "v2")
	tests := []struct {
		name    string
		queries []string // when set, instead of tmpl and args
		tmpl    string
		args    []map[string]string
		want    string
	}{
		{name: "one query", queries: []string{`x{rev="v1"}`}, want: "fewer than two queries"},
		{name: "a query that does not parse", tmpl: `sum(x{rev='$r'}`, args: two, want: `query 1 does not parse: 1:16: parse error: unclosed left parenthesis`},
		{name: "a range that differs", queries: []string{`rate(x{rev="v1"}[1m])`, `rate(x{rev="v2"}[2m])`}, want: "queries 1 and 2 differ in more than the values of equality matchers"},
		{name: "a number that differs", tmpl: `x{rev='$r'} * $w`, args: []map[string]string{{"r": "a", "w": "1"}, {"r": "b", "w": "2"}}, want: "queries 1 and 2 differ in more than the values of equality matchers"},
		{name: "a regular expression that differs", tmpl: `x{rev=~'$r'}`, args: two, want: "queries 1 and 2 differ in more than the values of equality matchers"},
		{name: "a string argument that differs", tmpl: `label_replace(x, "rev", "$r", "", "")`, args: two, want: "queries 1 and 2 differ in more than the values of equality matchers"},
		{name: "only a comment differs", queries: []string{"x{rev='a'} # v1", "x{rev='a'} # v2"}, want: "no label value differs between the queries"},
		{name: "the metric name differs", tmpl: `sum({__name__='$r'})`, args: two, want: "the value of __name__ differs, a label name Prometheus reserves"},
		{name: "an empty value", tmpl: `x{rev='$r'}`, args: revs("", "v2"), want: "query 1 matches rev to the empty value"},
		{name: "a value that is not UTF-8", tmpl: `x{rev='$r'}`, args: revs("\xff", "v2"), want: "query 1 matches rev to a value that is not UTF-8"},
		{name: "one label, two values in a query", queries: []string{`a{rev="v1"} / b{rev="w1"}`, `a{rev="v2"} / b{rev="w2"}`}, want: "query 1 matches rev to two values"},
		{name: "a selector without the label", tmpl: `sum(a{rev='$r'}) / sum(b)`, args: two, want: "a selector of b without the matcher on rev that differs between versions"},
		{name: "a selector where the label does not differ", queries: []string{`a{rev="v1"} / on() b{rev="v0"}`, `a{rev="v2"} / on() b{rev="v0"}`}, want: "a selector of b without the matcher on rev that differs between versions"},
		{name: "a function that makes labels", tmpl: `label_replace(x{rev='$r'}, "a", "b", "", "")`, args: two, want: "the function label_replace"},
		{name: "absent", tmpl: `absent(x{rev='$r'})`, args: two, want: "the function absent"},
		{name: "scalar", tmpl: `scalar(x{rev='$r'})`, args: two, want: "the function scalar"},
		{name: "vector", tmpl: `x{rev='$r'} + on() vector(1)`, args: two, want: "vector() other than in `or vector()`"},
		{name: "topk", tmpl: `topk(1, x{rev='$r'})`, args: two, want: "the aggregation topk"},
		{name: "without the label", tmpl: `sum without (rev) (x{rev='$r'})`, args: two, want: "sum without (rev), which drops the label that tells versions apart"},
		{name: "ignoring the label", tmpl: `a{rev='$r'} / ignoring (rev) b{rev='$r'}`, args: two, want: "/ ignoring (rev), the label that tells versions apart"},
		{name: "group_left", tmpl: `a{rev='$r'} / on (code) group_left b{rev='$r'}`, args: two, want: "/ with group_left or group_right"},
		{name: "sides that hold the label and not", tmpl: `rate(a{rev='$r'}[1m]) / on(rev) sum(b{rev='$r'})`, args: two, want: `/ on (rev) between series that hold "rev" and series that hold ""`},
		{name: "sides that hold the label and not, matched on every label", tmpl: `rate(a{rev='$r'}[1m]) / sum(b{rev='$r'})`, args: two, want: `/ between series that hold "rev" and series that hold ""`},
		{name: "or between sides that hold the label and not", tmpl: `rate(a{rev='$r'}[1m]) or on(code) sum by (code) (b{rev='$r'})`, args: two, want: `or between series that hold "rev" and series that hold ""`},
		{name: "or vector(0) after series with the label, inside", tmpl: `(rate(x{rev='$r'}[1m]) or on() vector(0)) * 2`, args: two, want: "`or vector()` after an expression whose series hold rev"},
		{name: "or vector(0) after series with the label, at the top, without on()", tmpl: `rate(x{rev='$r'}[1m]) or vector(0)`, args: two, want: "`or vector()` after an expression whose series hold rev"},
		{name: "a subquery", tmpl: `max_over_time(rate(x{rev='$r'}[1m])[5m:1m])`, args: two, want: "max_over_time with an argument that is neither a range selector nor a number"},
		{name: "a power", tmpl: `x{rev='$r'} ^ 2`, args: two, want: "the operator ^"},
		{name: "le differs under histogram_quantile", tmpl: `histogram_quantile(0.9, x{le='$r'})`, args: two, want: "histogram_quantile where le differs between versions"},
		{name: "a label name that needs quotes", tmpl: `x{"a.b"='$r'}`, args: two, want: `the label name "a.b" needs quotes`},
		{name: "a function of the time", tmpl: `x{rev='$r'} - on() time()`, args: two, want: "the function time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			queries := tc.queries
			if queries == nil {
				queries = versionQueries(t, tc.tmpl, tc.args...)
			}
			m, err := mergeVersions(queries)
			if err == nil {
				t.Fatalf("merged into %+v", viewOf(m))
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestMergedAnswer checks how the answer to a merged query is read: by the labels' values,
// the versions without a series getting orElse, two parts combined by the operator.
func TestMergedAnswer(t *testing.T) {
	s := func(v float64, lbls ...string) *model.Sample {
		m := model.Metric{}
		for i := 0; i+1 < len(lbls); i += 2 {
			m[model.LabelName(lbls[i])] = model.LabelValue(lbls[i+1])
		}
		return &model.Sample{Metric: m, Value: model.SampleValue(v)}
	}
	one := &mergedQuery{labels: []string{"rev"}, keys: [][]string{{"a"}, {"b"}, {"c"}}, parts: []mergedPart{{query: "q"}}}
	orZero := &mergedQuery{labels: []string{"rev"}, keys: [][]string{{"a"}, {"b"}}, parts: []mergedPart{{query: "q", orElse: zero()}}}
	ratio := &mergedQuery{labels: []string{"rev"}, keys: [][]string{{"a"}, {"b"}, {"c"}, {"d"}}, op: parser.DIV,
		parts: []mergedPart{{query: "n", orElse: zero()}, {query: "d"}}}
	twoLabels := &mergedQuery{labels: []string{"ns", "rev"}, keys: [][]string{{"x", "a"}, {"y", "b"}}, parts: []mergedPart{{query: "q"}}}
	tests := []struct {
		name    string
		m       *mergedQuery
		answers []model.Vector
		want    []Result // promValue of each version's series
		err     string
	}{
		{
			name:    "by the label's value; none and several series as they are",
			m:       one,
			answers: []model.Vector{{s(1, "rev", "a"), s(2, "rev", "c", "code", "1"), s(3, "rev", "c", "code", "2")}},
			want:    []Result{number(1), noData("", "empty result"), errorResult("", "2 series, expected 1")},
		},
		{
			name:    "or on() vector(0)",
			m:       orZero,
			answers: []model.Vector{{s(math.NaN(), "rev", "b")}},
			want:    []Result{number(0), noData("", "NaN")},
		},
		{
			name:    "divided here",
			m:       ratio,
			answers: []model.Vector{{s(1, "rev", "a"), s(0, "rev", "b"), s(3, "rev", "c")}, {s(4, "rev", "a"), s(0, "rev", "b"), s(0, "rev", "d")}},
			want:    []Result{number(0.25), noData("", "NaN"), noData("", "empty result"), noData("", "NaN")},
		},
		{
			name:    "a combination of values no version has is dropped",
			m:       twoLabels,
			answers: []model.Vector{{s(1, "ns", "x", "rev", "a"), s(2, "ns", "x", "rev", "b"), s(3, "ns", "y", "rev", "b")}},
			want:    []Result{number(1), number(3)},
		},
		{name: "a series without the label", m: one, answers: []model.Vector{{s(1)}}, err: `a series with rev="", which no version selects`},
		{name: "a value no version selects", m: one, answers: []model.Vector{{s(1, "rev", "z")}}, err: `a series with rev="z", which no version selects`},
		{name: "two series where the operator needs one", m: ratio, answers: []model.Vector{{s(1, "rev", "a", "x", "1"), s(1, "rev", "a", "x", "2")}, {}},
			err: "2 and 0 series for one version, where the operator / needs one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := tc.m.answer(tc.answers)
			if tc.err != "" || err != nil {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			var got []Result
			for _, v := range vs {
				got = append(got, promValue(v))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzMergeVersions checks that whatever a template and two versions' values are, merging
// either refuses or gives parts that parse, with a key per query, and that reading an
// answer never panics.
func FuzzMergeVersions(f *testing.F) {
	for _, tmpl := range shapeTemplates {
		f.Add(tmpl, "v1", "v2")
	}
	f.Add(`sum by (code) (rate(x{rev='$revision'}[1m])) + on (code) sum without (instance) (rate(y{rev='$revision'}[1m]))`, "a", "b")
	f.Add(`(sum(x{rev='$revision'}) or on() vector(0)) * 100`, `a"b`, `c\d`)
	f.Add(`x{rev='$revision'} / on() y{rev="$revision"}`, "a", "a")
	// An argument outside a string that is not a number or a duration: substitution refuses it.
	f.Add(`x + $revision`, "A", "2")
	f.Fuzz(func(t *testing.T, tmpl, a, b string) {
		var queries []string
		for _, v := range []string{a, b} {
			q, err := SubstitutePromQL(tmpl, map[string]string{"revision": v})
			if err != nil {
				return // refused before any merging; template_test covers its errors
			}
			queries = append(queries, q)
		}
		if queries[0] == queries[1] {
			return
		}
		m, err := mergeVersions(queries)
		if err != nil {
			return
		}
		if len(m.keys) != 2 || len(m.parts) == 0 || len(m.parts) > 2 {
			t.Fatalf("%d keys, %d parts", len(m.keys), len(m.parts))
		}
		var answers []model.Vector
		for _, p := range m.parts {
			if _, err := parser.ParseExpr(p.query); err != nil {
				t.Fatalf("%s: %v", p.query, err)
			}
			var v model.Vector
			for _, k := range m.keys {
				s := &model.Sample{Metric: model.Metric{}, Value: 1}
				for i, l := range m.labels {
					s.Metric[model.LabelName(l)] = model.LabelValue(k[i])
				}
				v = append(v, s)
			}
			answers = append(answers, v)
		}
		if _, err := m.answer(answers); err != nil && !strings.Contains(err.Error(), "series for one version") {
			t.Fatal(err)
		}
	})
}

// TestCollectMerged checks what Collect does with merged queries, against a fake that
// answers each query as told; merge_integration_test.go checks the answers of a real
// Prometheus.
func TestCollectMerged(t *testing.T) {
	val := func(v float64, q string) Result {
		return Result{State: v2alpha1.MetricStateValue, Value: v, Query: q, Attempts: 1}
	}
	q := func(metric, version string) string { return metric + "{v='" + version + "'}" }
	batch := func(qs ...string) seenRequest {
		return seenRequest{Method: http.MethodPost, Time: batchAt, Batch: true, Queries: qs}
	}
	alone := func(q string) seenRequest {
		return seenRequest{Method: http.MethodPost, Time: batchAt, Queries: []string{q}}
	}
	byVersion := func(vs ...string) answer {
		a := answer{}
		for i := 0; i+1 < len(vs); i += 2 {
			a.labels = append(a.labels, "v="+vs[i])
			a.values = append(a.values, vs[i+1])
		}
		return a
	}
	const (
		x     = `x{v=~"a|b"}`
		sumX  = `sum by (v) (x{v=~"a|b"})`
		sumE  = `sum by (v) (e{v=~"a|b"})`
		count = "sum(x{v='$name'}) or on() vector(0)"
		ratio = "(sum(e{v='$name'}) or on() vector(0)) / (sum(x{v='$name'}) or on() vector(0))"
	)
	sub := func(tmpl, v string) string { return strings.ReplaceAll(tmpl, "$name", v) }
	tests := []struct {
		name      string
		templates []string
		answers   map[string]answer
		want      map[string]map[string]Result
		requests  []seenRequest
	}{{
		name:      "one query for the versions, read by the label",
		templates: []string{"x{v='$name'}"},
		answers:   map[string]answer{x: byVersion("b", "2", "a", "1")},
		want:      map[string]map[string]Result{"m0": {"a": val(1, q("x", "a")), "b": val(2, q("x", "b"))}},
		requests:  []seenRequest{batch(x)},
	}, {
		name:      "a count and a ratio: three parts, one sent once, the division and the zeros here",
		templates: []string{count, ratio},
		answers:   map[string]answer{sumX: byVersion("a", "4"), sumE: byVersion("a", "1", "b", "2")},
		want: map[string]map[string]Result{
			"m0": {"a": val(4, sub(count, "a")), "b": val(0, sub(count, "b"))},
			"m1": {"a": val(0.25, sub(ratio, "a")), "b": {State: v2alpha1.MetricStateNoData, Reason: "+Inf", Query: sub(ratio, "b"), Attempts: 1}},
		},
		requests: []seenRequest{batch(sumX, sumE)},
	}, {
		name:      "a merged query Prometheus refuses: each version alone",
		templates: []string{"x{v='$name'}"},
		answers:   map[string]answer{x: {bad: "too many samples"}, q("x", "a"): values("1"), q("x", "b"): values("2")},
		want:      map[string]map[string]Result{"m0": {"a": val(1, q("x", "a")), "b": val(2, q("x", "b"))}},
		requests:  []seenRequest{batch(x), alone(q("x", "a")), alone(q("x", "b"))},
	}, {
		name:      "a batch Prometheus refuses: the merged query alone, the others' versions alone",
		templates: []string{"x{v='$name'}", "y{v='$name'} + on() vector(1)"},
		answers: map[string]answer{x: byVersion("a", "1", "b", "2"), "y{v='a'}": values("3"),
			"y{v='b'}": {bad: "1:1: bad"}},
		want: map[string]map[string]Result{
			"m0": {"a": val(1, q("x", "a")), "b": val(2, q("x", "b"))},
			"m1": {"a": val(3, "y{v='a'} + on() vector(1)"),
				"b": {State: v2alpha1.MetricStateError, Reason: "HTTP 400: 1:1: bad", Query: "y{v='b'} + on() vector(1)", Attempts: 1}},
		},
		requests: []seenRequest{batch(x, "y{v='a'} + on() vector(1)", "y{v='b'} + on() vector(1)"), batch(x),
			alone("y{v='a'} + on() vector(1)"), alone("y{v='b'} + on() vector(1)")},
	}, {
		name:      "an answer that is not Prometheus' evaluation: each version alone",
		templates: []string{"x{v='$name'}"},
		answers:   map[string]answer{x: values("1", "2"), q("x", "a"): values("1"), q("x", "b"): values("2")},
		want:      map[string]map[string]Result{"m0": {"a": val(1, q("x", "a")), "b": val(2, q("x", "b"))}},
		requests:  []seenRequest{batch(x), alone(q("x", "a")), alone(q("x", "b"))},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &batchProm{answer: byQuery(tc.answers)}
			c := batchCollector()
			c.NoMerge = false
			got := c.Collect(t.Context(), batchExperiment(p.serve(t), []string{"a", "b"}, tc.templates...))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Collect (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.requests, p.requests(), sortRequests); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCollectMergedFailure checks that a merged query's transient error is every
// version's, as a batch's is.
func TestCollectMergedFailure(t *testing.T) {
	p := &batchProm{answer: func(string) answer { return values("1") }, fault: func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}}
	c := batchCollector()
	c.NoMerge = false
	got := c.Collect(t.Context(), batchExperiment(p.serve(t), []string{"a", "b"}, "x{v='$name'}"))
	want := map[string]map[string]Result{"m0": {}}
	for _, v := range []string{"a", "b"} {
		want["m0"][v] = Result{State: v2alpha1.MetricStateError, Query: "x{v='" + v + "'}", Attempts: 3,
			Reason: "HTTP 503 Service Unavailable: an application/json response of 0 bytes (not recorded) (after 3 attempts)"}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Collect (-want +got):\n%s", diff)
	}
	if n := len(p.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

// TestSplitMembers checks that batches hold at most the batch size of distinct queries,
// a member's queries together, a query two members share once.
func TestSplitMembers(t *testing.T) {
	plain := func(q string) *promMember { return &promMember{query: q} }
	merged := func(qs ...string) *promMember {
		m := &mergedQuery{}
		for _, q := range qs {
			m.parts = append(m.parts, mergedPart{query: q})
		}
		return &promMember{merged: m}
	}
	tests := []struct {
		name    string
		members []*promMember
		size    int
		want    [][]string
	}{
		{name: "even", members: []*promMember{plain("a"), plain("b"), plain("c"), plain("d")}, size: 3, want: [][]string{{"a", "b"}, {"c", "d"}}},
		{name: "a member's two queries together", members: []*promMember{plain("a"), merged("b", "c"), plain("d")}, size: 2, want: [][]string{{"a"}, {"b", "c"}, {"d"}}},
		{name: "a shared query once", members: []*promMember{merged("n", "d"), merged("d"), merged("e", "d")}, size: 25, want: [][]string{{"n", "d", "e"}}},
		{name: "a shared query counts once", members: []*promMember{merged("n", "d"), merged("d"), merged("e", "d"), plain("x")}, size: 2, want: [][]string{{"n", "d"}, {"e", "d"}, {"x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]string
			for _, b := range split(tc.members, tc.size) {
				got = append(got, b.queries)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkMergeVersions measures what merging costs the collector: mergeVersions for
// every metric of an iteration of the Knative metric set, at 10 × 10 and 50 × 50 (the
// parser reads every version's query).
func BenchmarkMergeVersions(b *testing.B) {
	revisions := make([]string, 50)
	for i := range revisions {
		revisions[i] = fmt.Sprintf("sample-app-v%d", i+1)
	}
	for _, size := range []shapeSize{{10, 10}, {50, 50}} {
		b.Run(size.String(), func(b *testing.B) {
			sh := shapesOf(b, size, revisions)
			for b.Loop() {
				for _, qs := range sh.singles {
					if _, err := mergeVersions(qs); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
