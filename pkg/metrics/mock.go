package metrics

import (
	"fmt"
	"strconv"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics/builtin"
)

// mockResult returns a mocked value. A Counter is elapsedTime × level, as in iter8. A
// Gauge is its level: iter8 drew it from Beta(elapsed, elapsed)·2·level, whose mean is the
// level; the level itself keeps assessments reproducible.
func mockResult(m *v2alpha1.Metric, version string, args map[string]string) Result {
	const query = "mock"
	for _, l := range m.Spec.Mock {
		if l.Name != version {
			continue
		}
		level, err := l.Level.Float()
		if err != nil {
			return errorResult(query, "mock level for %s: %v", version, err)
		}
		if m.Spec.MetricType() == v2alpha1.CounterMetricType {
			elapsed, err := strconv.ParseFloat(args["elapsedTime"], 64)
			if err != nil {
				return errorResult(query, "elapsedTime %q: %v", args["elapsedTime"], err)
			}
			level *= elapsed
		}
		r := number(level)
		r.Query = query
		return r
	}
	return noData(query, fmt.Sprintf("no mock level for version %s", version))
}

// builtinResult computes a builtin metric from the version's accumulated histogram.
func builtinResult(name, version string, hists map[string]*builtin.Histogram, histErr error) Result {
	query := "builtin " + name
	if histErr != nil {
		return errorResult(query, "%v", histErr)
	}
	h, ok := hists[version]
	if !ok {
		return noData(query, "no builtin load results for version "+version)
	}
	v, ok, err := builtin.Value(name, h)
	switch {
	case err != nil:
		return errorResult(query, "%v", err)
	case !ok:
		return noData(query, "no requests")
	}
	r := number(v)
	r.Query = query
	return r
}
