package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics/builtin"
)

// SamplesProvenance is written into status.analysis.samples.
const SamplesProvenance = "iter8-tekton/metrics"

// mockSamples is how many samples a mocked metric yields per version.
const mockSamples = 100

// CollectSamples gathers, for each metric of spec.criteria.comparisons, every version's
// samples: from Prometheus a range query over the metric's window at its step, each point
// a sample; from a REST backend the array its jqExpression gives; from the builtin load
// generator the latencies of its requests; from mock levels a fixed spread around the
// level. Each series keeps the latest maxSamples. It never fails: a problem is a series
// in state Error or NoData, which the judge classifies NoData. It returns nil when the
// experiment has no comparisons.
func (c *Collector) CollectSamples(ctx context.Context, exp *v2alpha1.Experiment) *v2alpha1.SamplesAnalysis {
	comparisons := exp.Spec.Comparisons()
	if len(comparisons) == 0 {
		return nil
	}
	now := c.now().Truncate(time.Millisecond)
	out := &v2alpha1.SamplesAnalysis{
		AnalysisMetaData: v2alpha1.AnalysisMetaData{Provenance: SamplesProvenance, Timestamp: metav1.NewTime(now)},
		Data:             map[string]map[string]v2alpha1.SampleSeries{},
	}
	var hists map[string]*builtin.Histogram
	var histErr error
	if a := exp.Status.Analysis; a != nil && a.AggregatedBuiltinHists != nil {
		hists, histErr = builtin.DecodeHists(a.AggregatedBuiltinHists)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	set := func(ref, version string, s v2alpha1.SampleSeries) {
		mu.Lock()
		defer mu.Unlock()
		out.Data[ref][version] = s
	}
	for _, cmp := range comparisons {
		ref := cmp.Metric
		if _, done := out.Data[ref]; done {
			continue
		}
		out.Data[ref] = map[string]v2alpha1.SampleSeries{}
		m, ok := exp.Status.MetricObj(ref)
		if !ok {
			m, ok = builtinRef(ref)
		}
		for _, v := range exp.Spec.Versions() {
			switch {
			case !ok:
				set(ref, v.Name, failedSeries("", fmt.Sprintf("metric %q is not in status.metrics", ref)))
			case len(m.Spec.Mock) > 0:
				set(ref, v.Name, seriesOf(mockSampleValues(m, v.Name), &m.Spec, "mock"))
			case m.Spec.IsBuiltin():
				set(ref, v.Name, builtinSeries(m.Name, v.Name, hists, histErr))
			case m.Spec.Samples == nil:
				set(ref, v.Name, failedSeries("", fmt.Sprintf("metric %s has no spec.samples, so it yields one number, not samples", ref)))
			default:
				args := Args(exp, v, now)
				wg.Go(func() { set(ref, v.Name, c.querySamples(ctx, exp, m, args, now)) })
			}
		}
	}
	wg.Wait()
	return out
}

// CheckSamples says whether m yields samples for a comparison: it must be mocked, a
// builtin latency metric, or have spec.samples.
func CheckSamples(m *v2alpha1.Metric) error {
	switch {
	case len(m.Spec.Mock) > 0, m.Spec.Samples != nil:
		return nil
	case m.Spec.IsBuiltin():
		if _, ok := builtin.LatencySamples(m.Name, &builtin.Histogram{}); ok {
			return nil
		}
		return fmt.Errorf("builtin metric %s has no samples; the builtin latency metrics do", m.Name)
	}
	return errors.New("the metric yields one number, not samples: give it spec.samples")
}

// querySamples runs a sample query for one version.
func (c *Collector) querySamples(ctx context.Context, exp *v2alpha1.Experiment, m *v2alpha1.Metric, args map[string]string, now time.Time) v2alpha1.SampleSeries {
	spec := &m.Spec
	if !isPrometheus(spec) {
		r := c.queryWith(ctx, m, args, now, c.secret)
		if r.State != v2alpha1.MetricStateValue {
			return v2alpha1.SampleSeries{State: r.State, Reason: r.Reason, Query: r.Query}
		}
		return seriesOf(r.Samples, spec, r.Query)
	}
	window, step, _ := spec.SampleSettings()
	start := now.Add(-time.Duration(exp.Spec.IntervalSeconds()) * time.Second)
	if window == v2alpha1.SampleWindowExperiment && exp.Status.StartTime != nil {
		start = exp.Status.StartTime.Time
	}
	tmpl, _ := param(spec, "query")
	query, err := SubstitutePromQL(tmpl, args)
	if err != nil {
		return failedSeries(tmpl, fmt.Sprintf("param query: %v", err))
	}
	if !start.Before(now) {
		return v2alpha1.SampleSeries{State: v2alpha1.MetricStateNoData, Reason: "the sample window is empty", Query: query}
	}
	timeout := time.Duration(spec.Timeout()) * time.Second
	sec, err := c.metricSecret(ctx, m, timeout, c.secret)
	if err != nil {
		return failedSeries(query, err.Error())
	}
	var secret map[string]string
	if sec != nil {
		secret = sec.Data
	}
	red := newRedactor(secret)
	auth, err := authorizer(spec, secret)
	if err != nil {
		return failedSeries(query, red.redact(err.Error()))
	}
	base := c.prometheusBase(spec)
	if base == "" {
		return failedSeries(query, "no Prometheus URL: the metric has no urlTemplate and none is configured")
	}
	client, err := promapi.NewClient(promapi.Config{Address: base, Client: c.httpClient()})
	if err != nil {
		return failedSeries(query, "invalid Prometheus URL")
	}
	rng := promv1.Range{Start: start, End: now, Step: time.Duration(step) * time.Second}
	var values []float64
	r := c.retry(ctx, timeout, func(ctx context.Context) (Result, bool) {
		sc := &statusClient{Client: client, auth: auth}
		v, _, _, err := promv1.NewAPI(sc).QueryRange(ctx, query, rng)
		if err != nil {
			reason, transient := prometheusError(ctx, err, sc, red)
			return errorResult(query, "%s", reason), transient
		}
		if reason, ok := notPrometheus(v, sc); ok {
			return errorResult(query, "%s", reason), false
		}
		var res Result
		values, res = rangeSamples(v)
		return res, false
	})
	if r.State != v2alpha1.MetricStateValue {
		return v2alpha1.SampleSeries{State: r.State, Reason: red.redact(r.Reason), Query: query}
	}
	return seriesOf(values, spec, query)
}

// rangeSamples reads the points of a range query's one series; NaN and ±Inf points
// (a rate over no requests) are left out. Several series are an error, as for instant
// queries: the comparison would otherwise silently mix them.
func rangeSamples(v model.Value) ([]float64, Result) {
	matrix, ok := v.(model.Matrix)
	if !ok {
		if v == nil {
			return nil, errorResult("", "no result")
		}
		return nil, errorResult("", "result of type %s, expected a matrix", v.Type())
	}
	switch len(matrix) {
	case 0:
		return nil, noData("", "empty result")
	case 1:
	default:
		return nil, errorResult("", "%d series, expected 1", len(matrix))
	}
	var out []float64
	for _, p := range matrix[0].Values {
		f := float64(p.Value)
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, noData("", "no finite points in the window")
	}
	return out, Result{State: v2alpha1.MetricStateValue}
}

// seriesOf keeps the latest maxSamples of values, compactly.
func seriesOf(values []float64, spec *v2alpha1.MetricSpec, query string) v2alpha1.SampleSeries {
	if len(values) == 0 {
		return v2alpha1.SampleSeries{State: v2alpha1.MetricStateNoData, Reason: "no samples", Query: query}
	}
	_, _, max := spec.SampleSettings()
	if n := len(values); n > int(max) {
		values = values[n-int(max):]
	}
	return v2alpha1.SampleSeries{State: v2alpha1.MetricStateValue, Count: int32(len(values)), Values: v2alpha1.EncodeSamples(values), Query: query}
}

func failedSeries(query, reason string) v2alpha1.SampleSeries {
	return v2alpha1.SampleSeries{State: v2alpha1.MetricStateError, Reason: reason, Query: query}
}

// builtinSeries is the latencies the load generator measured for a version.
func builtinSeries(name, version string, hists map[string]*builtin.Histogram, histErr error) v2alpha1.SampleSeries {
	query := "builtin " + name
	if histErr != nil {
		return failedSeries(query, histErr.Error())
	}
	h, ok := hists[version]
	if !ok {
		return v2alpha1.SampleSeries{State: v2alpha1.MetricStateNoData, Reason: "no builtin load results for version " + version, Query: query}
	}
	v, ok := builtin.LatencySamples(name, h)
	if !ok {
		return failedSeries(query, fmt.Sprintf("builtin metric %s has no samples; the latency metrics do", name))
	}
	s := seriesOf(v, &v2alpha1.MetricSpec{}, query)
	return s
}

// mockSampleValues spreads mockSamples values around the version's mocked level: the
// level times 1 + z/10 for z at evenly spaced quantiles of the standard normal. Equal
// levels give the same samples; levels 10 % apart give distributions 10 % apart.
func mockSampleValues(m *v2alpha1.Metric, version string) []float64 {
	for _, l := range m.Spec.Mock {
		if l.Name != version {
			continue
		}
		level, err := l.Level.Float()
		if err != nil {
			return nil
		}
		out := make([]float64, mockSamples)
		for i := range out {
			z := math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/mockSamples-1)
			out[i] = level * (1 + z/10)
		}
		return out
	}
	return nil
}

// sampleNumbers reads a jq result that is an array of numbers (or of numeric strings).
func sampleNumbers(items []any) ([]float64, error) {
	out := make([]float64, 0, len(items))
	for i, it := range items {
		r := jqNumber(it)
		switch r.State {
		case v2alpha1.MetricStateValue:
			out = append(out, r.Value)
		case v2alpha1.MetricStateNoData:
			// null, NaN: a gap in the series.
		default:
			return nil, fmt.Errorf("element %d of the jq array: %s", i, r.Reason)
		}
	}
	return out, nil
}

// sortedRefs lists the comparison metrics in a stable order, for logs.
func sortedRefs(s *v2alpha1.SamplesAnalysis) []string {
	var out []string
	for k := range s.Data {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SummarizeSamples says in one line how many samples each version has of each compared
// metric, for the iterate stage's log.
func SummarizeSamples(s *v2alpha1.SamplesAnalysis, versions []string) string {
	if s == nil {
		return ""
	}
	var parts []string
	for _, ref := range sortedRefs(s) {
		var vs []string
		for _, v := range versions {
			ser := s.Data[ref][v]
			if ser.State == v2alpha1.MetricStateValue {
				vs = append(vs, fmt.Sprintf("%s %d", v, ser.Count))
			} else {
				vs = append(vs, fmt.Sprintf("%s %s", v, ser.State))
			}
		}
		parts = append(parts, ref+" samples: "+strings.Join(vs, ", "))
	}
	return strings.Join(parts, "; ")
}
