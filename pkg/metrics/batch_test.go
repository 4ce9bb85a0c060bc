package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

// splitBatch returns the queries of a batch built by batchQuery, or false when q is not one.
func splitBatch(q string) ([]string, bool) {
	var out []string
	rest := q
	for i := 0; rest != ""; i++ {
		prefix := "label_replace(("
		if i > 0 {
			prefix = " or " + prefix
		}
		if !strings.HasPrefix(rest, prefix) {
			return nil, false
		}
		rest = rest[len(prefix):]
		suffix := "\n), \"" + batchLabel + "\", \"" + strconv.Itoa(i) + "\", \"\", \"\")"
		j := strings.Index(rest, suffix)
		if j < 0 {
			return nil, false
		}
		out = append(out, rest[:j])
		rest = rest[j+len(suffix):]
	}
	return out, len(out) > 0
}

// answer is how the fake Prometheus answers one query.
type answer struct {
	values []string // one series per value
	labels []string // when set, the label name=value of each value's series (a merged query's)
	scalar string   // a scalar result, which label_replace rejects in a batch
	bad    string   // a parse error, which fails the whole batch
}

// seenRequest is a request the fake Prometheus got.
type seenRequest struct {
	Method  string
	Time    string
	Auth    string
	Batch   bool
	Queries []string
}

// batchProm is a fake Prometheus that evaluates batches as Prometheus does: the union of
// its queries' series, each labelled with its index; a query that does not parse or is a
// scalar fails the batch with 400. fault, when set, answers request n (from 1) instead,
// unless it returns 0.
type batchProm struct {
	answer func(q string) answer
	fault  func(n int, w http.ResponseWriter, r *http.Request) bool
	// label overrides the batch label the answers carry, for a backend that does not
	// evaluate PromQL faithfully.
	label string

	mu   sync.Mutex
	seen []seenRequest
}

func (p *batchProm) serve(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parsing a request: %v", err)
		}
		q := r.Form.Get("query")
		queries, batch := splitBatch(q)
		if !batch {
			queries = []string{q}
		}
		p.mu.Lock()
		p.seen = append(p.seen, seenRequest{Method: r.Method, Time: r.Form.Get("time"), Auth: r.Header.Get("Authorization"), Batch: batch, Queries: queries})
		n := len(p.seen)
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if p.fault != nil && p.fault(n, w, r) {
			return
		}
		type series struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		result := []series{}
		for i, q := range queries {
			a := p.answer(q)
			switch {
			case a.bad != "":
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":%q}`, a.bad)
				return
			case a.scalar != "" && batch:
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"expected type instant vector in call to function \"label_replace\", got scalar"}`)
				return
			case a.scalar != "":
				fmt.Fprintf(w, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,%q]}}`, a.scalar)
				return
			}
			for k, v := range a.values {
				m := map[string]string{"s": strconv.Itoa(k)}
				if k < len(a.labels) {
					name, value, _ := strings.Cut(a.labels[k], "=")
					m[name] = value
				}
				if batch {
					label := batchLabel
					if p.label != "" {
						label = p.label
					}
					m[label] = strconv.Itoa(i)
				}
				result = append(result, series{Metric: m, Value: [2]any{1700000000, v}})
			}
		}
		b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (p *batchProm) requests() []seenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]seenRequest(nil), p.seen...)
}

// batchExperiment has the given versions and one Prometheus metric per query template,
// m0, m1, ..., all pointed at url.
func batchExperiment(url string, versions []string, templates ...string) *v2alpha1.Experiment {
	start := metav1.NewTime(batchStart)
	exp := &v2alpha1.Experiment{
		Spec:   v2alpha1.ExperimentSpec{VersionInfo: &v2alpha1.VersionInfo{}, Criteria: &v2alpha1.Criteria{}},
		Status: v2alpha1.ExperimentStatus{StartTime: &start},
	}
	for i, v := range versions {
		d := v2alpha1.VersionDetail{Name: v}
		if i == 0 {
			exp.Spec.VersionInfo.Baseline = d
		} else {
			exp.Spec.VersionInfo.Candidates = append(exp.Spec.VersionInfo.Candidates, d)
		}
	}
	for i, tmpl := range templates {
		name := fmt.Sprintf("m%d", i)
		exp.Spec.Criteria.Indicators = append(exp.Spec.Criteria.Indicators, name)
		exp.Status.Metrics = append(exp.Status.Metrics, v2alpha1.MetricInfo{Name: "ns/" + name, MetricObj: *promMetric(url, tmpl)})
	}
	return exp
}

var batchStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// batchCollector evaluates at batchStart + 100.0125 s.
func batchCollector() *Collector {
	c := testCollector(nil)
	c.Now = func() time.Time { return batchStart.Add(100*time.Second + 12500*time.Microsecond) }
	return c
}

// batchAt is the evaluation time every query of batchCollector carries, in milliseconds.
const batchAt = "1767225700.012"

// byQuery answers a query by the first key it contains.
func byQuery(answers map[string]answer) func(string) answer {
	return func(q string) answer {
		for k, a := range answers {
			if strings.Contains(q, k) {
				return a
			}
		}
		return answer{}
	}
}

func values(vs ...string) answer { return answer{values: vs} }

func TestCollectBatches(t *testing.T) {
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
	tests := []struct {
		name      string
		versions  []string
		templates []string
		answers   map[string]answer
		label     string
		want      map[string]map[string]Result
		requests  []seenRequest
	}{{
		name:      "one request, split by the label",
		versions:  []string{"a", "b"},
		templates: []string{"x{v='$name'}", "y{v='$name'}"},
		answers:   map[string]answer{q("x", "a"): values("1"), q("x", "b"): values("2"), q("y", "a"): values("3"), q("y", "b"): values("4")},
		want: map[string]map[string]Result{
			"m0": {"a": val(1, q("x", "a")), "b": val(2, q("x", "b"))},
			"m1": {"a": val(3, q("y", "a")), "b": val(4, q("y", "b"))},
		},
		requests: []seenRequest{batch(q("x", "a"), q("x", "b"), q("y", "a"), q("y", "b"))},
	}, {
		name:      "members without a single number",
		versions:  []string{"a", "b", "c", "d"},
		templates: []string{"x{v='$name'}"},
		answers:   map[string]answer{q("x", "a"): values(), q("x", "b"): values("1", "2"), q("x", "c"): values("NaN"), q("x", "d"): values("-Inf")},
		want: map[string]map[string]Result{"m0": {
			"a": {State: v2alpha1.MetricStateNoData, Reason: "empty result", Query: q("x", "a"), Attempts: 1},
			"b": {State: v2alpha1.MetricStateError, Reason: "2 series, expected 1", Query: q("x", "b"), Attempts: 1},
			"c": {State: v2alpha1.MetricStateNoData, Reason: "NaN", Query: q("x", "c"), Attempts: 1},
			"d": {State: v2alpha1.MetricStateNoData, Reason: "-Inf", Query: q("x", "d"), Attempts: 1},
		}},
		requests: []seenRequest{batch(q("x", "a"), q("x", "b"), q("x", "c"), q("x", "d"))},
	}, {
		name:      "identical queries are sent once",
		versions:  []string{"a", "b"},
		templates: []string{"x{v='$name'}", "x{v='$name'}", "y"},
		answers:   map[string]answer{q("x", "a"): values("1"), q("x", "b"): values("2"), "y": values("3")},
		want: map[string]map[string]Result{
			"m0": {"a": val(1, q("x", "a")), "b": val(2, q("x", "b"))},
			"m1": {"a": val(1, q("x", "a")), "b": val(2, q("x", "b"))},
			"m2": {"a": val(3, "y"), "b": val(3, "y")},
		},
		requests: []seenRequest{batch(q("x", "a"), q("x", "b"), "y")},
	}, {
		name:      "one distinct query goes alone",
		versions:  []string{"a", "b"},
		templates: []string{"scalar(y)"},
		answers:   map[string]answer{"y": {scalar: "5"}},
		want:      map[string]map[string]Result{"m0": {"a": val(5, "scalar(y)"), "b": val(5, "scalar(y)")}},
		requests:  []seenRequest{alone("scalar(y)")},
	}, {
		name:      "a query that does not parse: each alone",
		versions:  []string{"a", "b"},
		templates: []string{"x{v='$name'}", "y{v='$name'"},
		answers: map[string]answer{q("x", "a"): values("1"), q("x", "b"): values("2"),
			"y{v='a'": {bad: "1:9: parse error: unexpected end of input"}, "y{v='b'": {bad: "1:9: parse error: unexpected end of input"}},
		want: map[string]map[string]Result{
			"m0": {"a": val(1, q("x", "a")), "b": val(2, q("x", "b"))},
			"m1": {
				"a": {State: v2alpha1.MetricStateError, Reason: "HTTP 400: 1:9: parse error: unexpected end of input", Query: "y{v='a'", Attempts: 1},
				"b": {State: v2alpha1.MetricStateError, Reason: "HTTP 400: 1:9: parse error: unexpected end of input", Query: "y{v='b'", Attempts: 1},
			},
		},
		// The unbalanced template is never batched; the batch of the others is answered.
		requests: []seenRequest{alone("y{v='a'"), alone("y{v='b'"), batch(q("x", "a"), q("x", "b"))},
	}, {
		name:      "a member the batch cannot hold: each alone",
		versions:  []string{"a", "b"},
		templates: []string{"x{v='$name'}", "scalar(s{v='$name'})"},
		answers: map[string]answer{q("x", "a"): values("1"), q("x", "b"): {bad: "1:3: bad"},
			"scalar(s{v='a'})": {scalar: "7"}, "scalar(s{v='b'})": {scalar: "NaN"}},
		want: map[string]map[string]Result{
			"m0": {"a": val(1, q("x", "a")), "b": {State: v2alpha1.MetricStateError, Reason: "HTTP 400: 1:3: bad", Query: q("x", "b"), Attempts: 1}},
			"m1": {"a": val(7, "scalar(s{v='a'})"), "b": {State: v2alpha1.MetricStateNoData, Reason: "NaN", Query: "scalar(s{v='b'})", Attempts: 1}},
		},
		requests: []seenRequest{batch(q("x", "a"), q("x", "b"), "scalar(s{v='a'})", "scalar(s{v='b'})"),
			alone(q("x", "a")), alone(q("x", "b")), alone("scalar(s{v='a'})"), alone("scalar(s{v='b'})")},
	}, {
		name:      "series without the label: each alone",
		versions:  []string{"a", "b"},
		templates: []string{"x{v='$name'}"},
		label:     "other",
		answers:   map[string]answer{q("x", "a"): values("1"), q("x", "b"): values("2")},
		want:      map[string]map[string]Result{"m0": {"a": val(1, q("x", "a")), "b": val(2, q("x", "b"))}},
		requests:  []seenRequest{batch(q("x", "a"), q("x", "b")), alone(q("x", "a")), alone(q("x", "b"))},
	}, {
		name:      "a comment ends at the line the batch adds",
		versions:  []string{"a", "b"},
		templates: []string{"x{v='$name'} # per version"},
		answers:   map[string]answer{q("x", "a"): values("1"), q("x", "b"): values("2")},
		want: map[string]map[string]Result{"m0": {
			"a": val(1, q("x", "a")+" # per version"), "b": val(2, q("x", "b")+" # per version"),
		}},
		requests: []seenRequest{batch(q("x", "a")+" # per version", q("x", "b")+" # per version")},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &batchProm{answer: byQuery(tc.answers), label: tc.label}
			got := batchCollector().Collect(t.Context(), batchExperiment(p.serve(t), tc.versions, tc.templates...))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Collect (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.requests, p.requests(), sortRequests); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// sortRequests compares requests regardless of the order in which concurrent ones came.
var sortRequests = cmp.Transformer("sort", func(in []seenRequest) []string {
	var out []string
	for _, r := range in {
		b, _ := json.Marshal(r)
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
})

func TestCollectBatchFailures(t *testing.T) {
	writeStatus := func(code int, body string) func(int, http.ResponseWriter, *http.Request) bool {
		return func(_ int, w http.ResponseWriter, _ *http.Request) bool {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
			return true
		}
	}
	tests := []struct {
		name    string
		fault   func(n int, w http.ResponseWriter, r *http.Request) bool
		timeout int32
		// want is every member's result, but for Query.
		want Result
		// reason, when set, is a prefix of the reason, which is not compared whole.
		reason   string
		requests int
	}{{
		name:     "503 every time: retried, then every member has the error",
		fault:    writeStatus(http.StatusServiceUnavailable, "upstream connect error"),
		want:     Result{State: v2alpha1.MetricStateError, Reason: "HTTP 503 Service Unavailable: an application/json response of 22 bytes (not recorded) (after 3 attempts)", Attempts: 3},
		requests: 3,
	}, {
		name:     "Prometheus' own 500",
		fault:    writeStatus(http.StatusInternalServerError, `{"status":"error","errorType":"internal","error":"storage is on fire"}`),
		want:     Result{State: v2alpha1.MetricStateError, Reason: "HTTP 500: storage is on fire (after 3 attempts)", Attempts: 3},
		requests: 3,
	}, {
		name: "503 once, then the answer",
		fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n > 1 {
				return false
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		},
		want:     Result{State: v2alpha1.MetricStateValue, Value: 1, Attempts: 2},
		requests: 2,
	}, {
		name: "no answer within the timeout",
		fault: func(_ int, _ http.ResponseWriter, r *http.Request) bool {
			<-r.Context().Done()
			return true
		},
		timeout:  1,
		want:     Result{State: v2alpha1.MetricStateError, Reason: "context deadline exceeded (timeout of 1s reached after 1 attempt)", Attempts: 1},
		requests: 1,
	}, {
		name: "a matrix: each alone",
		fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n > 1 {
				return false
			}
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
			return true
		},
		want:     Result{State: v2alpha1.MetricStateValue, Value: 1, Attempts: 1},
		requests: 1 + 4,
	}, {
		name: "malformed JSON: each alone",
		fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
			_, _ = io.WriteString(w, `{"status":"success","data":`)
			return true
		},
		reason:   "unexpected response: an application/json response of 27 bytes (not recorded)",
		want:     Result{State: v2alpha1.MetricStateError, Attempts: 1},
		requests: 1 + 4,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &batchProm{answer: func(string) answer { return values("1") }, fault: tc.fault}
			exp := batchExperiment(p.serve(t), []string{"a", "b"}, "x{v='$name'}", "y{v='$name'}")
			if tc.timeout > 0 {
				for i := range exp.Status.Metrics {
					exp.Status.Metrics[i].MetricObj.Spec.TimeoutSeconds = ptr(tc.timeout)
				}
			}
			got := batchCollector().Collect(t.Context(), exp)
			want := map[string]map[string]Result{}
			for m, metric := range map[string]string{"m0": "x", "m1": "y"} {
				want[m] = map[string]Result{}
				for _, v := range []string{"a", "b"} {
					r := tc.want
					r.Query = metric + "{v='" + v + "'}"
					if g := got[m][v].Reason; tc.reason != "" && strings.HasPrefix(g, tc.reason) {
						r.Reason = g
					}
					want[m][v] = r
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Collect (-want +got):\n%s", diff)
			}
			if n := len(p.requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestCollectBatchRequestCount(t *testing.T) {
	tests := []struct {
		name      string
		batchSize int
		requests  int
	}{
		{name: "default", requests: 4},
		{name: "50", batchSize: 50, requests: 2},
		{name: "off", batchSize: 1, requests: 100},
	}
	versions := make([]string, 10)
	for i := range versions {
		versions[i] = fmt.Sprintf("v%d", i)
	}
	var templates []string
	for i := range 10 {
		templates = append(templates, fmt.Sprintf("m%d{v='$name'}", i))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &batchProm{answer: func(q string) answer {
				var m, v int
				if _, err := fmt.Sscanf(q, "m%d{v='v%d'}", &m, &v); err != nil {
					return answer{bad: err.Error()}
				}
				return values(strconv.Itoa(10*m + v))
			}}
			c := batchCollector()
			c.BatchSize = tc.batchSize
			got := c.Collect(t.Context(), batchExperiment(p.serve(t), versions, templates...))
			want := map[string]map[string]Result{}
			for m := range 10 {
				want[fmt.Sprintf("m%d", m)] = map[string]Result{}
				for v := range 10 {
					want[fmt.Sprintf("m%d", m)][fmt.Sprintf("v%d", v)] = Result{State: v2alpha1.MetricStateValue,
						Value: float64(10*m + v), Query: fmt.Sprintf("m%d{v='v%d'}", m, v), Attempts: 1}
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Collect (-want +got):\n%s", diff)
			}
			seen := p.requests()
			if len(seen) != tc.requests {
				t.Errorf("%d requests, want %d", len(seen), tc.requests)
			}
			for _, r := range seen {
				if r.Time != batchAt {
					t.Errorf("a request evaluated at %q, want %q: all at the collector's now", r.Time, batchAt)
				}
			}
		})
	}
}

// TestCollectBatchGroups checks that only queries with the same URL, secret,
// authentication and timeout share a request, and that a batch is authenticated and
// redacted as a lone query.
func TestCollectBatchGroups(t *testing.T) {
	const token = "s3cr3t-t0ken"
	p := &batchProm{answer: func(string) answer { return values("1") }, fault: func(_ int, w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "" && r.Form.Get("query") != "" && strings.Contains(r.Form.Get("query"), "echo") {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "refused "+r.Header.Get("Authorization"))
			return true
		}
		return false
	}}
	url := p.serve(t)
	other := (&batchProm{answer: func(string) answer { return values("2") }}).serve(t)
	exp := batchExperiment(url, []string{"a", "b"},
		"plain{v='$name'}", "plain2{v='$name'}", // m0, m1: one batch
		"slow{v='$name'}",                      // m2: another timeout
		"bearer{v='$name'}", "echo{v='$name'}", // m3, m4: the secret
		"elsewhere{v='$name'}", // m5: another Prometheus
	)
	ms := exp.Status.Metrics
	ms[2].MetricObj.Spec.TimeoutSeconds = ptr(int32(7))
	for _, i := range []int{3, 4} {
		ms[i].MetricObj.Spec.Secret = ptr("creds")
		ms[i].MetricObj.Spec.AuthType = ptr(v2alpha1.AuthTypeBearer)
	}
	ms[5].MetricObj.Spec.URLTemplate = ptr(other + "/api/v1/query")
	c := batchCollector()
	c.Secrets = func(_ context.Context, ns, name string) (*credential.Secret, error) {
		return loopbackSecret(ns, name, map[string][]byte{"token": []byte(token)}), nil
	}
	got := c.Collect(t.Context(), exp)
	for key, vs := range got {
		for v, r := range vs {
			want := v2alpha1.MetricStateValue
			if key == "m3" || key == "m4" {
				// The echo fails the batch with a transient error every member shares.
				want = v2alpha1.MetricStateError
				if wantReason := "HTTP 500 Internal Server Error: an application/json response of 27 bytes (not recorded) (after 3 attempts)"; r.Reason != wantReason {
					t.Errorf("%s/%s: reason %q, want %q", key, v, r.Reason, wantReason)
				}
			}
			if r.State != want || strings.Contains(r.Reason+r.Query, token) {
				t.Errorf("%s/%s: %s %q %q, want %s without the secret", key, v, r.State, r.Reason, r.Query, want)
			}
		}
	}
	type group struct {
		Auth    string
		Queries []string
	}
	var groups []group
	for _, r := range p.requests() {
		groups = append(groups, group{Auth: r.Auth, Queries: r.Queries})
	}
	bearer := group{Auth: "Bearer " + token, Queries: []string{"bearer{v='a'}", "bearer{v='b'}", "echo{v='a'}", "echo{v='b'}"}}
	want := []group{
		{Queries: []string{"plain{v='a'}", "plain{v='b'}", "plain2{v='a'}", "plain2{v='b'}"}},
		{Queries: []string{"slow{v='a'}", "slow{v='b'}"}},
		bearer, bearer, bearer,
	}
	if diff := cmp.Diff(want, groups, cmp.Transformer("sort", func(in []group) []string {
		var out []string
		for _, g := range in {
			b, _ := json.Marshal(g)
			out = append(out, string(b))
		}
		slices.Sort(out)
		return out
	})); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestCollectBatchCanceled(t *testing.T) {
	p := &batchProm{answer: func(string) answer { return values("1") }}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got := batchCollector().Collect(ctx, batchExperiment(p.serve(t), []string{"a", "b"}, "x{v='$name'}", "y{v='$name'}"))
	for key, vs := range got {
		for v, r := range vs {
			if r.State != v2alpha1.MetricStateError || !strings.HasPrefix(r.Reason, "not queried: ") {
				t.Errorf("%s/%s: %s %q, want not queried", key, v, r.State, r.Reason)
			}
		}
	}
	if n := len(p.requests()); n != 0 {
		t.Errorf("%d requests after the context ended, want 0", n)
	}
}

func TestBatchable(t *testing.T) {
	tests := []struct {
		query string
		want  bool
	}{
		{query: `sum(rate(x{a="b"}[5m])) by (le)`, want: true},
		{query: `x{a=')'} # a comment with a ( paren`, want: true},
		{query: "x{a=`(`}", want: true},
		{query: `x{a="\")"}`, want: true},
		{query: `scalar(x)`, want: true},
		{query: `a) or (b`, want: false},
		{query: `x{a="b`, want: false},
		{query: `(x]`, want: false},
		{query: `label_replace(x, "__iter8_q", "9", "", "")`, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			if got := batchable(promMetric("", tc.query)); got != tc.want {
				t.Errorf("batchable(%q) = %v, want %v", tc.query, got, tc.want)
			}
		})
	}
}

// TestCollectBatchSecretErrors checks that a metric whose secret cannot be used gets, for
// every version, the error a lone query gets, and sends nothing.
func TestCollectBatchSecretErrors(t *testing.T) {
	tests := []struct {
		name    string
		secrets map[string]map[string][]byte
		mod     func(*v2alpha1.MetricSpec)
		reason  string
	}{{
		name:    "missing secret",
		secrets: map[string]map[string][]byte{},
		mod:     func(s *v2alpha1.MetricSpec) { s.Secret = ptr("creds") },
		reason:  `reading secret iter8-system/creds: secrets "creds" not found`,
	}, {
		name:    "no token for Bearer",
		secrets: map[string]map[string][]byte{"iter8-system/creds": {"user": []byte("someone")}},
		mod: func(s *v2alpha1.MetricSpec) {
			s.Secret = ptr("creds")
			s.AuthType = ptr(v2alpha1.AuthTypeBearer)
		},
		reason: "authType Bearer needs token in the secret",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &batchProm{answer: func(string) answer { return values("1") }}
			exp := batchExperiment(p.serve(t), []string{"a", "b"}, "x{v='$name'}", "y{v='$name'}")
			for i := range exp.Status.Metrics {
				tc.mod(&exp.Status.Metrics[i].MetricObj.Spec)
			}
			c := testCollector(tc.secrets)
			c.Now = batchCollector().Now
			got := c.Collect(t.Context(), exp)
			want := map[string]map[string]Result{}
			for m, metric := range map[string]string{"m0": "x", "m1": "y"} {
				want[m] = map[string]Result{}
				for _, v := range []string{"a", "b"} {
					want[m][v] = Result{State: v2alpha1.MetricStateError, Reason: tc.reason, Query: metric + "{v='" + v + "'}"}
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Collect (-want +got):\n%s", diff)
			}
			if n := len(p.requests()); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
		})
	}
}
