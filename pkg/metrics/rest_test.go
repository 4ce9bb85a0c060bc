package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

func ptr[T any](v T) *T { return &v }

// testCollector retries quickly so that the tests stay fast. Its secrets may be sent to
// the loopback servers of the tests.
func testCollector(secrets map[string]map[string][]byte) *Collector {
	// NoMerge: the fakes answer a version's query by its text and evaluate no PromQL.
	// Merging has tests of its own (merge_test.go, and against a real Prometheus).
	c := &Collector{Retry: Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Attempts: 3}, NoMerge: true}
	if secrets != nil {
		c.Secrets = func(_ context.Context, ns, name string) (*credential.Secret, error) {
			s, ok := secrets[ns+"/"+name]
			if !ok {
				return nil, fmt.Errorf("secrets %q not found", name)
			}
			return loopbackSecret(ns, name, s), nil
		}
	}
	return c
}

// loopbackSecret is a Secret that may be sent to 127.0.0.1, where the tests' servers are.
func loopbackSecret(ns, name string, data map[string][]byte) *credential.Secret {
	s := &credential.Secret{Namespace: ns, Name: name, Data: map[string]string{},
		Annotations: map[string]string{credential.AllowedHostsAnnotation: "127.0.0.1"}}
	for k, v := range data {
		s.Data[k] = string(v)
	}
	return s
}

func restMetric(url string, mod func(*v2alpha1.MetricSpec)) *v2alpha1.Metric {
	m := &v2alpha1.Metric{Spec: v2alpha1.MetricSpec{
		URLTemplate:  ptr(url),
		JQExpression: ptr(".value"),
		Params:       []v2alpha1.NamedValue{{Name: "q", Value: "rev=$revision t=${elapsedTime}"}},
	}}
	if mod != nil {
		mod(&m.Spec)
	}
	return m
}

var testArgs = map[string]string{"name": "v1", "revision": "sample-app-v1", "elapsedTime": "60", "interval": "60s"}

// request is what the fake backend saw.
type request struct {
	Method, Path, Query, Body, Auth, Key, ContentType string
}

// backend answers with the status and body that respond returns for the n-th request
// (from 1), after recording the request.
func backend(t *testing.T, respond func(n int, r request) (int, string)) (*httptest.Server, *[]request) {
	t.Helper()
	var seen []request
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query().Get("q"), Body: string(b),
			Auth: r.Header.Get("Authorization"), Key: r.Header.Get("X-Key"), ContentType: r.Header.Get("Content-Type")}
		seen = append(seen, req)
		code, body := respond(int(n.Add(1)), req)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func ok(body string) func(int, request) (int, string) {
	return func(int, request) (int, string) { return 200, body }
}

var ignoreQuery = cmpopts.IgnoreFields(Result{}, "Query")

func TestRESTSuccess(t *testing.T) {
	secrets := map[string]map[string][]byte{
		"iter8-system/basic":  {"username": []byte("alice"), "password": []byte("pw")},
		"iter8-system/bearer": {"token": []byte("tok")},
		"iter8-system/key":    {"key": []byte("k-123"), "path": []byte("api")},
	}
	tests := []struct {
		name    string
		mod     func(*v2alpha1.MetricSpec)
		respond func(int, request) (int, string)
		want    Result
		wantReq request
	}{{
		name:    "GET with templated params",
		respond: ok(`{"value": 42.5}`),
		want:    Result{State: v2alpha1.MetricStateValue, Value: 42.5, Attempts: 1},
		wantReq: request{Method: "GET", Path: "/", Query: "rev=sample-app-v1 t=60"},
	}, {
		name: "POST with a templated JSON body",
		mod: func(s *v2alpha1.MetricSpec) {
			s.Method = ptr(v2alpha1.POSTMethodType)
			s.Body = ptr(`{"rev": "$revision", "since": ${elapsedTime}}`)
			s.Params = nil
		},
		respond: ok(`{"value": 7}`),
		want:    Result{State: v2alpha1.MetricStateValue, Value: 7, Attempts: 1},
		wantReq: request{Method: "POST", Path: "/", Body: `{"rev": "sample-app-v1", "since": 60}`, ContentType: "application/json"},
	}, {
		name: "Basic auth",
		mod: func(s *v2alpha1.MetricSpec) {
			s.AuthType = ptr(v2alpha1.AuthTypeBasic)
			s.Secret = ptr("basic")
		},
		respond: ok(`{"value": 1}`),
		want:    Result{State: v2alpha1.MetricStateValue, Value: 1, Attempts: 1},
		wantReq: request{Method: "GET", Path: "/", Query: "rev=sample-app-v1 t=60", Auth: "Basic YWxpY2U6cHc="},
	}, {
		name: "Bearer auth with a secret in the experiment's namespace",
		mod: func(s *v2alpha1.MetricSpec) {
			s.AuthType = ptr(v2alpha1.AuthTypeBearer)
			s.Secret = ptr("iter8-system/bearer")
		},
		respond: ok(`{"value": 2}`),
		want:    Result{State: v2alpha1.MetricStateValue, Value: 2, Attempts: 1},
		wantReq: request{Method: "GET", Path: "/", Query: "rev=sample-app-v1 t=60", Auth: "Bearer tok"},
	}, {
		name: "APIKey: header templated from the secret",
		mod: func(s *v2alpha1.MetricSpec) {
			s.AuthType = ptr(v2alpha1.AuthTypeAPIKey)
			s.Secret = ptr("key")
			s.HeaderTemplates = []v2alpha1.NamedValue{{Name: "X-Key", Value: "$key"}}
			s.URLTemplate = ptr(*s.URLTemplate + "/api/v1")
		},
		respond: ok(`{"value": 3}`),
		want:    Result{State: v2alpha1.MetricStateValue, Value: 3, Attempts: 1},
		wantReq: request{Method: "GET", Path: "/api/v1", Query: "rev=sample-app-v1 t=60", Key: "k-123"},
	}, {
		name: "header templates are not substituted without authType",
		mod: func(s *v2alpha1.MetricSpec) {
			s.HeaderTemplates = []v2alpha1.NamedValue{{Name: "X-Key", Value: "$key"}}
		},
		respond: ok(`{"value": 3}`),
		want:    Result{State: v2alpha1.MetricStateValue, Value: 3, Attempts: 1},
		wantReq: request{Method: "GET", Path: "/", Query: "rev=sample-app-v1 t=60", Key: "$key"},
	}, {
		name:    "numeric string",
		respond: ok(`{"value": " 3.25 "}`),
		want:    Result{State: v2alpha1.MetricStateValue, Value: 3.25, Attempts: 1},
	}, {
		name:    "integer from jq",
		mod:     func(s *v2alpha1.MetricSpec) { s.JQExpression = ptr(".items | length") },
		respond: ok(`{"items": [1, 2, 3]}`),
		want:    Result{State: v2alpha1.MetricStateValue, Value: 3, Attempts: 1},
	}, {
		name:    "first of several outputs",
		mod:     func(s *v2alpha1.MetricSpec) { s.JQExpression = ptr(".results[0] | .[] | tonumber") },
		respond: ok(`{"results": [{"a": "5", "b": "6"}]}`),
		want:    Result{State: v2alpha1.MetricStateValue, Value: 5, Attempts: 1},
	}, {
		name:    "the Prometheus form through jq",
		mod:     func(s *v2alpha1.MetricSpec) { s.JQExpression = ptr(".data.result[0].value[1] | tonumber") },
		respond: ok(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.5"]}]}}`),
		want:    Result{State: v2alpha1.MetricStateValue, Value: 0.5, Attempts: 1},
	}, {
		name:    "null is no data",
		respond: ok(`{"value": null}`),
		want:    Result{State: v2alpha1.MetricStateNoData, Reason: "null", Attempts: 1},
	}, {
		name:    "missing field is no data",
		respond: ok(`{}`),
		want:    Result{State: v2alpha1.MetricStateNoData, Reason: "null", Attempts: 1},
	}, {
		name:    "no output is no data",
		mod:     func(s *v2alpha1.MetricSpec) { s.JQExpression = ptr(".values[]") },
		respond: ok(`{"values": []}`),
		want:    Result{State: v2alpha1.MetricStateNoData, Reason: "jq produced no output", Attempts: 1},
	}, {
		name:    "NaN is no data",
		respond: ok(`{"value": "NaN"}`),
		want:    Result{State: v2alpha1.MetricStateNoData, Reason: "NaN", Attempts: 1},
	}, {
		name:    "+Inf is no data",
		respond: ok(`{"value": "+Inf"}`),
		want:    Result{State: v2alpha1.MetricStateNoData, Reason: "+Inf", Attempts: 1},
	}, {
		name: "503 then a value",
		respond: func(n int, _ request) (int, string) {
			if n == 1 {
				return 503, "overloaded"
			}
			return 200, `{"value": 9}`
		},
		want: Result{State: v2alpha1.MetricStateValue, Value: 9, Attempts: 2},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := backend(t, tc.respond)
			c := testCollector(secrets)
			got := c.query(t.Context(), restMetric(srv.URL, tc.mod), testArgs, time.Time{})
			if diff := cmp.Diff(tc.want, got, ignoreQuery); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if tc.wantReq != (request{}) {
				if diff := cmp.Diff([]request{tc.wantReq}, *seen); diff != "" {
					t.Errorf("requests (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRESTQueryIsRecorded(t *testing.T) {
	srv, _ := backend(t, ok(`{"value": 1}`))
	m := restMetric(srv.URL+"/q", func(s *v2alpha1.MetricSpec) {
		s.Method = ptr(v2alpha1.POSTMethodType)
		s.Body = ptr(`{"r": "$revision"}`)
	})
	got := testCollector(nil).query(t.Context(), m, testArgs, time.Time{})
	want := "POST " + srv.URL + `/q?q=rev%3Dsample-app-v1+t%3D60 {"r": "sample-app-v1"}`
	if diff := cmp.Diff(want, got.Query); diff != "" {
		t.Errorf("Query (-want +got):\n%s", diff)
	}
}

func TestRESTFailure(t *testing.T) {
	secrets := map[string]map[string][]byte{"iter8-system/partial": {"username": []byte("alice")}}
	tests := []struct {
		name         string
		mod          func(*v2alpha1.MetricSpec)
		respond      func(int, request) (int, string)
		wantState    v2alpha1.MetricState
		wantReason   string // a substring
		wantAttempts int
		wantRequests int
	}{{
		name:      "HTTP 500 is retried, then an error",
		respond:   func(int, request) (int, string) { return 500, "boom" },
		wantState: v2alpha1.MetricStateError, wantReason: "HTTP 500 Internal Server Error: a text/plain response of 4 bytes (not recorded); expected a 2xx JSON response (after 3 attempts)", wantAttempts: 3, wantRequests: 3,
	}, {
		name:      "HTTP 503 is retried",
		respond:   func(int, request) (int, string) { return 503, "unavailable" },
		wantState: v2alpha1.MetricStateError, wantReason: "HTTP 503 Service Unavailable: a text/plain response of 11 bytes (not recorded); expected a 2xx JSON response", wantAttempts: 3, wantRequests: 3,
	}, {
		name:      "HTTP 404 is not retried",
		respond:   func(int, request) (int, string) { return 404, "no such thing" },
		wantState: v2alpha1.MetricStateError, wantReason: "HTTP 404 Not Found: a text/plain response of 13 bytes (not recorded); expected a 2xx JSON response", wantAttempts: 1, wantRequests: 1,
	}, {
		name:      "malformed JSON",
		respond:   ok(`{"value": 1`),
		wantState: v2alpha1.MetricStateError, wantReason: "the response is not JSON", wantAttempts: 1, wantRequests: 1,
	}, {
		name:      "object",
		respond:   ok(`{"value": {"a": 1}}`),
		wantState: v2alpha1.MetricStateError, wantReason: "jq result of type object is not a number", wantAttempts: 1, wantRequests: 1,
	}, {
		name:      "boolean",
		respond:   ok(`{"value": true}`),
		wantState: v2alpha1.MetricStateError, wantReason: "jq result of type boolean is not a number", wantAttempts: 1, wantRequests: 1,
	}, {
		name:      "non-numeric string",
		respond:   ok(`{"value": "fast"}`),
		wantState: v2alpha1.MetricStateError, wantReason: "jq result is a string of 4 bytes that is not a number", wantAttempts: 1, wantRequests: 1,
	}, {
		name:      "jq runtime error",
		mod:       func(s *v2alpha1.MetricSpec) { s.JQExpression = ptr(".value | tonumber") },
		respond:   ok(`{"value": "abc"}`),
		wantState: v2alpha1.MetricStateError, wantReason: "jq: ", wantAttempts: 1, wantRequests: 1,
	}, {
		name:      "jq syntax error",
		mod:       func(s *v2alpha1.MetricSpec) { s.JQExpression = ptr(".value |") },
		respond:   ok(`{}`),
		wantState: v2alpha1.MetricStateError, wantReason: `jqExpression ".value |"`, wantAttempts: 0, wantRequests: 0,
	}, {
		name:      "jq cannot read the environment",
		mod:       func(s *v2alpha1.MetricSpec) { s.JQExpression = ptr("env.HOME") },
		respond:   ok(`{}`),
		wantState: v2alpha1.MetricStateNoData, wantReason: "null", wantAttempts: 1, wantRequests: 1,
	}, {
		name:      "no jqExpression",
		mod:       func(s *v2alpha1.MetricSpec) { s.JQExpression = nil },
		respond:   ok(`{}`),
		wantState: v2alpha1.MetricStateError, wantReason: "no jqExpression", wantRequests: 0,
	}, {
		name: "no secret reader",
		mod: func(s *v2alpha1.MetricSpec) {
			s.AuthType = ptr(v2alpha1.AuthTypeBearer)
			s.Secret = ptr("missing")
		},
		respond:   ok(`{}`),
		wantState: v2alpha1.MetricStateError, wantReason: "reading secret iter8-system/missing", wantRequests: 0,
	}, {
		name: "Basic without password",
		mod: func(s *v2alpha1.MetricSpec) {
			s.AuthType = ptr(v2alpha1.AuthTypeBasic)
			s.Secret = ptr("partial")
		},
		respond:   ok(`{}`),
		wantState: v2alpha1.MetricStateError, wantReason: "authType Basic needs username and password", wantRequests: 0,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := backend(t, tc.respond)
			got := testCollector(secrets).query(t.Context(), restMetric(srv.URL, tc.mod), testArgs, time.Time{})
			if got.State != tc.wantState || !strings.Contains(got.Reason, tc.wantReason) {
				t.Errorf("got %s %q, want %s with %q", got.State, got.Reason, tc.wantState, tc.wantReason)
			}
			if got.Attempts != tc.wantAttempts {
				t.Errorf("attempts: got %d, want %d", got.Attempts, tc.wantAttempts)
			}
			if len(*seen) != tc.wantRequests {
				t.Errorf("requests: got %d, want %d", len(*seen), tc.wantRequests)
			}
		})
	}
}

func TestRESTSlowServerStopsAtTheTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	m := restMetric(srv.URL, func(s *v2alpha1.MetricSpec) { s.TimeoutSeconds = ptr(int32(1)) })
	start := time.Now()
	got := testCollector(nil).query(t.Context(), m, testArgs, time.Time{})
	took := time.Since(start)
	if got.State != v2alpha1.MetricStateError || !strings.Contains(got.Reason, "deadline exceeded") {
		t.Errorf("got %s %q, want an Error about the deadline", got.State, got.Reason)
	}
	if took < 900*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("the query took %v, want the metric's timeout of 1s", took)
	}
}

// TestTimeoutKeepsTheEarlierError: when the timeout cuts a retry short, the reason still
// says what the backend answered before (a loaded backend that fails, then stalls).
func TestTimeoutKeepsTheEarlierError(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "busy")
			return
		}
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := testCollector(nil)
	c.Retry = Backoff{Initial: 50 * time.Millisecond, Attempts: 5}
	m := restMetric(srv.URL, func(s *v2alpha1.MetricSpec) { s.TimeoutSeconds = ptr(int32(1)) })
	got := c.query(t.Context(), m, testArgs, time.Time{})
	want := "(timeout of 1s reached after 2 attempts; the attempt before: HTTP 503 Service Unavailable: a text/plain response of 4 bytes (not recorded); expected a 2xx JSON response)"
	if got.State != v2alpha1.MetricStateError || got.Attempts != 2 || !strings.Contains(got.Reason, "deadline exceeded") || !strings.HasSuffix(got.Reason, want) {
		t.Errorf("got %s after %d attempts, %q; want an Error after 2 attempts ending %q", got.State, got.Attempts, got.Reason, want)
	}
}

func TestRESTConnectionErrorIsRetried(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	got := testCollector(nil).query(t.Context(), restMetric(url, nil), testArgs, time.Time{})
	if got.State != v2alpha1.MetricStateError || got.Attempts != 3 || !strings.Contains(got.Reason, "connection refused") {
		t.Errorf("got %+v, want an Error about the refused connection after 3 attempts", got)
	}
}

// hostileSecret is a secret value that also looks like query syntax and URL syntax.
const hostileSecret = `s3cr3t'"}{$name\/?#&=%0a`

func TestSecretsNeverInResults(t *testing.T) {
	secret := map[string][]byte{
		"token":    []byte(hostileSecret),
		"username": []byte("user-" + hostileSecret),
		"password": []byte("pw-" + hostileSecret),
		"host":     []byte("127.0.0.1:1"),
		"path":     []byte("p-" + hostileSecret),
	}
	secrets := map[string]map[string][]byte{"iter8-system/s": secret}
	// The backend echoes the credentials it got, as a careless error page might.
	echo := func(status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			u, p, _ := r.BasicAuth()
			_ = json.NewEncoder(w).Encode(map[string]string{"value": strings.Join([]string{r.Header.Get("Authorization"), r.Header.Get("X-Key"), u, p, r.URL.Path}, " ")})
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	bad, good := echo(500), echo(200)
	cases := map[string]*v2alpha1.Metric{
		"bearer echoed in an HTTP error": restMetric(bad.URL+"/x", func(s *v2alpha1.MetricSpec) {
			s.AuthType, s.Secret = ptr(v2alpha1.AuthTypeBearer), ptr("s")
		}),
		"basic echoed as a non-number": restMetric(good.URL+"/x", func(s *v2alpha1.MetricSpec) {
			s.AuthType, s.Secret = ptr(v2alpha1.AuthTypeBasic), ptr("s")
		}),
		"api key echoed": restMetric(good.URL+"/x", func(s *v2alpha1.MetricSpec) {
			s.AuthType, s.Secret = ptr(v2alpha1.AuthTypeAPIKey), ptr("s")
			s.HeaderTemplates = []v2alpha1.NamedValue{{Name: "X-Key", Value: "k $token"}}
		}),
		"secret in an unreachable URL": restMetric("http://$host/$path", func(s *v2alpha1.MetricSpec) {
			s.AuthType, s.Secret = ptr(v2alpha1.AuthTypeAPIKey), ptr("s")
		}),
		"secret in a Prometheus URL": {Spec: v2alpha1.MetricSpec{
			Provider: ptr("prometheus"), URLTemplate: ptr("http://$host/$path/api/v1/query"), Secret: ptr("s"),
			AuthType: ptr(v2alpha1.AuthTypeBearer), Params: []v2alpha1.NamedValue{{Name: "query", Value: "up"}},
		}},
		"bearer to a Prometheus that echoes": {Spec: v2alpha1.MetricSpec{
			Provider: ptr("prometheus"), URLTemplate: ptr(bad.URL), Secret: ptr("s"),
			AuthType: ptr(v2alpha1.AuthTypeBearer), Params: []v2alpha1.NamedValue{{Name: "query", Value: "up"}},
		}},
		"header with a line break": restMetric(good.URL, func(s *v2alpha1.MetricSpec) {
			s.AuthType, s.Secret = ptr(v2alpha1.AuthTypeAPIKey), ptr("s")
			s.HeaderTemplates = []v2alpha1.NamedValue{{Name: "X-Key", Value: "$token\n$token"}}
		}),
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			got := testCollector(secrets).query(t.Context(), m, testArgs, time.Time{})
			if got.State == v2alpha1.MetricStateValue {
				t.Errorf("got a value %v, want NoData or Error", got.Value)
			}
			b, _ := json.Marshal(got)
			for _, v := range []string{hostileSecret, "s3cr3t", "dXNlci1zM2NyM3"} {
				if strings.Contains(string(b), v) {
					t.Errorf("the result holds a secret (%q): %s", v, b)
				}
			}
			t.Logf("%s", b)
		})
	}
}

func FuzzJQExtract(f *testing.F) {
	for _, s := range []struct{ expr, doc string }{
		{".value", `{"value": 1.5}`},
		{".data.result[0].value[1] | tonumber", `{"data":{"result":[{"value":[1,"2"]}]}}`},
		{".results[0] | .[] | tonumber", `{"results":[{"a":"NaN"}]}`},
		{".value", `{"value": "+Inf"}`},
		{".value", `{"value": null}`},
		{".[]", `[]`},
		{"error(\"x\")", `{}`},
		{"halt", `1`},
		{".a | tonumber", `{"a": "1e400"}`},
		{"1e1000", `0`},
		{"[.[] | . * 2]", `[1, 2]`},
	} {
		f.Add(s.expr, []byte(s.doc))
	}
	f.Fuzz(func(t *testing.T, expr string, doc []byte) {
		code, err := compileJQ(expr)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		r := extract(ctx, code, doc, redactor{}, false)
		switch r.State {
		case v2alpha1.MetricStateValue:
			if r.Value != r.Value || r.Value > 1.7976931348623157e308 || r.Value < -1.7976931348623157e308 {
				t.Fatalf("%q on %q: a value that is not finite: %v", expr, doc, r.Value)
			}
			if r.Reason != "" {
				t.Fatalf("%q on %q: a value with a reason %q", expr, doc, r.Reason)
			}
		case v2alpha1.MetricStateNoData, v2alpha1.MetricStateError:
			if r.Reason == "" || r.Value != 0 {
				t.Fatalf("%q on %q: %s without a reason or with a value: %+v", expr, doc, r.State, r)
			}
		default:
			t.Fatalf("%q on %q: state %q", expr, doc, r.State)
		}
		if !utf8.ValidString(r.Reason) {
			t.Fatalf("%q on %q: reason is not UTF-8: %q", expr, doc, r.Reason)
		}
	})
}

func TestRetriesStayWithinTheTimeout(t *testing.T) {
	srv, seen := backend(t, func(int, request) (int, string) { return 503, "busy" })
	c := testCollector(nil)
	c.Retry = Backoff{Initial: 200 * time.Millisecond, Max: time.Second, Attempts: 100}
	m := restMetric(srv.URL, func(s *v2alpha1.MetricSpec) { s.TimeoutSeconds = ptr(int32(1)) })
	start := time.Now()
	got := c.query(t.Context(), m, testArgs, time.Time{})
	took := time.Since(start)
	// Tries at 0, 200ms and 600ms; the next delay, 800ms, would end after the timeout.
	want := Result{State: v2alpha1.MetricStateError, Attempts: 3,
		Reason: "HTTP 503 Service Unavailable: a text/plain response of 4 bytes (not recorded); expected a 2xx JSON response (after 3 attempts; no time for another within the timeout of 1s)"}
	if diff := cmp.Diff(want, got, ignoreQuery); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(*seen) != 3 || took > time.Second {
		t.Errorf("%d requests in %v, want 3 within the 1s timeout", len(*seen), took)
	}
}

// TestRESTReasonsHoldNoResponseContent: whatever a backend answers, a reason (which goes to
// the Experiment's status) says its status, type and length on one line, never its
// content: an HTML error page, garbage, a jq string, a value a jq error quotes.
func TestRESTReasonsHoldNoResponseContent(t *testing.T) {
	const secret = "s3cr3t-c0ntent"
	page := "<html>\n<head><title>404 Not Found</title></head>\n<body>\n<h1>Not Found</h1>\n<p>" + secret + "</p>\n" + strings.Repeat("<p>padding</p>\n", 50) + "</body>\n</html>\n"
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		body   string
		jq     string
		want   string
	}{
		{"an HTML error page", 404, "text/html; charset=utf-8", page, ".value", "HTTP 404 Not Found: a text/html response of " + fmt.Sprint(len(page)) + " bytes (not recorded); expected a 2xx JSON response"},
		{"garbage with 200", 200, "text/plain", "garbage " + secret, ".value", "the response is not JSON: a text/plain response of 22 bytes (not recorded); jqExpression needs a JSON document"},
		{"a string that is not a number", 200, "application/json", `{"value": "` + secret + `"}`, ".value", "jq result is a string of 14 bytes that is not a number"},
		{"a jq error quoting a value", 200, "application/json", `{"value": "` + secret + `"}`, ".value.x", ""},
		{"error() raised with a value", 200, "application/json", `{"value": "` + secret + `"}`, "error(.value)", "jq: the expression raised an error (its value is not recorded)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			m := restMetric(srv.URL, func(s *v2alpha1.MetricSpec) { s.JQExpression = ptr(tc.jq) })
			got := testCollector(nil).query(t.Context(), m, testArgs, time.Time{})
			if got.State != v2alpha1.MetricStateError {
				t.Fatalf("state %s (%s), want Error", got.State, got.Reason)
			}
			if strings.Contains(got.Reason, secret) || strings.ContainsAny(got.Reason, "\n<") || len(got.Reason) > 300 {
				t.Errorf("reason holds the response's content, or is not one short line: %q", got.Reason)
			}
			if tc.want != "" && !strings.HasPrefix(got.Reason, tc.want) {
				t.Errorf("reason %q, want it to start with %q", got.Reason, tc.want)
			}
		})
	}
}
