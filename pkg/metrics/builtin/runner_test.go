package builtin

import (
	"context"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"fortio.org/fortio/jrpc"
	"github.com/google/go-cmp/cmp"
)

// seen is what the server under load received in one request.
type seen struct {
	Method, Host, UserAgent, ContentType, XTest, Body string
}

// recorder is a server under load that records the requests it gets and the connections
// they come on.
type recorder struct {
	mu    sync.Mutex
	reqs  map[seen]int64
	n     int64
	conns int
}

func (rc *recorder) record(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reqs[seen{r.Method, r.Host, r.Header.Get("User-Agent"), r.Header.Get("Content-Type"), r.Header.Get("X-Test"), string(b)}]++
	rc.n++
}

func TestLoadRunner(t *testing.T) {
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }
	get := func(host string) seen { return seen{Method: http.MethodGet, Host: host, UserAgent: jrpc.UserAgent} }
	tests := []struct {
		name    string
		handler http.HandlerFunc
		opts    LoadOptions
		// cancel ends the run's context after this long, when set.
		cancel time.Duration
		// wantCodes are the exact return codes; when nil, only their total is checked.
		wantCodes map[int]int64
		// wantSeen are the exact requests the server got ("HOST" stands for the server's
		// address); when nil, not checked.
		wantSeen map[seen]int64
		// wantConns is the number of connections the server accepted; 0 is not checked.
		wantConns int
		// warmUps is how many more requests the server got than the run counted.
		warmUps int64
		// maxTook bounds the run's time; 0 is not checked.
		maxTook time.Duration
	}{{
		name:    "exact count over threads that do not divide it",
		handler: ok,
		opts:    LoadOptions{NumRequests: 7, QPS: 500, Connections: 2},
		// Two threads of 3, the first with the one left over, each on one kept-alive
		// connection.
		wantCodes: map[int]int64{200: 7},
		wantSeen:  map[seen]int64{get("HOST"): 7},
		wantConns: 2,
	}, {
		name:    "too many connections for the count",
		handler: ok,
		// periodic lowers the threads to 2 so that each sends at least two requests.
		opts:      LoadOptions{NumRequests: 5, QPS: 500, Connections: 4},
		wantCodes: map[int]int64{200: 5},
		wantConns: 2,
	}, {
		name: "status codes counted, bodies read so connections are kept",
		handler: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("fail") != "" {
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			}
			ok(w, r)
		},
		opts:      LoadOptions{URL: "?fail=1", NumRequests: 6, QPS: 500, Connections: 2},
		wantCodes: map[int]int64{500: 6},
		wantConns: 2,
	}, {
		name:    "a redirect is counted, not followed",
		handler: func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) },
		opts:    LoadOptions{NumRequests: 2, QPS: 500, Connections: 1},
		// The server would have answered the redirected request with another 302: the
		// count of requests it got tells them apart.
		wantCodes: map[int]int64{302: 2},
		wantSeen:  map[seen]int64{get("HOST"): 2},
	}, {
		name: "connection closed without an answer",
		handler: func(w http.ResponseWriter, _ *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close()
			}
		},
		opts:      LoadOptions{NumRequests: 3, QPS: 500, Connections: 1},
		wantCodes: map[int]int64{NoAnswer: 3},
	}, {
		name: "an answer cut short is no answer",
		handler: func(w http.ResponseWriter, _ *http.Request) {
			// The server closes the connection after the 2 bytes of the 100 it announced.
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("ok"))
		},
		opts:      LoadOptions{NumRequests: 2, QPS: 500, Connections: 1},
		wantCodes: map[int]int64{NoAnswer: 2},
	}, {
		name: "headers, Host and a POST with its content type",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
		},
		opts: LoadOptions{
			NumRequests: 4, QPS: 500, Connections: 2,
			Headers: map[string]string{"X-Test": "yes", "Host": "version-a.example", "User-Agent": "iter8"},
			Payload: []byte(`{"a":1}`), ContentType: "application/json",
		},
		wantCodes: map[int]int64{201: 4},
		wantSeen:  map[seen]int64{{http.MethodPost, "version-a.example", "iter8", "application/json", "yes", `{"a":1}`}: 4},
	}, {
		name:      "a payload without a type, and no User-Agent",
		handler:   ok,
		opts:      LoadOptions{NumRequests: 2, QPS: 500, Connections: 1, Payload: []byte("x"), Headers: map[string]string{"User-Agent": ""}},
		wantCodes: map[int]int64{200: 2},
		wantSeen:  map[seen]int64{{http.MethodPost, "HOST", "", "application/octet-stream", "", "x"}: 2},
	}, {
		name:    "a Content-Type header alone makes an empty POST, as with fortio",
		handler: ok,
		opts:    LoadOptions{NumRequests: 2, QPS: 500, Connections: 1, Headers: map[string]string{"content-type": "text/plain"}},
		wantSeen: map[seen]int64{
			{Method: http.MethodPost, Host: "HOST", UserAgent: jrpc.UserAgent, ContentType: "text/plain"}: 2,
		},
	}, {
		name: "a request past its timeout is no answer and the run still ends",
		handler: func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		},
		opts:      LoadOptions{NumRequests: 2, QPS: 500, Connections: 1, RequestTimeout: 100 * time.Millisecond},
		wantCodes: map[int]int64{NoAnswer: 2},
		maxTook:   2 * time.Second,
	}, {
		name:    "a duration warms each connection up first, uncounted",
		handler: ok,
		// 20 qps for 300ms: 3 requests on each of 2 threads, at most.
		opts:      LoadOptions{Duration: 300 * time.Millisecond, QPS: 20, Connections: 2},
		warmUps:   2,
		wantConns: 2,
	}, {
		name:    "cancelling the context ends a run early",
		handler: ok,
		opts:    LoadOptions{Duration: time.Minute, QPS: 50, Connections: 1},
		cancel:  300 * time.Millisecond,
		warmUps: 1,
		maxTook: 5 * time.Second,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &recorder{reqs: map[seen]int64{}}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc.record(r)
				tc.handler(w, r)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					rc.mu.Lock()
					rc.conns++
					rc.mu.Unlock()
				}
			}
			srv.Start()
			defer srv.Close()

			ctx := t.Context()
			if tc.cancel > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.cancel)
				defer cancel()
			}
			o := tc.opts
			o.URL = srv.URL + "/" + o.URL
			start := time.Now()
			h, err := Load(ctx, o)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}

			var codes, buckets int64
			for _, n := range h.RetCodes {
				codes += n
			}
			for _, b := range h.DurationHistogram.Data {
				buckets += b.Count
			}
			count := h.DurationHistogram.Count
			if count == 0 || codes != count || buckets != count {
				t.Errorf("%d requests timed, %d return codes, %d in buckets: want the same, and some", count, codes, buckets)
			}
			if tc.wantCodes != nil {
				if diff := cmp.Diff(tc.wantCodes, h.RetCodes); diff != "" {
					t.Errorf("RetCodes (-want +got):\n%s", diff)
				}
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if tc.wantSeen != nil {
				want := map[seen]int64{}
				for s, n := range tc.wantSeen {
					if s.Host == "HOST" {
						s.Host = srv.Listener.Addr().String()
					}
					want[s] = n
				}
				if diff := cmp.Diff(want, rc.reqs); diff != "" {
					t.Errorf("requests (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tc.warmUps, rc.n-count); diff != "" {
				t.Errorf("requests received less requests timed (-want +got):\n%s", diff)
			}
			if tc.wantConns != 0 {
				if diff := cmp.Diff(tc.wantConns, rc.conns); diff != "" {
					t.Errorf("connections (-want +got):\n%s", diff)
				}
			}
			if tc.maxTook != 0 && took > tc.maxTook {
				t.Errorf("the run took %v, want at most %v", took, tc.maxTook)
			}
		})
	}
}

func TestLoadHostThatDoesNotResolve(t *testing.T) {
	// .invalid never resolves (RFC 6761); fortio's client failed the run for such a host.
	if _, err := Load(t.Context(), LoadOptions{URL: "http://no-such-version.invalid/", NumRequests: 2}); err == nil {
		t.Error("Load succeeded")
	}
}

func TestLoadVerifiesTLS(t *testing.T) {
	var n int
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
	}))
	// The failed handshakes are the point, not news.
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	// The test server's certificate is signed by no root the system trusts: the
	// handshake fails, and no request reaches the handler.
	h, err := Load(t.Context(), LoadOptions{URL: srv.URL, NumRequests: 2, QPS: 500, Connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[int]int64{NoAnswer: 2}, h.RetCodes); diff != "" {
		t.Errorf("RetCodes (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

func TestNewTarget(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"version-a:8080/x", "http://version-a:8080/x"},
		{"HTTPS://version-a/x", "HTTPS://version-a/x"},
		{"http://version-a", "http://version-a"},
	} {
		got, err := newTarget(LoadOptions{URL: tc.url})
		if err != nil {
			t.Errorf("newTarget(%q): %v", tc.url, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got.url); diff != "" {
			t.Errorf("newTarget(%q) URL (-want +got):\n%s", tc.url, diff)
		}
		if diff := cmp.Diff(DefaultRequestTimeout, got.timeout); diff != "" {
			t.Errorf("newTarget(%q) timeout (-want +got):\n%s", tc.url, diff)
		}
	}
	for _, bad := range []string{"http://", "http://a b/", "http://%zz/"} {
		if _, err := newTarget(LoadOptions{URL: bad}); err == nil {
			t.Errorf("newTarget(%q) succeeded", bad)
		}
	}
}
