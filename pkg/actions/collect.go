package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"knative.dev/pkg/apis"
)

// CollectSpec is what metrics/collect asks the builtin load generator for, with iter8's
// defaults filled in.
type CollectSpec struct {
	// Versions are sent load one after another, in order.
	Versions []CollectVersion
	// NumQueries is the number of requests per version; 0 when Time is set instead. It
	// takes precedence over Time, and defaults to 100 when neither is given.
	NumQueries int
	// Time is how long to send load per version when NumQueries is 0.
	Time time.Duration
	// QPS is the request rate per version (default 8).
	QPS float64
	// Connections is the number of parallel connections (default 4).
	Connections int
	// LoadOnly sends load without recording histograms.
	LoadOnly bool
	// PayloadStr is the request body; a payloadURL has been downloaded into it. A payload
	// makes the requests POSTs.
	PayloadStr string
	// ContentType is the Content-Type of the payload; setting it makes the requests POSTs.
	ContentType string
}

// CollectVersion is one version's endpoint. A name that is not in versionInfo is a pseudo
// version: it gets load but is not assessed.
type CollectVersion struct {
	Name    string
	URL     string
	Headers map[string]string
}

// iter8's metrics/collect defaults.
const (
	defaultNumQueries  = 100
	defaultQPS         = 8
	defaultConnections = 4
	// maxPayloadBytes bounds a downloaded payload, which is kept in memory.
	maxPayloadBytes = 16 << 20
	payloadTimeout  = 30 * time.Second
)

type collectTask struct {
	spec       CollectSpec
	payloadURL string
}

// Bounds of metrics/collect: the load is sent from the stage's own pod (or the user's
// machine), whose memory and CPU a Task limit caps; connections=1000000 reached 746 MB in
// 0.9 s. The bounds are well above what a canary's measurement needs (iter8 v2's defaults
// are 4 connections, 8 qps, 100 queries) and far below what hurts.
const (
	MaxCollectConnections = 100
	MaxCollectQPS         = 1000
	MaxCollectQueries     = 100000
	MaxCollectTime        = time.Hour
	MaxCollectVersions    = 50
	MaxCollectPayload     = 1 << 20
)

func parseCollect(with map[string]apiextensionsv1.JSON) (task, *apis.FieldError) {
	d := newWithDecoder(with)
	var t collectTask
	var versions []struct {
		Name    string            `json:"name"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers,omitempty"`
	}
	before := d.failures
	if d.decode("versions", &versions) && len(versions) > 0 {
		names := map[string]bool{}
		for i, v := range versions {
			if v.Name == "" {
				d.fail(apis.ErrMissingField("name").ViaFieldIndex("versions", i))
			} else if names[v.Name] {
				d.fail(apis.ErrGeneric(fmt.Sprintf("duplicate version name %q", v.Name), "name").ViaFieldIndex("versions", i))
			}
			names[v.Name] = true
			if err := checkHTTPURL(v.URL); err != nil {
				d.fail(apis.ErrInvalidValue(v.URL, "url", err.Error()).ViaFieldIndex("versions", i))
			}
			t.spec.Versions = append(t.spec.Versions, CollectVersion{Name: v.Name, URL: v.URL, Headers: v.Headers})
		}
	} else if d.failures == before {
		d.fail(apis.ErrMissingField("versions"))
	}

	if len(versions) > MaxCollectVersions {
		d.fail(apis.ErrInvalidValue(len(versions), "versions", fmt.Sprintf("at most %d versions", MaxCollectVersions)))
	}
	var numQueries int
	if d.decode("numQueries", &numQueries) && (numQueries < 1 || numQueries > MaxCollectQueries) {
		d.fail(apis.ErrInvalidValue(numQueries, "numQueries", fmt.Sprintf("must be between 1 and %d", MaxCollectQueries)))
	}
	var dur string
	if d.decode("time", &dur) {
		if v, err := time.ParseDuration(dur); err != nil || v <= 0 || v > MaxCollectTime {
			d.fail(apis.ErrInvalidValue(dur, "time", fmt.Sprintf("a positive Go duration such as 30s or 1m, at most %s", MaxCollectTime)))
		} else {
			t.spec.Time = v
		}
	}
	switch {
	case numQueries > 0:
		t.spec.NumQueries, t.spec.Time = numQueries, 0
	case t.spec.Time == 0:
		t.spec.NumQueries = defaultNumQueries
	}
	t.spec.QPS = defaultQPS
	if d.decode("qps", &t.spec.QPS) && (!(t.spec.QPS > 0) || t.spec.QPS > MaxCollectQPS) {
		d.fail(apis.ErrInvalidValue(t.spec.QPS, "qps", fmt.Sprintf("must be positive and at most %d", MaxCollectQPS)))
	}
	t.spec.Connections = defaultConnections
	if d.decode("connections", &t.spec.Connections) && (t.spec.Connections < 1 || t.spec.Connections > MaxCollectConnections) {
		d.fail(apis.ErrInvalidValue(t.spec.Connections, "connections", fmt.Sprintf("must be between 1 and %d", MaxCollectConnections)))
	}
	d.decode("loadOnly", &t.spec.LoadOnly)
	if d.decode("payloadStr", &t.spec.PayloadStr) && len(t.spec.PayloadStr) > MaxCollectPayload {
		d.fail(apis.ErrInvalidValue(fmt.Sprintf("%d bytes", len(t.spec.PayloadStr)), "payloadStr", fmt.Sprintf("at most %d bytes", MaxCollectPayload)))
	}
	d.decode("contentType", &t.spec.ContentType)
	if d.decode("payloadURL", &t.payloadURL) {
		if err := checkHTTPURL(t.payloadURL); err != nil {
			d.fail(apis.ErrInvalidValue(t.payloadURL, "payloadURL", err.Error()))
		}
	}
	if ferr := d.finish(); ferr != nil {
		return nil, ferr
	}
	return t, nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an absolute http or https URL")
	}
	return nil
}

func (t collectTask) run(ctx context.Context, tc *taskContext) error {
	if tc.Collect == nil {
		return errors.New("metrics/collect needs the builtin load generator, and none was configured")
	}
	spec := t.spec
	if t.payloadURL != "" {
		// iter8 lets payloadURL take precedence over payloadStr.
		p, err := download(ctx, tc.HTTPClient, t.payloadURL)
		if err != nil {
			return err
		}
		spec.PayloadStr = p
		tc.logf("downloaded a %d-byte payload from %s", len(p), t.payloadURL)
	}
	load := fmt.Sprintf("%d queries", spec.NumQueries)
	if spec.NumQueries == 0 {
		load = spec.Time.String()
	}
	tc.logf("sending %s at %g qps over %d connections to each of %d versions", load, spec.QPS, spec.Connections, len(spec.Versions))
	if err := tc.Collect(ctx, tc.exp, spec); err != nil {
		return fmt.Errorf("collecting builtin metrics: %w", err)
	}
	return nil
}

func download(ctx context.Context, c *http.Client, u string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, payloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("downloading payload: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("downloading payload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return "", fmt.Errorf("downloading payload from %s: HTTP %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPayloadBytes+1))
	if err != nil {
		return "", fmt.Errorf("downloading payload from %s: %w", u, err)
	}
	if len(b) > maxPayloadBytes {
		return "", fmt.Errorf("downloading payload from %s: larger than %d bytes", u, maxPayloadBytes)
	}
	return string(b), nil
}
