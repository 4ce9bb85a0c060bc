package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// hugeAnswer serves a JSON document of 64 MiB, written as it goes, as a backend (or a host
// that is not one) might.
func hugeAnswer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, `{"status":"success","value":1,"pad":"`)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1024 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = fmt.Fprint(w, `"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestResponsesAreBounded: an answer larger than maxResponseBytes is an error, not
// retried, whether from Prometheus or another REST backend, with the default client and
// with a given one.
func TestResponsesAreBounded(t *testing.T) {
	srv := hugeAnswer(t)
	want := Result{State: v2alpha1.MetricStateError, Reason: "the response is larger than 4194304 bytes", Attempts: 1}
	for name, m := range map[string]*v2alpha1.Metric{
		"prometheus": promMetric(srv.URL+"/api/v1/query", "up"),
		"rest":       restMetric(srv.URL, nil),
	} {
		for _, client := range []*http.Client{nil, {}} {
			c := testCollector(nil)
			c.HTTPClient = client
			got := c.query(t.Context(), m, testArgs, time.Time{})
			got.Query = ""
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s, client %v (-want +got):\n%s", name, client, diff)
			}
		}
	}
}

// TestPrometheusReasonsHoldNoResponseContent: what a host that is not Prometheus answers
// is described, never quoted, so that a metric cannot copy it into the status; Prometheus'
// own error messages are kept.
func TestPrometheusReasonsHoldNoResponseContent(t *testing.T) {
	const secret = "internal-s3cr3t"
	page := "<html><body><p>" + secret + "</p></body></html>"
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		want                    string
	}{
		{"an HTML page at 404", "text/html", page, 404, "HTTP 404 Not Found: a text/html response of 48 bytes (not recorded)"},
		{"a JSON error that is not Prometheus'", "application/json", `{"error": "` + secret + `"}`, 403, "HTTP 403 Forbidden: an application/json response of 28 bytes (not recorded)"},
		{"another API's JSON at 200", "application/json", `{"status": "ok", "token": "` + secret + `"}`, 200, "unexpected response: an application/json response of 44 bytes (not recorded)"},
		{"text at 200", "text/plain", secret, 200, "unexpected response: a text/plain response of 15 bytes (not recorded)"},
		{"Prometheus' own error", "application/json", `{"status":"error","errorType":"bad_data","error":"1:5: parse error"}`, 400, "HTTP 400: 1:5: parse error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				_, _ = fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			got := testCollector(nil).query(t.Context(), promMetric(srv.URL, "up"), testArgs, time.Time{})
			if diff := cmp.Diff(tc.want, got.Reason); diff != "" {
				t.Errorf("reason (-want +got):\n%s", diff)
			}
			if strings.Contains(got.Reason, secret) {
				t.Errorf("the reason quotes the response: %q", got.Reason)
			}
		})
	}
}

// TestJQIsBounded: an expression that would run for long, and take memory as it goes,
// stops at maxJQTime with an error that says so.
func TestJQIsBounded(t *testing.T) {
	srv, _ := backend(t, ok(`{"value": 1}`))
	for _, expr := range []string{"[range(1e9)] | length", "last(range(1e12))", "[repeat(.)] | length", "def f: f; f"} {
		m := restMetric(srv.URL, func(s *v2alpha1.MetricSpec) { s.JQExpression = ptr(expr) })
		start := time.Now()
		got := testCollector(nil).query(t.Context(), m, testArgs, time.Time{})
		want := Result{State: v2alpha1.MetricStateError, Reason: "jq: the expression ran for longer than 250ms", Attempts: 1}
		if diff := cmp.Diff(want, got, ignoreQuery); diff != "" {
			t.Errorf("%s (-want +got):\n%s", expr, diff)
		}
		t.Logf("%s: stopped after %s", expr, time.Since(start))
	}
}
