package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// fakePrometheus answers /api/v1/query with the status and bodies given, one per request
// (the last one repeats), and records the path and the query param of each request.
func fakePrometheus(t *testing.T, status int, bodies ...string) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		q := form.Get("query")
		if q == "" {
			q = r.URL.Query().Get("query")
		}
		mu.Lock()
		n := len(seen)
		seen = append(seen, r.URL.Path+" "+q)
		mu.Unlock()
		body := bodies[min(n, len(bodies)-1)]
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(body, "HTTP ") {
			// "HTTP 503 text" answers that status for this request only.
			var code int
			var text string
			code = map[string]int{"500": 500, "503": 503, "400": 400}[body[5:8]]
			text = body[9:]
			w.WriteHeader(code)
			_, _ = io.WriteString(w, text)
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func promMetric(u string, query string) *v2alpha1.Metric {
	m := &v2alpha1.Metric{Spec: v2alpha1.MetricSpec{
		Provider:     ptr("prometheus"),
		JQExpression: ptr(".data.result[0].value[1] | tonumber"),
		Params:       []v2alpha1.NamedValue{{Name: "query", Value: query}},
	}}
	if u != "" {
		m.Spec.URLTemplate = ptr(u)
	}
	return m
}

func vector(values ...string) string {
	var items []string
	for i, v := range values {
		items = append(items, `{"metric":{"i":"`+string(rune('a'+i))+`"},"value":[1700000000.5,"`+v+`"]}`)
	}
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(items, ",") + `]}}`
}

func TestPrometheusResults(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		bodies  []string
		want    Result
		reason  string // a substring of the reason, when not exact
		queries int
	}{
		{name: "one sample", status: 200, bodies: []string{vector("12.5")},
			want: Result{State: v2alpha1.MetricStateValue, Value: 12.5, Attempts: 1}, queries: 1},
		{name: "empty vector", status: 200, bodies: []string{vector()},
			want: Result{State: v2alpha1.MetricStateNoData, Reason: "empty result", Attempts: 1}, queries: 1},
		{name: "empty vector with warnings", status: 200,
			bodies: []string{`{"status":"success","warnings":["partial data"],"data":{"resultType":"vector","result":[]}}`},
			want:   Result{State: v2alpha1.MetricStateNoData, Reason: "empty result; warnings: partial data", Attempts: 1}, queries: 1},
		{name: "two series", status: 200, bodies: []string{vector("1", "2")},
			want: Result{State: v2alpha1.MetricStateError, Reason: "2 series, expected 1", Attempts: 1}, queries: 1},
		{name: "scalar", status: 200, bodies: []string{`{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}`},
			want: Result{State: v2alpha1.MetricStateValue, Value: 3, Attempts: 1}, queries: 1},
		{name: "matrix", status: 200, bodies: []string{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"1"]]}]}}`},
			want: Result{State: v2alpha1.MetricStateError, Reason: "result of type matrix, expected a vector or a scalar", Attempts: 1}, queries: 1},
		{name: "string", status: 200, bodies: []string{`{"status":"success","data":{"resultType":"string","result":[1700000000,"x"]}}`},
			reason: "unexpected response: an application/json response of 77 bytes (not recorded)", want: Result{State: v2alpha1.MetricStateError, Attempts: 1}, queries: 1},
		{name: "NaN", status: 200, bodies: []string{vector("NaN")},
			want: Result{State: v2alpha1.MetricStateNoData, Reason: "NaN", Attempts: 1}, queries: 1},
		{name: "+Inf", status: 200, bodies: []string{vector("+Inf")},
			want: Result{State: v2alpha1.MetricStateNoData, Reason: "+Inf", Attempts: 1}, queries: 1},
		{name: "-Inf scalar", status: 200, bodies: []string{`{"status":"success","data":{"resultType":"scalar","result":[1700000000,"-Inf"]}}`},
			want: Result{State: v2alpha1.MetricStateNoData, Reason: "-Inf", Attempts: 1}, queries: 1},
		{name: "503 then a sample", status: 200, bodies: []string{"HTTP 503 Service Unavailable", vector("4")},
			want: Result{State: v2alpha1.MetricStateValue, Value: 4, Attempts: 2}, queries: 2},
		{name: "503 with Prometheus' JSON error, every time", status: 503,
			bodies: []string{`{"status":"error","errorType":"unavailable","error":"too many queries"}`},
			want:   Result{State: v2alpha1.MetricStateError, Reason: "HTTP 503: too many queries (after 3 attempts)", Attempts: 3}, queries: 3},
		{name: "500 text, every time", status: 200, bodies: []string{"HTTP 500 oops"},
			want: Result{State: v2alpha1.MetricStateError, Reason: "HTTP 500 Internal Server Error: an application/json response of 4 bytes (not recorded) (after 3 attempts)", Attempts: 3}, queries: 3},
		{name: "bad query is not retried", status: 400,
			bodies: []string{`{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`},
			want:   Result{State: v2alpha1.MetricStateError, Reason: "HTTP 400: 1:5: parse error: unexpected end of input", Attempts: 1}, queries: 1},
		{name: "malformed JSON", status: 200, bodies: []string{`{"status":"success","data":`},
			reason: "unexpected response: an application/json response of 27 bytes (not recorded)", want: Result{State: v2alpha1.MetricStateError, Attempts: 1}, queries: 1},
		{name: "malformed data", status: 200, bodies: []string{`{"status":"success","data":{"resultType":"vector","result":[{"value":"x"}]}}`},
			reason: "unexpected response: an application/json response of 76 bytes (not recorded)", want: Result{State: v2alpha1.MetricStateError, Attempts: 1}, queries: 1},
	}
	const query = `sum(x{revision_name='$revision'}[${elapsedTime}s])`
	const sent = `sum(x{revision_name='sample-app-v1'}[60s])`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := fakePrometheus(t, tc.status, tc.bodies...)
			got := testCollector(nil).query(t.Context(), promMetric(srv.URL+"/api/v1/query", query), testArgs, time.Time{})
			want := tc.want
			want.Query = sent
			if tc.reason != "" {
				if !strings.HasPrefix(got.Reason, tc.reason) {
					t.Errorf("reason %q, want it to start with %q", got.Reason, tc.reason)
				}
				want.Reason = got.Reason
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			var wantSeen []string
			for range tc.queries {
				wantSeen = append(wantSeen, "/api/v1/query "+sent)
			}
			if diff := cmp.Diff(wantSeen, seen()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrometheusURL(t *testing.T) {
	srv, seen := fakePrometheus(t, 200, vector("1"))
	tests := []struct {
		name, urlTemplate, configured string
		want                          v2alpha1.MetricState
		reason                        string
	}{
		{name: "urlTemplate with the query path", urlTemplate: srv.URL + "/api/v1/query", want: v2alpha1.MetricStateValue},
		{name: "urlTemplate with a trailing slash", urlTemplate: srv.URL + "/api/v1/query/", want: v2alpha1.MetricStateValue},
		{name: "urlTemplate as a base URL", urlTemplate: srv.URL, want: v2alpha1.MetricStateValue},
		{name: "configured URL", configured: srv.URL + "/", want: v2alpha1.MetricStateValue},
		{name: "urlTemplate wins", urlTemplate: srv.URL, configured: "http://127.0.0.1:1", want: v2alpha1.MetricStateValue},
		{name: "none", want: v2alpha1.MetricStateError, reason: "no Prometheus URL: the metric has no urlTemplate and none is configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(seen())
			c := testCollector(nil)
			c.PrometheusURL = tc.configured
			got := c.query(t.Context(), promMetric(tc.urlTemplate, "up"), testArgs, time.Time{})
			if got.State != tc.want || got.Reason != tc.reason {
				t.Errorf("got %s %q, want %s %q", got.State, got.Reason, tc.want, tc.reason)
			}
			if tc.want == v2alpha1.MetricStateValue && len(seen()) != before+1 {
				t.Errorf("the fake Prometheus saw %d new requests, want 1", len(seen())-before)
			}
		})
	}
}

func TestPrometheusNoQueryParam(t *testing.T) {
	m := promMetric("http://127.0.0.1:1", "")
	m.Spec.Params = nil
	got := testCollector(nil).query(t.Context(), m, testArgs, time.Time{})
	if got.State != v2alpha1.MetricStateError || got.Reason != "a prometheus metric needs the param query" || got.Attempts != 0 {
		t.Errorf("got %+v, want an Error about the missing param", got)
	}
}

func TestPrometheusHostileVariableIsEscaped(t *testing.T) {
	srv, seen := fakePrometheus(t, 200, vector("1"))
	args := map[string]string{"revision": `v1'} or vector(1) or x{a='`, "elapsedTime": "5"}
	got := testCollector(nil).query(t.Context(), promMetric(srv.URL, `sum(x{revision_name='$revision'})`), args, time.Time{})
	want := `sum(x{revision_name='v1\x27} or vector(1) or x{a=\x27'})`
	if diff := cmp.Diff(want, got.Query); diff != "" {
		t.Errorf("Query (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/api/v1/query " + want}, seen()); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}
