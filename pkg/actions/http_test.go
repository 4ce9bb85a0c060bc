package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

// received is a request the test server got.
type received struct {
	Method string
	Path   string
	Header http.Header
	Body   string
}

// recorder is an HTTP server that records requests and answers with status and body.
type recorder struct {
	mu     sync.Mutex
	reqs   []received
	status int
	// echo makes the server answer with the request's headers, as a careless server might.
	echo bool
	srv  *httptest.Server
}

func newRecorder(t *testing.T, status int) *recorder {
	rec := &recorder{status: status}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(b)})
		rec.mu.Unlock()
		w.WriteHeader(rec.status)
		if rec.echo {
			json.NewEncoder(w).Encode(r.Header)
		}
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// secrets is a fake Env.Secrets that records what was read.
type secrets struct {
	data map[string]map[string][]byte // namespace/name -> data
	read []string
}

// Its secrets may be sent to 127.0.0.1, where the tests' servers are, unless the secret's
// name says otherwise.
func (s *secrets) get(_ context.Context, ns, name string) (*credential.Secret, error) {
	s.read = append(s.read, ns+"/"+name)
	d, ok := s.data[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("secrets %q not found", name)
	}
	sec := &credential.Secret{Namespace: ns, Name: name, Data: map[string]string{}}
	switch name {
	case "unannotated":
	case "elsewhere":
		sec.Annotations = map[string]string{credential.AllowedHostsAnnotation: "hooks.example.com"}
	default:
		sec.Annotations = map[string]string{credential.AllowedHostsAnnotation: "127.0.0.1"}
	}
	for k, v := range d {
		sec.Data[k] = string(v)
	}
	return sec, nil
}

// hostileSecret would break a shell, a header and a log line, and is easy to spot.
const hostileSecret = "s3cr3t-\"; $(id)\n`x` \\ ' Bearer"

func notifyExperiment(t *testing.T, with string) *v2alpha1.Experiment {
	t.Helper()
	return experiment(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: notify, namespace: team}
spec:
  target: team/app
  strategy:
    testingPattern: Canary
    actions:
      finish: [{task: notification/http, with: `+with+`}]
  versionInfo:
    baseline: {name: current}
    candidates: [{name: candidate}]
status:
  versionRecommendedForPromotion: candidate
  analysis:
    winnerAssessment:
      provenance: test
      timestamp: "2026-01-01T00:00:00Z"
      data: {winnerFound: true, winner: candidate}
    weights:
      provenance: test
      timestamp: "2026-01-01T00:00:00Z"
      data: [{name: current, value: 5}, {name: candidate, value: 95}]
`)
}

func TestNotificationHTTP(t *testing.T) {
	store := &secrets{data: map[string]map[string][]byte{
		"team/basic":  {"username": []byte("ann"), "password": []byte(hostileSecret)},
		"team/bearer": {"token": []byte("tok-123")},
		"team/keys":   {"apikey": []byte("key-456")},
	}}
	tests := []struct {
		name string
		with string // url is prepended
		// check inspects the one request the server got.
		check func(t *testing.T, r received)
		read  []string
	}{{
		name: "default body",
		with: `{}`,
		check: func(t *testing.T, r received) {
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "" {
				t.Errorf("got %s with Content-Type %q, Authorization %q; want a POST of application/json without auth", r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"))
			}
			var body struct {
				Summary    map[string]any      `json:"summary"`
				Experiment v2alpha1.Experiment `json:"experiment"`
			}
			if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
				t.Fatalf("body %s: %v", r.Body, err)
			}
			want := map[string]any{
				"winnerFound":                    true,
				"winner":                         "candidate",
				"versionRecommendedForPromotion": "candidate",
				"lastRecommendedWeights":         []any{map[string]any{"name": "current", "value": 5.0}, map[string]any{"name": "candidate", "value": 95.0}},
			}
			if diff := cmp.Diff(want, body.Summary); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			if body.Experiment.Name != "notify" || body.Experiment.Spec.Target != "team/app" {
				t.Errorf("experiment in the body is %s with target %s, want notify with team/app", body.Experiment.Name, body.Experiment.Spec.Target)
			}
		},
	}, {
		name: "basic auth from a secret in the experiment's namespace",
		with: `{authType: Basic, secret: basic}`,
		check: func(t *testing.T, r received) {
			req := &http.Request{Header: r.Header}
			user, pass, ok := req.BasicAuth()
			if !ok || user != "ann" || pass != hostileSecret {
				t.Errorf("basic auth = %q, %q, %v; want ann and the secret password", user, pass, ok)
			}
		},
		read: []string{"team/basic"},
	}, {
		name: "bearer",
		with: `{authType: Bearer, secret: team/bearer, method: PUT}`,
		check: func(t *testing.T, r received) {
			if got := r.Header.Get("Authorization"); got != "Bearer tok-123" || r.Method != http.MethodPut {
				t.Errorf("got %s with Authorization %q, want PUT with Bearer tok-123", r.Method, got)
			}
		},
		read: []string{"team/bearer"},
	}, {
		name: "APIKey through a header template, templated body",
		with: `{authType: APIKey, secret: keys, headers: [{name: X-Api-Key, value: "@< .secret.apikey >@"}, {name: Content-Type, value: text/plain}], body: "@< .this.metadata.name >@ promotes @< .summary.versionRecommendedForPromotion >@ {{ literal }}"}`,
		check: func(t *testing.T, r received) {
			got := []string{r.Header.Get("X-Api-Key"), r.Header.Get("Content-Type"), r.Body}
			want := []string{"key-456", "text/plain", "notify promotes candidate {{ literal }}"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("API key, content type, body (-want +got):\n%s", diff)
			}
		},
		read: []string{"team/keys"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, http.StatusOK)
			store.read = nil
			with := `{url: "` + rec.srv.URL + `/hook", ignoreFailure: false, ` + strings.TrimPrefix(tc.with, "{")
			var out bytes.Buffer
			env := actions.Env{Out: &out, Secrets: store.get}
			if err := actions.Run(context.Background(), env, notifyExperiment(t, with), "finish"); err != nil {
				t.Fatalf("Run: %v", err)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("server got %d requests, want 1", len(reqs))
			}
			tc.check(t, reqs[0])
			if diff := cmp.Diff(tc.read, store.read); diff != "" {
				t.Errorf("secrets read (-want +got):\n%s", diff)
			}
			if !strings.Contains(out.String(), "/hook: HTTP 200 OK") {
				t.Errorf("output does not log the response:\n%s", out.String())
			}
		})
	}
}

func TestNotificationHTTPErrors(t *testing.T) {
	store := &secrets{data: map[string]map[string][]byte{
		"team/no-token":    {"username": []byte("ann")},
		"team/unannotated": {"token": []byte("tok-1")},
		"team/elsewhere":   {"token": []byte("tok-2")},
		// A header cannot hold a newline; everything else a server may echo back.
		"team/echo": {"username": []byte("ann"), "password": []byte("s3cr3t-pw\"'"), "token": []byte(strings.ReplaceAll(hostileSecret, "\n", "")), "apikey": []byte("s3cr3t-<key>&")},
	}}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name   string
		status int
		echo   bool
		url    string
		with   string
		want   string // the start of the error
	}{{
		name:   "HTTP 500",
		status: http.StatusInternalServerError,
		with:   `{}`,
		want:   "finish action, task 0 (notification/http): POST URL/hook: HTTP 500 Internal Server Error",
	}, {
		name:   "HTTP 404 from GET",
		status: http.StatusNotFound,
		with:   `{method: GET}`,
		want:   "finish action, task 0 (notification/http): GET URL/hook: HTTP 404 Not Found",
	}, {
		name:   "server echoes the API keys",
		status: http.StatusUnauthorized,
		echo:   true,
		with:   `{authType: APIKey, secret: echo, headers: [{name: X-Key, value: "@< .secret.apikey >@"}, {name: Authorization, value: "Bearer @< .secret.token >@"}]}`,
		want:   "finish action, task 0 (notification/http): POST URL/hook: HTTP 401 Unauthorized: a text/plain response of 227 bytes (not recorded)",
	}, {
		name:   "server echoes basic auth",
		status: http.StatusForbidden,
		echo:   true,
		with:   `{authType: Basic, secret: echo}`,
		want:   "finish action, task 0 (notification/http): POST URL/hook: HTTP 403 Forbidden: a text/plain response of 173 bytes (not recorded)",
	}, {
		name: "secret key missing",
		with: `{authType: Bearer, secret: no-token}`,
		want: `finish action, task 0 (notification/http): the secret has no key "token"`,
	}, {
		name: "secret not found",
		with: `{authType: Bearer, secret: team/nope}`,
		want: `finish action, task 0 (notification/http): reading secret team/nope: secrets "nope" not found`,
	}, {
		name: "connection refused",
		url:  closed.URL,
		with: `{}`,
		want: "finish action, task 0 (notification/http): POST " + closed.URL + "/hook: Post \"" + closed.URL + "/hook\": dial tcp",
	}, {
		name: "template refers to a missing key",
		with: `{body: "@< .this.nope >@"}`,
		want: `finish action, task 0 (notification/http): rendering the body: template: body:1:8: executing "body" at <.this.nope>: map has no entry for key "nope"`,
	}, {
		name: "secret that does not say where it may go",
		with: `{authType: Bearer, secret: unannotated}`,
		want: `finish action, task 0 (notification/http): secret team/unannotated: host not allowed: the secret does not say where it may be sent`,
	}, {
		name: "secret for another host",
		with: `{authType: Bearer, secret: elsewhere}`,
		want: `finish action, task 0 (notification/http): secret team/elsewhere: host not allowed: 127.0.0.1:`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, tc.status)
			rec.echo = tc.echo
			url := tc.url
			if url == "" {
				url = rec.srv.URL
			}
			with := `{url: "` + url + `/hook", ignoreFailure: false, ` + strings.TrimPrefix(tc.with, "{")
			var out bytes.Buffer
			env := actions.Env{Out: &out, Secrets: store.get}
			err := actions.Run(context.Background(), env, notifyExperiment(t, with), "finish")
			want := strings.ReplaceAll(tc.want, "URL", rec.srv.URL)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("Run error:\n%v\nwant it to start with:\n%s", err, want)
			}
			for _, s := range []string{err.Error(), out.String()} {
				if strings.Contains(s, "s3cr3t") || strings.Contains(s, "tok-") {
					t.Errorf("a secret value leaked:\n%s", s)
				}
			}

			// With ignoreFailure (the default) the same failure is logged, not returned.
			out.Reset()
			lenient := notifyExperiment(t, strings.Replace(with, "ignoreFailure: false", "ignoreFailure: true", 1))
			if err := actions.Run(context.Background(), env, lenient, "finish"); err != nil {
				t.Errorf("Run with ignoreFailure: %v", err)
			}
			if !strings.Contains(out.String(), "failed, ignored because ignoreFailure is true: "+strings.TrimPrefix(want, "finish action, task 0 (notification/http): ")) {
				t.Errorf("output does not log the ignored failure:\n%s", out.String())
			}
			if strings.Contains(out.String(), "s3cr3t") {
				t.Errorf("a secret value leaked into the output:\n%s", out.String())
			}
		})
	}
}

// A newline in a token cannot be sent in a header; the error must not quote it.
func TestNotificationHTTPHostileTokenInHeader(t *testing.T) {
	rec := newRecorder(t, http.StatusOK)
	store := &secrets{data: map[string]map[string][]byte{"team/hostile": {"token": []byte(hostileSecret)}}}
	exp := notifyExperiment(t, `{url: "`+rec.srv.URL+`", ignoreFailure: false, authType: Bearer, secret: hostile}`)
	var out bytes.Buffer
	err := actions.Run(context.Background(), actions.Env{Out: &out, Secrets: store.get}, exp, "finish")
	if err == nil {
		t.Fatal("Run sent a header with a newline")
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(out.String(), "s3cr3t") {
		t.Errorf("the token leaked: %v\n%s", err, out.String())
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("server got %d requests", n)
	}
}

func TestNotificationHTTPLocalMode(t *testing.T) {
	rec := newRecorder(t, http.StatusOK)
	// Without a secret, a notification works without a cluster.
	exp := notifyExperiment(t, `{url: "`+rec.srv.URL+`"}`)
	if err := actions.Run(context.Background(), actions.Env{}, exp, "finish"); err != nil {
		t.Errorf("Run: %v", err)
	}
	// A secret cannot be read: that is an error even though ignoreFailure defaults to true.
	exp = notifyExperiment(t, `{url: "`+rec.srv.URL+`", authType: Bearer, secret: bearer}`)
	err := actions.Run(context.Background(), actions.Env{}, exp, "finish")
	want := "finish action, task 0 (notification/http): reading secret bearer: notification/http with a secret needs a cluster; it cannot run with iter8ctl run"
	if err == nil || err.Error() != want || !errors.Is(err, actions.ErrNeedsCluster) {
		t.Errorf("Run error = %v, want %q wrapping ErrNeedsCluster", err, want)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}
