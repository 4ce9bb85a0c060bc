package sampleapp

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", code)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return mfs
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// countsByCode returns revision_app_request_count and the latency histogram's count per
// response code.
func countsByCode(t *testing.T, mfs map[string]*dto.MetricFamily) (counts, histCounts map[string]uint64) {
	t.Helper()
	counts, histCounts = map[string]uint64{}, map[string]uint64{}
	if mf := mfs[MetricRequestCount]; mf != nil {
		for _, m := range mf.GetMetric() {
			counts[labelsOf(m)["response_code"]] = uint64(m.GetCounter().GetValue())
		}
	}
	if mf := mfs[MetricRequestLatencies]; mf != nil {
		for _, m := range mf.GetMetric() {
			histCounts[labelsOf(m)["response_code"]] = m.GetHistogram().GetSampleCount()
		}
	}
	return counts, histCounts
}

func newServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	app, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestErrorPattern(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		n        int
		wantFail []int // 1-based request numbers answered 500
	}{
		{name: "no errors", rate: 0, n: 5},
		{name: "all errors", rate: 1, n: 3, wantFail: []int{1, 2, 3}},
		{name: "every fourth", rate: 0.25, n: 9, wantFail: []int{4, 8}},
		{name: "a third", rate: 1.0 / 3, n: 7, wantFail: []int{3, 6}},
		{name: "tenth spread", rate: 0.1, n: 25, wantFail: []int{10, 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, Config{Version: "blue", ErrorRate: tc.rate})
			var gotFail []int
			for i := 1; i <= tc.n; i++ {
				code, body := get(t, srv.URL+"/")
				switch code {
				case http.StatusOK:
					if body != "blue\n" {
						t.Errorf("request %d: body %q, want %q", i, body, "blue\n")
					}
				case http.StatusInternalServerError:
					gotFail = append(gotFail, i)
				default:
					t.Errorf("request %d: status %d", i, code)
				}
			}
			if diff := cmp.Diff(tc.wantFail, gotFail); diff != "" {
				t.Errorf("failed requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	srv := newServer(t, Config{
		Version: "green", Revision: "sample-app-v2", Namespace: "default",
		Service: "sample-app", Pod: "pod-1", ErrorRate: 0.2,
		Latency: 12 * time.Millisecond,
	})
	for i := 0; i < 10; i++ {
		get(t, srv.URL+"/")
	}
	get(t, srv.URL+"/nope")
	// Scrapes are not requests of the app.
	scrape(t, srv.URL)
	get(t, srv.URL+"/healthz")
	mfs := scrape(t, srv.URL)

	counts, histCounts := countsByCode(t, mfs)
	want := map[string]uint64{"200": 8, "500": 2, "404": 1}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("%s by response_code (-want +got):\n%s", MetricRequestCount, diff)
	}
	if diff := cmp.Diff(want, histCounts); diff != "" {
		t.Errorf("%s_count by response_code (-want +got):\n%s", MetricRequestLatencies, diff)
	}

	for _, name := range []string{MetricRequestCount, MetricRequestLatencies} {
		for _, m := range mfs[name].GetMetric() {
			got := labelsOf(m)
			code := got["response_code"]
			wantLabels := map[string]string{
				"namespace_name": "default", "service_name": "sample-app",
				"configuration_name": "sample-app", "revision_name": "sample-app-v2",
				"container_name": "queue-proxy", "pod_name": "pod-1",
				"response_code": code, "response_code_class": code[:1] + "xx",
			}
			if diff := cmp.Diff(wantLabels, got); diff != "" {
				t.Errorf("%s labels (-want +got):\n%s", name, diff)
			}
		}
	}

	var gotBounds []float64
	for _, m := range mfs[MetricRequestLatencies].GetMetric() {
		h := m.GetHistogram()
		if labelsOf(m)["response_code"] != "200" {
			continue
		}
		for _, b := range h.GetBucket() {
			gotBounds = append(gotBounds, b.GetUpperBound())
		}
		// Each of the 8 successful requests took at least the injected 12 ms.
		if h.GetSampleSum() < 8*12 {
			t.Errorf("latency sum %v ms, want at least %v", h.GetSampleSum(), 8*12)
		}
		// Nothing can be faster than the injected latency: le=10 must be empty.
		if got := h.GetBucket()[1].GetCumulativeCount(); got != 0 {
			t.Errorf("bucket le=%v holds %d requests, want 0 with 12 ms injected", h.GetBucket()[1].GetUpperBound(), got)
		}
	}
	wantBounds := append(append([]float64{}, LatencyBucketsMs...), math.Inf(1))
	if diff := cmp.Diff(wantBounds, gotBounds); diff != "" {
		t.Errorf("bucket bounds (-want +got):\n%s", diff)
	}
}

func TestJitterIsBoundedAndSeeded(t *testing.T) {
	delays := func(seed uint64) []time.Duration {
		app, err := New(Config{Version: "v", Latency: time.Millisecond, LatencyJitter: 4 * time.Millisecond, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Duration
		for i := 0; i < 50; i++ {
			_, d := app.next()
			if d < time.Millisecond || d > 5*time.Millisecond {
				t.Fatalf("delay %v outside [1ms, 5ms]", d)
			}
			out = append(out, d)
		}
		return out
	}
	if diff := cmp.Diff(delays(7), delays(7)); diff != "" {
		t.Errorf("same seed, different delays (-first +second):\n%s", diff)
	}
	if d1, d2 := delays(7), delays(8); cmp.Equal(d1, d2) {
		t.Errorf("seeds 7 and 8 gave the same delays %v", d1)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no version", cfg: Config{}, want: "version is empty"},
		{name: "rate above 1", cfg: Config{Version: "v", ErrorRate: 1.5}, want: "not in [0, 1]"},
		{name: "negative rate", cfg: Config{Version: "v", ErrorRate: -0.1}, want: "not in [0, 1]"},
		{name: "negative latency", cfg: Config{Version: "v", Latency: -time.Second}, want: "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
			}
		})
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	t.Setenv("T_VERSION", "blue")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--listen", "127.0.0.1:0", "--revision", "sample-app-v1"}, pw, &stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the listening line: %v (stderr %q)", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("no address in %q", line)
	}
	base := strings.TrimSpace(line[i:])
	if code, body := get(t, base+"/"); code != http.StatusOK || body != "blue\n" {
		t.Errorf("GET / = %d %q, want 200 %q", code, body, "blue\n")
	}
	mfs := scrape(t, base)
	var revs []string
	for _, m := range mfs[MetricRequestCount].GetMetric() {
		revs = append(revs, labelsOf(m)["revision_name"])
	}
	sort.Strings(revs)
	if diff := cmp.Diff([]string{"sample-app-v1"}, revs); diff != "" {
		t.Errorf("revision_name labels (-want +got):\n%s", diff)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "unknown flag", args: []string{"--version", "v", "--nope"}},
		{name: "bad duration", args: []string{"--version", "v", "--latency", "soon"}},
		{name: "bad rate", args: []string{"--version", "v", "--error-rate", "2"}},
		{name: "extra argument", args: []string{"--version", "v", "extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Run(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || ExitCode(err) != 2 {
				t.Errorf("Run(%q) = %v, want a usage error (exit code 2)", tc.args, err)
			}
		})
	}
}
