package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/itchyny/gojq"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// maxResponseBytes bounds what is read of a backend's answer, Prometheus' or another's:
// an instant query for one number, or a batch of them, is a few kilobytes, and a stage
// with a 256 MiB limit decodes several answers at once.
const maxResponseBytes = 4 << 20

// errResponseTooLarge ends the read of an answer larger than maxResponseBytes.
var errResponseTooLarge = fmt.Errorf("the response is larger than %d bytes", maxResponseBytes)

// limitedBody reads at most n bytes of rc, and fails with errResponseTooLarge when there
// are more, rather than returning a truncated answer.
type limitedBody struct {
	rc io.ReadCloser
	n  int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.n < 0 {
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > b.n+1 {
		p = p[:b.n+1]
	}
	k, err := b.rc.Read(p)
	b.n -= int64(k)
	if b.n < 0 {
		return k, errResponseTooLarge
	}
	return k, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// limitedTransport bounds the body of every response with limitedBody.
type limitedTransport struct{ rt http.RoundTripper }

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, n: maxResponseBytes}
	return resp, nil
}

// rest queries a generic REST backend: GET or POST to the urlTemplate with the templated
// params and body, then the first output of the jq expression is the value.
func (c *Collector) rest(ctx context.Context, spec *v2alpha1.MetricSpec, args map[string]string,
	auth func(*http.Request) error, red redactor, timeout time.Duration) Result {
	if spec.URLTemplate == nil || strings.TrimSpace(*spec.URLTemplate) == "" {
		return errorResult("", "the metric has no urlTemplate")
	}
	if spec.JQExpression == nil || strings.TrimSpace(*spec.JQExpression) == "" {
		return errorResult("", "the metric has no jqExpression")
	}
	code, err := compileJQ(*spec.JQExpression)
	if err != nil {
		return errorResult("", "%v", err)
	}
	u, err := url.Parse(strings.TrimSpace(*spec.URLTemplate))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorResult("", "urlTemplate is not an http(s) URL")
	}
	q := u.Query()
	for k, vs := range params(spec, args) {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	m := method(spec)
	var body string
	if spec.Body != nil {
		body = Substitute(*spec.Body, args, EscapeJSON)
	}

	return c.retry(ctx, timeout, func(ctx context.Context) (Result, bool) {
		var rd io.Reader
		if m == v2alpha1.POSTMethodType {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, string(m), u.String(), rd)
		if err != nil {
			return errorResult("", "building the request: %s", transportReason(err)), false
		}
		if m == v2alpha1.POSTMethodType {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		if err := auth(req); err != nil {
			return errorResult("", "%v", err), false
		}
		resp, err := c.httpClient().Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return errorResult("", "%v", ctx.Err()), false
			}
			return errorResult("", "%s", transportReason(err)), true
		}
		defer func() { _ = resp.Body.Close() }()
		data, err := io.ReadAll(resp.Body)
		if errors.Is(err, errResponseTooLarge) {
			return errorResult("", "%v", err), false
		}
		if err != nil {
			return errorResult("", "reading the response: %s", transportReason(err)), true
		}
		if resp.StatusCode >= 400 {
			return errorResult("", "HTTP %s: %s; expected a 2xx JSON response", responseStatus(resp), responseShape(resp, data)), transientStatus(resp.StatusCode)
		}
		r := extract(ctx, code, data, red, spec.Samples != nil)
		if r.State == v2alpha1.MetricStateError && r.Reason == errNotJSON {
			r.Reason = fmt.Sprintf("the response is not JSON: %s; jqExpression needs a JSON document", responseShape(resp, data))
		}
		return r, false
	})
}

// jqCache holds compiled expressions; an experiment has a handful, so a small bound
// only matters for a long-lived process that sees many experiments.
var jqCache = struct {
	sync.Mutex
	m map[string]*gojq.Code
}{m: map[string]*gojq.Code{}}

const jqCacheSize = 256

// compileJQ compiles a jq expression once. The environment is empty, so that an
// expression cannot read the collector's environment variables.
func compileJQ(expr string) (*gojq.Code, error) {
	jqCache.Lock()
	c, ok := jqCache.m[expr]
	jqCache.Unlock()
	if ok {
		return c, nil
	}
	q, err := gojq.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("jqExpression %q: %w", expr, err)
	}
	code, err := gojq.Compile(q, gojq.WithEnvironLoader(func() []string { return nil }))
	if err != nil {
		return nil, fmt.Errorf("jqExpression %q: %w", expr, err)
	}
	jqCache.Lock()
	if len(jqCache.m) < jqCacheSize {
		jqCache.m[expr] = code
	}
	jqCache.Unlock()
	return code, nil
}

// What a backend answered is never copied into a reason: reasons go to the Experiment's
// status, which anyone who may read Experiments sees, and a metric may point at any URL
// (issue 13: server-side request forgery with read-back). A reason says the status, the
// content type and the length of what came back, and what was expected, on one line.

// errNotJSON is extract's reason for a document that is not JSON; rest replaces it with
// one that describes the response.
const errNotJSON = "the response is not JSON"

// responseStatus is "404 Not Found", from the status code alone (the status line's text
// is the server's).
func responseStatus(resp *http.Response) string {
	if t := http.StatusText(resp.StatusCode); t != "" {
		return fmt.Sprintf("%d %s", resp.StatusCode, t)
	}
	return fmt.Sprint(resp.StatusCode)
}

// responseShape is "a text/html response of 1534 bytes (not recorded)".
func responseShape(resp *http.Response, data []byte) string {
	ct := "an untyped"
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && len(mt) <= 100 {
		mt = strconv.Quote(mt)[1 : len(strconv.Quote(mt))-1]
		ct = "a " + mt
		if strings.ContainsRune("aeiou", rune(mt[0])) {
			ct = "an " + mt
		}
	}
	n := fmt.Sprintf("%d bytes", len(data))
	if len(data) >= maxResponseBytes {
		n = fmt.Sprintf("at least %d bytes", len(data))
	}
	return fmt.Sprintf("%s response of %s (not recorded)", ct, n)
}

// jqErrorReason is a jq error without the values it quotes: gojq writes them after the
// first ": " ("expected an object but got: string (\"...\")"), and error(...) raises one.
func jqErrorReason(err error) string {
	msg := err.Error()
	var ve interface{ Value() any }
	if errors.As(err, &ve) {
		return "the expression raised an error (its value is not recorded)"
	}
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[:i]
	}
	return truncate(strconv.Quote(msg)[1:len(strconv.Quote(msg))-1], 80) + " (the values it names are not recorded)"
}

// extract runs the jq expression on a JSON document and reads a number out of its first
// output: a number or a numeric string is a value; no output, null, NaN and ±Inf are no
// data; anything else, invalid JSON and a jq error are errors.
// maxJQTime bounds the evaluation of a jqExpression, and with it the memory the
// expression may take ([range(1e9)] would take gigabytes): extracting a number from a
// document of at most maxResponseBytes takes milliseconds.
const maxJQTime = 250 * time.Millisecond

func extract(ctx context.Context, code *gojq.Code, data []byte, red redactor, arrays bool) Result {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return errorResult("", "%s", errNotJSON)
	}
	ctx, cancel := context.WithTimeout(ctx, maxJQTime)
	defer cancel()
	iter := code.RunWithContext(ctx, doc)
	v, ok := iter.Next()
	if err, isErr := v.(error); isErr && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return errorResult("", "jq: the expression ran for longer than %s", maxJQTime)
	}
	if !ok {
		return noData("", "jq produced no output")
	}
	if err, isErr := v.(error); isErr {
		var he *gojq.HaltError
		if errors.As(err, &he) && he.Value() == nil {
			return noData("", "jq halted without output")
		}
		return errorResult("", "jq: %s", jqErrorReason(err))
	}
	if items, ok := v.([]any); ok && arrays {
		samples, err := sampleNumbers(items)
		if err != nil {
			return errorResult("", "%v", err)
		}
		if len(samples) == 0 {
			return noData("", "jq produced an empty array")
		}
		var sum float64
		for _, f := range samples {
			sum += f
		}
		r := number(sum / float64(len(samples)))
		r.Samples = samples
		return r
	}
	return jqNumber(v)
}

// jqNumber reads one jq output as a number.
func jqNumber(v any) Result {
	switch v := v.(type) {
	case nil:
		return noData("", "null")
	case int:
		return number(float64(v))
	case float64:
		return number(v)
	case *big.Int:
		f, _ := new(big.Float).SetInt(v).Float64()
		return number(f)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
				return number(f)
			}
			return errorResult("", "jq result is a string of %d bytes that is not a number", len(v))
		}
		return number(f)
	default:
		return errorResult("", "jq result of type %s is not a number", jqType(v))
	}
}

func jqType(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
