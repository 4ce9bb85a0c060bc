package builtin

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"fortio.org/fortio/jrpc"
	"fortio.org/fortio/periodic"
	"golang.org/x/net/http/httpguts"
)

// DefaultRequestTimeout bounds each request when LoadOptions.RequestTimeout is 0. It is
// fortio's fhttp.HTTPReqTimeOutDefaultValue, so results compare with iter8's, which used
// fortio's HTTP client.
const DefaultRequestTimeout = 3 * time.Second

// NoAnswer is the return code of a request that got no complete HTTP answer (a
// connection error, a timeout, a connection closed before or during the response), as
// fortio's HTTP client recorded it (fhttp.SocketError).
const NoAnswer = -1

// target is the request every thread of a run sends, built and checked once.
type target struct {
	method   string
	url      string
	hostname string // the URL's, which must resolve
	host     string // the Host header's value, when one was given
	header   http.Header
	body     []byte
	timeout  time.Duration
}

// newTarget builds the request as fortio built it from the same options, so that the
// servers under test, and whatever routes or filters on them, see the same requests:
// a missing scheme is http, a payload or a content type makes a POST, a payload without a
// type is application/octet-stream, the User-Agent is fortio's unless a header replaces it
// (an empty one removes it), and a Content-Type header counts as the content type.
func newTarget(o LoadOptions) (*target, error) {
	t := &target{
		url:     o.URL,
		header:  http.Header{"User-Agent": {jrpc.UserAgent}},
		body:    o.Payload,
		timeout: o.RequestTimeout,
	}
	if lower := strings.ToLower(t.url); !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		t.url = "http://" + t.url
	}
	u, err := url.Parse(t.url)
	if err != nil {
		return nil, fmt.Errorf("load for %s: %w", o.URL, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("load for %s: no host", o.URL)
	}
	t.hostname = u.Hostname()
	if t.timeout == 0 {
		t.timeout = DefaultRequestTimeout
	}
	contentType := o.ContentType
	names := make([]string, 0, len(o.Headers))
	for k := range o.Headers {
		names = append(names, k)
	}
	// Sorted, so that when two names differ only in case, which one wins is the same on
	// every run.
	sort.Strings(names)
	for _, k := range names {
		v := o.Headers[k]
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("load for %s: invalid header %q", o.URL, k)
		}
		switch strings.ToLower(k) {
		case "host":
			t.host = strings.TrimSpace(v)
		case "content-type":
			contentType = strings.TrimSpace(v)
		case "user-agent":
			// net/http sends no User-Agent for an empty one, as fortio did.
			t.header.Set(k, v)
		default:
			t.header.Add(k, v)
		}
	}
	t.method = http.MethodGet
	if len(t.body) > 0 || contentType != "" {
		t.method = http.MethodPost
	}
	if len(t.body) > 0 && contentType == "" {
		contentType = "application/octet-stream"
	}
	if contentType != "" {
		t.header.Set("Content-Type", contentType)
	}
	return t, nil
}

// resolve fails when the target's host has no address: fortio's client resolved it when
// it was made, and a name that does not resolve fails the task rather than filling the
// histogram with errors.
func (t *target) resolve(ctx context.Context) error {
	if _, err := net.DefaultResolver.LookupIPAddr(ctx, t.hostname); err != nil {
		return fmt.Errorf("resolving %s: %w", t.hostname, err)
	}
	return nil
}

// requester is the periodic.Runnable of one thread. Each has its own transport, which
// keeps at most one connection, as each of fortio's clients did: the load's connections
// are its threads.
type requester struct {
	t      *target
	client *http.Client
	// codes counts the return codes of this thread's requests; only its own goroutine
	// writes it, and the run is over before it is read.
	codes map[int]int64
	// latencies are this thread's request durations in seconds, likewise.
	latencies []float64
}

func newRequester(t *target) *requester {
	protocols := new(http.Protocols)
	// fortio spoke HTTP/1.1 only, with a connection per thread; HTTP/2 would multiplex
	// every thread of a host onto one connection.
	protocols.SetHTTP1(true)
	tr := &http.Transport{
		// fortio's client connected directly, without the environment's proxy.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: t.timeout}).DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: t.timeout,
		// Latencies of identity responses, as fortio's client did not ask for gzip.
		DisableCompression:  true,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		Protocols:           protocols,
	}
	return &requester{
		t: t,
		client: &http.Client{
			Transport: tr,
			Timeout:   t.timeout,
			// A redirect is an answer to measure and count, not to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		codes: map[int]int64{},
	}
}

// Run sends one request and counts its return code; periodic times it.
func (r *requester) Run(ctx context.Context, _ periodic.ThreadID) (bool, string) {
	start := time.Now()
	code := r.do(ctx)
	r.codes[code]++
	if len(r.latencies) < MaxLatencies {
		r.latencies = append(r.latencies, math.Round(time.Since(start).Seconds()*1e6)/1e6)
	}
	// The status only splits periodic's error histogram, which Load does not read.
	return code >= 200 && code < 300, ""
}

// do sends one request and returns its status code, or NoAnswer.
func (r *requester) do(ctx context.Context) int {
	var body io.Reader
	if r.t.method == http.MethodPost {
		body = bytes.NewReader(r.t.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.t.method, r.t.url, body)
	if err != nil {
		return NoAnswer
	}
	// Shared by the threads: neither the client nor the transport writes a request's header.
	req.Header = r.t.header
	if r.t.host != "" {
		req.Host = r.t.host
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return NoAnswer
	}
	// Read to the end so that the connection is reused; a response cut short is no
	// answer, as it was for fortio.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return NoAnswer
	}
	return resp.StatusCode
}

// run sends the load of ro to t, a requester per thread, and returns periodic's results
// and the count of each return code. With warmUp, each thread first sends one request
// that is neither timed nor counted, and whose failure does not stop the run, as fhttp
// did for runs of a duration (with AllowInitialErrors): the timed requests then start on
// open connections.
func run(ctx context.Context, t *target, ro periodic.RunnerOptions, warmUp bool) (periodic.RunnerResults, map[int]int64, []float64) {
	ro.Runners = nil
	r := periodic.NewPeriodicRunner(&ro)
	opts := r.Options()
	reqs := make([]*requester, opts.NumThreads)
	for i := range reqs {
		reqs[i] = newRequester(t)
		opts.Runners[i] = reqs[i]
	}
	defer func() {
		for _, q := range reqs {
			q.client.CloseIdleConnections()
		}
	}()
	if warmUp {
		var wg sync.WaitGroup
		for _, q := range reqs {
			wg.Go(func() { q.do(ctx) })
		}
		wg.Wait()
	}
	// The requests themselves do not take ctx: as with fortio, cancelling stops the run
	// through its aborter, and a request under way completes (within its timeout) rather
	// than being counted as a failure of the version.
	res := r.Run()
	codes := map[int]int64{}
	var latencies []float64
	for _, q := range reqs {
		for c, n := range q.codes {
			codes[c] += n
		}
		latencies = appendLatencies(latencies, q.latencies)
	}
	return res, codes, latencies
}
