package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// apiFault is what the API proxy does to a request it picks.
type apiFault string

const (
	apiFault503     apiFault = "503"     // 503 ServiceUnavailable, not forwarded
	apiFault500     apiFault = "500"     // 500 InternalError, not forwarded
	apiFaultTimeout apiFault = "timeout" // held 300 ms, then 504 Timeout, not forwarded
	apiFaultLost    apiFault = "lost"    // forwarded, then the answer is replaced by 504 Timeout
	apiFaultReset   apiFault = "reset"   // the connection is closed without an answer
	apiFaultHang    apiFault = "hang"    // no answer until the client gives up
	// apiFaultStale answers a read with the experiment as an earlier read found it, one
	// change older than the API server's answer, as a watch cache that lags may.
	apiFaultStale apiFault = "stale"
)

// apiProxy is a TLS reverse proxy in front of the control plane's API server that injects
// faults into the requests to the experiments resource. The stages reach it through their
// own kubeconfig; it forwards with the control plane's credentials.
type apiProxy struct {
	// pick says whether a request to the experiments resource gets fault; n counts, from
	// 1, the requests with the same method and URL path.
	pick  func(n int, r *http.Request) bool
	fault apiFault
	// before, when set, runs before a picked request is forwarded (and instead of fault).
	before func(r *http.Request)

	mu       sync.Mutex
	n        int
	perKey   map[string]int
	injected int
	codes    map[string]int // "METHOD status" -> count, of the answers from the API server
	srv      *httptest.Server
	stop     chan struct{} // ends the hanging requests
	// reads are the distinct answers to reads of one experiment, oldest first.
	reads [][]byte
}

// start serves the proxy and returns the path of a kubeconfig that points at it.
func (p *apiProxy) start(t *testing.T, cfg *rest.Config, namespace string) string {
	t.Helper()
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.codes = map[string]int{}
	p.perKey = map[string]int{}
	p.stop = make(chan struct{})
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport: rt,
		ModifyResponse: func(resp *http.Response) error {
			if !isExperimentRequest(resp.Request) {
				return nil
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			p.codes[fmt.Sprintf("%s %d", resp.Request.Method, resp.StatusCode)]++
			if resp.Request.Method != http.MethodGet || resp.StatusCode != http.StatusOK || isExperimentList(resp.Request) {
				return nil
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			if n := len(p.reads); n == 0 || !bytes.Equal(p.reads[n-1], b) {
				p.reads = append(p.reads, b)
			}
			return nil
		},
	}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isExperimentRequest(r) {
			rp.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		p.n++
		key := r.Method + " " + r.URL.Path
		p.perKey[key]++
		picked := p.pick != nil && p.pick(p.perKey[key], r)
		if picked {
			p.injected++
		}
		p.mu.Unlock()
		if !picked {
			rp.ServeHTTP(w, r)
			return
		}
		if p.before != nil {
			p.before(r)
			rp.ServeHTTP(w, r)
			return
		}
		switch p.fault {
		case apiFault503:
			writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "injected: the server is overloaded")
		case apiFault500:
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "injected: etcd leader changed")
		case apiFaultTimeout:
			time.Sleep(300 * time.Millisecond)
			writeStatus(w, http.StatusGatewayTimeout, metav1.StatusReasonTimeout, "injected: the request timed out")
		case apiFaultLost:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			writeStatus(w, http.StatusGatewayTimeout, metav1.StatusReasonTimeout, "injected: the answer was lost")
		case apiFaultStale:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			answer := rec.Body.Bytes()
			if rec.Code == http.StatusOK {
				p.mu.Lock()
				answer = p.older(answer)
				p.mu.Unlock()
			}
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.WriteHeader(rec.Code)
			w.Write(answer)
		case apiFaultHang:
			select {
			case <-r.Context().Done():
			case <-p.stop:
			}
		case apiFaultReset:
			hj, ok := w.(http.Hijacker)
			if !ok {
				http.Error(w, "cannot hijack", http.StatusInternalServerError)
				return
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
		}
	}))
	t.Cleanup(p.srv.Close)
	t.Cleanup(func() { close(p.stop) }) // before Close, which waits for the handlers

	kc := clientcmdapi.NewConfig()
	kc.Clusters["proxy"] = &clientcmdapi.Cluster{Server: p.srv.URL, InsecureSkipTLSVerify: true}
	kc.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy", Namespace: namespace}
	kc.CurrentContext = "proxy"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *apiProxy) counts() (requests, injected int, codes map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := make(map[string]int, len(p.codes))
	for k, v := range p.codes {
		c[k] = v
	}
	return p.n, p.injected, c
}

// older returns the latest answer to a read that differs from fresh, or fresh when no
// read found anything else.
func (p *apiProxy) older(fresh []byte) []byte {
	for i := len(p.reads) - 1; i >= 0; i-- {
		if !bytes.Equal(p.reads[i], fresh) {
			return p.reads[i]
		}
	}
	return fresh
}

// isExperimentList says whether r reads the experiments collection, not one experiment.
func isExperimentList(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/experiments")
}

func isExperimentRequest(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/apis/iter8.tools/") && strings.Contains(r.URL.Path, "/experiments")
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	b, _ := json.Marshal(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg,
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}
