package credential

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		ref        string
		namespaces []string
		wantNS     string
		wantName   string
	}{
		{"creds", []string{"team-a"}, "team-a", "creds"},
		{"team-a/creds", []string{"team-a"}, "team-a", "creds"},
		{"iter8-system/creds", []string{"team-a", "iter8-system"}, "iter8-system", "creds"},
		{"creds", []string{"", "team-a"}, "team-a", "creds"},
	} {
		ns, name, err := Resolve(tc.ref, tc.namespaces...)
		if err != nil {
			t.Errorf("Resolve(%q, %q): %v", tc.ref, tc.namespaces, err)
			continue
		}
		if diff := cmp.Diff([]string{tc.wantNS, tc.wantName}, []string{ns, name}); diff != "" {
			t.Errorf("Resolve(%q, %q) (-want +got):\n%s", tc.ref, tc.namespaces, diff)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	for _, tc := range []struct {
		ref        string
		namespaces []string
		want       string
	}{
		{"kube-system/admin-creds", []string{"team-a"}, `secret "kube-system/admin-creds": secrets are read only from namespace team-a, not kube-system`},
		{"kube-system/admin-creds", []string{"team-a", "iter8-system"}, `secret "kube-system/admin-creds": secrets are read only from namespace team-a or iter8-system, not kube-system`},
		{"", []string{"team-a"}, `secret "": a secret is name or namespace/name`},
		{"/creds", []string{"team-a"}, `secret "/creds": a secret is name or namespace/name`},
		{"a/b/c", []string{"team-a"}, `secret "a/b/c": a secret is name or namespace/name`},
		{"team-a/", []string{"team-a"}, `secret "team-a/": a secret is name or namespace/name`},
		{"Bad_Name", []string{"team-a"}, `secret "Bad_Name": invalid name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{"creds", nil, `secret "creds": no namespace to read it from`},
	} {
		_, _, err := Resolve(tc.ref, tc.namespaces...)
		if err == nil {
			t.Errorf("Resolve(%q, %q): no error", tc.ref, tc.namespaces)
			continue
		}
		if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
			t.Errorf("Resolve(%q, %q) (-want +got):\n%s", tc.ref, tc.namespaces, diff)
		}
	}
}

func secretWithHosts(hosts string) *Secret {
	s := &Secret{Namespace: "team-a", Name: "creds", Data: map[string]string{"token": "t0k3n"}}
	if hosts != "" {
		s.Annotations = map[string]string{AllowedHostsAnnotation: hosts}
	}
	return s
}

func TestCheckURLAllows(t *testing.T) {
	for _, tc := range []struct{ hosts, url string }{
		{"prometheus.monitoring.svc", "http://prometheus.monitoring.svc:9090/api/v1/query"},
		{"prometheus.monitoring.svc", "https://PROMETHEUS.monitoring.svc./x"},
		{"a.example.com, prometheus.monitoring.svc", "http://prometheus.monitoring.svc/"},
		{"a.example.com\nb.example.com", "http://b.example.com/"},
		{"api.newrelic.com:443", "https://api.newrelic.com/v1"},
		{"127.0.0.1:8080", "http://127.0.0.1:8080/x"},
		{"*.example.com", "https://metrics.eu.example.com/"},
		{"[::1]:9090", "http://[::1]:9090/"},
		{"::1", "http://[::1]:9090/"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if err := secretWithHosts(tc.hosts).CheckURL(u); err != nil {
			t.Errorf("hosts %q, URL %s: %v", tc.hosts, tc.url, err)
		}
	}
}

func TestCheckURLRefuses(t *testing.T) {
	for _, tc := range []struct{ hosts, url, want string }{
		{"", "http://prometheus:9090/", "secret team-a/creds: host not allowed: the secret does not say where it may be sent; annotate it with iter8.tools/allowed-hosts: <host>[,<host>...]"},
		{" , ", "http://prometheus:9090/", "secret team-a/creds: host not allowed: the secret does not say where it may be sent; annotate it with iter8.tools/allowed-hosts: <host>[,<host>...]"},
		{"prometheus", "http://evil.example:9090/", "secret team-a/creds: host not allowed: evil.example:9090 is not in its iter8.tools/allowed-hosts (prometheus)"},
		{"api.newrelic.com:443", "http://api.newrelic.com/", "secret team-a/creds: host not allowed: api.newrelic.com:80 is not in its iter8.tools/allowed-hosts (api.newrelic.com:443)"},
		{"*.example.com", "https://example.com/", "secret team-a/creds: host not allowed: example.com:443 is not in its iter8.tools/allowed-hosts (*.example.com)"},
		{"*.example.com", "https://evil-example.com/", "secret team-a/creds: host not allowed: evil-example.com:443 is not in its iter8.tools/allowed-hosts (*.example.com)"},
		{"example.com", "https://example.com.evil.io/", "secret team-a/creds: host not allowed: example.com.evil.io:443 is not in its iter8.tools/allowed-hosts (example.com)"},
		{"*", "https://example.com/", "secret team-a/creds: host not allowed: example.com:443 is not in its iter8.tools/allowed-hosts (*)"},
		{"*.", "https://example.com/", "secret team-a/creds: host not allowed: example.com:443 is not in its iter8.tools/allowed-hosts (*.)"},
		{"example.com", "file://example.com/etc/passwd", "secret team-a/creds: host not allowed: only http and https URLs get credentials"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		err = secretWithHosts(tc.hosts).CheckURL(u)
		if err == nil {
			t.Errorf("hosts %q, URL %s: no error", tc.hosts, tc.url)
			continue
		}
		if !errors.Is(err, ErrHostNotAllowed) {
			t.Errorf("hosts %q, URL %s: %v is not ErrHostNotAllowed", tc.hosts, tc.url, err)
		}
		if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
			t.Errorf("hosts %q, URL %s (-want +got):\n%s", tc.hosts, tc.url, diff)
		}
	}
}

// recorder is a loopback server that records the headers of every request.
type recorder struct {
	mu      sync.Mutex
	headers []http.Header
}

func (r *recorder) serve(h http.Handler) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.headers = append(r.headers, req.Header.Clone())
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
}

func TestClientDropsCredentialsOnARedirectToAnotherHost(t *testing.T) {
	var other recorder
	elsewhere := other.serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer elsewhere.Close()
	// 127.0.0.1 and localhost are different hosts to a browser and to this policy.
	elsewhereURL := strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)

	var origin recorder
	var originURL string
	src := origin.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, originURL+"/final", http.StatusFound)
		case "/away":
			http.Redirect(w, r, elsewhereURL+"/x", http.StatusTemporaryRedirect)
		}
	}))
	defer src.Close()
	originURL = src.URL

	send := func(path string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, src.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer t0k3n")
		req.Header.Set("X-Api-Key", "k3y")
		req.Header.Set("Accept", "application/json")
		resp, err := Client(nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	send("/same")
	for i, h := range origin.headers {
		if h.Get("Authorization") != "Bearer t0k3n" || h.Get("X-Api-Key") != "k3y" {
			t.Errorf("request %d to the same host lost its credentials: %v", i, h)
		}
	}

	send("/away")
	if len(other.headers) != 1 {
		t.Fatalf("the other host got %d requests, want 1", len(other.headers))
	}
	got := other.headers[0]
	for _, k := range []string{"Authorization", "X-Api-Key", "Referer"} {
		if v := got.Get(k); v != "" {
			t.Errorf("the other host got %s: %q", k, v)
		}
	}
	if got.Get("Accept") != "application/json" {
		t.Errorf("Accept was not kept: %v", got)
	}
}

func TestClientStopsAfterTenRedirects(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/again", http.StatusFound)
	}))
	defer srv.Close()
	_, err := Client(&http.Client{}).Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") {
		t.Fatalf("got %v, want stopped after 10 redirects", err)
	}
}
