package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// prometheusBase returns the base URL of a prometheus metric: its urlTemplate without a
// trailing /api/v1/query, else the collector's PrometheusURL. Neither is templated.
func (c *Collector) prometheusBase(spec *v2alpha1.MetricSpec) string {
	if spec.URLTemplate == nil || strings.TrimSpace(*spec.URLTemplate) == "" {
		return strings.TrimRight(c.PrometheusURL, "/")
	}
	u := strings.TrimSpace(*spec.URLTemplate)
	u = strings.TrimRight(u, "/")
	u = strings.TrimSuffix(u, "/api/v1/query")
	return strings.TrimRight(u, "/")
}

// prometheus runs an instant query at at. One sample or a scalar is a value; an empty
// vector, NaN and ±Inf are no data; several samples, a matrix or a string are errors, since
// the metric would otherwise silently judge one series out of many.
func (c *Collector) prometheus(ctx context.Context, spec *v2alpha1.MetricSpec, args map[string]string,
	auth func(*http.Request) error, red redactor, timeout time.Duration, at time.Time) Result {
	tmpl, ok := param(spec, "query")
	if !ok {
		return errorResult("", "a prometheus metric needs the param query")
	}
	query, err := SubstitutePromQL(tmpl, args)
	if err != nil {
		return errorResult(tmpl, "param query: %v", err)
	}
	base := c.prometheusBase(spec)
	if base == "" {
		return errorResult(query, "no Prometheus URL: the metric has no urlTemplate and none is configured")
	}
	client, err := promapi.NewClient(promapi.Config{Address: base, Client: c.httpClient()})
	if err != nil {
		// The error quotes the URL, which may hold a secret.
		return errorResult(query, "invalid Prometheus URL")
	}
	return c.retry(ctx, timeout, func(ctx context.Context) (Result, bool) {
		sc := &statusClient{Client: client, auth: auth}
		v, warnings, _, err := promv1.NewAPI(sc).Query(ctx, query, at)
		if err != nil {
			reason, transient := prometheusError(ctx, err, sc, red)
			return errorResult(query, "%s", reason), transient
		}
		if reason, ok := notPrometheus(v, sc); ok {
			return errorResult(query, "%s", reason), false
		}
		r := withWarnings(promValue(v), warnings)
		r.Query = query
		return r, false
	})
}

// notPrometheus describes an answer that the client took without error and that holds no
// result: Prometheus always sends one, but client_golang (since v1.25) takes any JSON
// object at 200, another API's too, for a result-less answer. Like any other answer that
// is not Prometheus', it is described, never quoted.
func notPrometheus(v model.Value, sc *statusClient) (string, bool) {
	if v != nil || sc.resp == nil {
		return "", false
	}
	return "unexpected response: " + responseShape(sc.resp, sc.body), true
}

// withWarnings adds Prometheus' warnings to the reason of a result without a value, where
// they may explain it (partial data).
func withWarnings(r Result, warnings promv1.Warnings) Result {
	if r.State != v2alpha1.MetricStateValue && len(warnings) > 0 {
		r.Reason += "; warnings: " + strings.Join(warnings, "; ")
	}
	return r
}

// promValue reads the number out of an instant query's result.
func promValue(v model.Value) Result {
	var f float64
	switch v := v.(type) {
	case model.Vector:
		switch len(v) {
		case 0:
			return noData("", "empty result")
		case 1:
			f = float64(v[0].Value)
		default:
			return errorResult("", "%d series, expected 1", len(v))
		}
	case *model.Scalar:
		f = float64(v.Value)
	case nil:
		return errorResult("", "no result")
	default:
		return errorResult("", "result of type %s, expected a vector or a scalar", v.Type())
	}
	return number(f)
}

// number turns a float into a value, or into no data when it is NaN or infinite (a ratio
// of two zero rates, a histogram_quantile without samples).
func number(f float64) Result {
	switch {
	case math.IsNaN(f):
		return noData("", "NaN")
	case math.IsInf(f, 1):
		return noData("", "+Inf")
	case math.IsInf(f, -1):
		return noData("", "-Inf")
	}
	return Result{State: v2alpha1.MetricStateValue, Value: f}
}

// prometheusError describes a failed query and says whether to retry it. Of what the
// server answered, only Prometheus' own error message (the error of an answer shaped
// {"status": "error", "errorType": ..., "error": ...}) is quoted: any other content, such as
// the page of a server that is not Prometheus, is described by its status, type and size,
// so that a metric cannot copy what some host serves into the Experiment's status.
func prometheusError(ctx context.Context, err error, sc *statusClient, red redactor) (string, bool) {
	if errors.Is(err, errResponseTooLarge) {
		return fmt.Sprintf("the response is larger than %d bytes", maxResponseBytes), false
	}
	code := sc.code
	var pe *promv1.Error
	if errors.As(err, &pe) {
		if code >= 400 {
			if msg, ok := prometheusMessage(pe, sc.body); ok {
				return fmt.Sprintf("HTTP %d: %s", code, red.content(msg, 200)), transientStatus(code)
			}
			return fmt.Sprintf("HTTP %s: %s", responseStatus(sc.resp), responseShape(sc.resp, sc.body)), transientStatus(code)
		}
		switch pe.Type {
		case promv1.ErrTimeout, promv1.ErrServer:
			return fmt.Sprintf("prometheus %s: %s", pe.Type, red.content(pe.Msg, 200)), true
		case promv1.ErrCanceled:
			return fmt.Sprintf("prometheus %s: %s", pe.Type, pe.Msg), ctx.Err() == nil
		case promv1.ErrBadResponse:
			if ctx.Err() == nil && sc.resp != nil {
				return "unexpected response: " + responseShape(sc.resp, sc.body), false
			}
		}
		if msg, ok := prometheusMessage(pe, sc.body); ok {
			return fmt.Sprintf("prometheus %s: %s", pe.Type, red.content(msg, 200)), false
		}
		return fmt.Sprintf("prometheus %s", pe.Type), false
	}
	if ctx.Err() != nil {
		return ctx.Err().Error(), false
	}
	if code == 0 {
		// No response at all: a connection error.
		return transportReason(err), true
	}
	return "unexpected response: " + responseShape(sc.resp, sc.body), false
}

// prometheusMessage returns the error message of an answer in Prometheus' error shape.
func prometheusMessage(pe *promv1.Error, body []byte) (string, bool) {
	var answer struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Status != "error" || answer.ErrorType == "" || answer.Error == "" {
		return "", false
	}
	return answer.Error, true
}

// statusClient authenticates the requests of the Prometheus client and remembers the last
// response and its body, which the client's errors do not always carry.
type statusClient struct {
	promapi.Client
	auth func(*http.Request) error
	code int
	resp *http.Response
	body []byte
}

func (s *statusClient) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	if s.auth != nil {
		if err := s.auth(req); err != nil {
			return nil, nil, err
		}
	}
	resp, body, err := s.Client.Do(ctx, req)
	if resp != nil {
		s.code, s.resp, s.body = resp.StatusCode, resp, body
	}
	return resp, body, err
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
