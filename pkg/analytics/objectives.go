package analytics

import (
	"fmt"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// reading is what one metric says about one version once its missing-value policy is applied.
type reading struct {
	// ok is true when value may be compared with limits or rewards.
	ok    bool
	value float64
	// stale describes why a reused value stands in for a fresh one ("" for a fresh value).
	stale string
	// missing describes why there is no usable value.
	missing string
	// excused is true when the Ignore policy lets the miss count as satisfied.
	excused bool
	// misses and maxMissing are the policy's bookkeeping, for reasons.
	misses, maxMissing int32
}

// read applies the missing-value policy of metric (nil: the Metric is not embedded in the
// status, judged as policy Fail) to one version's aggregated data (nil: nothing recorded).
//
// A value is fresh when it is present, not marked Stale and its State is neither NoData nor
// Error; a value with such a State can only have been carried over, so it is treated as
// reused even if Stale was not set. ReusePrevious accepts a reused value while
// ConsecutiveMisses < MaxMissing(). Ignore excuses a miss only while
// 1 <= ConsecutiveMisses < MaxMissing(): a metric that never produced a value has no
// bookkeeping to excuse it and fails. Fail, and any policy this version does not know,
// accepts fresh values only.
func read(metric *v2alpha1.MetricSpec, d *v2alpha1.AggregatedMetricsVersionData) reading {
	policy := v2alpha1.MissingValueFail
	maxMissing := int32(v2alpha1.DefaultMaxConsecutiveMissing)
	if metric != nil {
		policy = metric.Policy()
		maxMissing = metric.MaxMissing()
	}
	if d == nil {
		return reading{missing: "no data recorded", maxMissing: maxMissing}
	}
	r := reading{misses: d.ConsecutiveMisses, maxMissing: maxMissing}
	fresh := d.Value != nil && !d.Stale && d.State != v2alpha1.MetricStateNoData && d.State != v2alpha1.MetricStateError
	if fresh {
		return r.parse(d.Value, "")
	}
	why := missReason(d)
	window := fmt.Sprintf("%s for %d of %d iterations", why, d.ConsecutiveMisses, maxMissing)
	switch policy {
	case v2alpha1.MissingValueReusePrevious:
		// The window is checked first: after it the collector drops the stale value, and
		// the reason should say the window ran out rather than that there was none.
		switch {
		case d.ConsecutiveMisses >= maxMissing:
			r.missing = window
		case d.Value == nil:
			r.missing = why + ", no previous value to reuse"
		default:
			return r.parse(d.Value, "previous value; "+window)
		}
	case v2alpha1.MissingValueIgnore:
		switch {
		case d.ConsecutiveMisses >= maxMissing:
			r.missing = window
		case d.ConsecutiveMisses >= 1:
			r.missing = why
			r.excused = true
		default:
			r.missing = why
		}
	default:
		r.missing = why
	}
	return r
}

// parse makes r a usable reading of n; a value that is not a finite number is no value.
func (r reading) parse(n *v2alpha1.Number, stale string) reading {
	v, err := n.Float()
	if err != nil {
		r.missing = fmt.Sprintf("invalid value %q", n.String())
		return r
	}
	r.ok, r.value, r.stale = true, v, stale
	return r
}

// missReason says what the last query produced when it produced no fresh value.
func missReason(d *v2alpha1.AggregatedMetricsVersionData) string {
	var kind string
	switch d.State {
	case v2alpha1.MetricStateNoData:
		kind = "no data"
	case v2alpha1.MetricStateError:
		kind = "error"
	default:
		if d.Value != nil {
			kind = "stale value"
		} else {
			kind = "no value"
		}
	}
	if d.Reason != "" {
		return kind + " (" + d.Reason + ")"
	}
	return kind
}

// AssessObjective judges one version's aggregated data d (nil when nothing was recorded)
// against objective o, under the missing-value policy of metric (nil when the Metric is not
// embedded in the status, which is judged as policy Fail). Limits are inclusive: the
// objective fails when value > upperLimit or value < lowerLimit. A limit that is not a
// number fails the objective. The reason is one line such as
// "mean-latency = 0.879 <= 50.000: satisfied" or
// "error-rate: no data (empty result): not satisfied".
func AssessObjective(o v2alpha1.Objective, metric *v2alpha1.MetricSpec, d *v2alpha1.AggregatedMetricsVersionData) (bool, string) {
	r := read(metric, d)
	if !r.ok {
		if r.excused {
			return true, fmt.Sprintf("%s: %s, ignored for %d of %d iterations", o.Metric, r.missing, r.misses, r.maxMissing)
		}
		return false, fmt.Sprintf("%s: %s: not satisfied", o.Metric, r.missing)
	}
	var upper, lower float64
	if o.UpperLimit != nil {
		var err error
		if upper, err = o.UpperLimit.Float(); err != nil {
			return false, fmt.Sprintf("%s: invalid upperLimit %q: not satisfied", o.Metric, o.UpperLimit.String())
		}
	}
	if o.LowerLimit != nil {
		var err error
		if lower, err = o.LowerLimit.Float(); err != nil {
			return false, fmt.Sprintf("%s: invalid lowerLimit %q: not satisfied", o.Metric, o.LowerLimit.String())
		}
	}
	note := ""
	if r.stale != "" {
		note = " (" + r.stale + ")"
	}
	switch {
	case o.UpperLimit != nil && r.value > upper:
		s := FormatNumbers(r.value, upper)
		return false, fmt.Sprintf("%s = %s > %s%s: not satisfied", o.Metric, s[0], s[1], note)
	case o.LowerLimit != nil && r.value < lower:
		s := FormatNumbers(r.value, lower)
		return false, fmt.Sprintf("%s = %s < %s%s: not satisfied", o.Metric, s[0], s[1], note)
	case o.UpperLimit != nil && o.LowerLimit != nil:
		s := FormatNumbers(r.value, lower, upper)
		return true, fmt.Sprintf("%s <= %s = %s <= %s%s: satisfied", s[1], o.Metric, s[0], s[2], note)
	case o.UpperLimit != nil:
		s := FormatNumbers(r.value, upper)
		return true, fmt.Sprintf("%s = %s <= %s%s: satisfied", o.Metric, s[0], s[1], note)
	case o.LowerLimit != nil:
		s := FormatNumbers(r.value, lower)
		return true, fmt.Sprintf("%s = %s >= %s%s: satisfied", o.Metric, s[0], s[1], note)
	default:
		return true, fmt.Sprintf("%s = %s (no limits)%s: satisfied", o.Metric, FormatNumbers(r.value)[0], note)
	}
}

// versionData returns the aggregated data of metric ref for a version, or nil.
func versionData(exp *v2alpha1.Experiment, ref, version string) *v2alpha1.AggregatedMetricsVersionData {
	a := exp.Status.Analysis
	if a == nil || a.AggregatedMetrics == nil {
		return nil
	}
	m, ok := a.AggregatedMetrics.Data[ref]
	if !ok {
		return nil
	}
	d, ok := m.Data[version]
	if !ok {
		return nil
	}
	return &d
}

// metricSpec returns the spec of the embedded Metric ref, or nil.
func metricSpec(exp *v2alpha1.Experiment, ref string) *v2alpha1.MetricSpec {
	m, ok := exp.Status.MetricObj(ref)
	if !ok {
		return nil
	}
	return &m.Spec
}

// VersionAssessments judges every version (baseline, then candidates) against every
// objective of exp, in order, from exp.Status.Analysis.AggregatedMetrics (keyed by the
// metric reference exactly as written in spec.criteria, then by version name). data maps a
// version to one verdict per objective and reasons to one line per objective (see
// AssessObjective). Both maps hold every version, with empty lists when there are no
// objectives, and are empty (not nil) when there are no versions.
func VersionAssessments(exp *v2alpha1.Experiment) (data map[string][]bool, reasons map[string][]string) {
	data, reasons = map[string][]bool{}, map[string][]string{}
	objectives := exp.Spec.Objectives()
	specs := make([]*v2alpha1.MetricSpec, len(objectives))
	for i, o := range objectives {
		specs[i] = metricSpec(exp, o.Metric)
	}
	for _, v := range exp.Spec.VersionNames() {
		verdicts := make([]bool, len(objectives))
		lines := make([]string, len(objectives))
		for i, o := range objectives {
			verdicts[i], lines[i] = AssessObjective(o, specs[i], versionData(exp, o.Metric, v))
		}
		data[v], reasons[v] = verdicts, lines
	}
	return data, reasons
}

// satisfied reports whether version v satisfies objective i according to assessments; a
// missing verdict is a failure, so malformed input never passes or escapes rollback.
func satisfied(assessments map[string][]bool, v string, i int) bool {
	a, ok := assessments[v]
	return ok && i < len(a) && a[i]
}

// failedMetrics lists the metrics of the objectives v does not satisfy, each once.
func failedMetrics(objectives []v2alpha1.Objective, assessments map[string][]bool, v string) []string {
	var out []string
	seen := map[string]bool{}
	for i, o := range objectives {
		if !o.IsDryRun() && !satisfied(assessments, v, i) && !seen[o.Metric] {
			seen[o.Metric] = true
			out = append(out, o.Metric)
		}
	}
	return out
}
