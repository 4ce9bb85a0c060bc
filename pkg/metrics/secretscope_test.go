package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

// listener is a loopback server that records every request it gets: its URL and headers.
type listener struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newListener(t *testing.T, h http.HandlerFunc) *listener {
	l := &listener{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, fmt.Sprintf("%s %s %v", r.Method, r.URL, r.Header))
		l.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		_, _ = fmt.Fprint(w, `{"value": 1, "status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "1"]}]}}`)
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *listener) requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// The secret's values are distinct, so that a leak of any is seen.
var scopeSecretData = map[string]string{"token": "tok-9f2c", "username": "user-71ab", "password": "pw-55e0", "key": "key-c3d4"}

// scopedSecrets serves Secrets from a table, and records which it was asked for.
type scopedSecrets struct {
	mu      sync.Mutex
	byRef   map[string]*credential.Secret
	askedMu []string
}

func (s *scopedSecrets) get(_ context.Context, ns, name string) (*credential.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.askedMu = append(s.askedMu, ns+"/"+name)
	sec, ok := s.byRef[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("secrets %q not found", name)
	}
	return sec, nil
}

func secretFor(ns, name, hosts string) *credential.Secret {
	s := &credential.Secret{Namespace: ns, Name: name, Data: scopeSecretData}
	if hosts != "" {
		s.Annotations = map[string]string{credential.AllowedHostsAnnotation: hosts}
	}
	return s
}

// TestSecretsGoOnlyWhereTheySay: for every way an author might send a Secret's values
// somewhere, a loopback listener records every request, and none carries a value of the
// Secret; the result names why, without the values.
func TestSecretsGoOnlyWhereTheySay(t *testing.T) {
	l := newListener(t, nil)
	secrets := &scopedSecrets{byRef: map[string]*credential.Secret{
		"team-a/creds":             secretFor("team-a", "creds", "127.0.0.1"),
		"team-a/unannotated":       secretFor("team-a", "unannotated", ""),
		"team-a/elsewhere":         secretFor("team-a", "elsewhere", "metrics.example.com"),
		"team-a/other-port":        secretFor("team-a", "other-port", "127.0.0.1:1"),
		"kube-system/admin-creds":  secretFor("kube-system", "admin-creds", "127.0.0.1"),
		"iter8-system/shared-cred": secretFor("iter8-system", "shared-cred", "127.0.0.1"),
	}}
	rest := func(url, secret string, mod func(*v2alpha1.MetricSpec)) *v2alpha1.Metric {
		return restMetric(url, func(s *v2alpha1.MetricSpec) {
			s.Secret = ptr(secret)
			s.AuthType = ptr(v2alpha1.AuthTypeAPIKey)
			s.HeaderTemplates = []v2alpha1.NamedValue{{Name: "X-Key", Value: "$key"}}
			if mod != nil {
				mod(s)
			}
		})
	}
	prom := func(url, secret string) *v2alpha1.Metric {
		return &v2alpha1.Metric{Spec: v2alpha1.MetricSpec{
			Provider: ptr("prometheus"), URLTemplate: ptr(url), Secret: ptr(secret),
			AuthType: ptr(v2alpha1.AuthTypeBearer), Params: []v2alpha1.NamedValue{{Name: "query", Value: "up"}},
		}}
	}
	for _, tc := range []struct {
		name   string
		metric *v2alpha1.Metric
		reason string
	}{{
		name:   "secret values in the URL's query",
		metric: rest(l.URL+"/q?t=$token&p=${password}", "creds", nil),
		reason: `urlTemplate refers to key "password" of secret team-a/creds: a secret's values are sent only in authentication (authType, headerTemplates), never in a URL`,
	}, {
		name:   "secret values in the URL's host",
		metric: rest("http://$username.127.0.0.1.nip.io/", "creds", nil),
		reason: `urlTemplate refers to key "username" of secret team-a/creds: a secret's values are sent only in authentication (authType, headerTemplates), never in a URL`,
	}, {
		name:   "secret values in a Prometheus URL",
		metric: prom(l.URL+"/$token", "creds"),
		reason: `urlTemplate refers to key "token" of secret team-a/creds: a secret's values are sent only in authentication (authType, headerTemplates), never in a URL`,
	}, {
		name:   "a secret in another namespace",
		metric: rest(l.URL, "kube-system/admin-creds", nil),
		reason: `secret "kube-system/admin-creds": secrets are read only from namespace team-a, not kube-system`,
	}, {
		name:   "a secret that does not say where it may go",
		metric: rest(l.URL, "unannotated", nil),
		reason: "secret team-a/unannotated: host not allowed: the secret does not say where it may be sent; annotate it with iter8.tools/allowed-hosts: <host>[,<host>...]",
	}, {
		name:   "a secret for another host",
		metric: rest(l.URL, "elsewhere", nil),
		reason: "secret team-a/elsewhere: host not allowed: " + l.Listener.Addr().String() + " is not in its iter8.tools/allowed-hosts (metrics.example.com)",
	}, {
		name:   "a secret for another port",
		metric: rest(l.URL, "other-port", nil),
		reason: "secret team-a/other-port: host not allowed: " + l.Listener.Addr().String() + " is not in its iter8.tools/allowed-hosts (127.0.0.1:1)",
	}, {
		name:   "a Prometheus secret for another host",
		metric: prom(l.URL, "elsewhere"),
		reason: "secret team-a/elsewhere: host not allowed: " + l.Listener.Addr().String() + " is not in its iter8.tools/allowed-hosts (metrics.example.com)",
	}, {
		name:   "secret values in a param",
		metric: rest(l.URL, "creds", func(s *v2alpha1.MetricSpec) { s.Params = []v2alpha1.NamedValue{{Name: "q", Value: "$token"}} }),
	}, {
		name: "secret values in a POST body",
		metric: rest(l.URL, "creds", func(s *v2alpha1.MetricSpec) {
			s.Method, s.Body, s.Params = ptr(v2alpha1.POSTMethodType), ptr(`{"t": "$token", "p": "${password}"}`), nil
		}),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(l.requests())
			c := testCollector(nil)
			c.Secrets, c.SecretNamespace = secrets.get, "team-a"
			for _, batch := range []int{1, DefaultBatchSize} {
				c.BatchSize = batch
				exp := batchExperiment("", []string{"v1"}, "up")
				exp.Status.Metrics[0].MetricObj = *tc.metric
				got := c.Collect(t.Context(), exp)["m0"]["v1"]
				if tc.reason == "" {
					continue
				}
				if got.State != v2alpha1.MetricStateError {
					t.Errorf("batch size %d: state %s, want Error", batch, got.State)
				}
				if diff := cmp.Diff(tc.reason, got.Reason); diff != "" {
					t.Errorf("batch size %d: reason (-want +got):\n%s", batch, diff)
				}
			}
			reqs := l.requests()[before:]
			if tc.reason != "" && len(reqs) > 0 {
				t.Errorf("%d requests were sent, want none: %q", len(reqs), reqs)
			}
			for _, r := range reqs {
				for k, v := range scopeSecretData {
					if k == "key" && strings.Contains(r, "X-Key:[key-c3d4]") {
						// The API key, in the header named to carry it.
						r = strings.Replace(r, "X-Key:[key-c3d4]", "", 1)
					}
					if strings.Contains(r, v) {
						t.Errorf("the listener got the secret's %s: %s", k, r)
					}
				}
			}
		})
	}
	for _, ref := range secrets.askedMu {
		if strings.HasPrefix(ref, "kube-system/") {
			t.Errorf("%s was read", ref)
		}
	}
}

// TestSecretOfTheMetricsNamespace: a Metric may use a Secret of its own namespace, as a
// shared library of Metrics in iter8-system does.
func TestSecretOfTheMetricsNamespace(t *testing.T) {
	l := newListener(t, nil)
	secrets := &scopedSecrets{byRef: map[string]*credential.Secret{
		"iter8-system/shared-cred": secretFor("iter8-system", "shared-cred", "127.0.0.1"),
	}}
	m := restMetric(l.URL, func(s *v2alpha1.MetricSpec) {
		s.Secret, s.AuthType = ptr("iter8-system/shared-cred"), ptr(v2alpha1.AuthTypeBearer)
	})
	m.Namespace = "iter8-system"
	c := testCollector(nil)
	c.Secrets, c.SecretNamespace = secrets.get, "team-a"
	got := c.query(t.Context(), m, testArgs, time.Time{})
	if got.State != v2alpha1.MetricStateValue {
		t.Fatalf("got %s %q, want a value", got.State, got.Reason)
	}
	if reqs := l.requests(); len(reqs) != 1 || !strings.Contains(reqs[0], "Authorization:[Bearer tok-9f2c]") {
		t.Errorf("requests %q, want one with the bearer token", reqs)
	}
}

// TestNoCredentialsOnARedirectToAnotherHost: a backend that redirects elsewhere gets the
// credentials; the other host does not.
func TestNoCredentialsOnARedirectToAnotherHost(t *testing.T) {
	other := newListener(t, nil)
	// localhost is another host than 127.0.0.1, on the same loopback.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	origin := newListener(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	secrets := &scopedSecrets{byRef: map[string]*credential.Secret{
		"team-a/creds": secretFor("team-a", "creds", "127.0.0.1, localhost"),
	}}
	for _, authType := range []v2alpha1.AuthType{v2alpha1.AuthTypeBasic, v2alpha1.AuthTypeBearer, v2alpha1.AuthTypeAPIKey} {
		for _, m := range []*v2alpha1.Metric{
			restMetric(origin.URL, func(s *v2alpha1.MetricSpec) {
				s.Secret, s.AuthType = ptr("creds"), ptr(authType)
				s.HeaderTemplates = []v2alpha1.NamedValue{{Name: "X-Key", Value: "$key"}}
			}),
			{Spec: v2alpha1.MetricSpec{
				Provider: ptr("prometheus"), URLTemplate: ptr(origin.URL), Secret: ptr("creds"), AuthType: ptr(authType),
				HeaderTemplates: []v2alpha1.NamedValue{{Name: "X-Key", Value: "$key"}},
				Params:          []v2alpha1.NamedValue{{Name: "query", Value: "up"}},
			}},
		} {
			c := testCollector(nil)
			c.Secrets, c.SecretNamespace = secrets.get, "team-a"
			c.HTTPClient = &http.Client{}
			_ = c.query(t.Context(), m, testArgs, time.Time{})
		}
	}
	if len(origin.requests()) == 0 || len(other.requests()) == 0 {
		t.Fatalf("origin got %d requests, the other host %d; want both some", len(origin.requests()), len(other.requests()))
	}
	for _, r := range other.requests() {
		for k, v := range scopeSecretData {
			if strings.Contains(r, v) {
				t.Errorf("the other host got the secret's %s: %s", k, r)
			}
		}
		if strings.Contains(r, "Authorization") || strings.Contains(r, "X-Key") {
			t.Errorf("the other host got credentials: %s", r)
		}
	}
}
